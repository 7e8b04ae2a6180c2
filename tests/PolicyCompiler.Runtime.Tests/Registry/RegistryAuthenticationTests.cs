using System.Net;
using System.Text;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Tests.Infrastructure;
using static PolicyCompiler.Runtime.Tests.Registry.RegistryTestSupport;

namespace PolicyCompiler.Runtime.Tests.Registry;

/// <summary>
/// How the client answers registries' challenges (Basic, and the token protocol of distribution's
/// docs/spec/auth/token.md and oauth.md), caches tokens, and keeps credentials where they belong.
/// </summary>
public sealed class RegistryAuthenticationTests
{
    internal const string User = "robot";
    internal const string Password = "s3cret-Passw0rd";
    private const string IdentityToken = "refresh-0123456789abcdef";
    internal const string Realm = "https://auth.registry.test/token";
    private const string BearerChallenge = """realm="https://auth.registry.test/token",service="registry.test",scope="repository:team/app:pull" """;

    private static RegistryCredential PasswordCredential => new(User, Password);

    [Fact]
    public async Task BasicChallengeIsAnsweredWithTheConfiguredPassword()
    {
        var fake = BasicRegistry();
        using var client = Client(fake, new FixedCredentials(Host, PasswordCredential));

        var manifest = await GetManifest(client);

        Assert.Equal(ManifestDigest, manifest.Digest);
        var requests = fake.To("/manifests/");
        Assert.Equal(2, requests.Count);
        Assert.Null(requests[0].Authorization);
        Assert.Equal("Basic", requests[1].Authorization?.Scheme);
        Assert.Equal(Basic(User, Password), requests[1].Authorization?.Parameter);
    }

    [Fact]
    public async Task RegistryThatAskedForBasicOnceGetsItFromTheStart()
    {
        var fake = BasicRegistry();
        using var client = Client(fake, new FixedCredentials(Host, PasswordCredential));

        await GetManifest(client);
        await GetBlob(client);
        await GetManifest(client, repository: "team/other");

        // One challenge for the whole registry, then Basic on every request.
        Assert.Single(fake.Requests, r => r.Authorization is null);
        Assert.Equal(4, fake.Requests.Count);
    }

    [Fact]
    public async Task BasicChallengeWithoutCredentialsSaysAuthenticationIsRequired()
    {
        var fake = BasicRegistry();
        using var client = Client(fake);

        var error = await Assert.ThrowsAsync<RegistryException>(() => GetManifest(client));

        Assert.Equal(RegistryFailure.Unauthorized, error.Failure);
        Assert.False(error.IsTransient);
        Assert.Equal($"registry {Host} requires authentication for {Repository}, and no credentials are configured for it (Registry:CredentialFiles)", error.Message);
        Assert.Single(fake.Requests);
    }

    [Fact]
    public async Task WrongPasswordIsReportedAsRejectedWithoutShowingIt()
    {
        var fake = BasicRegistry();
        using var client = Client(fake, new FixedCredentials(Host, new RegistryCredential(User, "wrong-" + Password)));

        var error = await Assert.ThrowsAsync<RegistryException>(() => GetManifest(client));

        Assert.Equal(RegistryFailure.Unauthorized, error.Failure);
        Assert.Contains($"registry {Host} rejected the password configured for it", error.Message, StringComparison.Ordinal);
        AssertNoSecret(error, Password, Basic(User, "wrong-" + Password), User);

        // The second attempt with the learned scheme is rejected at once, without a new round trip.
        fake.Requests.Clear();
        await Assert.ThrowsAsync<RegistryException>(() => GetManifest(client));
        Assert.Single(fake.Requests);
    }

    [Fact]
    public async Task BearerChallengeGetsATokenWithBasicCredentialsServiceAndScope()
    {
        var fake = TokenRegistry();
        using var client = Client(fake, new FixedCredentials(Host, PasswordCredential));

        await GetManifest(client);

        var token = Assert.Single(fake.To(Realm));
        Assert.Equal(HttpMethod.Get, token.Method);
        Assert.Equal("?service=registry.test&scope=repository%3Ateam%2Fapp%3Apull", token.Uri.Query);
        Assert.Equal("Basic", token.Authorization?.Scheme);
        Assert.Equal(Basic(User, Password), token.Authorization?.Parameter);
        var last = fake.To("/manifests/")[^1];
        Assert.Equal("Bearer", last.Authorization?.Scheme);
        Assert.Equal("token-1", last.Authorization?.Parameter);
    }

