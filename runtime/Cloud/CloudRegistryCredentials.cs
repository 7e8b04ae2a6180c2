using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using PolicyCompiler.Runtime.Registry;

namespace PolicyCompiler.Runtime.Cloud;

/// <summary>Registry credentials from the cloud credential helpers of <c>imageRegistryCredentials.providers</c>.</summary>
public interface ICloudRegistryCredentials
{
    /// <summary>
    /// The credential the first named helper that serves <paramref name="registry"/> gives, or null when none serves it.
    /// Throws <see cref="CloudException"/> when a helper that serves it cannot get one.
    /// </summary>
    Task<RegistryCredential?> FindAsync(string registry, IReadOnlyList<string> providers, CancellationToken cancellationToken);
}

/// <summary>
/// Kyverno's keychains, with the host's own identity: <c>amazon</c> serves Amazon ECR registries
/// (<c>{account}.dkr.ecr.{region}.amazonaws.com</c>) with a token from ECR's <c>GetAuthorizationToken</c> (signed with
/// SigV4, credentials as for AWS KMS) as user <c>AWS</c>; <c>google</c> serves <c>gcr.io</c>, <c>*.gcr.io</c> and
/// <c>*.pkg.dev</c> with the Google OAuth token as user <c>oauth2accesstoken</c>; <c>azure</c> serves Azure Container
/// Registry (<c>*.azurecr.io</c>, <c>.cn</c>, <c>.de</c>, <c>.us</c>) with an ACR refresh token, obtained by exchanging the
/// host's Entra ID token for the registry's cloud at <c>https://{registry}/oauth2/exchange</c>, as user
/// <c>00000000-0000-0000-0000-000000000000</c>; <c>github</c> serves <c>ghcr.io</c> with <c>GITHUB_TOKEN</c> as user
/// <c>GITHUB_ACTOR</c> (<c>unset</c> without one), and without a token leaves the registry to the next helper, as
/// Kyverno's keychain answers anonymous; <c>default</c> is the host's credential files, which every registry call falls
/// back to anyway. Credentials are kept until shortly before they expire.
/// </summary>
public sealed partial class CloudRegistryCredentials : ICloudRegistryCredentials, IDisposable
{
    /// <summary>The user name ACR documents for a refresh token used as a password.</summary>
    public const string AcrUserName = "00000000-0000-0000-0000-000000000000";

    private readonly HttpClient _http;
    private readonly CloudOptions _options;
    private readonly TimeProvider _time;
    private readonly AwsCredentialChain _aws;
    private readonly CloudTokens _tokens;
    private readonly ConcurrentDictionary<string, (RegistryCredential Credential, DateTimeOffset Expires)> _cache = new(StringComparer.Ordinal);

    public CloudRegistryCredentials(CloudOptions options, TimeProvider? time = null, HttpClient? http = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _time = time ?? TimeProvider.System;
        _http = http ?? CloudHttp.CreateClient();
        _aws = new AwsCredentialChain(_http, options, _time);
        _tokens = new CloudTokens(_http, options, _time);
    }

    public void Dispose() => _http.Dispose();

    public async Task<RegistryCredential?> FindAsync(string registry, IReadOnlyList<string> providers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(providers);
        foreach (var provider in providers)
        {
            if (provider == "amazon" && EcrRegistry().Match(registry) is { Success: true } ecr)
            {
                return await CachedAsync("amazon|" + registry, () => EcrAsync(registry, ecr.Groups["account"].Value, ecr.Groups["region"].Value, cancellationToken)).ConfigureAwait(false);
            }

            if (provider == "google" && IsGoogleRegistry(registry))
            {
                return await CachedAsync("google", async () =>
                {
                    // The token is kept by CloudTokens; this credential lives as long as the token it carries.
                    var token = await _tokens.GoogleAsync(cancellationToken).ConfigureAwait(false);
                    return (new RegistryCredential("oauth2accesstoken", token) { CloudProvider = "google" }, _time.GetUtcNow() + TimeSpan.FromMinutes(5));
                }).ConfigureAwait(false);
            }

            if (provider == "azure" && AzureCloudOf(registry) is { } resourceManager)
            {
                return await CachedAsync("azure|" + registry, () => AcrAsync(registry, resourceManager, cancellationToken)).ConfigureAwait(false);
            }

            if (provider == "github" && IsGitHubRegistry(registry)
                && (_options.GitHubToken is { Length: > 0 } ? _options.GitHubToken : _options.Environment("GITHUB_TOKEN")) is { Length: > 0 } token)
            {
                // One instance per token, so that registry tokens obtained with it are cached under one credential.
                return await CachedAsync("github|" + token, () =>
                {
                    var actor = _options.GitHubActor is { Length: > 0 } ? _options.GitHubActor : _options.Environment("GITHUB_ACTOR");
                    return Task.FromResult((new RegistryCredential(actor is { Length: > 0 } ? actor : "unset", token) { CloudProvider = "github" }, DateTimeOffset.MaxValue));
                }).ConfigureAwait(false);
            }
        }

        return null;
    }

    /// <summary>The host name of <c>host[:port]</c>, lower case, without a trailing dot.</summary>
    private static string HostOf(string registry)
    {
        var host = registry.StartsWith('[') ? registry : registry.Split(':')[0];
        return host.TrimEnd('.').ToLowerInvariant();
    }

    private static bool IsGitHubRegistry(string registry) => HostOf(registry) == "ghcr.io";

