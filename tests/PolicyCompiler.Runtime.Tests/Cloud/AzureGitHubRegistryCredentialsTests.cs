using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using PolicyCompiler.Runtime.Cloud;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Cloud;

/// <summary>
/// <c>imageRegistryCredentials.providers</c> <c>azure</c> and <c>github</c>. There is no Entra ID, Azure Container
/// Registry or GitHub here: <see cref="FakeEntraId"/> (the v2.0 token endpoint, client secret and federated assertion
/// grants), a fake Azure instance metadata service, and <see cref="FakeAcrAndGhcr"/> (ACR's <c>/oauth2/exchange</c> and
/// token endpoint, ghcr.io's token endpoint, a manifest each) check each request as the real services document it. The
/// registry fakes answer for their real names over HTTPS on loopback (<see cref="FakeNamedHosts"/>), so the client under
/// test uses its real URLs and its real certificate check.
/// </summary>
public sealed class AzureGitHubRegistryCredentialsTests : IDisposable
{
    private const string Acr = "myregistry.azurecr.io";
    private const string AcrChina = "contoso.azurecr.cn";
    private const string Tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    private const string ClientId = "0f8fad5b-d9cb-469f-a165-70867728950e";
    private const string ClientSecret = "entra-client-secret";
    private const string GitHubToken = "ghp_fakeGitHubToken0123456789";

    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly FakeEntraId _entra;
    private readonly FakeHttpServer _imds = new();
    private readonly FakeNamedHosts _hosts = new(Acr, AcrChina, "ghcr.io", "token.example");
    private readonly FakeAcrAndGhcr _registries;
    private readonly string _federatedTokenFile = Path.GetTempFileName();

    public AzureGitHubRegistryCredentialsTests()
    {
        _entra = new FakeEntraId(_time);
        _registries = new FakeAcrAndGhcr(_hosts, _entra, _time);
        File.WriteAllText(_federatedTokenFile, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6a3l2ZXJubzp3ZWJob29rIn0.c2lnbmF0dXJl\n");

        // The Azure instance metadata service: the managed identity's token for the resource asked, with Metadata: true.
        _imds.Handler = request =>
        {
            if (request.Header("Metadata") != "true" || request.Method != "GET")
            {
                return (HttpStatusCode.BadRequest, """{"error":"invalid_request","error_description":"Required metadata header not specified"}""");
            }

            var query = request.PathAndQuery.Split('?', 2);
            var fields = query[1].Split('&').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => Uri.UnescapeDataString(p[1]), StringComparer.Ordinal);
            return query[0] == "/metadata/identity/oauth2/token" && fields["api-version"] == "2018-02-01" && fields["resource"] == "https://management.azure.com"
                ? (HttpStatusCode.OK, $$"""{"access_token":"{{_entra.Issue("https://management.azure.com/.default")}}","expires_in":"3599","resource":"https://management.azure.com","token_type":"Bearer"}""")
                : (HttpStatusCode.BadRequest, """{"error":"invalid_resource"}""");
        };
    }

    public void Dispose()
    {
        _entra.Dispose();
        _imds.Dispose();
        _hosts.Dispose();
        File.Delete(_federatedTokenFile);
    }

    private CloudRegistryCredentials Credentials(Dictionary<string, string> environment, CloudOptions? options = null)
    {
        options ??= new CloudOptions();
        options.AzureAuthorityHost = _entra.Address;
        options.AzureImdsEndpoint = _imds.Address;
        options.Environment = name => environment.TryGetValue(name, out var value) ? value : null;
        return new CloudRegistryCredentials(options, _time, new HttpClient(_hosts.Handler()));
    }

    private static Dictionary<string, string> ClientSecretEnvironment() => new(StringComparer.Ordinal)
    {
        ["AZURE_TENANT_ID"] = Tenant,
        ["AZURE_CLIENT_ID"] = ClientId,
        ["AZURE_CLIENT_SECRET"] = ClientSecret,
    };