    [Fact]
    public async Task AnonymousTokenIsRequestedWithoutAuthorization()
    {
        var fake = TokenRegistry();
        using var client = Client(fake);

        await GetManifest(client);

        Assert.Null(Assert.Single(fake.To(Realm)).Authorization);
    }

    [Fact]
    public async Task TokenIsCachedPerRepositoryAndScopeUntilItExpires()
    {
        var time = new FakeTimeProvider();
        var fake = TokenRegistry(expiresIn: 300);
        using var client = Client(fake, new FixedCredentials(Host, PasswordCredential), time);

        await GetManifest(client);
        await GetBlob(client);
        await GetManifest(client, ManifestDigest);
        Assert.Single(fake.To(Realm));

        // Another repository is another scope: another token.
        await GetManifest(client, repository: "team/other");
        Assert.Equal(2, fake.To(Realm).Count);
        Assert.Contains("scope=repository%3Ateam%2Fother%3Apull", fake.To(Realm)[1].Uri.Query, StringComparison.Ordinal);

        // Close to its expiry the token is renewed before use.
        time.Advance(TimeSpan.FromSeconds(296));
        fake.Requests.Clear();
        await GetManifest(client);
        Assert.Single(fake.To(Realm));
        Assert.Equal("token-3", fake.To("/manifests/")[^1].Authorization?.Parameter);
    }

    [Fact]
    public async Task TokenWithoutExpiryLivesSixtySeconds()
    {
        var time = new FakeTimeProvider();
        var fake = TokenRegistry(expiresIn: null);
        using var client = Client(fake, time: time);

        await GetManifest(client);
        time.Advance(TimeSpan.FromSeconds(50));
        await GetManifest(client);
        Assert.Single(fake.To(Realm));

        time.Advance(TimeSpan.FromSeconds(10));
        await GetManifest(client);
        Assert.Equal(2, fake.To(Realm).Count);
    }

    [Fact]
    public async Task TokenTheRegistryNoLongerAcceptsIsReplacedOnce()
    {
        var revoked = false;
        var fake = new FakeRegistryHandler()
            .On(r => r.Uri.AbsoluteUri.StartsWith(Realm, StringComparison.Ordinal), (_, hit) => FakeRegistryHandler.Json($$$"""{"token":"token-{{{hit}}}","expires_in":300}"""))
            .On(r => r.Authorization?.Parameter == "token-2" || (r.Authorization?.Parameter == "token-1" && !revoked), _ => FakeRegistryHandler.Ok(Manifest, "application/vnd.oci.image.manifest.v1+json"))
            .On(_ => true, _ => FakeRegistryHandler.Challenge("Bearer", BearerChallenge));
        using var client = Client(fake);

        await GetManifest(client);
        revoked = true;
        await GetManifest(client);

        Assert.Equal(2, fake.To(Realm).Count);
        Assert.Equal(["token-1", "token-2"], fake.To("/manifests/").Skip(2).Select(r => r.Authorization?.Parameter));
    }

    [Fact]
    public async Task IdentityTokenIsExchangedThroughTheOAuthRefreshTokenGrant()
    {
        var fake = TokenRegistry(accessTokenField: true);
        using var client = Client(fake, new FixedCredentials(Host, new RegistryCredential("00000000-0000-0000-0000-000000000000", null, identityToken: IdentityToken)));

        await GetManifest(client);

        var token = Assert.Single(fake.To(Realm));
        Assert.Equal(HttpMethod.Post, token.Method);
        Assert.Null(token.Authorization);
        var form = token.Body!.Split('&').Select(p => p.Split('=')).ToDictionary(p => p[0], p => Uri.UnescapeDataString(p[1]));
        Assert.Equal("refresh_token", form["grant_type"]);
        Assert.Equal(IdentityToken, form["refresh_token"]);
        Assert.Equal(RegistryClient.ClientId, form["client_id"]);
        Assert.Equal("registry.test", form["service"]);
        Assert.Equal("repository:team/app:pull", form["scope"]);
        Assert.Equal("token-1", fake.To("/manifests/")[^1].Authorization?.Parameter);
    }

    [Fact]
    public async Task RegistryTokenIsSentAsTheBearerTokenItself()
    {
        var fake = new FakeRegistryHandler()
            .On(r => r.Authorization is { Scheme: "Bearer", Parameter: "registry-token-xyz" }, _ => FakeRegistryHandler.Ok(Manifest))
            .On(_ => true, _ => FakeRegistryHandler.Challenge("Bearer", BearerChallenge));
        using var client = Client(fake, new FixedCredentials(Host, new RegistryCredential(null, null, registryToken: "registry-token-xyz")));

        await GetManifest(client);

        Assert.Single(fake.Requests);
    }

