using System.Net;
using System.Net.Http.Headers;
using System.Text;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Telemetry;
using static PolicyCompiler.Runtime.Tests.Hostile.HostileHarness;

namespace PolicyCompiler.Runtime.Tests.Hostile;

/// <summary>
/// Registry credentials and the tokens obtained with them never reach what the webhook shows: denial messages (which
/// the Pod's author reads), exception text (which the host logs) and metrics. The registries here try to make them
/// leak, mostly by reflecting what they received back in places the client quotes.
/// </summary>
public sealed class SecretsTests
{
    private const string User = "robot$ci";
    private const string Password = "pa55-W0rd-never-shown";
    private const string IdentityToken = "identity-refresh-token-never-shown";
    private const string AccessToken = "access-token-never-shown";

    private static readonly string s_basic = Convert.ToBase64String(Encoding.UTF8.GetBytes(User + ":" + Password));

    private static readonly string[] s_secrets = [Password, s_basic, IdentityToken, AccessToken];

    private static void AssertNoSecret(string? text)
    {
        foreach (var secret in s_secrets)
        {
            Assert.DoesNotContain(secret, text ?? string.Empty, StringComparison.Ordinal);
        }
    }

    private static HttpResponseMessage Challenge(string scheme, string parameters)
    {
        var response = new HttpResponseMessage(HttpStatusCode.Unauthorized) { Content = new StringContent("{}") };
        response.Headers.WwwAuthenticate.Add(new AuthenticationHeaderValue(scheme, parameters));
        return response;
    }

    /// <summary>A failure whose reason phrase and body reflect the Authorization header the registry received.</summary>
    private static HttpResponseMessage Reflect(HostileRequest request, HttpStatusCode status) => new(status)
    {
        ReasonPhrase = "Rejected " + request.Authorization,
        Content = new StringContent("{\"errors\":[{\"message\":\"" + request.Authorization + "\"}]}"),
    };

    private static HostileHarness Harness(RegistryCredential credential, WebhookMetrics metrics) =>
        new(credentials: new FixedCredentialsForHost(HostileRegistry.Host, credential), metrics: metrics);