    [Fact]
    public async Task Azure_exchanges_the_client_secret_token_at_the_registry_for_a_refresh_token_and_keeps_it_until_its_exp()
    {
        using var credentials = Credentials(ClientSecretEnvironment());

        var credential = await credentials.FindAsync(Acr, ["azure"], CancellationToken.None);
        var again = await credentials.FindAsync(Acr, ["azure"], CancellationToken.None);

        Assert.Equal(CloudRegistryCredentials.AcrUserName, credential!.UserName);
        Assert.Equal(_registries.RefreshTokens[Acr], credential.Password);
        Assert.Same(credential, again);

        var grant = Assert.Single(_entra.Requests);
        Assert.Equal($"/{Tenant}/oauth2/v2.0/token", grant.PathAndQuery);
        Assert.Equal(
            new Dictionary<string, string> { ["client_id"] = ClientId, ["client_secret"] = ClientSecret, ["grant_type"] = "client_credentials", ["scope"] = "https://management.azure.com/.default" },
            FakeEntraId.Form(grant));

        var exchange = Assert.Single(_hosts.Https.Requests);
        Assert.Equal(("https", Acr, "POST", "/oauth2/exchange"), (exchange.Scheme, exchange.Host, exchange.Method, exchange.PathAndQuery));
        Assert.Equal("application/x-www-form-urlencoded", exchange.Header("Content-Type"));
        Assert.Equal(
            new Dictionary<string, string> { ["grant_type"] = "access_token", ["service"] = Acr, ["access_token"] = _entra.Issued.Single() },
            exchange.Fields());

        // The refresh token says it lasts 3 hours: kept until 5 minutes before, then exchanged again.
        _time.Advance(TimeSpan.FromHours(3) - TimeSpan.FromMinutes(6));
        Assert.Same(credential, await credentials.FindAsync(Acr, ["azure"], CancellationToken.None));
        _time.Advance(TimeSpan.FromMinutes(2));
        var renewed = await credentials.FindAsync(Acr, ["azure"], CancellationToken.None);
        Assert.NotSame(credential, renewed);
        Assert.Equal(2, _hosts.Https.Requests.Count);
    }

    [Fact]
    public async Task Azure_asks_for_the_resource_manager_of_the_registrys_cloud()
    {
        using var credentials = Credentials(ClientSecretEnvironment());

        var credential = await credentials.FindAsync(AcrChina, ["azure"], CancellationToken.None);

        Assert.Equal(_registries.RefreshTokens[AcrChina], credential!.Password);
        Assert.Equal("https://management.chinacloudapi.cn/.default", FakeEntraId.Form(Assert.Single(_entra.Requests))["scope"]);
        Assert.Equal(AcrChina, Assert.Single(_hosts.Https.Requests).Fields()["service"]);
    }