    [Fact]
    public async Task RejectedTokenRequestIsAnAuthenticationFailureWithoutSecrets()
    {
        var fake = new FakeRegistryHandler()
            .On(r => r.Uri.AbsoluteUri.StartsWith(Realm, StringComparison.Ordinal), _ => FakeRegistryHandler.Status(HttpStatusCode.Unauthorized))
            .On(_ => true, _ => FakeRegistryHandler.Challenge("Bearer", BearerChallenge));
        using var client = Client(fake, new FixedCredentials(Host, PasswordCredential));

        var error = await Assert.ThrowsAsync<RegistryException>(() => GetManifest(client));

        Assert.Equal(RegistryFailure.Unauthorized, error.Failure);
        Assert.Equal($"the token endpoint of registry {Host} rejected the password configured for it (authentication failed for {Repository})", error.Message);
        AssertNoSecret(error, Password, Basic(User, Password));
    }

    [Fact]
    public async Task TokenWithoutAccessIsReportedAsMissingCredentials()
    {
        // An anonymous token that grants nothing: the registry still answers 401.
        var fake = new FakeRegistryHandler()
            .On(r => r.Uri.AbsoluteUri.StartsWith(Realm, StringComparison.Ordinal), _ => FakeRegistryHandler.Json("""{"token":"anonymous"}"""))
            .On(_ => true, _ => FakeRegistryHandler.Challenge("Bearer", BearerChallenge));
        using var client = Client(fake);

        var error = await Assert.ThrowsAsync<RegistryException>(() => GetManifest(client));

        Assert.Equal(RegistryFailure.Unauthorized, error.Failure);
        Assert.Contains("requires authentication for team/app, and no credentials are configured for it", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlainHttpRealmOnAnotherHostNeverReceivesCredentials()
    {
        var fake = new FakeRegistryHandler()
            .On(r => r.Uri.Authority == "auth.elsewhere.test", _ => FakeRegistryHandler.Json("""{"token":"anonymous"}"""))
            .On(_ => true, _ => FakeRegistryHandler.Challenge("Bearer", """realm="http://auth.elsewhere.test/token",service="registry.test" """));
        using var client = Client(fake, new FixedCredentials(Host, PasswordCredential), configure: o => o.InsecureRegistries.Add(Host));

        var error = await Assert.ThrowsAsync<RegistryException>(() => GetManifest(client));

        var token = Assert.Single(fake.To("auth.elsewhere.test"));
        Assert.Null(token.Authorization);
        Assert.Contains("its credentials were not sent to the plain-HTTP token realm on another host (auth.elsewhere.test)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlainHttpRealmOfTheInsecureRegistryItselfReceivesCredentials()
    {
        var fake = new FakeRegistryHandler()
            .On(r => r.Uri.AbsolutePath == "/token", _ => FakeRegistryHandler.Json("""{"token":"t"}"""))
            .On(r => r.Authorization?.Scheme == "Bearer", _ => FakeRegistryHandler.Ok(Manifest))
            .On(_ => true, _ => FakeRegistryHandler.Challenge("Bearer", """realm="http://registry.test/token",service="registry.test" """));
        using var client = Client(fake, new FixedCredentials(Host, PasswordCredential), configure: o => o.InsecureRegistries.Add(Host));

        await GetManifest(client);

        Assert.Equal("http", fake.Requests[0].Uri.Scheme);
        Assert.Equal(Basic(User, Password), Assert.Single(fake.To("/token")).Authorization?.Parameter);
    }

    [Fact]
    public async Task PlainHttpRealmOfAnHttpsRegistryIsRefused()
    {
        var fake = new FakeRegistryHandler()
            .On(_ => true, _ => FakeRegistryHandler.Challenge("Bearer", """realm="http://auth.registry.test/token",service="registry.test" """));
        using var client = Client(fake, new FixedCredentials(Host, PasswordCredential));

        var error = await Assert.ThrowsAsync<RegistryException>(() => GetManifest(client));

        Assert.Equal(RegistryFailure.Unauthorized, error.Failure);
        Assert.Contains("names a token realm that is not HTTPS", error.Message, StringComparison.Ordinal);
        Assert.Empty(fake.To("auth.registry.test"));
    }

    [Fact]
    public async Task BlobRedirectToStorageCarriesNoRegistryCredentials()
    {
        var storage = new Uri("https://storage.test/bucket/blob?signature=abc");
        var fake = new FakeRegistryHandler()
            .On(r => r.Uri.Authority == "storage.test", _ => FakeRegistryHandler.Ok(Blob))
            .On(r => r.Authorization is not null, _ => FakeRegistryHandler.Redirect(storage))
            .On(_ => true, _ => FakeRegistryHandler.Challenge("Basic", """realm="registry" """));
        using var client = Client(fake, new FixedCredentials(Host, PasswordCredential));

        var blob = await GetBlob(client);

        Assert.Equal(Blob, blob);
        Assert.Null(Assert.Single(fake.To("storage.test")).Authorization);
    }

    [Fact]
    public async Task DockerHubImagesAreFetchedFromRegistryOneWithHubCredentials()
    {
        var store = CredentialsFromJson($$$"""{"auths":{"https://index.docker.io/v1/":{"auth":"{{{Basic(User, Password)}}}"} } }""");
        var fake = new FakeRegistryHandler()
            .On(r => r.Authorization?.Scheme == "Basic", _ => FakeRegistryHandler.Ok(Manifest))
            .On(_ => true, _ => FakeRegistryHandler.Challenge("Basic", """realm="hub" """));
        using var client = Client(fake, store);

        await client.GetManifestAsync("docker.io", "library/nginx", "latest", CancellationToken.None);

        Assert.All(fake.Requests, r => Assert.Equal("registry-1.docker.io", r.Uri.Authority));
        Assert.Equal(Basic(User, Password), fake.Requests[^1].Authorization?.Parameter);
    }

    [Fact]
    public async Task CredentialsOfOneRegistryAreNotSentToAnother()
    {
        var fake = BasicRegistry();
        using var client = Client(fake, new FixedCredentials("other.test", PasswordCredential));

        var error = await Assert.ThrowsAsync<RegistryException>(() => GetManifest(client));

        Assert.Contains("no credentials are configured", error.Message, StringComparison.Ordinal);
        Assert.All(fake.Requests, r => Assert.Null(r.Authorization));
    }

    /// <summary>A registry with htpasswd auth: Basic challenge, and content for the right password only.</summary>
    internal static FakeRegistryHandler BasicRegistry() => new FakeRegistryHandler()
        .On(r => r.Authorization is { Scheme: "Basic" } a && a.Parameter == Basic(User, Password), r => IsBlob(r) ? FakeRegistryHandler.Ok(Blob) : FakeRegistryHandler.Ok(Manifest, "application/vnd.oci.image.manifest.v1+json"))
        .On(_ => true, _ => FakeRegistryHandler.Challenge("Basic", """realm="basic-realm" """));

    /// <summary>A registry with token auth: Bearer challenge, a realm that numbers its tokens, content for any token.</summary>
    internal static FakeRegistryHandler TokenRegistry(int? expiresIn = 300, bool accessTokenField = false) => new FakeRegistryHandler()
        .On(r => r.Uri.AbsoluteUri.StartsWith(Realm, StringComparison.Ordinal), (_, hit) => FakeRegistryHandler.Json(
            "{" + (accessTokenField ? "\"access_token\"" : "\"token\"") + $":\"token-{hit}\"" + (expiresIn is { } e ? $",\"expires_in\":{e}" : string.Empty) + "}"))
        .On(r => r.Authorization?.Scheme == "Bearer", r => IsBlob(r) ? FakeRegistryHandler.Ok(Blob) : FakeRegistryHandler.Ok(Manifest, "application/vnd.oci.image.manifest.v1+json"))
        .On(_ => true, _ => FakeRegistryHandler.Challenge("Bearer", BearerChallenge));

    private static RegistryCredentialStore CredentialsFromJson(string json)
    {
        var file = Path.Combine(Path.GetTempPath(), "policycompiler-dockerconfig-" + Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(file, json, Encoding.UTF8);
        try
        {
            return new RegistryCredentialStore([file], TimeSpan.FromMinutes(1));
        }
        finally
        {
            File.Delete(file);
        }
    }

    internal static void AssertNoSecret(Exception error, params string[] secrets)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            foreach (var secret in secrets)
            {
                Assert.DoesNotContain(secret, e.Message, StringComparison.Ordinal);
                Assert.DoesNotContain(secret, e.ToString(), StringComparison.Ordinal);
            }
        }
    }
}
