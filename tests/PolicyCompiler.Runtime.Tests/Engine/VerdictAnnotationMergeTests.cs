using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Check;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Sigstore;
using PolicyCompiler.Runtime.Tests.Hostile;
using static PolicyCompiler.Runtime.Tests.Hostile.HostileHarness;

namespace PolicyCompiler.Runtime.Tests.Engine;

/// <summary>
/// The verify-images annotations when several mutating webhooks (the shared one, then a policy's own) each patch the
/// object: every call merges its verdicts into what the earlier ones wrote. The annotation on the incoming object is the
/// author's to write, so it is a record carried forward, never a reason to skip verification. The registry is the
/// in-process one the hostile tests use, answering honestly.
/// </summary>
public sealed class VerdictAnnotationMergeTests
{
    private const string OtherRepository = "team/other";

    private static string Other(string reference) => $"{HostileRegistry.Host}/{OtherRepository}{reference}";

    /// <summary>
    /// The harness's policy (served by the shared webhook) for team/app, and a policy with matchConditions (served by its
    /// own) for team/other, both checking the harness's key.
    /// </summary>
    private static (AdmissionEngine Engine, PolicyDefinition Shared, PolicyDefinition Own) TwoWebhooks(HostileHarness h)
    {
        var attestor = new SignatureAttestorDefinition(".attestors[0].entries[0].keys", new StaticKeySigner(VerificationKey.FromPem(h.Signer.ExportSubjectPublicKeyInfoPem())), SignatureRequirements.None);
        AttestorSetDefinition[] attestors = [new AttestorSetDefinition(".attestors[0]", 1, ImmutableArray.Create<AttestorDefinition>(attestor))];
        PolicyDefinition Policy(string name, string repository, ImmutableArray<MatchCondition> conditions) => new(
            name,
            null,
            FailureAction.Enforce,
            FailurePolicy.Fail,
            10,
            name + ".yaml",
            [new RuleDefinition("check-signature", _ => true, [new ImageVerificationDefinition(
                "verifyImages[0]",
                image => image.StartsWith(HostileRegistry.Host + "/" + repository + ":", StringComparison.Ordinal) || image.StartsWith(HostileRegistry.Host + "/" + repository + "@", StringComparison.Ordinal),
                [.. attestors],
                mutateDigest: true,
                verifyDigest: true,
                required: true,
                repository: null,
                attestations: [])])],
            matchConditions: conditions);

        var shared = Policy("shared-policy", Repository, []);
        var own = Policy("own-policy", OtherRepository, [new MatchCondition("only-some", "object.metadata.name != 'x'")]);
        return (new AdmissionEngine([shared, own], h.Verifier), shared, own);
    }

    private static AdmissionRequest Review(JsonElement pod) => Request(JsonNode.Parse(pod.GetRawText())!);

    private static JsonElement Pod(JsonObject? annotations, params string[] images)
    {
        var containers = new JsonArray();
        for (var i = 0; i < images.Length; i++)
        {
            containers.Add(new JsonObject { ["name"] = "c" + i, ["image"] = images[i] });
        }

        var metadata = new JsonObject { ["name"] = "pod", ["namespace"] = "default" };
        if (annotations is not null)
        {
            metadata["annotations"] = annotations;
        }

        var pod = new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Pod", ["metadata"] = metadata, ["spec"] = new JsonObject { ["containers"] = containers } };
        return JsonDocument.Parse(pod.ToJsonString()).RootElement.Clone();
    }

    private static string Annotation(JsonElement pod, string key) =>
        pod.GetProperty("metadata").GetProperty("annotations").GetProperty(key).GetString()!;