    [Theory]
    [InlineData(HttpStatusCode.Forbidden)]
    [InlineData(HttpStatusCode.InternalServerError)]
    [InlineData(HttpStatusCode.BadRequest)]
    public async Task BasicCredentialsReflectedByTheRegistryDoNotReachTheDenialOrTheMetrics(HttpStatusCode status)
    {
        var metrics = new WebhookMetrics();
        using var h = Harness(new RegistryCredential(User, Password), metrics);
        h.Registry.Lie(r => r.Authorization is null ? Challenge("Basic", "realm=\"hostile\"") : Reflect(r, status));

        var message = Denied(await h.MutateAsync(Image(":v1")));

        Assert.Contains(((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture), message, StringComparison.Ordinal);
        Assert.Contains(h.Registry.Requests, r => r.Authorization?.Parameter == s_basic);
        AssertNoSecret(message);
        AssertNoSecret(metrics.Registry.Render());
    }

    [Fact]
    public async Task BearerTokenReflectedByTheRegistryDoesNotReachTheDenial()
    {
        var metrics = new WebhookMetrics();
        using var h = Harness(new RegistryCredential(User, Password), metrics);
        h.Registry.Lie(r => r switch
        {
            { Uri.Host: "auth.test" } => HostileRegistry.Bytes(Encoding.UTF8.GetBytes($$"""{"token":"{{AccessToken}}","expires_in":300}"""), "application/json"),
            { Authorization: null } => Challenge("Bearer", "realm=\"https://auth.test/token\",service=\"hostile\""),
            _ => Reflect(r, HttpStatusCode.Forbidden),
        });

        var message = Denied(await h.MutateAsync(Image(":v1")));

        Assert.Contains(h.Registry.Requests, r => r.Authorization?.Parameter == AccessToken);
        AssertNoSecret(message);
        AssertNoSecret(metrics.Registry.Render());
    }

    [Fact]
    public async Task IdentityTokenReflectedByTheTokenEndpointDoesNotReachTheException()
    {
        using var h = Harness(new RegistryCredential(null, null, identityToken: IdentityToken), new WebhookMetrics());
        h.Registry.Lie(r => r switch
        {
            // The token endpoint echoes the form it was posted (refresh_token included) in its reason phrase and body.
            { Uri.Host: "auth.test" } => new HttpResponseMessage(HttpStatusCode.InternalServerError)
            {
                ReasonPhrase = "bad grant refresh_token=" + IdentityToken,
                Content = new StringContent("refresh_token=" + IdentityToken),
            },
            _ => Challenge("Bearer", "realm=\"https://auth.test/token\",service=\"hostile\""),
        });

        var error = await Assert.ThrowsAsync<RegistryException>(() => h.Client.GetManifestAsync(HostileRegistry.Host, Repository, "v1", CancellationToken.None));

        AssertNoSecret(error.ToString());
    }

    [Theory]
    [InlineData("not json " + AccessToken)]
    [InlineData("{\"token\":\"" + AccessToken + "\",\"expires_in\":\"soon\"}")]
    public async Task MalformedTokenResponseHoldingATokenDoesNotQuoteIt(string body)
    {
        using var h = Harness(new RegistryCredential(User, Password), new WebhookMetrics());
        h.Registry.Lie(r => r switch
        {
            { Uri.Host: "auth.test" } => HostileRegistry.Bytes(Encoding.UTF8.GetBytes(body), "application/json"),
            _ => Challenge("Bearer", "realm=\"https://auth.test/token\",service=\"hostile\""),
        });

        var error = await Assert.ThrowsAsync<RegistryException>(() => h.Client.GetManifestAsync(HostileRegistry.Host, Repository, "v1", CancellationToken.None));

        Assert.Equal(RegistryFailure.InvalidResponse, error.Failure);
        AssertNoSecret(error.ToString());
    }

    /// <summary>A pre-signed storage URL is a bearer credential too: neither messages nor metric labels quote its query.</summary>
    [Fact]
    public async Task PresignedRedirectUrlIsNotQuotedInTheDenialOrTheMetrics()
    {
        const string Signature = "X-Amz-Signature=5ec7e7-presigned-never-shown";
        var metrics = new WebhookMetrics();
        using var h = new HostileHarness(metrics: metrics);
        var digest = h.Registry.PushImage(Repository, "v1");
        h.Registry.PushSignature(Repository, digest, h.Signer);
        h.Registry.Lie(r => r switch
        {
            { Uri.Host: "cdn.test" } => new HttpResponseMessage(HttpStatusCode.Forbidden) { ReasonPhrase = "expired " + r.Uri.Query, Content = new StringContent(r.Uri.Query) },
            { IsBlob: true } => Redirect("https://cdn.test/blobs/" + r.Reference + "?" + Signature),
            _ => null,
        });

        var message = Denied(await h.MutateAsync(Image(":v1")));

        Assert.Contains("cdn.test", message, StringComparison.Ordinal);
        Assert.DoesNotContain("presigned-never-shown", message, StringComparison.Ordinal);
        Assert.DoesNotContain("presigned-never-shown", metrics.Registry.Render(), StringComparison.Ordinal);
    }

    /// <summary>
    /// Decision, as Docker, containerd and go-containerregistry do: Basic credentials go to the token realm the
    /// registry names, also on another host (Docker Hub's realm is auth.docker.io, not registry-1.docker.io); the
    /// registry chose its token service, and credentials are scoped to the registry that names it. What is refused is
    /// plain HTTP: see RegistryAuthenticationTests.PlainHttpRealmOnAnotherHostNeverReceivesCredentials and
    /// PlainHttpRealmOfAnHttpsRegistryIsRefused. The access token obtained goes back to the registry only.
    /// </summary>
    [Fact]
    public async Task HttpsRealmOnAnotherHostReceivesTheCredentialsAndItsTokenGoesOnlyToTheRegistry()
    {
        using var h = Harness(new RegistryCredential(User, Password), new WebhookMetrics());
        var digest = h.Registry.PushImage(Repository, "v1");
        h.Registry.PushSignature(Repository, digest, h.Signer);
        h.Registry.Lie(r => r switch
        {
            { Uri.Host: "auth.test" } => HostileRegistry.Bytes(Encoding.UTF8.GetBytes($$"""{"token":"{{AccessToken}}","expires_in":300}"""), "application/json"),
            { Uri.Host: "cdn.test" } => HostileRegistry.Bytes(h.Registry.BlobOf(r.Uri.Segments[^1])!, "application/octet-stream"),
            { Authorization: null } => Challenge("Bearer", "realm=\"https://auth.test/token\",service=\"hostile\""),
            { IsBlob: true } => Redirect("https://cdn.test/blobs/" + r.Reference),
            _ => null,
        });

        var response = await h.MutateAsync(Image(":v1"));

        Assert.True(response.Allowed, response.Status?.Message);
        Assert.All(h.Registry.Requests.Where(r => r.Uri.Host == "auth.test"), r => Assert.Equal(s_basic, r.Authorization?.Parameter));
        Assert.All(h.Registry.Requests.Where(r => r.Uri.Host == "cdn.test"), r => Assert.Null(r.Authorization));
        Assert.Contains(h.Registry.Requests, r => r.Uri.Host == "cdn.test");
        Assert.DoesNotContain(h.Registry.Requests, r => r.Uri.Host == "auth.test" && r.Authorization?.Scheme == "Bearer");
    }

    private static HttpResponseMessage Redirect(string location)
    {
        var response = new HttpResponseMessage(HttpStatusCode.TemporaryRedirect) { Content = new ByteArrayContent([]) };
        response.Headers.Location = new Uri(location);
        return response;
    }
}
