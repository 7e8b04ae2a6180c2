using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using PolicyCompiler.Runtime.Kubernetes;
using PolicyCompiler.Runtime.Sigstore;

namespace PolicyCompiler.Runtime.Cloud;

/// <summary>Where <c>keys.kms</c> (and KMS URIs in <c>publicKeys</c>) get their public key.</summary>
public interface IKmsKeySource
{
    /// <summary>
    /// The public key the reference names, with the hash its signatures use. Throws <see cref="CloudException"/>.
    /// </summary>
    ValueTask<VerificationKey> GetKeyAsync(string reference, HashAlgorithmName policyHash, CancellationToken cancellationToken);
}

/// <summary>
/// Fetches KMS public keys from the providers' APIs with the host's own credentials and keeps them; signatures are then
/// verified locally with the key, as cosign does for AWS and GCP. A reference that always names the same key material
/// (an AWS key id or key ARN, a pinned GCP or Azure version) is kept for the life of the process; one that can move (an
/// alias, the newest version) for <see cref="CloudOptions.KeyTimeToLive"/>. Concurrent fetches of one key share one
/// request; failures are not kept.
/// </summary>
public sealed class KmsKeys : IKmsKeySource, IDisposable
{
    private static readonly TimeSpan s_forever = TimeSpan.FromDays(3650);

    private readonly HttpClient _http;
    private readonly CloudOptions _options;
    private readonly TimeProvider _time;
    private readonly AwsCredentialChain _aws;
    private readonly CloudTokens _tokens;
    private readonly ExpiringReadCache<VerificationKey> _immutable;
    private readonly ExpiringReadCache<VerificationKey> _moving;

    public KmsKeys(CloudOptions options, TimeProvider? time = null, HttpClient? http = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _time = time ?? TimeProvider.System;
        _http = http ?? CloudHttp.CreateClient();
        _aws = new AwsCredentialChain(_http, options, _time);
        _tokens = new CloudTokens(_http, options, _time);
        _immutable = new ExpiringReadCache<VerificationKey>(FetchAsync, s_forever, _time);
        _moving = new ExpiringReadCache<VerificationKey>(FetchAsync, options.KeyTimeToLive, _time);
    }

    public ValueTask<VerificationKey> GetKeyAsync(string reference, HashAlgorithmName policyHash, CancellationToken cancellationToken)
    {
        var parsed = KmsKeyReference.Parse(reference, out var error) ?? throw new CloudException($"'{reference}' is not a KMS key reference: {error}", isTransient: false);

        // Vault's key does not name its hash; the policy's signatureAlgorithm does, as cosign passes it to Vault.
        var cacheKey = parsed.Provider == KmsProvider.HashiVault ? reference + "#" + policyHash.Name : reference;
        return (parsed.IsImmutable ? _immutable : _moving).GetAsync(cacheKey, cancellationToken);
    }

    public void Dispose() => _http.Dispose();

