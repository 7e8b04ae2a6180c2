using System.Net;
using System.Text;

namespace PolicyCompiler.Runtime.Tests.Registry;

/// <summary>OCI 1.1 referrers: the referrers API when the registry has it, the referrers tag schema when it answers 404.</summary>
public sealed class ReferrersTests
{
    private static readonly string s_index = """
        {"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":10,
           "artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","annotations":{"dev.sigstore.bundle.predicateType":"https://sigstore.dev/cosign/sign/v1"}}]}
        """;

    private static HttpResponseMessage Json(string body, HttpStatusCode status = HttpStatusCode.OK) => new(status)
    {
        Content = new StringContent(body, Encoding.UTF8, "application/vnd.oci.image.index.v1+json"),
    };

    [Fact]
    public async Task TheReferrersApiIsUsedWhenTheRegistryHasIt()
    {
        var fake = new FakeRegistryHandler().On(r => r.Uri.AbsolutePath.Contains("/referrers/", StringComparison.Ordinal), _ => Json(s_index));
        using var client = RegistryTestSupport.Client(fake);

        var referrers = await client.GetReferrersAsync(RegistryTestSupport.Host, RegistryTestSupport.Repository, RegistryTestSupport.ManifestDigest, CancellationToken.None);

        var referrer = Assert.Single(referrers);
        Assert.Equal("application/vnd.dev.sigstore.bundle.v0.3+json", referrer.ArtifactType);
        Assert.Equal("https://sigstore.dev/cosign/sign/v1", referrer.Annotations!["dev.sigstore.bundle.predicateType"]);
        Assert.DoesNotContain(fake.Requests, r => RegistryTestSupport.IsManifest(r));
    }

    [Fact]
    public async Task WithoutTheApiTheReferrersTagIsRead()
    {
        var tag = "/manifests/" + RegistryTestSupport.ManifestDigest.Replace(':', '-');
        var fake = new FakeRegistryHandler()
            .On(r => r.Uri.AbsolutePath.Contains("/referrers/", StringComparison.Ordinal), _ => new HttpResponseMessage(HttpStatusCode.NotFound))
            .On(r => r.Uri.AbsolutePath.EndsWith(tag, StringComparison.Ordinal), _ => Json(s_index));
        using var client = RegistryTestSupport.Client(fake);

        var referrers = await client.GetReferrersAsync(RegistryTestSupport.Host, RegistryTestSupport.Repository, RegistryTestSupport.ManifestDigest, CancellationToken.None);

        Assert.Single(referrers);
        Assert.Single(fake.To(tag));
    }

    [Fact]
    public async Task NoApiAndNoTagMeansNoReferrers()
    {
        var fake = new FakeRegistryHandler();
        using var client = RegistryTestSupport.Client(fake);

        Assert.Empty(await client.GetReferrersAsync(RegistryTestSupport.Host, RegistryTestSupport.Repository, RegistryTestSupport.ManifestDigest, CancellationToken.None));
    }

    [Fact]
    public async Task AMalformedListingIsAnInvalidResponse()
    {
        var fake = new FakeRegistryHandler().On(r => r.Uri.AbsolutePath.Contains("/referrers/", StringComparison.Ordinal), _ => Json("{\"manifests\": 5}"));
        using var client = RegistryTestSupport.Client(fake);

        var error = await Assert.ThrowsAsync<PolicyCompiler.Runtime.Registry.RegistryException>(() =>
            client.GetReferrersAsync(RegistryTestSupport.Host, RegistryTestSupport.Repository, RegistryTestSupport.ManifestDigest, CancellationToken.None));

        Assert.Equal(PolicyCompiler.Runtime.Registry.RegistryFailure.InvalidResponse, error.Failure);
    }
}