    [Fact]
    public async Task The_shared_webhook_then_a_policy_s_own_leave_both_policies_verdicts_on_the_object()
    {
        using var h = new HostileHarness();
        var appDigest = h.Registry.PushImage(Repository, "v1");
        h.Registry.PushSignature(Repository, appDigest, h.Signer);
        var otherDigest = h.Registry.PushImage(OtherRepository, "v1");
        h.Registry.PushSignature(OtherRepository, otherDigest, h.Signer);
        var (engine, _, own) = TwoWebhooks(h);
        var pod = Pod(null, Image(":v1"), Other(":v1"));

        // In the API server's order: each webhook sees the object as the previous one patched it.
        var first = await engine.MutateAsync(Review(pod), WebhookScope.Shared, CancellationToken.None);
        Assert.True(first.Allowed, first.Status?.Message);
        var afterShared = JsonPatch.Apply(pod, first.Patch!);
        var second = await engine.MutateAsync(Review(afterShared), WebhookScope.Of(own), CancellationToken.None);
        Assert.True(second.Allowed, second.Status?.Message);
        Assert.Null(second.Warnings);
        var final = JsonPatch.Apply(afterShared, second.Patch!);

        // The patch pins tag@digest; the annotations name the image by digest alone, as Kyverno does.
        Assert.Equal([Image(":v1@" + appDigest), Other(":v1@" + otherDigest)], final.GetProperty("spec").GetProperty("containers").EnumerateArray().Select(c => c.GetProperty("image").GetString()));
        var app = Image("@" + appDigest);
        var other = Other("@" + otherDigest);
        Assert.Equal($$$$$"""{"{{{{{app}}}}}":"pass","{{{{{other}}}}}":"pass"}""", Annotation(final, AdmissionEngine.VerifyImagesAnnotation));
        Assert.Equal(
            $$$$$"""{"version":1,"policies":{"/own-policy":{"check-signature":{"{{{{{other}}}}}":"pass"}},"/shared-policy":{"check-signature":{"{{{{{app}}}}}":"pass"}}}}""",
            Annotation(final, AdmissionEngine.ScopedVerifyImagesAnnotation));
    }

    [Fact]
    public async Task A_webhook_replaces_the_entries_of_the_policies_it_judges_and_keeps_the_others()
    {
        using var h = new HostileHarness();
        var otherDigest = h.Registry.PushImage(OtherRepository, "v1");
        h.Registry.PushSignature(OtherRepository, otherDigest, h.Signer);
        var (engine, _, own) = TwoWebhooks(h);
        var other = Other("@" + otherDigest);
        var pod = Pod(
            new JsonObject
            {
                // A stale or forged "fail" for the image this call verifies, and an entry of an image it does not see.
                [AdmissionEngine.VerifyImagesAnnotation] = $$$$$"""{"{{{{{other}}}}}":"fail","elsewhere.example/x@sha256:01":"pass"}""",
                // Entries under the policy this webhook serves are its own to rewrite; a policy it does not serve keeps its own.
                [AdmissionEngine.ScopedVerifyImagesAnnotation] = """{"version":1,"policies":{"/own-policy":{"old-rule":{"elsewhere.example/x@sha256:01":"pass"}},"team-b/kept":{"r":{"elsewhere.example/x@sha256:01":"fail"}}}}""",
            },
            Other(":v1"));

        var response = await engine.MutateAsync(Review(pod), WebhookScope.Of(own), CancellationToken.None);

        Assert.True(response.Allowed, response.Status?.Message);
        Assert.Null(response.Warnings);
        var final = JsonPatch.Apply(pod, response.Patch!);
        Assert.Equal($$$$$"""{"elsewhere.example/x@sha256:01":"pass","{{{{{other}}}}}":"pass"}""", Annotation(final, AdmissionEngine.VerifyImagesAnnotation));
        Assert.Equal(
            $$$$$"""{"version":1,"policies":{"/own-policy":{"check-signature":{"{{{{{other}}}}}":"pass"}},"team-b/kept":{"r":{"elsewhere.example/x@sha256:01":"fail"}}}}""",
            Annotation(final, AdmissionEngine.ScopedVerifyImagesAnnotation));
    }