    private async Task<VerificationKey> FetchAsync(string cacheKey)
    {
        var hashSuffix = cacheKey.LastIndexOf('#');
        var isVault = cacheKey.StartsWith("hashivault://", StringComparison.Ordinal);
        var reference = KmsKeyReference.Parse(isVault ? cacheKey[..hashSuffix] : cacheKey, out _)!;

        // The fetch outlives the review that started it (others may be waiting for it), so it has its own deadline.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            return reference.Provider switch
            {
                KmsProvider.Aws => await FetchAwsAsync(reference, timeout.Token).ConfigureAwait(false),
                KmsProvider.Gcp => await FetchGcpAsync(reference, timeout.Token).ConfigureAwait(false),
                KmsProvider.HashiVault => await FetchVaultAsync(reference, new HashAlgorithmName(cacheKey[(hashSuffix + 1)..]), timeout.Token).ConfigureAwait(false),
                _ => await FetchAzureAsync(reference, timeout.Token).ConfigureAwait(false),
            };
        }
        catch (OperationCanceledException e) when (timeout.IsCancellationRequested)
        {
            throw new CloudException($"{reference.Text}: the provider did not answer within 20 s", isTransient: true, e);
        }
    }

    // ---- AWS KMS: GetPublicKey, signed with SigV4 -------------------------------------------------------------------

    private async Task<VerificationKey> FetchAwsAsync(KmsKeyReference reference, CancellationToken cancellationToken)
    {
        var what = $"AWS KMS GetPublicKey of {reference.Text}";
        var region = reference.Region ?? AwsRegion()
            ?? throw new CloudException($"{what}: no AWS region (set AWS_REGION, Cloud:Aws:Region, or use the key's ARN)", isTransient: true);
        var endpoint = _options.AwsKmsEndpoint
            ?? (string.IsNullOrEmpty(reference.Host) ? new Uri($"https://kms.{region}.amazonaws.com/") : new Uri($"https://{reference.Host}/"));
        var credentials = await _aws.GetAsync(region, cancellationToken).ConfigureAwait(false);

        using var body = new MemoryStream();
        using (var writer = new Utf8JsonWriter(body))
        {
            writer.WriteStartObject();
            writer.WriteString("KeyId", reference.Key);
            writer.WriteEndObject();
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(body.ToArray()) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-amz-json-1.1");
        request.Headers.TryAddWithoutValidation("X-Amz-Target", "TrentService.GetPublicKey");
        await AwsSigV4.SignAsync(request, credentials, region, "kms", _time.GetUtcNow(), cancellationToken).ConfigureAwait(false);

        // KMS answers 400 with the exception's name: a key that does not exist, is disabled or is not a signing key
        // cannot verify anything; everything else (denied, throttled, 5xx) is the provider's or the host's trouble.
        using var document = CloudHttp.ParseJson(
            await CloudHttp.SendAsync(_http, request, what, (status, text) => status == HttpStatusCode.BadRequest && (text.Contains("NotFoundException", StringComparison.Ordinal) || text.Contains("DisabledException", StringComparison.Ordinal) || text.Contains("KMSInvalidStateException", StringComparison.Ordinal) || text.Contains("InvalidKeyUsageException", StringComparison.Ordinal) || text.Contains("UnsupportedOperationException", StringComparison.Ordinal)), cancellationToken).ConfigureAwait(false),
            what);
        var root = document.RootElement;
        if (root.TryGetProperty("KeyUsage", out var usage) && usage.ValueKind == JsonValueKind.String && usage.GetString() != "SIGN_VERIFY")
        {
            throw new CloudException($"{what}: the key's usage is {usage.GetString()}, not SIGN_VERIFY", isTransient: false);
        }

        // cosign verifies with the key's first signing algorithm.
        var algorithm = root.TryGetProperty("SigningAlgorithms", out var algorithms) && algorithms.ValueKind == JsonValueKind.Array && algorithms.GetArrayLength() > 0
            ? algorithms[0].GetString() ?? ""
            : "";
        var hash = algorithm.EndsWith("SHA_384", StringComparison.Ordinal) ? HashAlgorithmName.SHA384
            : algorithm.EndsWith("SHA_512", StringComparison.Ordinal) ? HashAlgorithmName.SHA512
            : algorithm.EndsWith("SHA_256", StringComparison.Ordinal) ? HashAlgorithmName.SHA256
            : throw new CloudException($"{what}: unsupported signing algorithm '{algorithm}'", isTransient: false);
        return KeyFromSpki(Convert.FromBase64String(CloudHttp.RequiredString(root, "PublicKey", what)), hash, what);
    }

    private string? AwsRegion() =>
        _options.AwsRegion is { Length: > 0 } region ? region
        : _options.Environment("AWS_REGION") is { Length: > 0 } env ? env
        : _options.Environment("AWS_DEFAULT_REGION") is { Length: > 0 } fallback ? fallback
        : null;

    // ---- Google Cloud KMS: getPublicKey with an OAuth token --------------------------------------------------------

    private async Task<VerificationKey> FetchGcpAsync(KmsKeyReference reference, CancellationToken cancellationToken)
    {
        var what = $"Cloud KMS public key of {reference.Text}";
        var token = await _tokens.GoogleAsync(cancellationToken).ConfigureAwait(false);
        var versionName = reference.Version is { } version
            ? $"{reference.Key}/cryptoKeyVersions/{version}"
            : await NewestEnabledVersionAsync(reference, token, what, cancellationToken).ConfigureAwait(false);

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_options.GcpKmsEndpoint, $"/v1/{versionName}/publicKey"));
        request.Headers.Authorization = new("Bearer", token);
        using var document = CloudHttp.ParseJson(await CloudHttp.SendAsync(_http, request, what, (status, _) => status is HttpStatusCode.NotFound or HttpStatusCode.BadRequest, cancellationToken).ConfigureAwait(false), what);
        var algorithm = CloudHttp.RequiredString(document.RootElement, "algorithm", what);
        var hash = algorithm.EndsWith("SHA384", StringComparison.Ordinal) ? HashAlgorithmName.SHA384
            : algorithm.EndsWith("SHA512", StringComparison.Ordinal) ? HashAlgorithmName.SHA512
            : algorithm.EndsWith("SHA256", StringComparison.Ordinal) ? HashAlgorithmName.SHA256
            : throw new CloudException($"{what}: unsupported algorithm '{algorithm}'", isTransient: false);
        return KeyFromPem(CloudHttp.RequiredString(document.RootElement, "pem", what), hash, what);
    }

    private async Task<string> NewestEnabledVersionAsync(KmsKeyReference reference, string token, string what, CancellationToken cancellationToken)
    {
        // As cosign: the enabled version that sorts last by name.
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_options.GcpKmsEndpoint, $"/v1/{reference.Key}/cryptoKeyVersions?filter=state%3DENABLED&orderBy=name%20desc"));
        request.Headers.Authorization = new("Bearer", token);
        using var document = CloudHttp.ParseJson(await CloudHttp.SendAsync(_http, request, what, (status, _) => status == HttpStatusCode.NotFound, cancellationToken).ConfigureAwait(false), what);
        return document.RootElement.TryGetProperty("cryptoKeyVersions", out var versions) && versions.ValueKind == JsonValueKind.Array && versions.GetArrayLength() > 0
            ? CloudHttp.RequiredString(versions[0], "name", what)
            : throw new CloudException($"{what}: the key has no enabled version", isTransient: false);
    }

    // ---- HashiCorp Vault transit: the newest version's public key ---------------------------------------------------

    private async Task<VerificationKey> FetchVaultAsync(KmsKeyReference reference, HashAlgorithmName hash, CancellationToken cancellationToken)
    {
        var what = $"Vault transit key {reference.Text}";
        var address = _options.VaultAddress ?? (_options.Environment("VAULT_ADDR") is { Length: > 0 } env ? new Uri(env) : null)
            ?? throw new CloudException($"{what}: VAULT_ADDR is not set", isTransient: true);
        var token = _options.VaultToken is { Length: > 0 } configured ? configured
            : _options.Environment("VAULT_TOKEN") is { Length: > 0 } envToken ? envToken
            : ReadHomeVaultToken() ?? throw new CloudException($"{what}: VAULT_TOKEN is not set", isTransient: true);
        var transit = (_options.VaultTransitPath is { Length: > 0 } path ? path
            : _options.Environment("TRANSIT_SECRET_ENGINE_PATH") is { Length: > 0 } envPath ? envPath
            : "transit").Trim('/');

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(address, $"/v1/{transit}/keys/{reference.Key}"));
        request.Headers.TryAddWithoutValidation("X-Vault-Token", token);
        using var document = CloudHttp.ParseJson(await CloudHttp.SendAsync(_http, request, what, (status, _) => status == HttpStatusCode.NotFound, cancellationToken).ConfigureAwait(false), what);
        if (!document.RootElement.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Object
            || !data.TryGetProperty("latest_version", out var latest) || !latest.TryGetInt64(out var latestVersion)
            || !data.TryGetProperty("keys", out var keys) || keys.ValueKind != JsonValueKind.Object
            || !keys.TryGetProperty(latestVersion.ToString(System.Globalization.CultureInfo.InvariantCulture), out var key) || key.ValueKind != JsonValueKind.Object)
        {
            throw new CloudException($"{what}: the answer has no public key of its latest version (is it an asymmetric key?)", isTransient: false);
        }

        var publicKey = CloudHttp.RequiredString(key, "public_key", what);
        if (key.TryGetProperty("name", out var name) && name.GetString() == "ed25519")
        {
            // Vault gives Ed25519 keys as the 32 raw bytes in base64: wrap them as a SubjectPublicKeyInfo (RFC 8410).
            var raw = Convert.FromBase64String(publicKey);
            if (raw.Length != 32)
            {
                throw new CloudException($"{what}: an Ed25519 key of {raw.Length} bytes", isTransient: false);
            }

            return KeyFromSpki([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, .. raw], hash, what);
        }

        return KeyFromPem(publicKey, hash, what);
    }

    private string? ReadHomeVaultToken()
    {
        var home = _options.Environment("HOME");
        var file = string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".vault-token");
        return file is not null && File.Exists(file) && File.ReadAllText(file).Trim() is { Length: > 0 } token ? token : null;
    }

    // ---- Azure Key Vault: the key as a JSON Web Key -----------------------------------------------------------------

    private async Task<VerificationKey> FetchAzureAsync(KmsKeyReference reference, CancellationToken cancellationToken)
    {
        var what = $"Azure Key Vault key {reference.Text}";
        var token = await _tokens.AzureKeyVaultAsync(cancellationToken).ConfigureAwait(false);
        var vault = _options.AzureKeyVaultEndpoint ?? new Uri($"https://{reference.Host}/");
        var path = reference.Version is { } version ? $"/keys/{Uri.EscapeDataString(reference.Key)}/{version}" : $"/keys/{Uri.EscapeDataString(reference.Key)}";
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(vault, path + "?api-version=7.4"));
        request.Headers.Authorization = new("Bearer", token);
        using var document = CloudHttp.ParseJson(await CloudHttp.SendAsync(_http, request, what, (status, _) => status == HttpStatusCode.NotFound, cancellationToken).ConfigureAwait(false), what);
        if (!document.RootElement.TryGetProperty("key", out var jwk) || jwk.ValueKind != JsonValueKind.Object)
        {
            throw new CloudException($"{what}: the answer has no key", isTransient: true);
        }

        // Keys in a managed HSM say EC-HSM / RSA-HSM; the public half is the same. The hash follows the key's size, as
        // cosign's Azure provider chooses it.
        var kty = CloudHttp.RequiredString(jwk, "kty", what);
        if (kty is "EC" or "EC-HSM")
        {
            var (curve, hash) = CloudHttp.RequiredString(jwk, "crv", what) switch
            {
                "P-256" => (ECCurve.NamedCurves.nistP256, HashAlgorithmName.SHA256),
                "P-384" => (ECCurve.NamedCurves.nistP384, HashAlgorithmName.SHA384),
                "P-521" => (ECCurve.NamedCurves.nistP521, HashAlgorithmName.SHA512),
                var other => throw new CloudException($"{what}: unsupported curve '{other}'", isTransient: false),
            };
            using var ec = ECDsa.Create(new ECParameters
            {
                Curve = curve,
                Q = new ECPoint { X = Base64Url(CloudHttp.RequiredString(jwk, "x", what)), Y = Base64Url(CloudHttp.RequiredString(jwk, "y", what)) },
            });
            return KeyFromSpki(ec.ExportSubjectPublicKeyInfo(), hash, what);
        }

        if (kty is "RSA" or "RSA-HSM")
        {
            using var rsa = RSA.Create(new RSAParameters { Modulus = Base64Url(CloudHttp.RequiredString(jwk, "n", what)), Exponent = Base64Url(CloudHttp.RequiredString(jwk, "e", what)) });
            var hash = rsa.KeySize switch
            {
                2048 => HashAlgorithmName.SHA256,
                3072 => HashAlgorithmName.SHA384,
                4096 => HashAlgorithmName.SHA512,
                var other => throw new CloudException($"{what}: unsupported RSA key size {other}", isTransient: false),
            };
            return KeyFromSpki(rsa.ExportSubjectPublicKeyInfo(), hash, what);
        }

        throw new CloudException($"{what}: unsupported key type '{kty}'", isTransient: false);
    }

    private static byte[] Base64Url(string text)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(padded + new string('=', (4 - (padded.Length % 4)) % 4));
    }

    private static VerificationKey KeyFromSpki(byte[] spki, HashAlgorithmName hash, string what)
    {
        try
        {
            return VerificationKey.FromSubjectPublicKeyInfo(spki, hash);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or FormatException or NotSupportedException)
        {
            throw new CloudException($"{what}: not a usable public key ({e.Message})", isTransient: false, e);
        }
    }

    private static VerificationKey KeyFromPem(string pem, HashAlgorithmName hash, string what)
    {
        try
        {
            return VerificationKey.FromPem(pem, hash);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or FormatException or NotSupportedException)
        {
            throw new CloudException($"{what}: not a usable public key ({e.Message})", isTransient: false, e);
        }
    }
}