    /// <summary>
    /// The Resource Manager audience of an Azure Container Registry's cloud (China for <c>.azurecr.cn</c>, US Government
    /// for <c>.azurecr.us</c>, public otherwise, as the ACR client Kyverno uses picks it), or null for another registry.
    /// </summary>
    private static string? AzureCloudOf(string registry)
    {
        var host = HostOf(registry);
        foreach (var (suffix, resourceManager) in (ReadOnlySpan<(string, string)>)[
            (".azurecr.io", "https://management.azure.com"),
            (".azurecr.de", "https://management.azure.com"),
            (".azurecr.cn", "https://management.chinacloudapi.cn"),
            (".azurecr.us", "https://management.usgovcloudapi.net")])
        {
            if (host.Length > suffix.Length && host.EndsWith(suffix, StringComparison.Ordinal))
            {
                return resourceManager;
            }
        }

        return null;
    }

    /// <summary>
    /// ACR's token exchange (its AAD-OAuth protocol): the host's Entra ID token for the registry's cloud goes, over HTTPS and
    /// only to the registry itself, to <c>POST /oauth2/exchange</c> and comes back as a registry refresh token.
    /// </summary>
    private async Task<(RegistryCredential, DateTimeOffset)> AcrAsync(string registry, string resourceManager, CancellationToken cancellationToken)
    {
        var what = $"Azure Container Registry token exchange for {registry}";
        var entraToken = await _tokens.AzureResourceManagerAsync(resourceManager, cancellationToken).ConfigureAwait(false);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"https://{registry}/oauth2/exchange"))
        {
            Content = new FormUrlEncodedContent([new("grant_type", "access_token"), new("service", HostOf(registry)), new("access_token", entraToken)]),
        };

        using var document = CloudHttp.ParseJson(await CloudHttp.SendAsync(_http, request, what, null, cancellationToken).ConfigureAwait(false), what);
        var refreshToken = CloudHttp.RequiredString(document.RootElement, "refresh_token", what);

        // The refresh token is a JWT whose exp says how long ACR takes it (3 hours today); without a readable exp, keep it
        // for the 10 minutes the ACR client Kyverno uses assumes.
        var expires = JwtExpiry(refreshToken) is { } exp ? exp - TimeSpan.FromMinutes(5) : _time.GetUtcNow() + TimeSpan.FromMinutes(10);
        return (new RegistryCredential(AcrUserName, refreshToken) { CloudProvider = "azure" }, expires);
    }

    private static DateTimeOffset? JwtExpiry(string token)
    {
        var parts = token.Split('.');
        if (parts.Length != 3)
        {
            return null;
        }

        try
        {
            var payload = parts[1].Replace('-', '+').Replace('_', '/');
            payload += new string('=', (4 - (payload.Length % 4)) % 4);
            using var claims = JsonDocument.Parse(Convert.FromBase64String(payload));
            return claims.RootElement.ValueKind == JsonValueKind.Object && claims.RootElement.TryGetProperty("exp", out var exp) && exp.TryGetInt64(out var seconds)
                && seconds is > 0 and < 253402300799
                ? DateTimeOffset.FromUnixTimeSeconds(seconds)
                : null;
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            return null;
        }
    }

    private static bool IsGoogleRegistry(string registry) =>
        registry == "gcr.io" || registry.EndsWith(".gcr.io", StringComparison.Ordinal) || registry.EndsWith(".pkg.dev", StringComparison.Ordinal);

    [GeneratedRegex(@"^(?<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$", RegexOptions.CultureInvariant)]
    private static partial Regex EcrRegistry();

    private async Task<RegistryCredential> CachedAsync(string key, Func<Task<(RegistryCredential Credential, DateTimeOffset Expires)>> fetch)
    {
        if (_cache.TryGetValue(key, out var cached) && cached.Expires > _time.GetUtcNow())
        {
            return cached.Credential;
        }

        var fresh = await fetch().ConfigureAwait(false);
        _cache[key] = fresh;
        return fresh.Credential;
    }

    private async Task<(RegistryCredential, DateTimeOffset)> EcrAsync(string registry, string account, string region, CancellationToken cancellationToken)
    {
        var what = $"Amazon ECR GetAuthorizationToken for {registry}";
        var credentials = await _aws.GetAsync(region, cancellationToken).ConfigureAwait(false);
        using var body = new MemoryStream();
        using (var writer = new Utf8JsonWriter(body))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("registryIds");
            writer.WriteStringValue(account);
            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, _options.AwsEcrEndpoint ?? new Uri($"https://api.ecr.{region}.amazonaws.com/")) { Content = new ByteArrayContent(body.ToArray()) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-amz-json-1.1");
        request.Headers.TryAddWithoutValidation("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken");
        await AwsSigV4.SignAsync(request, credentials, region, "ecr", _time.GetUtcNow(), cancellationToken).ConfigureAwait(false);

        using var document = CloudHttp.ParseJson(await CloudHttp.SendAsync(_http, request, what, null, cancellationToken).ConfigureAwait(false), what);
        if (!document.RootElement.TryGetProperty("authorizationData", out var data) || data.ValueKind != JsonValueKind.Array || data.GetArrayLength() == 0)
        {
            throw new CloudException($"{what}: the answer has no authorizationData", isTransient: true);
        }

        var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(CloudHttp.RequiredString(data[0], "authorizationToken", what)));
        var colon = decoded.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            throw new CloudException($"{what}: the token is not user:password", isTransient: true);
        }

        // ECR tokens last 12 hours; keep one until 5 minutes before its end.
        var expires = data[0].TryGetProperty("expiresAt", out var at) && at.TryGetDouble(out var seconds)
            ? DateTimeOffset.FromUnixTimeMilliseconds((long)(seconds * 1000))
            : _time.GetUtcNow() + TimeSpan.FromHours(1);
        return (new RegistryCredential(decoded[..colon], decoded[(colon + 1)..]) { CloudProvider = "amazon" }, expires - TimeSpan.FromMinutes(5));
    }
}