    [Fact]
    public async Task Azure_workload_identity_sends_the_federated_token_file_as_the_client_assertion()
    {
        var environment = ClientSecretEnvironment();
        environment.Remove("AZURE_CLIENT_SECRET");
        environment["AZURE_FEDERATED_TOKEN_FILE"] = _federatedTokenFile;
        using var credentials = Credentials(environment);

        var credential = await credentials.FindAsync(Acr, ["azure"], CancellationToken.None);

        Assert.Equal(_registries.RefreshTokens[Acr], credential!.Password);
        Assert.Equal(
            new Dictionary<string, string>
            {
                ["client_id"] = ClientId,
                ["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ["client_assertion"] = File.ReadAllText(_federatedTokenFile).Trim(),
                ["grant_type"] = "client_credentials",
                ["scope"] = "https://management.azure.com/.default",
            },
            FakeEntraId.Form(Assert.Single(_entra.Requests)));
        Assert.Empty(_imds.Requests);
    }

    [Fact]
    public async Task Azure_without_a_client_secret_or_federated_token_uses_the_managed_identity()
    {
        using var credentials = Credentials(new Dictionary<string, string>(StringComparer.Ordinal) { ["AZURE_TENANT_ID"] = Tenant });

        var credential = await credentials.FindAsync(Acr, ["azure"], CancellationToken.None);

        Assert.Equal(_registries.RefreshTokens[Acr], credential!.Password);
        Assert.Empty(_entra.Requests);
        Assert.Single(_imds.Requests);
        Assert.Equal(_entra.Issued.Single(), Assert.Single(_hosts.Https.Requests).Fields()["access_token"]);
    }

    [Fact]
    public async Task Azure_that_cannot_get_a_token_is_an_outage_that_names_no_secret_and_is_not_kept()
    {
        var environment = ClientSecretEnvironment();
        environment["AZURE_CLIENT_SECRET"] = "wrong-secret";
        using var credentials = Credentials(environment);

        var error = await Assert.ThrowsAsync<CloudException>(() => credentials.FindAsync(Acr, ["azure"], CancellationToken.None));
        await Assert.ThrowsAsync<CloudException>(() => credentials.FindAsync(Acr, ["azure"], CancellationToken.None));

        Assert.True(error.IsTransient);
        Assert.Contains("Azure client secret credential", error.Message, StringComparison.Ordinal);
        Assert.Contains("401", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-secret", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, _entra.Requests.Count);
        Assert.Empty(_hosts.Https.Requests);
    }

    [Fact]
    public async Task Azure_client_certificate_credentials_are_refused_rather_than_replaced_by_another_identity()
    {
        var environment = ClientSecretEnvironment();
        environment.Remove("AZURE_CLIENT_SECRET");
        environment["AZURE_CLIENT_CERTIFICATE_PATH"] = "/var/run/secrets/azure/client.pem";
        environment["AZURE_FEDERATED_TOKEN_FILE"] = _federatedTokenFile;
        using var credentials = Credentials(environment);

        var error = await Assert.ThrowsAsync<CloudException>(() => credentials.FindAsync(Acr, ["azure"], CancellationToken.None));

        Assert.Contains("client certificate credentials are not built", error.Message, StringComparison.Ordinal);
        Assert.Empty(_entra.Requests);
        Assert.Empty(_imds.Requests);
    }

    [Fact]
    public async Task Azure_registry_that_refuses_the_exchange_is_an_outage()
    {
        _registries.RefuseExchange = true;
        using var credentials = Credentials(ClientSecretEnvironment());

        var error = await Assert.ThrowsAsync<CloudException>(() => credentials.FindAsync(Acr, ["azure"], CancellationToken.None));

        Assert.True(error.IsTransient);
        Assert.StartsWith($"Azure Container Registry token exchange for {Acr}: 401 Unauthorized", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GitHub_gives_GITHUB_TOKEN_to_ghcr_as_GITHUB_ACTOR_and_nothing_without_a_token()
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal) { ["GITHUB_TOKEN"] = GitHubToken, ["GITHUB_ACTOR"] = "octocat" };
        using (var credentials = Credentials(environment))
        {
            var credential = await credentials.FindAsync("ghcr.io", ["github"], CancellationToken.None);
            Assert.Equal(("octocat", GitHubToken), (credential!.UserName, credential.Password));
            Assert.Same(credential, await credentials.FindAsync("ghcr.io", ["azure", "github"], CancellationToken.None));
        }

        environment.Remove("GITHUB_ACTOR");
        using (var credentials = Credentials(environment))
        {
            Assert.Equal("unset", (await credentials.FindAsync("ghcr.io", ["github"], CancellationToken.None))!.UserName);
        }

        // Cloud:GitHub:Token and Cloud:GitHub:Actor over the environment.
        using (var credentials = Credentials(environment, new CloudOptions { GitHubToken = "ghp_configured", GitHubActor = "ci-bot" }))
        {
            var credential = await credentials.FindAsync("ghcr.io", ["github"], CancellationToken.None);
            Assert.Equal(("ci-bot", "ghp_configured"), (credential!.UserName, credential.Password));
        }

        // No token: the helper answers nothing, as Kyverno's keychain answers anonymous, and the next one is asked.
        using (var credentials = Credentials(new(StringComparer.Ordinal)))
        {
            Assert.Null(await credentials.FindAsync("ghcr.io", ["github"], CancellationToken.None));
        }

        Assert.Empty(_hosts.AllRequests);
    }

    [Fact]
    public async Task Registry_client_pulls_from_acr_and_ghcr_with_the_helpers_credentials()
    {
        var environment = ClientSecretEnvironment();
        environment["GITHUB_TOKEN"] = GitHubToken;
        environment["GITHUB_ACTOR"] = "octocat";
        using var credentials = Credentials(environment);
        using var client = new RegistryClient(new RegistryOptions(), _hosts.Handler(), NoRegistryCredentials.Instance, metrics: null, time: _time) { CloudCredentials = credentials };

        var acr = await WithScopeAsync(["azure"], () => client.GetManifestAsync(Acr, "team/app", "v1", CancellationToken.None));
        var ghcr = await WithScopeAsync(["github"], () => client.GetManifestAsync("ghcr.io", "octo-org/app", "v1", CancellationToken.None));

        Assert.Equal(FakeAcrAndGhcr.Digest, acr.Digest);
        Assert.Equal(FakeAcrAndGhcr.Digest, ghcr.Digest);
        var acrToken = Assert.Single(_hosts.Https.Requests, r => r.Host == Acr && r.Path == "/oauth2/token");
        Assert.Equal(Basic(CloudRegistryCredentials.AcrUserName, _registries.RefreshTokens[Acr]), acrToken.Header("Authorization"));
        Assert.Equal("repository:team/app:pull", acrToken.Fields(query: true)["scope"]);
        var ghcrToken = Assert.Single(_hosts.Https.Requests, r => r.Host == "ghcr.io" && r.Path == "/token");
        Assert.Equal(Basic("octocat", GitHubToken), ghcrToken.Header("Authorization"));

        // An entry that names no helper pulls anonymously, and the registries refuse it.
        var anonymous = await Assert.ThrowsAsync<RegistryException>(() => WithScopeAsync([], () => client.GetManifestAsync(Acr, "team/app", "v1", CancellationToken.None)));
        Assert.Equal(RegistryFailure.Unauthorized, anonymous.Failure);
    }

    [Fact]
    public async Task Helpers_answer_only_for_their_registries_and_send_credentials_only_over_https_to_the_registry_itself()
    {
        var environment = ClientSecretEnvironment();
        environment["GITHUB_TOKEN"] = GitHubToken;
        using var credentials = Credentials(environment);

        // Look-alike hosts get nothing, and nobody is asked for a token for them.
        foreach (var host in (string[])["myregistry.azurecr.io.attacker.example", "azurecr.io", "myregistryazurecr.io", "myregistry.azurecr.com", "ghcr.io.example.com", "evilghcr.io", "docker.io", "127.0.0.1:5000"])
        {
            Assert.Null(await credentials.FindAsync(host, ["azure", "github"], CancellationToken.None));
        }

        Assert.Empty(_entra.Requests);
        Assert.Empty(_hosts.AllRequests);

        // A ghcr.io whose challenge names a token realm on another host: the token request there is anonymous.
        _registries.GhcrRealm = "https://token.example/token";
        using (var client = new RegistryClient(new RegistryOptions(), _hosts.Handler(), NoRegistryCredentials.Instance, metrics: null, time: _time) { CloudCredentials = credentials })
        {
            var elsewhere = await Assert.ThrowsAsync<RegistryException>(() => WithScopeAsync(["github"], () => client.GetManifestAsync("ghcr.io", "octo-org/app", "v1", CancellationToken.None)));
            Assert.Equal(RegistryFailure.Unauthorized, elsewhere.Failure);
            Assert.Contains("its github credentials were not sent to the token realm on another host (token.example)", elsewhere.Message, StringComparison.Ordinal);
            var realm = Assert.Single(_hosts.Https.Requests, r => r.Host == "token.example");
            Assert.Null(realm.Header("Authorization"));
        }

        // Registries reached over plain HTTP (configured insecure, or an entry with allowInsecureRegistry): no helper is
        // asked, no token is minted, and nothing but anonymous requests go out.
        var insecure = new RegistryOptions();
        insecure.InsecureRegistries.Add(Acr);
        using (var client = new RegistryClient(insecure, _hosts.Handler(), NoRegistryCredentials.Instance, metrics: null, time: _time) { CloudCredentials = credentials })
        {
            await Assert.ThrowsAsync<RegistryException>(() => WithScopeAsync(["azure"], () => client.GetManifestAsync(Acr, "team/app", "v1", CancellationToken.None)));
            await Assert.ThrowsAsync<RegistryException>(() => WithScopeAsync(["github"], () => client.GetManifestAsync("ghcr.io", "octo-org/app", "v1", CancellationToken.None), allowInsecure: true));
        }

        Assert.NotEmpty(_hosts.Http.Requests);
        Assert.All(_hosts.Http.Requests, r => Assert.Null(r.Header("Authorization")));
        Assert.Empty(_entra.Requests);
        Assert.DoesNotContain(_hosts.Https.Requests, r => r.Path == "/oauth2/exchange");
        Assert.All(_hosts.AllRequests.Where(r => r.Host != "ghcr.io"), r => Assert.DoesNotContain(GitHubToken, r.Everything, StringComparison.Ordinal));
    }

    private static string Basic(string user, string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password));

    private static async Task<T> WithScopeAsync<T>(IReadOnlyList<string> providers, Func<Task<T>> call, bool allowInsecure = false)
    {
        RegistryCredentialScope.Enter(new RegistryCredentialScope.Scope("providers:" + string.Join(',', providers), [], allowInsecure) { Providers = providers });
        return await call();
    }
}

/// <summary>
/// Microsoft Entra ID's v2.0 token endpoint (<c>POST /{tenant}/oauth2/v2.0/token</c>), a fake: the client credentials
/// grant with a client secret or with a federated client assertion, for one known tenant, client and secret or assertion;
/// answers as Entra ID does (a JSON token with <c>expires_in</c>, or <c>invalid_client</c> with an AADSTS code).
/// </summary>
internal sealed class FakeEntraId : FakeHttpServer
{
    private readonly FakeTimeProvider _time;

