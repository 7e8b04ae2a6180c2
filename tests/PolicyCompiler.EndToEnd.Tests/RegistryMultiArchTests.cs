using PolicyCompiler.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// A multi-platform image (an OCI index of an amd64 and an arm64 image) in the real registry: its tag resolves to
/// the index digest, which is what cosign signs and what the Pod is pinned to; a signature on one platform's manifest
/// does not stand for the index.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class RegistryMultiArchTests(WebhookFixture fixture, ITestOutputHelper output)
{
    private const string Namespace = "e2e-multiarch";

    [Fact]
    public async Task IndexTagIsAdmittedWithTheIndexSignatureAndPinnedToTheIndexDigest()
    {
        var pushed = await OciContentPusher.PushIndexAsync(fixture.Registry.Distribution, "e2e/signed-multiarch", "v1");
        await fixture.Signer.SignAsync(fixture.Registry, pushed.Index);
        var served = await fixture.Registry.Distribution.GetManifestAsync(pushed.Index.Repository, pushed.Index.Tag, MediaTypes.OciIndex);

        var result = await fixture.Admission.MutateAsync(new TestPod(Namespace, "multiarch", pushed.Index.TagReference));

        output.WriteLine(result.Describe());
        Assert.Equal(MediaTypes.OciIndex, served.MediaType);
        Assert.Equal(pushed.Index.Digest, served.Digest);
        Assert.DoesNotContain(pushed.Index.Digest, pushed.PlatformDigests);
        Assert.True(result.Allowed == true, "expected allowed\n" + result.Describe() + "\n" + fixture.Describe());
        Assert.Contains(result.PatchOperations, o => o is { Op: "replace", Path: "/spec/containers/0/image" } && o.StringValue == pushed.Index.PinnedReference);
    }

    [Fact]
    public async Task SignatureOfOnePlatformDoesNotAdmitTheIndex()
    {
        var pushed = await OciContentPusher.PushIndexAsync(fixture.Registry.Distribution, "e2e/signed-multiarch-platform", "v1");
        var platform = pushed.Index with { Tag = "v1-amd64", Digest = pushed.PlatformDigests[0] };
        await fixture.Signer.SignAsync(fixture.Registry, platform);

        var result = await fixture.Admission.MutateAsync(new TestPod(Namespace, "multiarch-platform", pushed.Index.TagReference));
        var byPlatformDigest = await fixture.Admission.MutateAsync(new TestPod(Namespace, "multiarch-platform-digest", platform.DigestReference));

        output.WriteLine(result.Describe());
        Assert.True(result.Allowed == false, "a platform's signature admitted the index\n" + result.Describe());
        Assert.Contains($"image verification failed for {pushed.Index.TagReference}: ", result.MessageText, StringComparison.Ordinal);
        Assert.Contains("signature not found", result.MessageText, StringComparison.Ordinal);

        // The platform manifest itself, named by digest, is what that signature covers.
        Assert.True(byPlatformDigest.Allowed == true, "expected the signed platform manifest to be allowed\n" + byPlatformDigest.Describe());
    }
}
