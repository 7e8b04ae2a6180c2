using System.Net;
using System.Text.Json.Nodes;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// The published webhook, over HTTPS, deciding AdmissionReviews of Pods whose images live in a real registry.
/// Expected messages are those of Kyverno's verifyImages page (the reference of this project).
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class AdmissionTests(WebhookFixture fixture, ITestOutputHelper output)
{
    private const string Namespace = "e2e";
    private const string VerifyImagesAnnotation = "kyverno.io/verify-images";

    [Fact]
    public async Task WebhookPublishedWithTheTestPolicyIsHealthy()
    {
        output.WriteLine($"publish took {fixture.Published.PublishTime.TotalSeconds:F0}s: {fixture.Published.Executable}");

        Assert.True(WebhookPublisher.IsElf(fixture.Published.Executable), "the published webhook is not a native executable");
        Assert.Equal(HttpStatusCode.OK, await fixture.Host.GetHealthAsync());
        Assert.False(fixture.Host.HasExited, fixture.Describe());
    }

    [Fact]
    public async Task SignedImageIsAllowedAndPinnedToItsDigest()
    {
        var pod = new TestPod(Namespace, "signed", fixture.SignedImage.TagReference);

        var result = await fixture.Admission.MutateAsync(pod);

        AssertReviewAnswered(result);
        Assert.True(result.Allowed == true, "expected allowed\n" + Context(result));
        Assert.Equal("JSONPatch", result.PatchType);
        var operations = result.PatchOperations;
        Assert.Contains(operations, o => o is { Op: "replace", Path: "/spec/containers/0/image" } && o.StringValue == fixture.SignedImage.PinnedReference);
        Assert.Contains(operations, o => o.Path.Replace("~1", "/", StringComparison.Ordinal).EndsWith("/metadata/annotations/" + VerifyImagesAnnotation, StringComparison.Ordinal));

        // The patch must apply to the Pod as the API server would apply it.
        var patched = JsonPatch.Apply(pod.ToJson(), result.Patch!);
        Assert.Equal(fixture.SignedImage.PinnedReference, patched["spec"]!["containers"]![0]!["image"]!.GetValue<string>());
        var annotation = patched["metadata"]!["annotations"]![VerifyImagesAnnotation]!.GetValue<string>();
        var verdicts = JsonNode.Parse(annotation)!.AsObject();
        var verdict = Assert.Single(verdicts);
        Assert.Contains(fixture.SignedImage.Digest, verdict.Key, StringComparison.Ordinal);
        Assert.Equal("pass", verdict.Value!.GetValue<string>());
    }

    [Fact]
    public async Task ReadinessAndPrometheusMetricsReportTheVerdicts()
    {
        await fixture.Admission.MutateAsync(new TestPod(Namespace, "metrics-signed", fixture.SignedImage.TagReference));

        using var ready = await fixture.Host.Client.GetAsync(new Uri(fixture.Host.BaseUri, "readyz"));
        var metrics = await fixture.Host.Client.GetStringAsync(new Uri(fixture.Host.BaseUri, "metrics"));

        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Matches($"policycompiler_verdicts_total\\{{policy=\"{WebhookFixture.PolicyName}\",rule=\"{WebhookFixture.RuleName}\",result=\"pass\"\\}} [1-9]", metrics);
        Assert.Matches("policycompiler_admission_requests_total\\{endpoint=\"mutate\",allowed=\"true\"\\} [1-9]", metrics);
        Assert.Contains("policycompiler_admission_request_duration_seconds_bucket{endpoint=\"mutate\",le=\"+Inf\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("policycompiler_registry_requests_total{registry=", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignedImageAlreadyPinnedIsAllowedWithoutRewritingTheImage()
    {
        var pod = new TestPod(Namespace, "signed-by-digest", fixture.SignedImage.PinnedReference);

        var result = await fixture.Admission.MutateAsync(pod);

        AssertReviewAnswered(result);
        Assert.True(result.Allowed == true, "expected allowed\n" + Context(result));
        Assert.DoesNotContain(result.PatchOperations, o => o.Path.StartsWith("/spec/containers", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UnsignedImageIsDeniedWithSignatureNotFound()
    {
        var pod = new TestPod(Namespace, "unsigned", fixture.UnsignedImage.TagReference);

        var result = await fixture.Admission.MutateAsync(pod);

        AssertDenied(result, pod, fixture.UnsignedImage, "signature not found");
    }

    [Fact]
    public async Task ImageSignedWithAnotherKeyIsDeniedWithInvalidSignature()
    {
        var pod = new TestPod(Namespace, "signed-other", fixture.OtherKeyImage.TagReference);

        var result = await fixture.Admission.MutateAsync(pod);

        AssertDenied(result, pod, fixture.OtherKeyImage, "invalid signature");
    }

    [Fact]
    public async Task ImageNoRuleMatchesIsAllowedWithoutPatch()
    {
        var pod = new TestPod(Namespace, "unmatched", fixture.UnmatchedImage.TagReference);

        var result = await fixture.Admission.MutateAsync(pod);

        AssertReviewAnswered(result);
        Assert.True(result.Allowed == true, "expected allowed\n" + Context(result));
        Assert.True(result.PatchBase64 is null && result.PatchType is null, "expected no patch\n" + Context(result));
    }

    [Fact]
    public async Task PodWithOneUnsignedImageAmongSignedOnesIsDenied()
    {
        var pod = new TestPod(Namespace, "mixed", [fixture.SignedImage.TagReference, fixture.UnsignedImage.TagReference, fixture.UnmatchedImage.TagReference]);

        var result = await fixture.Admission.MutateAsync(pod);

        AssertDenied(result, pod, fixture.UnsignedImage, "signature not found");
        Assert.DoesNotContain(fixture.SignedImage.TagReference + ":", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignatureCopiedFromAnotherImageIsDenied()
    {
        // A valid signature by the policy's key, but of the signed image: its payload names another digest.
        var image = await OciImageBuilder.BuildAndPushAsync(fixture.Registry, fixture.Work.Combine("images"), "e2e/signed-replayed", "v1");
        var original = await fixture.Registry.Distribution.GetManifestAsync(fixture.SignedImage.Repository, CosignSigner.SignatureTag(fixture.SignedImage.Digest));
        var layer = original.Json["layers"]![0]!;
        var payload = await fixture.Registry.Distribution.GetBlobAsync(fixture.SignedImage.Repository, layer["digest"]!.GetValue<string>());
        var signature = layer["annotations"]![CosignSigner.SignatureAnnotation]!.GetValue<string>();
        Assert.True(CosignSigner.Verify(fixture.Signer.PublicKeyPem, payload, signature), "the copied signature itself must be valid for this test to mean anything");
        await CosignSigner.PushSignatureAsync(fixture.Registry.Distribution, image.Repository, image.Digest, payload, signature);
        var pod = new TestPod(Namespace, "replayed", image.TagReference);

        var result = await fixture.Admission.MutateAsync(pod);

        AssertReviewAnswered(result);
        Assert.True(result.Allowed == false, "a signature of another digest admitted the image\n" + Context(result));
        Assert.Contains("image verification failed for " + image.TagReference, result.Message, StringComparison.Ordinal);
        Assert.Contains("invalid signature", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ValidateDeniesMatchedImageWithoutDigest()
    {
        var pod = new TestPod(Namespace, "tag-only", fixture.SignedImage.TagReference);

        var result = await fixture.Admission.ValidateAsync(pod);

        AssertReviewAnswered(result);
        Assert.True(result.Allowed == false, "expected denied\n" + Context(result));
        Assert.Contains("missing digest for", result.Message, StringComparison.Ordinal);
        Assert.Contains(fixture.SignedImage.TagReference, result.Message, StringComparison.Ordinal);
        Assert.Contains($"resource Pod/{Namespace}/{pod.Name} was blocked due to the following policies", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ValidateAllowsThePodTheMutationProduced()
    {
        var pod = new TestPod(Namespace, "mutated", fixture.SignedImage.TagReference);
        var mutation = await fixture.Admission.MutateAsync(pod);
        AssertReviewAnswered(mutation);
        Assert.True(mutation.Allowed == true && mutation.Patch is not null, "the mutation this test starts from failed\n" + Context(mutation));
        var mutated = JsonPatch.Apply(pod.ToJson(), mutation.Patch!).AsObject();

        var result = await fixture.Admission.ValidateAsync(mutated);

        AssertReviewAnswered(result);
        Assert.True(result.Allowed == true, "expected the mutated Pod to be allowed\n" + Context(result));
        Assert.Null(result.PatchBase64);
    }

    [Fact]
    public async Task ValidateAllowsTagOnlyImageNoRuleMatches()
    {
        var pod = new TestPod(Namespace, "unmatched-tag", fixture.UnmatchedImage.TagReference);

        var result = await fixture.Admission.ValidateAsync(pod);

        AssertReviewAnswered(result);
        Assert.True(result.Allowed == true, "verifyDigest applies to matched images only\n" + Context(result));
    }

    [Theory]
    [InlineData("/mutate")]
    [InlineData("/validate")]
    public async Task MalformedJsonIsRejectedWith400AndTheWebhookKeepsServing(string path)
    {
        var (status, body) = await fixture.Admission.PostRawAsync(path, """{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""");

        Assert.True(status == HttpStatusCode.BadRequest, $"POST {path} with truncated JSON answered {(int)status}: {body}\n{fixture.Describe()}");
        Assert.Equal(HttpStatusCode.OK, await fixture.Host.GetHealthAsync());
        Assert.False(fixture.Host.HasExited, fixture.Describe());

        // And it still decides real reviews.
        var result = await fixture.Admission.MutateAsync(new TestPod(Namespace, "after-malformed", fixture.UnmatchedImage.TagReference));
        AssertReviewAnswered(result);
        Assert.True(result.Allowed == true, Context(result));
    }

    [Fact]
    public async Task ReviewWithoutRequestIsRejectedWith400()
    {
        var (status, body) = await fixture.Admission.PostRawAsync("/mutate", """{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}""");

        Assert.True(status == HttpStatusCode.BadRequest, $"answered {(int)status}: {body}\n{fixture.Describe()}");
    }

    private void AssertReviewAnswered(AdmissionResult result)
    {
        output.WriteLine(result.Describe());
        Assert.True(result.HttpStatus == HttpStatusCode.OK, $"expected HTTP 200\n{Context(result)}");
        Assert.True(result.ResponseJson is not null && result.Response is not null, "the body is not an AdmissionReview with a response\n" + Context(result));
        Assert.Equal("admission.k8s.io/v1", result.ApiVersion);
        Assert.Equal("AdmissionReview", result.Kind);
        var sentUid = JsonNode.Parse(result.RequestBody)!["request"]!["uid"]!.GetValue<string>();
        Assert.Equal(sentUid, result.Uid);
    }

    private void AssertDenied(AdmissionResult result, TestPod pod, PushedImage image, string reason)
    {
        AssertReviewAnswered(result);
        var context = Context(result);
        Assert.True(result.Allowed == false, "expected denied\n" + context);
        Assert.True(result.PatchBase64 is null, "a denial carries no patch\n" + context);
        var message = result.Message ?? string.Empty;
        Assert.True(message.Contains($"resource Pod/{pod.Namespace}/{pod.Name} was blocked due to the following policies", StringComparison.Ordinal), "Kyverno's envelope is missing\n" + context);
        Assert.True(message.Contains("\n" + WebhookFixture.PolicyName + ":", StringComparison.Ordinal), "the policy name is missing\n" + context);
        Assert.True(message.Contains("  " + WebhookFixture.RuleName + ":", StringComparison.Ordinal), "the rule name is missing\n" + context);
        Assert.True(message.Contains("image verification failed for " + image.TagReference, StringComparison.Ordinal), "the image is not named as Kyverno names it\n" + context);
        Assert.True(message.Contains(reason, StringComparison.Ordinal), $"'{reason}' is missing\n" + context);
    }

    private string Context(AdmissionResult result) => result.Describe() + "\n" + fixture.Describe();
}
