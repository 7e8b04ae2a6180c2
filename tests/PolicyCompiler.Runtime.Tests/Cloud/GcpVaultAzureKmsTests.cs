using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PolicyCompiler.Runtime.Cloud;
using PolicyCompiler.Runtime.Tests.Infrastructure;

namespace PolicyCompiler.Runtime.Tests.Cloud;

/// <summary>
/// <c>gcpkms://</c>, <c>hashivault://</c> and <c>azurekms://</c> keys against fakes of Cloud KMS, Vault's transit engine
/// and Azure Key Vault on loopback (none of the real services is reachable here), each with its token source (GCE
/// metadata server or a service-account key, VAULT_TOKEN, Azure managed identity). Every fake refuses a request
/// without the credential the real service wants; the keys are <c>openssl</c>'s and so are the signatures.
/// </summary>
public sealed class GcpVaultAzureKmsTests : IDisposable
{
    private const string Digest = "sha256:9f2b5e8d1c3a4b6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6";
    private const string CryptoKey = "projects/p/locations/global/keyRings/r/cryptoKeys/k";

    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly OpenSslKeys _openssl = new();
    private readonly Dictionary<string, string?> _environment = new(StringComparer.Ordinal);
    private readonly FakeHttpServer _service = new();
    private readonly FakeHttpServer _identity = new();

    public void Dispose()
    {
        _service.Dispose();
        _identity.Dispose();
        _openssl.Dispose();
    }

    private KmsKeys Keys() => new(
        new CloudOptions
        {
            GcpKmsEndpoint = _service.Address,
            GcpMetadataEndpoint = _identity.Address,
            VaultAddress = _service.Address,
            AzureKeyVaultEndpoint = _service.Address,
            AzureImdsEndpoint = _identity.Address,
            Environment = name => _environment.GetValueOrDefault(name),
        },
        _time);

    private static byte[] Payload => OpenSslKeys.Payload(Digest);

    // ---- Google Cloud KMS ------------------------------------------------------------------------------------------

    /// <summary>FakeGcpKms: Cloud KMS's REST API for one key with versions 1 (disabled) and 3, behind a bearer token.</summary>
    private void FakeGcpKms(string token, string pem3, string pem1)
    {
        _service.Handler = request =>
        {
            if (request.Header("Authorization") != "Bearer " + token)
            {
                return (HttpStatusCode.Unauthorized, """{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}""");
            }

            return request.PathAndQuery switch
            {
                $"/v1/{CryptoKey}/cryptoKeyVersions/3/publicKey" => (HttpStatusCode.OK, JsonSerializer.Serialize(new Dictionary<string, string> { ["pem"] = pem3, ["algorithm"] = "EC_SIGN_P256_SHA256", ["name"] = CryptoKey + "/cryptoKeyVersions/3" })),
                $"/v1/{CryptoKey}/cryptoKeyVersions/1/publicKey" => (HttpStatusCode.OK, JsonSerializer.Serialize(new Dictionary<string, string> { ["pem"] = pem1, ["algorithm"] = "EC_SIGN_P256_SHA256", ["name"] = CryptoKey + "/cryptoKeyVersions/1" })),
                var list when list.StartsWith($"/v1/{CryptoKey}/cryptoKeyVersions?", StringComparison.Ordinal) && list.Contains("filter=state%3DENABLED", StringComparison.Ordinal) && list.Contains("orderBy=name%20desc", StringComparison.Ordinal)
                    => (HttpStatusCode.OK, $$"""{"cryptoKeyVersions":[{"name":"{{CryptoKey}}/cryptoKeyVersions/3","state":"ENABLED"}],"totalSize":1}"""),
                _ => (HttpStatusCode.NotFound, """{"error":{"code":404,"message":"CryptoKeyVersion not found.","status":"NOT_FOUND"}}"""),
            };
        };
    }

