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
/// <c>*.pkg.dev</c> with the Google OAuth token as user <c>oauth2accesstoken</c>; <c>default</c> is the host's credential
/// files, which every registry call falls back to anyway. Credentials are kept until shortly before they expire.
/// </summary>
public sealed partial class CloudRegistryCredentials : ICloudRegistryCredentials, IDisposable
{
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
                    return (new RegistryCredential("oauth2accesstoken", token), _time.GetUtcNow() + TimeSpan.FromMinutes(5));
                }).ConfigureAwait(false);
            }
        }

        return null;
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
        return (new RegistryCredential(decoded[..colon], decoded[(colon + 1)..]), expires - TimeSpan.FromMinutes(5));
    }
}