    public FakeEntraId(FakeTimeProvider time)
    {
        _time = time;
        Handler = request =>
        {
            if (request.Method != "POST" || request.PathAndQuery != "/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token"
                || request.Header("Content-Type")?.StartsWith("application/x-www-form-urlencoded", StringComparison.Ordinal) != true)
            {
                return (HttpStatusCode.BadRequest, """{"error":"invalid_request","error_description":"AADSTS900144: The request body must contain the following parameter: 'grant_type'."}""");
            }

            var form = Form(request);
            if (form.GetValueOrDefault("grant_type") != "client_credentials" || form.GetValueOrDefault("client_id") != "0f8fad5b-d9cb-469f-a165-70867728950e"
                || form.GetValueOrDefault("scope") is not ("https://management.azure.com/.default" or "https://management.chinacloudapi.cn/.default"))
            {
                return (HttpStatusCode.BadRequest, """{"error":"invalid_request","error_description":"AADSTS70011: The provided value for the input parameter 'scope' is not valid."}""");
            }

            var secretHolds = form.GetValueOrDefault("client_secret") == "entra-client-secret";
            var assertionHolds = form.GetValueOrDefault("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                && form.GetValueOrDefault("client_assertion")?.StartsWith("eyJhbGciOiJSUzI1NiJ9.", StringComparison.Ordinal) == true;
            return secretHolds != assertionHolds
                ? (HttpStatusCode.OK, $$"""{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"{{Issue(form["scope"])}}"}""")
                : (HttpStatusCode.Unauthorized, """{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}""");
        };
    }

    /// <summary>The access tokens handed out (by this fake or the metadata fake), each with the scope it was for.</summary>
    public ConcurrentDictionary<string, string> Scopes { get; } = new(StringComparer.Ordinal);

    public IReadOnlyList<string> Issued => [.. Scopes.Keys];

    public string Issue(string scope)
    {
        var token = "entra." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)) + "." + _time.GetUtcNow().ToUnixTimeSeconds();
        Scopes[token] = scope;
        return token;
    }

