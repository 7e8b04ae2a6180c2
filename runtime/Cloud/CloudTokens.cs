using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace PolicyCompiler.Runtime.Cloud;

/// <summary>
/// OAuth access tokens of the host's own identity. Google: a service-account key file named by
/// <c>GOOGLE_APPLICATION_CREDENTIALS</c> (a JWT-bearer grant), otherwise the metadata server (GCE, GKE workload
/// identity). Azure: the managed identity through the instance metadata service (<c>AZURE_CLIENT_ID</c> picks a
/// user-assigned one). Tokens are kept until five minutes before they expire.
/// </summary>
internal sealed class CloudTokens(HttpClient http, CloudOptions options, TimeProvider time)
{
    private const string CloudKmsScope = "https://www.googleapis.com/auth/cloud-platform";

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, (string Token, DateTimeOffset Expires)> _tokens = new(StringComparer.Ordinal);

    public Task<string> GoogleAsync(CancellationToken cancellationToken) => CachedAsync("google", FetchGoogleAsync, cancellationToken);

    public Task<string> AzureKeyVaultAsync(CancellationToken cancellationToken) => CachedAsync("azure-keyvault", ct => FetchAzureAsync("https://vault.azure.net", ct), cancellationToken);

    private async Task<string> CachedAsync(string name, Func<CancellationToken, Task<(string Token, TimeSpan Lifetime)>> fetch, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_tokens.TryGetValue(name, out var cached) && cached.Expires > time.GetUtcNow())
            {
                return cached.Token;
            }

            var (token, lifetime) = await fetch(cancellationToken).ConfigureAwait(false);
            _tokens[name] = (token, time.GetUtcNow() + lifetime - TimeSpan.FromMinutes(5));
            return token;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<(string, TimeSpan)> FetchGoogleAsync(CancellationToken cancellationToken)
    {
        if (options.Environment("GOOGLE_APPLICATION_CREDENTIALS") is { Length: > 0 } file)
        {
            return await FromServiceAccountKeyAsync(file, cancellationToken).ConfigureAwait(false);
        }

        var metadata = options.GcpMetadataEndpoint
            ?? (options.Environment("GCE_METADATA_HOST") is { Length: > 0 } host ? new Uri("http://" + host) : new Uri("http://metadata.google.internal"));
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(metadata, $"/computeMetadata/v1/instance/service-accounts/default/token?scopes={Uri.EscapeDataString(CloudKmsScope)}"));
        request.Headers.TryAddWithoutValidation("Metadata-Flavor", "Google");
        return ReadToken(await CloudHttp.SendAsync(http, request, "Google credentials: no GOOGLE_APPLICATION_CREDENTIALS, and the metadata server", null, cancellationToken).ConfigureAwait(false), "Google metadata server token");
    }

    private async Task<(string, TimeSpan)> FromServiceAccountKeyAsync(string file, CancellationToken cancellationToken)
    {
        const string What = "Google service account key (GOOGLE_APPLICATION_CREDENTIALS)";
        JsonDocument key;
        try
        {
            key = JsonDocument.Parse(await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new CloudException($"{What}: cannot be read ({e.Message})", isTransient: true, e);
        }

        using (key)
        {
            var root = key.RootElement;
            var email = CloudHttp.RequiredString(root, "client_email", What);
            var tokenUri = CloudHttp.RequiredString(root, "token_uri", What);
            using var rsa = RSA.Create();
            rsa.ImportFromPem(CloudHttp.RequiredString(root, "private_key", What));

            var now = time.GetUtcNow().ToUnixTimeSeconds();
            var header = Base64Url("""{"alg":"RS256","typ":"JWT"}"""u8);
            using var claims = new MemoryStream();
            using (var writer = new Utf8JsonWriter(claims))
            {
                writer.WriteStartObject();
                writer.WriteString("iss", email);
                writer.WriteString("scope", CloudKmsScope);
                writer.WriteString("aud", tokenUri);
                writer.WriteNumber("iat", now);
                writer.WriteNumber("exp", now + 3600);
                writer.WriteEndObject();
            }

            var unsigned = header + "." + Base64Url(claims.ToArray());
            var assertion = unsigned + "." + Base64Url(rsa.SignData(Encoding.ASCII.GetBytes(unsigned), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
            using var request = new HttpRequestMessage(HttpMethod.Post, tokenUri)
            {
                Content = new FormUrlEncodedContent([new("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), new("assertion", assertion)]),
            };
            return ReadToken(await CloudHttp.SendAsync(http, request, "Google OAuth token for " + email, null, cancellationToken).ConfigureAwait(false), "Google OAuth token");
        }
    }

    private async Task<(string, TimeSpan)> FetchAzureAsync(string resource, CancellationToken cancellationToken)
    {
        var query = $"/metadata/identity/oauth2/token?api-version=2018-02-01&resource={Uri.EscapeDataString(resource)}";
        if (options.Environment("AZURE_CLIENT_ID") is { Length: > 0 } clientId)
        {
            query += "&client_id=" + Uri.EscapeDataString(clientId);
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(options.AzureImdsEndpoint, query));
        request.Headers.TryAddWithoutValidation("Metadata", "true");
        return ReadToken(await CloudHttp.SendAsync(http, request, "Azure managed identity token (instance metadata service)", null, cancellationToken).ConfigureAwait(false), "Azure managed identity token");
    }

    private static (string, TimeSpan) ReadToken(byte[] body, string what)
    {
        using var document = CloudHttp.ParseJson(body, what);
        var root = document.RootElement;
        var token = CloudHttp.RequiredString(root, "access_token", what);

        // Google gives expires_in as a number, Azure's metadata service as a string.
        long seconds = 0;
        if (root.TryGetProperty("expires_in", out var expires))
        {
            seconds = expires.ValueKind switch
            {
                JsonValueKind.Number => expires.TryGetInt64(out var n) ? n : 0,
                JsonValueKind.String => long.TryParse(expires.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : 0,
                _ => 0,
            };
        }

        seconds = seconds > 0 ? seconds : 300;
        return (token, TimeSpan.FromSeconds(Math.Min(seconds, 86400)));
    }

    private static string Base64Url(ReadOnlySpan<byte> bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
