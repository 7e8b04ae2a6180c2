using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;

namespace PolicyCompiler.Runtime.Registry;

/// <summary>
/// A small client for the OCI distribution API: manifests and blobs, read with bounded size, every piece of
/// content hashed and compared with the digest it was asked for. Anonymous pulls, with the registry token
/// protocol when the registry asks for it. One instance per process: it owns the connection pool.
/// </summary>
public sealed class RegistryClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly RegistryOptions _options;
    private readonly ConcurrentDictionary<string, CachedToken> _tokens = new(StringComparer.Ordinal);
    private readonly Telemetry.WebhookMetrics? _metrics;

    public RegistryClient(RegistryOptions options, Telemetry.WebhookMetrics? metrics = null)
        : this(options, CreateHandler(options), metrics)
    {
    }

    public RegistryClient(RegistryOptions options, HttpMessageHandler handler, Telemetry.WebhookMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(handler);
        _options = options;
        _metrics = metrics;
        _http = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("PolicyCompiler", "0.1"));
    }

    public RegistryOptions Options => _options;

    private static SocketsHttpHandler CreateHandler(RegistryOptions options) => new()
    {
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = options.ConnectTimeout,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        MaxConnectionsPerServer = 32,
        UseCookies = false,
    };

    /// <summary>Fetches a manifest by tag or digest. When <paramref name="reference"/> is a digest, the content must hash to it.</summary>
    public async Task<ManifestResponse> GetManifestAsync(string registry, string repository, string reference, CancellationToken cancellationToken)
    {
        var uri = BuildUri(registry, $"/v2/{repository}/manifests/{reference}");
        using var response = await SendAsync(registry, repository, uri, MediaTypes.ManifestAccept, cancellationToken).ConfigureAwait(false);
        EnsureSuccess(response, $"manifest {repository}:{reference}");
        var content = await ReadBoundedAsync(response, _options.MaxManifestBytes, $"manifest {repository}:{reference}", cancellationToken).ConfigureAwait(false);
        var colon = reference.IndexOf(':', StringComparison.Ordinal);
        var digest = ComputeDigest(content, colon > 0 && Images.ImageReference.IsValidDigest(reference) ? reference[..colon] : "sha256");
        if (colon > 0 && !string.Equals(digest, reference, StringComparison.Ordinal))
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, $"registry {registry} served manifest content for {repository}@{reference} that hashes to {digest}");
        }

        var mediaType = response.Content.Headers.ContentType?.MediaType ?? ReadMediaTypeField(content) ?? string.Empty;
        return new ManifestResponse(content, mediaType, digest);
    }

    /// <summary>Fetches a blob; its content must hash to <paramref name="digest"/> and fit in <paramref name="maxBytes"/>.</summary>
    public async Task<byte[]> GetBlobAsync(string registry, string repository, string digest, long maxBytes, CancellationToken cancellationToken)
    {
        if (!Images.ImageReference.IsValidDigest(digest))
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, $"'{digest}' is not a valid blob digest");
        }

        var uri = BuildUri(registry, $"/v2/{repository}/blobs/{digest}");
        HttpResponseMessage response = await SendAsync(registry, repository, uri, accept: null, cancellationToken).ConfigureAwait(false);
        try
        {
            // Registries backed by object storage answer blob reads with a redirect to a pre-signed URL.
            for (var hops = 0; IsRedirect(response.StatusCode); hops++)
            {
                var location = response.Headers.Location;
                if (hops >= 3 || location is null)
                {
                    throw new RegistryException(RegistryFailure.InvalidResponse, $"registry {registry} redirected blob {digest} too often");
                }

                var target = location.IsAbsoluteUri ? location : new Uri(uri, location);
                if (target.Scheme != Uri.UriSchemeHttps && !(target.Scheme == Uri.UriSchemeHttp && uri.Scheme == Uri.UriSchemeHttp && target.Authority == uri.Authority))
                {
                    throw new RegistryException(RegistryFailure.InvalidResponse, $"registry {registry} redirected blob {digest} to a non-HTTPS location");
                }

                response.Dispose();
                using var request = new HttpRequestMessage(HttpMethod.Get, target);

                // Credentials are for the registry, never for the storage it redirects to.
                response = await SendRawAsync(request, cancellationToken).ConfigureAwait(false);
                uri = target;
            }

            EnsureSuccess(response, $"blob {repository}@{digest}");
            var content = await ReadBoundedAsync(response, maxBytes, $"blob {repository}@{digest}", cancellationToken).ConfigureAwait(false);
            var actual = ComputeDigest(content, digest[..digest.IndexOf(':', StringComparison.Ordinal)]);
            if (!string.Equals(actual, digest, StringComparison.Ordinal))
            {
                throw new RegistryException(RegistryFailure.InvalidResponse, $"registry {registry} served blob content for {digest} that hashes to {actual}");
            }

            return content;
        }
        finally
        {
            response.Dispose();
        }
    }

    public static string ComputeDigest(ReadOnlySpan<byte> content, string algorithm = "sha256") => algorithm switch
    {
        "sha256" => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content)),
        "sha384" => "sha384:" + Convert.ToHexStringLower(SHA384.HashData(content)),
        "sha512" => "sha512:" + Convert.ToHexStringLower(SHA512.HashData(content)),
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "unsupported digest algorithm"),
    };

    private Uri BuildUri(string registry, string path)
    {
        var endpoint = registry == Images.ImageReference.DockerHubRegistry ? "registry-1.docker.io" : registry;
        var scheme = _options.IsInsecure(registry) ? "http" : "https";
        return new Uri($"{scheme}://{endpoint}{path}", UriKind.Absolute);
    }

    private async Task<HttpResponseMessage> SendAsync(string registry, string repository, Uri uri, string? accept, CancellationToken cancellationToken)
    {
        var tokenKey = registry + "/" + repository;
        _tokens.TryGetValue(tokenKey, out var cached);
        if (cached is not null && cached.ExpiresAt <= DateTimeOffset.UtcNow)
        {
            _tokens.TryRemove(tokenKey, out _);
            cached = null;
        }

        var response = await SendOnceAsync(uri, accept, cached?.Token, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Unauthorized)
        {
            return response;
        }

        var challenge = response.Headers.WwwAuthenticate.FirstOrDefault(h => string.Equals(h.Scheme, "Bearer", StringComparison.OrdinalIgnoreCase));
        response.Dispose();
        if (challenge?.Parameter is null)
        {
            throw new RegistryException(RegistryFailure.Unauthorized, $"registry {registry} requires authentication for {repository}", HttpStatusCode.Unauthorized);
        }

        var token = await FetchTokenAsync(registry, repository, challenge.Parameter, cancellationToken).ConfigureAwait(false);
        _tokens[tokenKey] = token;
        return await SendOnceAsync(uri, accept, token.Token, cancellationToken).ConfigureAwait(false);
    }

    private async Task<HttpResponseMessage> SendOnceAsync(Uri uri, string? accept, string? bearer, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (accept is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept", accept);
        }

        if (bearer is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return await SendRawAsync(request, cancellationToken).ConfigureAwait(false);
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var authority = request.RequestUri?.Authority ?? string.Empty;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            _metrics?.RegistryRequests.Inc(authority, ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
            return response;
        }
        catch (HttpRequestException e)
        {
            _metrics?.RegistryRequests.Inc(authority, "unreachable");
            throw new RegistryException(RegistryFailure.Unavailable, $"registry {authority} is unreachable: {e.Message}", e.StatusCode, e);
        }
        catch (OperationCanceledException)
        {
            _metrics?.RegistryRequests.Inc(authority, "cancelled");
            throw;
        }
        finally
        {
            _metrics?.RegistryDuration.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, authority);
        }
    }

    private async Task<CachedToken> FetchTokenAsync(string registry, string repository, string challengeParameters, CancellationToken cancellationToken)
    {
        var parameters = ParseChallenge(challengeParameters);
        if (!parameters.TryGetValue("realm", out var realm) || !Uri.TryCreate(realm, UriKind.Absolute, out var realmUri))
        {
            throw new RegistryException(RegistryFailure.Unauthorized, $"registry {registry} sent a Bearer challenge without a usable realm");
        }

        if (realmUri.Scheme != Uri.UriSchemeHttps && !(realmUri.Scheme == Uri.UriSchemeHttp && _options.IsInsecure(registry)))
        {
            throw new RegistryException(RegistryFailure.Unauthorized, $"registry {registry} names a token realm that is not HTTPS: {realmUri.GetLeftPart(UriPartial.Path)}");
        }

        var query = new List<string>();
        if (parameters.TryGetValue("service", out var service))
        {
            query.Add("service=" + Uri.EscapeDataString(service));
        }

        query.Add("scope=" + Uri.EscapeDataString($"repository:{repository}:pull"));
        var tokenUri = new UriBuilder(realmUri) { Query = string.Join('&', query) }.Uri;

        using var request = new HttpRequestMessage(HttpMethod.Get, tokenUri);
        using var response = await SendRawAsync(request, cancellationToken).ConfigureAwait(false);
        EnsureSuccess(response, $"token for {repository}");
        var body = await ReadBoundedAsync(response, 1024 * 1024, "token response", cancellationToken).ConfigureAwait(false);
        TokenResponse? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize(body, RegistryJsonContext.Default.TokenResponse);
        }
        catch (JsonException e)
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, $"token endpoint of {registry} answered malformed JSON", inner: e);
        }

        var token = parsed?.Token ?? parsed?.AccessToken;
        if (string.IsNullOrEmpty(token))
        {
            throw new RegistryException(RegistryFailure.Unauthorized, $"token endpoint of {registry} answered without a token");
        }

        // The token spec's default lifetime is 60 seconds; renew a little early.
        var lifetime = TimeSpan.FromSeconds(Math.Clamp(parsed!.ExpiresIn ?? 60, 10, 3600) - 5);
        return new CachedToken(token, DateTimeOffset.UtcNow + lifetime);
    }

    /// <summary>Parses <c>key="value",key2="value, with comma"</c> from a WWW-Authenticate header.</summary>
    internal static Dictionary<string, string> ParseChallenge(string parameters)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var i = 0;
        while (i < parameters.Length)
        {
            while (i < parameters.Length && (parameters[i] == ',' || char.IsWhiteSpace(parameters[i])))
            {
                i++;
            }

            var eq = parameters.IndexOf('=', i);
            if (eq < 0)
            {
                break;
            }

            var key = parameters[i..eq].Trim();
            i = eq + 1;
            while (i < parameters.Length && char.IsWhiteSpace(parameters[i]))
            {
                i++;
            }

            string value;
            if (i < parameters.Length && parameters[i] == '"')
            {
                var sb = new System.Text.StringBuilder();
                i++;
                while (i < parameters.Length && parameters[i] != '"')
                {
                    if (parameters[i] == '\\' && i + 1 < parameters.Length)
                    {
                        i++;
                    }

                    sb.Append(parameters[i]);
                    i++;
                }

                i++;
                value = sb.ToString();
            }
            else
            {
                var end = parameters.IndexOf(',', i);
                if (end < 0)
                {
                    end = parameters.Length;
                }

                value = parameters[i..end].Trim();
                i = end;
            }

            result[key] = value;
        }

        return result;
    }

    private static void EnsureSuccess(HttpResponseMessage response, string what)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var status = response.StatusCode;
        var failure = status switch
        {
            HttpStatusCode.NotFound => RegistryFailure.NotFound,
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => RegistryFailure.Unauthorized,
            HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout => RegistryFailure.Unavailable,
            >= HttpStatusCode.InternalServerError => RegistryFailure.Unavailable,
            _ => RegistryFailure.InvalidResponse,
        };
        var authority = response.RequestMessage?.RequestUri?.Authority;
        throw new RegistryException(failure, $"registry {authority} answered {(int)status} {response.ReasonPhrase} for {what}", status);
    }

    private static bool IsRedirect(HttpStatusCode status) =>
        status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    private static async Task<byte[]> ReadBoundedAsync(HttpResponseMessage response, long maxBytes, string what, CancellationToken cancellationToken)
    {
        var declared = response.Content.Headers.ContentLength;
        if (declared > maxBytes)
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, $"{what} is {declared} bytes, more than the limit of {maxBytes}");
        }

        try
        {
            using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            using var buffer = new MemoryStream(declared is > 0 ? (int)declared.Value : 4096);
            var chunk = new byte[16 * 1024];
            int read;
            while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > maxBytes)
                {
                    throw new RegistryException(RegistryFailure.InvalidResponse, $"{what} is larger than the limit of {maxBytes} bytes");
                }

                buffer.Write(chunk, 0, read);
            }

            return buffer.ToArray();
        }
        catch (IOException e)
        {
            throw new RegistryException(RegistryFailure.Unavailable, $"connection lost while reading {what}: {e.Message}", inner: e);
        }
        catch (HttpRequestException e)
        {
            throw new RegistryException(RegistryFailure.Unavailable, $"connection lost while reading {what}: {e.Message}", inner: e);
        }
    }

    private static string? ReadMediaTypeField(byte[] content)
    {
        try
        {
            using var document = JsonDocument.Parse(content);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("mediaType", out var mt) && mt.ValueKind == JsonValueKind.String
                ? mt.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Dispose() => _http.Dispose();

    private sealed record CachedToken(string Token, DateTimeOffset ExpiresAt);
}