    public static Dictionary<string, string> Form(SeenRequest request) =>
        request.BodyText.Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('=', 2))
            .ToDictionary(p => Uri.UnescapeDataString(p[0].Replace('+', ' ')), p => Uri.UnescapeDataString(p[1].Replace('+', ' ')), StringComparer.Ordinal);
}

/// <summary>
/// Azure Container Registry and ghcr.io as far as pulling a manifest goes, fakes answering for their real names. ACR:
/// <c>POST /oauth2/exchange</c> takes an Entra ID token issued for its cloud's Resource Manager with
/// <c>grant_type=access_token</c> and <c>service</c> naming the registry, and answers a refresh token (a JWT with a 3-hour
/// <c>exp</c>); its token endpoint takes that refresh token as the Basic password of user
/// <c>00000000-0000-0000-0000-000000000000</c>. ghcr.io: its token endpoint takes a GitHub token as Basic password and
/// hands anonymous tokens to anyone, which its manifests refuse.
/// </summary>
internal sealed class FakeAcrAndGhcr
{
    private static readonly byte[] s_manifest = Encoding.UTF8.GetBytes("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}""");

    private readonly FakeEntraId _entra;
    private readonly FakeTimeProvider _time;

    public FakeAcrAndGhcr(FakeNamedHosts hosts, FakeEntraId entra, FakeTimeProvider time)
    {
        _entra = entra;
        _time = time;
        hosts.Https.Handler = request => request.Host switch
        {
            "myregistry.azurecr.io" => Acr(request, "https://management.azure.com/.default"),
            "contoso.azurecr.cn" => Acr(request, "https://management.chinacloudapi.cn/.default"),
            "ghcr.io" => Ghcr(request),
            "token.example" => new HostAnswer(HttpStatusCode.OK, """{"token":"anonymous-elsewhere"}"""),
            _ => new HostAnswer(HttpStatusCode.NotFound, "{}"),
        };

        // Plain HTTP: a registry that would take anything, to show that nothing secret is offered to it.
        hosts.Http.Handler = request => request.Path.StartsWith("/v2/", StringComparison.Ordinal)
            ? new HostAnswer(HttpStatusCode.Unauthorized, """{"errors":[{"code":"UNAUTHORIZED"}]}""", Headers: new Dictionary<string, string> { ["WWW-Authenticate"] = $"Basic realm=\"{request.Host}\"" })
            : new HostAnswer(HttpStatusCode.NotFound, "{}");
    }

