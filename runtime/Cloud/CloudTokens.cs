using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace PolicyCompiler.Runtime.Cloud;

/// <summary>
/// OAuth access tokens of the host's own identity. Google: a service-account key file named by
/// <c>GOOGLE_APPLICATION_CREDENTIALS</c> (a JWT-bearer grant), otherwise the metadata server (GCE, GKE workload
/// identity). Azure Key Vault: the managed identity through the instance metadata service (<c>AZURE_CLIENT_ID</c> picks a
/// user-assigned one). Azure Resource Manager (for the ACR exchange): the sources of the Azure SDK's default credential
/// that work without a CLI, in its order: a client secret (<c>AZURE_TENANT_ID</c>, <c>AZURE_CLIENT_ID</c>,
/// <c>AZURE_CLIENT_SECRET</c>), a federated token file (<c>AZURE_FEDERATED_TOKEN_FILE</c>, AKS workload identity), then the
/// managed identity. Tokens are kept until five minutes before they expire.
/// </summary>
internal sealed class CloudTokens(HttpClient http, CloudOptions options, TimeProvider time)
{
    private const string CloudKmsScope = "https://www.googleapis.com/auth/cloud-platform";

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, (string Token, DateTimeOffset Expires)> _tokens = new(StringComparer.Ordinal);

    public Task<string> GoogleAsync(CancellationToken cancellationToken) => CachedAsync("google", FetchGoogleAsync, cancellationToken);

    public Task<string> AzureKeyVaultAsync(CancellationToken cancellationToken) => CachedAsync("azure-keyvault", ct => FetchAzureAsync("https://vault.azure.net", ct), cancellationToken);

    /// <param name="resource">The Resource Manager of the registry's cloud, e.g. <c>https://management.azure.com</c>.</param>
    public Task<string> AzureResourceManagerAsync(string resource, CancellationToken cancellationToken) =>
        CachedAsync("azure-arm|" + resource, ct => FetchAzureEntraAsync(resource, ct), cancellationToken);

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

    private async Task<(string, TimeSpan)> FetchAzureEntraAsync(string resource, CancellationToken cancellationToken)
    {
        // As the SDK's environment and workload identity credentials: both need the tenant and the client id; a source
        // whose variables are incomplete is skipped, not an error.
        var tenant = options.Environment("AZURE_TENANT_ID");
        var clientId = options.Environment("AZURE_CLIENT_ID");
        if (tenant is not { Length: > 0 } || clientId is not { Length: > 0 })
        {
            return await FetchAzureAsync(resource, cancellationToken).ConfigureAwait(false);
        }

        List<KeyValuePair<string, string>> form;
        string what;
        if (options.Environment("AZURE_CLIENT_SECRET") is { Length: > 0 } secret)
        {
            what = $"Azure client secret credential (AZURE_CLIENT_ID {clientId})";
            form = [new("client_id", clientId), new("client_secret", secret)];
        }
        else if (options.Environment("AZURE_CLIENT_CERTIFICATE_PATH") is { Length: > 0 })
        {
            // The SDK would sign in with the certificate; going on to another identity would pull as someone else.
            throw new CloudException("Azure credentials: AZURE_CLIENT_CERTIFICATE_PATH is set, and client certificate credentials are not built; set AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE instead", isTransient: true);
        }
        else if (options.Environment("AZURE_FEDERATED_TOKEN_FILE") is { Length: > 0 } file)
        {
            what = $"Azure workload identity (AZURE_CLIENT_ID {clientId})";
            string assertion;
            try
            {
                // Read each time: the kubelet rotates the projected token.
                assertion = (await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false)).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CloudException($"{what}: AZURE_FEDERATED_TOKEN_FILE cannot be read ({e.Message})", isTransient: true, e);
            }

            form = [new("client_id", clientId), new("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), new("client_assertion", assertion)];
        }
        else
        {
            return await FetchAzureAsync(resource, cancellationToken).ConfigureAwait(false);
        }

        if (tenant.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '.')))
        {
            throw new CloudException($"{what}: AZURE_TENANT_ID is not a tenant id or domain", isTransient: true);
        }

        form.Add(new("grant_type", "client_credentials"));
        form.Add(new("scope", resource + "/.default"));
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(AzureAuthority(), tenant + "/oauth2/v2.0/token")) { Content = new FormUrlEncodedContent(form) };
        return ReadToken(await CloudHttp.SendAsync(http, request, what, null, cancellationToken).ConfigureAwait(false), what);
    }

    /// <summary>The Entra ID authority; the client secret or federated token goes only over HTTPS (plain HTTP only to loopback, for tests).</summary>
    private Uri AzureAuthority()
    {
        var authority = options.AzureAuthorityHost
            ?? (options.Environment("AZURE_AUTHORITY_HOST") is { Length: > 0 } host
                ? Uri.TryCreate(host, UriKind.Absolute, out var parsed) ? parsed : throw new CloudException($"AZURE_AUTHORITY_HOST '{host}' is not a URL", isTransient: true)
                : new Uri("https://login.microsoftonline.com/"));
        if (authority.Scheme != Uri.UriSchemeHttps && !(authority.Scheme == Uri.UriSchemeHttp && authority.IsLoopback))
        {
            throw new CloudException($"the Azure authority {authority.GetLeftPart(UriPartial.Authority)} is not HTTPS", isTransient: true);
        }

        return authority.AbsolutePath.EndsWith('/') ? authority : new Uri(authority + "/");
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
