using System.Text;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Tests.Hostile;
using static PolicyCompiler.Runtime.Tests.Hostile.HostileHarness;

namespace PolicyCompiler.Runtime.Tests.Engine;

/// <summary>
/// What Kyverno answers for an image that fails verification, by failure action. Under Audit its image verifier pins the
/// digest and records the verdict whatever the outcome (pkg/engine/internal/imageverifier.go, Verify: handleMutateDigest,
/// then ivm.Add(image, "fail")) and its webhook returns the patch, the annotation and the warnings
/// (pkg/webhooks/resource/imageverification/handler.go); under Enforce it returns the blocked message alone
/// (pkg/webhooks/utils/block.go). The registry is the in-process one the hostile tests use, here answering honestly.
/// </summary>
public sealed class KyvernoAuditAndDenialTests
{
    private static List<JsonNode> Operations(AdmissionResponse response) =>
        response.Patch is null ? [] : [.. JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(response.Patch)))!.AsArray().Select(o => o!)];

    private static string Annotation(AdmissionResponse response, string key) =>
        Operations(response).Single(o => o["path"]!.GetValue<string>() == "/metadata/annotations/" + AdmissionEngine.EscapePointer(key))["value"]!.GetValue<string>();

    [Fact]
    public async Task Under_Audit_an_unsigned_image_is_admitted_pinned_and_recorded_as_fail()
    {
        using var h = new HostileHarness(failureAction: FailureAction.Audit);
        var digest = h.Registry.PushImage(Repository, "v1");

        var response = await h.MutateAsync(Image(":v1"));

        Assert.True(response.Allowed, response.Status?.Message);
        Assert.Equal([Image(":v1@" + digest)], PatchedImages(response));
        var pinned = HostileRegistry.Host + "/" + Repository + "@" + digest;
        Assert.Equal($$"""{"{{pinned}}":"fail"}""", Annotation(response, AdmissionEngine.VerifyImagesAnnotation));
        Assert.Equal($$$$$"""{"version":1,"policies":{"/hostile":{"check-signature":{"{{{{{pinned}}}}}":"fail"}}}}""", Annotation(response, AdmissionEngine.ScopedVerifyImagesAnnotation));
        var warning = Assert.Single(response.Warnings!);
        Assert.StartsWith($"policy hostile.check-signature: image verification failed for {Image(":v1")}: ", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Under_Audit_an_image_signed_by_another_key_is_pinned_and_recorded_as_fail()
    {
        using var h = new HostileHarness(failureAction: FailureAction.Audit);
        var digest = h.Registry.PushImage(Repository, "v1");
        using var stranger = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        h.Registry.PushSignature(Repository, digest, stranger);

        var response = await h.MutateAsync(Image(":v1"));

        Assert.True(response.Allowed, response.Status?.Message);
        Assert.Equal([Image(":v1@" + digest)], PatchedImages(response));
        Assert.Contains("\":\"fail\"}", Annotation(response, AdmissionEngine.VerifyImagesAnnotation), StringComparison.Ordinal);
        Assert.Single(response.Warnings!);
    }

    [Fact]
    public async Task Under_Audit_an_image_whose_tag_does_not_resolve_has_nothing_to_pin()
    {
        using var h = new HostileHarness(failureAction: FailureAction.Audit);

        var response = await h.MutateAsync(Image(":gone"));

        Assert.True(response.Allowed, response.Status?.Message);
        Assert.Null(response.Patch);
        Assert.Single(response.Warnings!);
    }

    [Fact]
    public async Task Under_Audit_a_signed_image_is_recorded_as_pass()
    {
        using var h = new HostileHarness(failureAction: FailureAction.Audit);
        var digest = h.Registry.PushImage(Repository, "v1");
        h.Registry.PushSignature(Repository, digest, h.Signer);

        var response = await h.MutateAsync(Image(":v1"));

        Assert.True(response.Allowed, response.Status?.Message);
        Assert.Null(response.Warnings);
        Assert.Contains("\":\"pass\"}", Annotation(response, AdmissionEngine.VerifyImagesAnnotation), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Under_Enforce_the_denial_is_Kyverno_s_message_without_patch_or_warnings()
    {
        using var h = new HostileHarness();
        h.Registry.PushImage(Repository, "v1");

        var response = await h.MutateAsync(Image(":v1"));

        Denied(response);
        var message = response.Status!.Message!;
        Assert.Null(response.Warnings);
        const string Envelope = "\n\nresource Pod/default/pod was blocked due to the following policies \n\nhostile:\n  check-signature: ";
        Assert.StartsWith(Envelope, message, StringComparison.Ordinal);

        // The reason, as yaml.v2 writes it: single-quoted (it holds ": "), folded past column 80.
        var reason = $"image verification failed for {Image(":v1")}: .attestors[0].entries[0].keys: signature not found";
        Assert.Equal(Envelope[..Envelope.IndexOf("hostile:", StringComparison.Ordinal)] + GoYamlV2.MarshalMapOfMaps(new Dictionary<string, IReadOnlyDictionary<string, string>>
        {
            ["hostile"] = new Dictionary<string, string> { ["check-signature"] = reason },
        }), message);
        Assert.EndsWith("'\n", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task One_message_per_rule_the_last_image_s_as_Kyverno_keeps_it()
    {
        using var h = new HostileHarness();
        h.Registry.PushImage(Repository, "v1");
        h.Registry.PushImage(Repository, "v2");

        var response = await h.MutateAsync(Image(":v1"), Image(":v2"));

        var message = Denied(response);
        Assert.DoesNotContain(Image(":v1"), message, StringComparison.Ordinal);
        Assert.Contains(Image(":v2"), message, StringComparison.Ordinal);
    }
}