    [Theory]
    [InlineData("not json", "not JSON")]
    [InlineData("[\"a\"]", "not a JSON object")]
    [InlineData("{\"x.example/a@sha256:01\":{\"nested\":1}}", "is not a string")]
    [InlineData("{\"\\uD800\":\"pass\"}", "not valid Unicode")]
    public async Task An_unreadable_annotation_is_replaced_by_this_review_s_verdicts_with_a_warning(string existing, string problem)
    {
        using var h = new HostileHarness();
        var digest = h.Registry.PushImage(Repository, "v1");
        h.Registry.PushSignature(Repository, digest, h.Signer);
        var pod = Pod(new JsonObject { [AdmissionEngine.VerifyImagesAnnotation] = existing, [AdmissionEngine.ScopedVerifyImagesAnnotation] = """{"version":2}""" }, Image(":v1"));

        var response = await h.Engine.MutateAsync(Review(pod), CancellationToken.None);

        // As Kyverno ignores a value it cannot parse and writes its own: the review is judged on its images alone.
        Assert.True(response.Allowed, response.Status?.Message);
        var final = JsonPatch.Apply(pod, response.Patch!);
        var pinned = Image("@" + digest);
        Assert.Equal($$$$$"""{"{{{{{pinned}}}}}":"pass"}""", Annotation(final, AdmissionEngine.VerifyImagesAnnotation));
        Assert.Equal($$$$$"""{"version":1,"policies":{"/hostile":{"check-signature":{"{{{{{pinned}}}}}":"pass"}}}}""", Annotation(final, AdmissionEngine.ScopedVerifyImagesAnnotation));
        Assert.Collection(
            response.Warnings!,
            w =>
            {
                Assert.StartsWith($"annotation {AdmissionEngine.VerifyImagesAnnotation} on the object could not be read (", w, StringComparison.Ordinal);
                Assert.Contains(problem, w, StringComparison.Ordinal);
                Assert.EndsWith("; it is replaced by this review's verdicts", w, StringComparison.Ordinal);
            },
            w => Assert.Equal($"annotation {AdmissionEngine.ScopedVerifyImagesAnnotation} on the object could not be read (not version 1); it is replaced by this review's verdicts", w));
    }

    [Fact]
    public async Task An_annotation_claiming_an_unsigned_image_passed_does_not_admit_it_on_either_pass()
    {
        using var h = new HostileHarness();
        var digest = h.Registry.PushImage(Repository, "v1");
        var pinned = Image("@" + digest);
        var forged = new JsonObject
        {
            [AdmissionEngine.VerifyImagesAnnotation] = $$$$$"""{"{{{{{pinned}}}}}":"pass"}""",
            [AdmissionEngine.ScopedVerifyImagesAnnotation] = $$$$$"""{"version":1,"policies":{"/hostile":{"check-signature":{"{{{{{pinned}}}}}":"pass"}}}}""",
        };
        var pod = Pod(forged, pinned);

        // Kyverno skips verifying an image its annotation says passed (isImageVerified); here both passes verify it.
        var mutate = await h.Engine.MutateAsync(Review(pod), CancellationToken.None);
        var validate = await h.Engine.ValidateAsync(Review(pod), CancellationToken.None);

        Assert.Contains("signature not found", Denied(mutate), StringComparison.Ordinal);
        Assert.Contains("signature not found", Denied(validate), StringComparison.Ordinal);
    }

    [Fact]
    public void Verdicts_written_by_older_Kyverno_as_booleans_are_read_as_pass_and_fail()
    {
        var merged = VerdictAnnotations.MergeImageVerdicts(
            """{"a.example/x@sha256:01":true,"b.example/y@sha256:02":false}""",
            new Dictionary<string, string> { ["c.example/z@sha256:03"] = "pass" });

        Assert.Null(merged.Problem);
        Assert.Equal("""{"a.example/x@sha256:01":"pass","b.example/y@sha256:02":"fail","c.example/z@sha256:03":"pass"}""", merged.Value);
    }

    [Theory]
    [InlineData("""{"policies":{}}""", "not version 1")]
    [InlineData("""{"version":1}""", "no \"policies\" object")]
    [InlineData("""{"version":1,"policies":{"/p":[]}}""", "policy \"/p\" is not an object")]
    [InlineData("""{"version":1,"policies":{"/p":{"r":{"i":1}}}}""", "the verdict of \"i\" under \"/p/r\" is not a string")]
    [InlineData("""{"version":1,"policies":{"/p":{"r":{"\uDC00":"pass"}}}}""", "a name or verdict is not valid Unicode")]
    public void A_scoped_value_that_cannot_be_read_is_dropped_whole_with_the_reason(string existing, string problem)
    {
        var merged = VerdictAnnotations.MergeScopedVerdicts(existing, [new(null, "q", "r", "i@sha256:01", "pass")], _ => false);

        Assert.Equal(problem, merged.Problem);
        Assert.Equal("""{"version":1,"policies":{"/q":{"r":{"i@sha256:01":"pass"}}}}""", merged.Value);
    }
}
