using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PolicyCompiler.Runtime.Cloud;
using PolicyCompiler.Runtime.Registry;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Cloud;

/// <summary>
/// <c>imageRegistryCredentials.providers</c>: <c>amazon</c> against <see cref="FakeAwsEcr"/> (ECR's
/// GetAuthorizationToken with its SigV4 checks) and <c>google</c> against a fake GCE metadata server, then through the
/// registry client against <see cref="FakeEcrRegistry"/>, which wants the ECR token as Basic credentials (there is no
/// ECR here; the registry fake only checks the credential and serves one manifest).
/// </summary>
public sealed class CloudRegistryCredentialsTests : IDisposable
{
    private const string Ecr = "111122223333.dkr.ecr.eu-west-1.amazonaws.com";
    private static readonly AwsCredentials s_credentials = new("AKIDSTATIC", "static-secret-key");

    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly FakeHttpServer _ecr = new();
    private readonly FakeHttpServer _metadata = new();

    public CloudRegistryCredentialsTests()
    {
        // FakeAwsEcr: GetAuthorizationToken for account 111122223333, SigV4-checked for service "ecr".
        _ecr.Handler = request =>
        {
            if (!FakeAwsKms.SignatureHolds(request, "eu-west-1", "ecr", s_credentials, _time.GetUtcNow(), out var problem))
            {
                return (HttpStatusCode.BadRequest, $$"""{"__type":"InvalidSignatureException","message":"{{problem}}"}""");
            }

            using var body = JsonDocument.Parse(request.Body);
            return request.Header("X-Amz-Target") == "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" && body.RootElement.GetProperty("registryIds")[0].GetString() == "111122223333"
                ? (HttpStatusCode.OK, $$"""{"authorizationData":[{"authorizationToken":"{{Convert.ToBase64String(Encoding.UTF8.GetBytes("AWS:ecr-password"))}}","expiresAt":{{_time.GetUtcNow().AddHours(12).ToUnixTimeSeconds()}}.5,"proxyEndpoint":"https://{{Ecr}}"}]}""")
                : (HttpStatusCode.BadRequest, """{"__type":"InvalidParameterException"}""");
        };
        _metadata.Handler = request => request.Header("Metadata-Flavor") == "Google"
            ? (HttpStatusCode.OK, """{"access_token":"gce-token","expires_in":3599,"token_type":"Bearer"}""")
            : (HttpStatusCode.Forbidden, "");
    }

    public void Dispose()
    {
        _ecr.Dispose();
        _metadata.Dispose();
    }

    private CloudRegistryCredentials Credentials() => new(
        new CloudOptions
        {
            AwsEcrEndpoint = _ecr.Address,
            GcpMetadataEndpoint = _metadata.Address,
            Environment = name => name switch { "AWS_ACCESS_KEY_ID" => s_credentials.AccessKeyId, "AWS_SECRET_ACCESS_KEY" => s_credentials.SecretAccessKey, _ => null },
        },
        _time);

    [Fact]
    public async Task Amazon_gives_the_ecr_token_for_ecr_registries_only_and_keeps_it()
    {
        using var credentials = Credentials();

        var ecr = await credentials.FindAsync(Ecr, ["amazon"], CancellationToken.None);
        var again = await credentials.FindAsync(Ecr, ["amazon"], CancellationToken.None);
        var other = await credentials.FindAsync("ghcr.io", ["amazon"], CancellationToken.None);

        Assert.Equal(("AWS", "ecr-password"), (ecr!.UserName, ecr.Password));
        Assert.Same(ecr, again);
        Assert.Null(other);
        Assert.Single(_ecr.Requests);
        Assert.Null(await credentials.FindAsync(Ecr, ["google", "default"], CancellationToken.None));
    }

    [Fact]
    public async Task Google_gives_the_metadata_token_as_oauth2accesstoken()
    {
        using var credentials = Credentials();

        var gcr = await credentials.FindAsync("europe-docker.pkg.dev", ["amazon", "google"], CancellationToken.None);

        Assert.Equal(("oauth2accesstoken", "gce-token"), (gcr!.UserName, gcr.Password));
        Assert.Null(await credentials.FindAsync("registry.internal", ["google"], CancellationToken.None));
        Assert.Empty(_ecr.Requests);
    }

    [Fact]
    public async Task Registry_client_uses_the_ecr_token_for_an_entry_that_names_amazon_and_only_for_it()
    {
        using var credentials = Credentials();
        using var client = new RegistryClient(new RegistryOptions(), new FakeEcrRegistry(), NoRegistryCredentials.Instance, metrics: null, time: _time) { CloudCredentials = credentials };

        var manifest = await WithScopeAsync(["amazon"], () => client.GetManifestAsync(Ecr, "team/app", "v1", CancellationToken.None));
        Assert.Equal(FakeEcrRegistry.Digest, manifest.Digest);

        var anonymous = await Assert.ThrowsAsync<RegistryException>(() => WithScopeAsync([], () => client.GetManifestAsync(Ecr, "team/app", "v1", CancellationToken.None)));
        Assert.Equal(RegistryFailure.Unauthorized, anonymous.Failure);
    }

    [Fact]
    public async Task An_ecr_that_cannot_be_asked_is_a_registry_outage()
    {
        using var credentials = new CloudRegistryCredentials(new CloudOptions { AwsEcrEndpoint = _ecr.Address, Environment = _ => null, AwsImdsEndpoint = new Uri("http://127.0.0.1:1/") }, _time);
        using var client = new RegistryClient(new RegistryOptions(), new FakeEcrRegistry(), NoRegistryCredentials.Instance, metrics: null, time: _time) { CloudCredentials = credentials };

        var error = await Assert.ThrowsAsync<RegistryException>(() => WithScopeAsync(["amazon"], () => client.GetManifestAsync(Ecr, "team/app", "v1", CancellationToken.None)));

        Assert.True(error.IsTransient);
        Assert.Contains($"registry credentials for {Ecr}", error.Message, StringComparison.Ordinal);
    }

    private static async Task<T> WithScopeAsync<T>(IReadOnlyList<string> providers, Func<Task<T>> call)
    {
        RegistryCredentialScope.Enter(new RegistryCredentialScope.Scope("providers:" + string.Join(',', providers), []) { Providers = providers });
        return await call();
    }

    /// <summary>A registry that asks for Basic credentials and accepts only the ECR token's (a fake: there is no ECR here).</summary>
    private sealed class FakeEcrRegistry : HttpMessageHandler
    {
        private static readonly byte[] s_manifest = Encoding.UTF8.GetBytes("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}""");

        public static string Digest { get; } = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(s_manifest));

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var expected = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("AWS:ecr-password"));
            if (request.Headers.Authorization?.ToString() != expected)
            {
                var challenge = new HttpResponseMessage(HttpStatusCode.Unauthorized);
                challenge.Headers.WwwAuthenticate.Add(new AuthenticationHeaderValue("Basic", $"realm=\"https://{Ecr}/\",service=\"ecr.amazonaws.com\""));
                return Task.FromResult(challenge);
            }

            var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(s_manifest) };
            response.Content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.oci.image.manifest.v1+json");
            response.Headers.TryAddWithoutValidation("Docker-Content-Digest", Digest);
            return Task.FromResult(response);
        }
    }
}
