using PolicyCompiler.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// The published webhook and a docker-registry serving HTTPS with a certificate of its own private CA: trusted when
/// <c>Registry:CaBundleFile</c> names that CA, refused (as a TLS failure, not as an outage) otherwise.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class RegistryTlsTests(WebhookFixture fixture, ITestOutputHelper output) : IDisposable
{
    private const string Namespace = "e2e-registry-tls";

    private readonly RegistryScenario _scenario = new(fixture, "registry-tls");
    private readonly TestCertificate _authority = TestCertificate.CreateAuthority("registry e2e CA");
    private readonly TestCertificate _otherAuthority = TestCertificate.CreateAuthority("unrelated e2e CA");
    private readonly List<TestCertificate> _issued = [];

    public void Dispose()
    {
        _scenario.Dispose();
        _authority.Dispose();
        _otherAuthority.Dispose();
        foreach (var certificate in _issued)
        {
            certificate.Dispose();
        }
    }

    [Fact]
    public async Task PrivateCaRegistryIsTrustedThroughTheCaBundle()
    {
        var (registry, image) = await StartTlsRegistryAsync("e2e/signed-tls");
        var bundle = _scenario.WriteFile("registry-ca.pem", _otherAuthority.CertificatePem + _authority.CertificatePem);
        var host = await _scenario.StartWebhookAsync([], $"--Registry:CaBundleFile={bundle}");

        var result = await new AdmissionClient(host.Client).MutateAsync(new TestPod(Namespace, "tls", image.TagReference));

        output.WriteLine(result.Describe());
        Assert.True(result.Allowed == true, "expected allowed\n" + result.Describe() + "\n" + _scenario.Describe());
        Assert.Contains(result.PatchOperations, o => o is { Op: "replace", Path: "/spec/containers/0/image" } && o.StringValue == image.PinnedReference);
        Assert.Equal("https", registry.BaseUri.Scheme);
    }

    [Fact]
    public async Task PrivateCaRegistryWithoutTheCaBundleIsDeniedForTls()
    {
        var (registry, image) = await StartTlsRegistryAsync("e2e/signed-tls-untrusted");
        var host = await _scenario.StartWebhookAsync([]);

        var result = await new AdmissionClient(host.Client).MutateAsync(new TestPod(Namespace, "tls-untrusted", image.TagReference));

        AssertDenied(result, image, $"TLS handshake with registry {registry.Host} failed: the certificate chain is not trusted (");
        Assert.Contains("configure Registry:CaBundleFile for a private CA", result.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CaBundleOfAnotherCaDoesNotMakeTheRegistryTrusted()
    {
        var (registry, image) = await StartTlsRegistryAsync("e2e/signed-tls-other-ca");
        var bundle = _scenario.WriteFile("other-ca.pem", _otherAuthority.CertificatePem);
        var host = await _scenario.StartWebhookAsync([], $"--Registry:CaBundleFile={bundle}");

        var result = await new AdmissionClient(host.Client).MutateAsync(new TestPod(Namespace, "tls-other-ca", image.TagReference));

        AssertDenied(result, image, $"TLS handshake with registry {registry.Host} failed: the certificate chain is trusted neither by the system roots nor by Registry:CaBundleFile");
    }

    private async Task<(RegistryProcess Registry, PushedImage Image)> StartTlsRegistryAsync(string repository)
    {
        var certificate = _authority.Issue("registry");
        _issued.Add(certificate);
        var registry = await _scenario.StartRegistryAsync(new RegistryOptions { Tls = certificate });
        var image = await _scenario.PushSignedImageAsync(registry, repository);
        return (registry, image);
    }

    private void AssertDenied(AdmissionResult result, PushedImage image, string reason)
    {
        output.WriteLine(result.Describe());
        var context = result.Describe() + "\n" + _scenario.Describe();
        Assert.True(result.Allowed == false, "expected denied\n" + context);
        Assert.True(result.MessageText?.Contains("image verification failed for " + image.TagReference + ": " + reason, StringComparison.Ordinal) == true, $"expected '{reason}'\n" + context);
    }
}
