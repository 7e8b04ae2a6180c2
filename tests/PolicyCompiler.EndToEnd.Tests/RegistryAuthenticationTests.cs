using System.Net.Http.Headers;
using PolicyCompiler.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// The published webhook pulling signatures from registries that require authentication, with credentials from
/// mounted Docker config files (<c>Registry:CredentialFiles</c>): docker-registry with htpasswd (Basic), and
/// docker-registry with token auth whose token endpoint the test serves (Bearer, with basic credentials or an
/// identity token). Each test starts its own registry and webhook process; the binary is the fixture's.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class RegistryAuthenticationTests(WebhookFixture fixture, ITestOutputHelper output) : IDisposable
{
    private const string Namespace = "e2e-registry";
    private const string IdentityToken = "e2e-identity-token-0f1e2d3c4b5a";

    private readonly RegistryScenario _scenario = new(fixture, "registry-auth");
    private readonly List<IDisposable> _disposables = [];

    private static RegistryCredentials User => RegistryCredentials.TestUser;

    public void Dispose()
    {
        _scenario.Dispose();
        foreach (var disposable in _disposables)
        {
            disposable.Dispose();
        }
    }

    [Fact]
    public async Task HtpasswdRegistryWithoutCredentialsIsDeniedForAuthentication()
    {
        var registry = await _scenario.StartRegistryAsync(new RegistryOptions { Credentials = User });
        var image = await _scenario.PushSignedImageAsync(registry, "e2e/signed-basic-anonymous");
        var host = await _scenario.StartWebhookAsync([registry.Host]);

        var result = await new AdmissionClient(host.Client).MutateAsync(new TestPod(Namespace, "basic-anonymous", image.TagReference));

        AssertDenied(result, image, $"registry {registry.Host} requires authentication for {image.Repository}, and no credentials are configured for it");
    }

    [Fact]
    public async Task HtpasswdRegistryWithACredentialFileAdmitsTheSignedImage()
    {
        var registry = await _scenario.StartRegistryAsync(new RegistryOptions { Credentials = User });
        var image = await _scenario.PushSignedImageAsync(registry, "e2e/signed-basic");
        var credentials = DockerConfigFile.Write(_scenario.Work.Combine("regcred.json"), DockerConfigFile.WithPassword(registry.Host, User.UserName, User.Password));
        var host = await _scenario.StartWebhookAsync([registry.Host], $"--Registry:CredentialFiles:0={credentials}");

        var result = await new AdmissionClient(host.Client).MutateAsync(new TestPod(Namespace, "basic", image.TagReference));

        AssertAdmittedAndPinned(result, image);
        Assert.DoesNotContain(User.Password, host.Log, StringComparison.Ordinal);
        Assert.DoesNotContain(User.ToBasicHeader().Parameter!, host.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RotatedCredentialFileIsReadWithoutARestart()
    {
        const string wrongPassword = "not-the-e2e-password";
        var registry = await _scenario.StartRegistryAsync(new RegistryOptions { Credentials = User });
        var image = await _scenario.PushSignedImageAsync(registry, "e2e/signed-basic-rotated");
        var credentials = DockerConfigFile.Write(_scenario.Work.Combine("rotated.json"), DockerConfigFile.WithPassword(registry.Host, User.UserName, wrongPassword));
        var host = await _scenario.StartWebhookAsync([registry.Host], $"--Registry:CredentialFiles:0={credentials}", "--Registry:CredentialRefreshInterval=00:00:00.200");
        var admission = new AdmissionClient(host.Client);

        var before = await admission.MutateAsync(new TestPod(Namespace, "rotated-before", image.TagReference));
        AssertDenied(before, image, $"registry {registry.Host} rejected the password configured for it (authentication failed for {image.Repository})");
        Assert.DoesNotContain(wrongPassword, before.ResponseBody, StringComparison.Ordinal);

        DockerConfigFile.Write(credentials, DockerConfigFile.WithPassword(registry.Host, User.UserName, User.Password));
        AdmissionResult after;
        var attempts = 0;
        do
        {
            await Task.Delay(TimeSpan.FromMilliseconds(250));
            after = await admission.MutateAsync(new TestPod(Namespace, "rotated-after", image.TagReference));
        }
        while (after.Allowed != true && ++attempts < 80);

        AssertAdmittedAndPinned(after, image);
        Assert.DoesNotContain(wrongPassword, host.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenAuthRegistryAdmitsWithPasswordCredentialsAndOneCachedToken()
    {
        var (registry, tokens, bundle) = await StartTokenRegistryAsync();
        var image = await PushSignedThroughTokenAsync(registry, tokens, "e2e/signed-token");
        var credentials = DockerConfigFile.Write(_scenario.Work.Combine("token-regcred.json"), DockerConfigFile.WithPassword(registry.Host, User.UserName, User.Password));
        var host = await _scenario.StartWebhookAsync([registry.Host], $"--Registry:CaBundleFile={bundle}", $"--Registry:CredentialFiles:0={credentials}");

        var result = await new AdmissionClient(host.Client).MutateAsync(new TestPod(Namespace, "token", image.TagReference));

        AssertAdmittedAndPinned(result, image);

        // Tag, signature manifest and signature blob were read with one token, for the image's pull scope.
        var request = Assert.Single(tokens.Requests);
        Assert.Equal("GET", request.Method);
        Assert.Equal(User.UserName, request.BasicUser);
        Assert.Equal([$"repository:{image.Repository}:pull"], request.Scopes);
        Assert.Contains("service=" + TokenServer.Service, request.Target, StringComparison.Ordinal);
        Assert.Equal(200, request.Status);
        Assert.DoesNotContain(User.Password, host.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenAuthRegistryAdmitsWithAnIdentityToken()
    {
        var (registry, tokens, bundle) = await StartTokenRegistryAsync();
        var image = await PushSignedThroughTokenAsync(registry, tokens, "e2e/signed-token-identity");
        var credentials = DockerConfigFile.Write(_scenario.Work.Combine("identity.json"), DockerConfigFile.WithIdentityToken(registry.Host, IdentityToken));
        var host = await _scenario.StartWebhookAsync([registry.Host], $"--Registry:CaBundleFile={bundle}", $"--Registry:CredentialFiles:0={credentials}");

        var result = await new AdmissionClient(host.Client).MutateAsync(new TestPod(Namespace, "token-identity", image.TagReference));

        AssertAdmittedAndPinned(result, image);
        var request = Assert.Single(tokens.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal("refresh_token", request.Form["grant_type"]);
        Assert.Equal("policy-compiler", request.Form["client_id"]);
        Assert.Equal(TokenServer.Service, request.Form["service"]);
        Assert.Equal([$"repository:{image.Repository}:pull"], request.Scopes);
        Assert.Equal(200, request.Status);
        Assert.DoesNotContain(IdentityToken, host.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenAuthRegistryWithoutCredentialsIsDeniedForAuthentication()
    {
        var (registry, tokens, bundle) = await StartTokenRegistryAsync();
        var image = await PushSignedThroughTokenAsync(registry, tokens, "e2e/signed-token-anonymous");
        var host = await _scenario.StartWebhookAsync([registry.Host], $"--Registry:CaBundleFile={bundle}");

        var result = await new AdmissionClient(host.Client).MutateAsync(new TestPod(Namespace, "token-anonymous", image.TagReference));

        AssertDenied(result, image, $"registry {registry.Host} requires authentication for {image.Repository}, and no credentials are configured for it");
        var request = Assert.Single(tokens.Requests);
        Assert.Null(request.BasicUser);
    }

    /// <summary>A token server (HTTPS, certificate of a test CA) and a docker-registry that trusts its tokens.</summary>
    private async Task<(RegistryProcess Registry, TokenServer Tokens, string CaBundle)> StartTokenRegistryAsync()
    {
        var authority = TestCertificate.CreateAuthority("token e2e CA");
        var bundle = _scenario.WriteFile("token-ca.pem", authority.CertificatePem);
        var tokens = TokenServer.Start(authority, User, IdentityToken);
        _disposables.Add(tokens);
        _disposables.Add(authority);
        var registry = await _scenario.StartRegistryAsync(new RegistryOptions
        {
            Configure = builder => builder.WithTokenAuth(tokens.Realm.AbsoluteUri, TokenServer.Service, TokenServer.Issuer, bundle),
        });

        // The registry itself answers with the challenge the webhook will follow.
        using var anonymous = registry.CreateHttpClient(authenticate: false);
        using var challenge = await anonymous.GetAsync(new Uri("v2/", UriKind.Relative));
        var bearer = Assert.Single(challenge.Headers.WwwAuthenticate);
        Assert.Equal("Bearer", bearer.Scheme);
        Assert.Contains($"realm=\"{tokens.Realm.AbsoluteUri}\"", bearer.Parameter, StringComparison.Ordinal);
        return (registry, tokens, bundle);
    }

    /// <summary>Pushes and signs through the distribution API with a token the test mints for the push.</summary>
    private async Task<PushedImage> PushSignedThroughTokenAsync(RegistryProcess registry, TokenServer tokens, string repository)
    {
        var http = registry.CreateHttpClient(authenticate: false);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", tokens.MintToken("e2e-pusher", [repository], "pull", "push"));
        using var distribution = new DistributionClient(http, registry.Host);
        var image = await OciContentPusher.PushImageAsync(distribution, repository, "v1");
        await OciContentPusher.SignAsync(fixture.Signer, distribution, image);
        Assert.Empty(tokens.Requests);
        return image;
    }

    private void AssertAdmittedAndPinned(AdmissionResult result, PushedImage image)
    {
        output.WriteLine(result.Describe());
        Assert.True(result.Allowed == true, "expected allowed\n" + result.Describe() + "\n" + _scenario.Describe());
        Assert.Contains(result.PatchOperations, o => o is { Op: "replace", Path: "/spec/containers/0/image" } && o.StringValue == image.PinnedReference);
    }

    private void AssertDenied(AdmissionResult result, PushedImage image, string reason)
    {
        output.WriteLine(result.Describe());
        var context = result.Describe() + "\n" + _scenario.Describe();
        Assert.True(result.Allowed == false, "expected denied\n" + context);
        Assert.True(result.MessageText?.Contains("image verification failed for " + image.TagReference + ": " + reason, StringComparison.Ordinal) == true, $"expected '{reason}'\n" + context);
        Assert.DoesNotContain(User.Password, result.ResponseBody, StringComparison.Ordinal);
    }
}
