using System.Net;
using System.Text.Json.Nodes;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// <c>webhookConfiguration.matchConditions</c> through the published webhook. There is no API server here to evaluate
/// the CEL (nothing in this project evaluates it), so these tests send reviews the way the API server would once it
/// has: to the policy's own path when the conditions hold, and to the shared path in every case (the shared webhook
/// cannot exclude one policy by CEL). The policy must run on its own path and only there.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class MatchConditionAdmissionTests(WebhookFixture fixture)
{
    public const string PolicyName = "e2e-match-conditions";
    public const string RuleName = "conditioned-signature";
    public const string ImagePattern = "127.0.0.1:*/e2e/mc-*";
    public const string MutatePath = "/mutate/policy/" + PolicyName;
    public const string ValidatePath = "/validate/policy/" + PolicyName;
    private const string Namespace = "e2e";

    /// <summary>
    /// Signed images for Pods named mc-* outside kube-system (the test Pods all hold). Its failure policy and timeout
    /// (Ignore, 12 s, from webhookConfiguration over the spec's Fail and 30 s) differ from every other fixture policy,
    /// so the manifest test can tell its webhook apart.
    /// </summary>
    public static string Policy(string publicKeyPem) =>
        PolicyTemplate.CheckImage(PolicyName, RuleName, [ImagePattern], publicKeyPem, ignoreTlog: true).Replace("spec:\n", """
            spec:
              webhookConfiguration:
                failurePolicy: Ignore
                timeoutSeconds: 12
                matchConditions:
                - name: not-kube-system
                  expression: "request.namespace != 'kube-system'"
                - name: policies.example.com/mc-pods
                  expression: |
                    has(object.metadata.name) &&
                    object.metadata.name.startsWith("mc-")

            """, StringComparison.Ordinal);

    [Fact]
    public async Task ThePolicysOwnPathDeniesAnUnsignedImage()
    {
        var pod = new TestPod(Namespace, "mc-unsigned-own", fixture.MatchConditionImage.TagReference);

        var result = await fixture.Admission.ReviewAsync(MutatePath, AdmissionClient.Review(pod.ToJson()));

        Assert.Equal(HttpStatusCode.OK, result.HttpStatus);
        Assert.True(result.Allowed == false, "expected denied\n" + result.Describe() + fixture.Describe());
        Assert.Contains($"{PolicyName}:", result.MessageText, StringComparison.Ordinal);
        Assert.Contains($"{RuleName}: 'image verification failed", result.MessageText, StringComparison.Ordinal);
        Assert.Contains("signature not found", result.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheSharedPathsDoNotRunThePolicy()
    {
        var pod = new TestPod(Namespace, "mc-unsigned-shared", fixture.MatchConditionImage.TagReference);

        var mutate = await fixture.Admission.MutateAsync(pod);
        var validate = await fixture.Admission.ValidateAsync(pod);

        Assert.True(mutate.Allowed == true, "expected allowed by the shared mutating path\n" + mutate.Describe());
        Assert.Null(mutate.Patch);
        Assert.True(validate.Allowed == true, "expected allowed by the shared validating path\n" + validate.Describe());
    }

    [Fact]
    public async Task ThePolicysOwnValidatingPathRequiresTheVerifiedDigest()
    {
        // required and verifyDigest (both true by default) are enforced on the policy's validating path too.
        var pod = new TestPod(Namespace, "mc-unsigned-validate", fixture.MatchConditionImage.TagReference);

        var result = await fixture.Admission.ReviewAsync(ValidatePath, AdmissionClient.Review(pod.ToJson()));

        Assert.True(result.Allowed == false, "expected denied\n" + result.Describe());
        Assert.Contains($"{PolicyName}:", result.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ThePolicysOwnPathDoesNotRunTheOtherPolicies()
    {
        // e2e-check-image denies this image on the shared path; the conditioned policy's path does not judge it.
        var pod = new TestPod(Namespace, "mc-other-policy", fixture.UnsignedImage.TagReference);

        var own = await fixture.Admission.ReviewAsync(MutatePath, AdmissionClient.Review(pod.ToJson()));
        var shared = await fixture.Admission.MutateAsync(pod);

        Assert.True(own.Allowed == true, "expected allowed on the policy's own path\n" + own.Describe());
        Assert.True(shared.Allowed == false, "expected denied on the shared path\n" + shared.Describe());
    }

    [Fact]
    public async Task TheSharedThenThePolicysOwnMutatingPathLeaveBothPoliciesVerdictsOnThePod()
    {
        // One image for the shared policy (e2e-check-image), one for the conditioned policy; both signed.
        var pod = new TestPod(Namespace, "mc-both-webhooks", [fixture.SignedImage.TagReference, fixture.MatchConditionSignedImage.TagReference]);

        // As the API server calls mutating webhooks: each one gets the object the previous one's patch produced.
        var shared = await fixture.Admission.MutateAsync(pod);
        Assert.True(shared.Allowed == true, "expected allowed by the shared path\n" + shared.Describe() + fixture.Describe());
        var afterShared = JsonPatch.Apply(pod.ToJson(), shared.Patch!);
        var own = await fixture.Admission.ReviewAsync(MutatePath, AdmissionClient.Review(afterShared.AsObject()));
        Assert.True(own.Allowed == true, "expected allowed by the policy's own path\n" + own.Describe() + fixture.Describe());
        Assert.Null(own.Response?["warnings"]);
        var final = JsonPatch.Apply(afterShared, own.Patch!);

        var containers = final["spec"]!["containers"]!.AsArray();
        Assert.Equal(fixture.SignedImage.PinnedReference, containers[0]!["image"]!.GetValue<string>());
        Assert.Equal(fixture.MatchConditionSignedImage.PinnedReference, containers[1]!["image"]!.GetValue<string>());

        var annotations = final["metadata"]!["annotations"]!;
        var verdicts = JsonNode.Parse(annotations["kyverno.io/verify-images"]!.GetValue<string>())!.AsObject();
        Assert.Equal("pass", verdicts[fixture.SignedImage.DigestReference]?.GetValue<string>());
        Assert.Equal("pass", verdicts[fixture.MatchConditionSignedImage.DigestReference]?.GetValue<string>());
        Assert.Equal(2, verdicts.Count);

        var scoped = JsonNode.Parse(annotations["kyverno.io/verify-images-scoped"]!.GetValue<string>())!["policies"]!.AsObject();
        Assert.Equal("pass", scoped["/" + WebhookFixture.PolicyName]![WebhookFixture.RuleName]![fixture.SignedImage.DigestReference]?.GetValue<string>());
        Assert.Equal("pass", scoped["/" + PolicyName]![RuleName]![fixture.MatchConditionSignedImage.DigestReference]?.GetValue<string>());
    }

    [Fact]
    public async Task APathOfAPolicyThatIsNotCompiledIsNotFound()
    {
        var pod = new TestPod(Namespace, "mc-unknown", fixture.MatchConditionImage.TagReference);

        var unknown = await fixture.Admission.ReviewAsync("/mutate/policy/no-such-policy", AdmissionClient.Review(pod.ToJson()));
        var shared = await fixture.Admission.ReviewAsync("/mutate/policy/" + WebhookFixture.PolicyName, AdmissionClient.Review(pod.ToJson()));

        // e2e-check-image has no matchConditions: it is served by the shared webhook only.
        Assert.Equal(HttpStatusCode.NotFound, unknown.HttpStatus);
        Assert.Equal(HttpStatusCode.NotFound, shared.HttpStatus);
    }
}