    public static string Digest { get; } = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(s_manifest));

    /// <summary>The refresh token each registry handed out last.</summary>
    public ConcurrentDictionary<string, string> RefreshTokens { get; } = new(StringComparer.Ordinal);

    public bool RefuseExchange { get; set; }

    public string GhcrRealm { get; set; } = "https://ghcr.io/token";

    private HostAnswer Acr(HostRequest request, string scope)
    {
        if (request.Method == "POST" && request.PathAndQuery == "/oauth2/exchange")
        {
            var form = request.Fields();
            if (RefuseExchange || request.Header("Content-Type") != "application/x-www-form-urlencoded" || form.GetValueOrDefault("grant_type") != "access_token"
                || form.GetValueOrDefault("service") != request.Host || form.GetValueOrDefault("access_token") is not { } token || _entra.Scopes.GetValueOrDefault(token) != scope)
            {
                return new HostAnswer(HttpStatusCode.Unauthorized, """{"errors":[{"code":"UNAUTHORIZED","message":"authentication required, visit https://aka.ms/acr/authorization for more information."}]}""");
            }

            var payload = Base64Url(Encoding.UTF8.GetBytes($$"""{"jti":"{{Guid.NewGuid()}}","sub":"{{request.Host}}","exp":{{_time.GetUtcNow().AddHours(3).ToUnixTimeSeconds()}},"grant_type":"refresh_token","aud":"{{request.Host}}"}"""));
            var refresh = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + payload + "." + Base64Url(RandomNumberGenerator.GetBytes(32));
            RefreshTokens[request.Host] = refresh;
            return new HostAnswer(HttpStatusCode.OK, $$"""{"refresh_token":"{{refresh}}"}""");
        }

        if (request.Method == "GET" && request.Path == "/oauth2/token")
        {
            var fields = request.Fields(query: true);
            return fields.GetValueOrDefault("service") == request.Host && RefreshTokens.TryGetValue(request.Host, out var refresh)
                && request.Header("Authorization") == "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(CloudRegistryCredentials.AcrUserName + ":" + refresh))
                ? new HostAnswer(HttpStatusCode.OK, """{"access_token":"acr-access-token"}""")
                : new HostAnswer(HttpStatusCode.Unauthorized, """{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}""");
        }

        return Manifest(request, "acr-access-token", $"Bearer realm=\"https://{request.Host}/oauth2/token\",service=\"{request.Host}\"");
    }

    private HostAnswer Ghcr(HostRequest request)
    {
        if (request.Method == "GET" && request.Path == "/token")
        {
            // ghcr.io gives anonymous tokens (good for public packages only); a GitHub token as password gives a real one.
            return request.Header("Authorization") == "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("octocat:ghp_fakeGitHubToken0123456789"))
                ? new HostAnswer(HttpStatusCode.OK, """{"token":"ghcr-access-token"}""")
                : request.Header("Authorization") is null
                    ? new HostAnswer(HttpStatusCode.OK, """{"token":"anonymous"}""")
                    : new HostAnswer(HttpStatusCode.Forbidden, """{"errors":[{"code":"DENIED","message":"denied"}]}""");
        }

        return Manifest(request, "ghcr-access-token", $"Bearer realm=\"{GhcrRealm}\",service=\"ghcr.io\"");
    }

    private static HostAnswer Manifest(HostRequest request, string token, string challenge)
    {
        if (request.Method != "GET" || !request.Path.StartsWith("/v2/", StringComparison.Ordinal))
        {
            return new HostAnswer(HttpStatusCode.NotFound, "{}");
        }

        if (request.Header("Authorization") != "Bearer " + token)
        {
            return new HostAnswer(HttpStatusCode.Unauthorized, """{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}""", Headers: new Dictionary<string, string> { ["WWW-Authenticate"] = challenge });
        }

        return new HostAnswer(HttpStatusCode.OK, Encoding.UTF8.GetString(s_manifest), "application/vnd.oci.image.manifest.v1+json", new Dictionary<string, string> { ["Docker-Content-Digest"] = Digest });
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