    /// <summary>FakeGceMetadata: the metadata server's token endpoint, which wants <c>Metadata-Flavor: Google</c>.</summary>
    private void FakeGceMetadata(string token) => _identity.Handler = request =>
        request.Header("Metadata-Flavor") == "Google" && request.PathAndQuery.StartsWith("/computeMetadata/v1/instance/service-accounts/default/token", StringComparison.Ordinal)
            ? (HttpStatusCode.OK, $$"""{"access_token":"{{token}}","expires_in":3599,"token_type":"Bearer"}""")
            : (HttpStatusCode.Forbidden, "Missing Metadata-Flavor:Google header.");

    [Fact]
    public async Task Gcp_pinned_version_with_a_metadata_server_token()
    {
        var pem3 = _openssl.Generate("v3", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256");
        var pem1 = _openssl.Generate("v1", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256");
        FakeGcpKms("gce-token", pem3, pem1);
        FakeGceMetadata("gce-token");
        using var keys = Keys();

        var key = await keys.GetKeyAsync($"gcpkms://{CryptoKey}/cryptoKeyVersions/1", HashAlgorithmName.SHA256, CancellationToken.None);

        Assert.True(key.Verify(Payload, _openssl.Sign("v1", Payload)));
        Assert.False(key.Verify(Payload, _openssl.Sign("v3", Payload)));
        Assert.Single(_identity.Requests);
        Assert.Equal($"/v1/{CryptoKey}/cryptoKeyVersions/1/publicKey", Assert.Single(_service.Requests).PathAndQuery);
    }

    [Fact]
    public async Task Gcp_without_a_version_takes_the_newest_enabled_one()
    {
        var pem3 = _openssl.Generate("v3", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256");
        var pem1 = _openssl.Generate("v1", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256");
        FakeGcpKms("gce-token", pem3, pem1);
        FakeGceMetadata("gce-token");
        using var keys = Keys();

        var key = await keys.GetKeyAsync($"gcpkms://{CryptoKey}", HashAlgorithmName.SHA256, CancellationToken.None);

        Assert.True(key.Verify(Payload, _openssl.Sign("v3", Payload)));
        Assert.Equal(2, _service.Requests.Count);
    }

    [Fact]
    public async Task Gcp_service_account_key_is_exchanged_for_a_token_with_a_signed_jwt()
    {
        var pem = _openssl.Generate("v3", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256");
        var accountPublic = _openssl.Generate("account", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048");
        FakeGcpKms("sa-token", pem, pem);

        // FakeGoogleOAuth: checks the JWT-bearer grant as Google's token endpoint does (RS256 signature by the account's key, issuer, audience).
        var tokenUri = new Uri(_identity.Address, "/token").ToString();
        _identity.Handler = request =>
        {
            var form = request.BodyText.Split('&').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => Uri.UnescapeDataString(p[1]));
            var parts = form["assertion"].Split('.');
            using var rsa = RSA.Create();
            rsa.ImportFromPem(accountPublic);
            var signed = rsa.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), Base64Url(parts[2]), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            using var claims = JsonDocument.Parse(Base64Url(parts[1]));
            return form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer" && signed
                && claims.RootElement.GetProperty("iss").GetString() == "signer@p.iam.gserviceaccount.com"
                && claims.RootElement.GetProperty("aud").GetString() == tokenUri
                ? (HttpStatusCode.OK, """{"access_token":"sa-token","expires_in":3599,"token_type":"Bearer"}""")
                : (HttpStatusCode.BadRequest, """{"error":"invalid_grant"}""");
        };
        var accountFile = Path.GetTempFileName();
        try
        {
            File.WriteAllText(accountFile, JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["type"] = "service_account",
                ["client_email"] = "signer@p.iam.gserviceaccount.com",
                ["private_key"] = File.ReadAllText(_openssl.PrivateKeyFile("account")),
                ["token_uri"] = tokenUri,
            }));
            _environment["GOOGLE_APPLICATION_CREDENTIALS"] = accountFile;
            using var keys = Keys();

            var key = await keys.GetKeyAsync($"gcpkms://{CryptoKey}/versions/3", HashAlgorithmName.SHA256, CancellationToken.None);

            Assert.True(key.Verify(Payload, _openssl.Sign("v3", Payload)));
            Assert.Single(_identity.Requests);
        }
        finally
        {
            File.Delete(accountFile);
        }
    }

    [Fact]
    public async Task Gcp_missing_version_fails_and_a_refused_token_is_an_error()
    {
        var pem = _openssl.Generate("v3", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256");
        FakeGcpKms("gce-token", pem, pem);
        FakeGceMetadata("gce-token");
        using var keys = Keys();

        var missing = await Assert.ThrowsAsync<CloudException>(() => keys.GetKeyAsync($"gcpkms://{CryptoKey}/cryptoKeyVersions/7", HashAlgorithmName.SHA256, CancellationToken.None).AsTask());
        Assert.False(missing.IsTransient);
        Assert.Contains("CryptoKeyVersion not found.", missing.Message, StringComparison.Ordinal);

        FakeGceMetadata("stale-token");
        using var stale = Keys();
        var denied = await Assert.ThrowsAsync<CloudException>(() => stale.GetKeyAsync($"gcpkms://{CryptoKey}/cryptoKeyVersions/3", HashAlgorithmName.SHA256, CancellationToken.None).AsTask());
        Assert.True(denied.IsTransient);
        Assert.Contains("401", denied.Message, StringComparison.Ordinal);
    }

    // ---- HashiCorp Vault transit ------------------------------------------------------------------------------------

    /// <summary>FakeVault: <c>GET /v1/transit/keys/:name</c> behind <c>X-Vault-Token</c>, as Vault answers for an asymmetric key.</summary>
    private void FakeVault(string token, string name, string keysJson, int latest) => _service.Handler = request =>
        request.Header("X-Vault-Token") != token ? (HttpStatusCode.Forbidden, """{"errors":["permission denied"]}""")
        : request.Method == "GET" && request.PathAndQuery == $"/v1/transit/keys/{name}" ? (HttpStatusCode.OK, $$$"""{"request_id":"r","data":{"keys":{{{keysJson}}},"latest_version":{{{latest}}},"name":"{{{name}}}","type":"ecdsa-p256"}}""")
        : (HttpStatusCode.NotFound, """{"errors":[]}""");

    [Fact]
    public async Task Vault_gives_its_latest_versions_key_with_the_policys_hash()
    {
        var old = _openssl.Generate("old", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256");
        var latest = _openssl.Generate("latest", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256");
        FakeVault("vault-token", "release-signer", JsonSerializer.Serialize(new Dictionary<string, Dictionary<string, string>>
        {
            ["1"] = new() { ["public_key"] = old, ["name"] = "P-256" },
            ["2"] = new() { ["public_key"] = latest, ["name"] = "P-256" },
        }), 2);
        _environment["VAULT_TOKEN"] = "vault-token";
        using var keys = Keys();

        var key = await keys.GetKeyAsync("hashivault://release-signer", HashAlgorithmName.SHA384, CancellationToken.None);

        Assert.Equal(HashAlgorithmName.SHA384, key.Hash);
        Assert.True(key.Verify(Payload, _openssl.Sign("latest", Payload, "sha384")));
        Assert.False(key.Verify(Payload, _openssl.Sign("old", Payload, "sha384")));
    }

    [Fact]
    public async Task Vault_ed25519_key_is_its_raw_bytes()
    {
        _openssl.Generate("ed", "-algorithm", "ED25519");
        var raw = _openssl.PublicDer("ed")[^32..];
        FakeVault("vault-token", "ed-signer", $$$"""{"1":{"public_key":"{{{Convert.ToBase64String(raw)}}}","name":"ed25519"}}""", 1);
        _environment["VAULT_TOKEN"] = "vault-token";
        using var keys = Keys();

        var key = await keys.GetKeyAsync("hashivault://ed-signer", HashAlgorithmName.SHA256, CancellationToken.None);

        Assert.True(key.Verify(Payload, _openssl.SignEd25519("ed", Payload)));
    }

    [Fact]
    public async Task Vault_without_token_or_with_a_wrong_one_is_an_error()
    {
        FakeVault("vault-token", "release-signer", "{}", 1);
        using var keys = Keys();

        var noToken = await Assert.ThrowsAsync<CloudException>(() => keys.GetKeyAsync("hashivault://release-signer", HashAlgorithmName.SHA256, CancellationToken.None).AsTask());
        Assert.True(noToken.IsTransient);
        Assert.Contains("VAULT_TOKEN is not set", noToken.Message, StringComparison.Ordinal);

        _environment["VAULT_TOKEN"] = "wrong";
        var denied = await Assert.ThrowsAsync<CloudException>(() => keys.GetKeyAsync("hashivault://release-signer", HashAlgorithmName.SHA256, CancellationToken.None).AsTask());
        Assert.True(denied.IsTransient);
        Assert.Contains("permission denied", denied.Message, StringComparison.Ordinal);
    }

    // ---- Azure Key Vault --------------------------------------------------------------------------------------------

    [Fact]
    public async Task Azure_key_is_read_as_a_json_web_key_with_a_managed_identity_token()
    {
        var pem = _openssl.Generate("azure", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384");
        using var ec = ECDsa.Create();
        ec.ImportFromPem(pem);
        var point = ec.ExportParameters(includePrivateParameters: false).Q;

        // FakeAzureImds: a managed identity token for the Key Vault resource, only with "Metadata: true".
        _identity.Handler = request =>
            request.Header("Metadata") == "true" && request.PathAndQuery == "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net"
                ? (HttpStatusCode.OK, """{"access_token":"az-token","expires_in":"3599","resource":"https://vault.azure.net","token_type":"Bearer"}""")
                : (HttpStatusCode.BadRequest, """{"error":"invalid_request"}""");

        // FakeAzureKeyVault: GET /keys/{name}/{version} with the bearer token, the key as a JWK (an HSM key says EC-HSM).
        _service.Handler = request =>
            request.Header("Authorization") != "Bearer az-token" ? (HttpStatusCode.Unauthorized, """{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}""")
            : request.PathAndQuery == "/keys/signer/0123abcd?api-version=7.4"
                ? (HttpStatusCode.OK, $$$"""{"key":{"kid":"https://release.vault.azure.net/keys/signer/0123abcd","kty":"EC-HSM","key_ops":["sign","verify"],"crv":"P-384","x":"{{{Base64Url(point.X!)}}}","y":"{{{Base64Url(point.Y!)}}}"},"attributes":{"enabled":true}}""")
                : (HttpStatusCode.NotFound, """{"error":{"code":"KeyNotFound","message":"A key with (name/id) signer was not found in this key vault."}}""");
        using var keys = Keys();

        var key = await keys.GetKeyAsync("azurekms://release.vault.azure.net/signer/0123abcd", HashAlgorithmName.SHA256, CancellationToken.None);

        Assert.Equal(HashAlgorithmName.SHA384, key.Hash);
        Assert.True(key.Verify(Payload, _openssl.Sign("azure", Payload, "sha384")));
        var missing = await Assert.ThrowsAsync<CloudException>(() => keys.GetKeyAsync("azurekms://release.vault.azure.net/other", HashAlgorithmName.SHA256, CancellationToken.None).AsTask());
        Assert.False(missing.IsTransient);
        Assert.Contains("was not found in this key vault", missing.Message, StringComparison.Ordinal);
        Assert.Single(_identity.Requests);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] Base64Url(string text)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(padded + new string('=', (4 - (padded.Length % 4)) % 4));
    }
}
