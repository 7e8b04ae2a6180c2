using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography;
using System.Text.Json;

namespace PolicyCompiler.Runtime.Registry;

/// <summary>
/// A small client for the OCI distribution API: manifests and blobs, read with bounded size, every piece of
/// content hashed and compared with the digest it was asked for. Authenticates as registries ask (Basic, or the
/// registry token protocol with anonymous, basic or refresh-token requests to the realm), with credentials from
/// an <see cref="IRegistryCredentialProvider"/>; trusts the system roots and a configured CA bundle; retries 429, 5xx
/// and dropped connections with exponential backoff that honours <c>Retry-After</c> and ends at the caller's deadline.
/// One instance per process: it owns the connection pool and the token cache.
/// </summary>
public sealed class RegistryClient : IDisposable
{
    /// <summary>The <c>client_id</c> sent with refresh-token requests (the token spec requires one).</summary>
    public const string ClientId = "policy-compiler";

    private const int MaxTokenResponseBytes = 1024 * 1024;

    /// <summary>Tokens are renewed this long before the expiry the token endpoint announced.</summary>
    private static readonly TimeSpan s_tokenExpiryMargin = TimeSpan.FromSeconds(5);

    private readonly HttpClient _http;
    private readonly RegistryOptions _options;
    private readonly IRegistryCredentialProvider _credentials;
    private readonly TimeProvider _time;
    private readonly Telemetry.WebhookMetrics? _metrics;
    private readonly ConcurrentDictionary<string, CachedToken> _tokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _basicRegistries = new(StringComparer.OrdinalIgnoreCase);

    public RegistryClient(RegistryOptions options, Telemetry.WebhookMetrics? metrics = null)
        : this(options, handler: null, credentials: null, metrics, time: null)
    {
    }

    public RegistryClient(RegistryOptions options, HttpMessageHandler handler, Telemetry.WebhookMetrics? metrics = null)
        : this(options, handler ?? throw new ArgumentNullException(nameof(handler)), credentials: null, metrics, time: null)
    {
    }

    /// <param name="handler">The HTTP stack; null for the production one (TLS with <see cref="RegistryOptions.CaBundleFile"/>, pooled connections).</param>
    /// <param name="credentials">Where credentials come from; null reads <see cref="RegistryOptions.CredentialFiles"/>.</param>
    public RegistryClient(RegistryOptions options, HttpMessageHandler? handler, IRegistryCredentialProvider? credentials, Telemetry.WebhookMetrics? metrics, TimeProvider? time)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _metrics = metrics;
        _time = time ?? TimeProvider.System;
        Trust = string.IsNullOrWhiteSpace(options.CaBundleFile) ? new RegistryTrust() : RegistryTrust.FromBundleFile(options.CaBundleFile);
        _credentials = credentials
            ?? (options.CredentialFiles.Count > 0 ? RegistryCredentialStore.FromOptions(options, _time) : NoRegistryCredentials.Instance);
        _http = new HttpClient(handler ?? CreateHandler(options, Trust), disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("PolicyCompiler", "0.1"));
        DelayAsync = (delay, cancellationToken) => Task.Delay(delay, _time, cancellationToken);
    }

    public RegistryOptions Options => _options;

    /// <summary>The cloud credential helpers <c>imageRegistryCredentials.providers</c> may name; none when not set.</summary>
    public Cloud.ICloudRegistryCredentials? CloudCredentials { get; init; }

    /// <summary>The TLS trust of the production handler (system roots plus the CA bundle).</summary>
    public RegistryTrust Trust { get; }

    /// <summary>How the client waits between attempts; tests replace it to see the waits without waiting.</summary>
    internal Func<TimeSpan, CancellationToken, Task> DelayAsync { get; set; }

    private static SocketsHttpHandler CreateHandler(RegistryOptions options, RegistryTrust trust) => new()
    {
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = options.ConnectTimeout,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        MaxConnectionsPerServer = 32,
        UseCookies = false,
        UseProxy = true,
        SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = trust.Validate },
    };

    /// <summary>
    /// Fetches a manifest by tag or digest. When <paramref name="reference"/> is a digest, the content must hash to it.
    /// For a tag, the digest is that of what the tag serves: an image index or manifest list stays the index (cosign
    /// signs the index of a multi-platform image).
    /// </summary>
    public async Task<ManifestResponse> GetManifestAsync(string registry, string repository, string reference, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(reference);
        var what = $"manifest {repository}:{reference}";
        var (content, mediaType) = await WithRetriesAsync(async () =>
        {
            var uri = BuildUri(registry, $"/v2/{repository}/manifests/{reference}");
            using var response = await SendAuthenticatedAsync(registry, repository, uri, MediaTypes.ManifestAccept, cancellationToken).ConfigureAwait(false);
            EnsureSuccess(response, what);
            var bytes = await ReadBoundedAsync(response, _options.MaxManifestBytes, what, cancellationToken).ConfigureAwait(false);
            return (bytes, response.Content.Headers.ContentType?.MediaType);
        }, cancellationToken).ConfigureAwait(false);

        var colon = reference.IndexOf(':', StringComparison.Ordinal);
        var byDigest = colon > 0 && Images.ImageReference.IsValidDigest(reference);
        var digest = ComputeDigest(content, byDigest ? reference[..colon] : "sha256");
        if (byDigest && !string.Equals(digest, reference, StringComparison.Ordinal))
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, $"registry {registry} served manifest content for {repository}@{reference} that hashes to {digest}");
        }

        return new ManifestResponse(content, mediaType ?? ReadMediaTypeField(content) ?? string.Empty, digest);
    }

    /// <summary>
    /// The OCI 1.1 referrers of <paramref name="digest"/>: from the referrers API, or, where the registry lacks it
    /// (distribution 2.x answers 404), from the referrers tag schema (<c>sha256-&lt;hex&gt;</c> holding an index).
    /// Empty when there are none. The index is only a listing: each referrer manifest is fetched and checked later.
    /// </summary>
    public async Task<IReadOnlyList<OciDescriptor>> GetReferrersAsync(string registry, string repository, string digest, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(digest);
        if (!Images.ImageReference.IsValidDigest(digest))
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, $"'{digest}' is not a valid digest");
        }

        var what = $"referrers of {repository}@{digest}";
        var listing = await WithRetriesAsync(async () =>
        {
            var uri = BuildUri(registry, $"/v2/{repository}/referrers/{digest}");
            using var response = await SendAuthenticatedAsync(registry, repository, uri, MediaTypes.OciIndex, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed or HttpStatusCode.BadRequest)
            {
                return null;
            }

            EnsureSuccess(response, what);
            return await ReadBoundedAsync(response, _options.MaxManifestBytes, what, cancellationToken).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);

        if (listing is null)
        {
            try
            {
                listing = (await GetManifestAsync(registry, repository, digest.Replace(':', '-'), cancellationToken).ConfigureAwait(false)).Content;
            }
            catch (RegistryException e) when (e.Failure == RegistryFailure.NotFound)
            {
                return [];
            }
        }

        try
        {
            return JsonSerializer.Deserialize(listing, RegistryJsonContext.Default.OciIndex)?.Manifests ?? [];
        }
        catch (JsonException)
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, $"{what} are not a valid OCI index");
        }
    }

    /// <summary>Fetches a blob; its content must hash to <paramref name="digest"/> and fit in <paramref name="maxBytes"/>.</summary>
    public async Task<byte[]> GetBlobAsync(string registry, string repository, string digest, long maxBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(repository);
        if (!Images.ImageReference.IsValidDigest(digest))
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, $"'{digest}' is not a valid blob digest");
        }

        var what = $"blob {repository}@{digest}";
        var content = await WithRetriesAsync(() => FetchBlobOnceAsync(registry, repository, digest, maxBytes, what, cancellationToken), cancellationToken).ConfigureAwait(false);
        var actual = ComputeDigest(content, digest[..digest.IndexOf(':', StringComparison.Ordinal)]);
        if (!string.Equals(actual, digest, StringComparison.Ordinal))
        {
            throw new RegistryException(RegistryFailure.InvalidResponse, $"registry {registry} served blob content for {digest} that hashes to {actual}");
        }

        return content;
    }

    private async Task<byte[]> FetchBlobOnceAsync(string registry, string repository, string digest, long maxBytes, string what, CancellationToken cancellationToken)
    {
        var uri = BuildUri(registry, $"/v2/{repository}/blobs/{digest}");
        var response = await SendAuthenticatedAsync(registry, repository, uri, accept: null, cancellationToken).ConfigureAwait(false);
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

            EnsureSuccess(response, what);
            return await ReadBoundedAsync(response, maxBytes, what, cancellationToken).ConfigureAwait(false);
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
        var scheme = IsInsecure(registry) ? "http" : "https";
        return new Uri($"{scheme}://{endpoint}{path}", UriKind.Absolute);
    }

    // ---- retries -------------------------------------------------------------------------------------------------

    /// <summary>
    /// Runs one read (request, redirects, body) up to <see cref="RegistryOptions.MaxAttempts"/> times while it fails
    /// in a way that may pass (429, 5xx, a dropped connection). Every read is a GET: repeating it changes nothing.
    /// </summary>
    private async Task<T> WithRetriesAsync<T>(Func<Task<T>> attempt, CancellationToken cancellationToken)
    {
        for (var number = 1; ; number++)
        {
            try
            {
                return await attempt().ConfigureAwait(false);
            }
            catch (RegistryException e) when (e.Retryable && number < _options.MaxAttempts)
            {
                var delay = RetryDelay(number, e.RetryAfter);
                if (delay is null)
                {
                    throw new RegistryException(e.Failure, $"{e.Message}; it asked to retry after {e.RetryAfter!.Value.TotalSeconds:F0}s, longer than Registry:MaxRetryDelay", e.StatusCode, e);
                }

                try
                {
                    await DelayAsync(delay.Value, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    throw new RegistryException(e.Failure, $"{e.Message} (attempt {number}; the admission deadline came before the next retry)", e.StatusCode, e);
                }
            }
        }
    }

    /// <summary>
    /// Exponential backoff with jitter (half fixed, half random), never shorter than the registry's
    /// <c>Retry-After</c>; null when <c>Retry-After</c> asks for more than <see cref="RegistryOptions.MaxRetryDelay"/>.
    /// </summary>
    internal TimeSpan? RetryDelay(int attempt, TimeSpan? retryAfter)
    {
        if (retryAfter > _options.MaxRetryDelay)
        {
            return null;
        }

        var exponential = _options.RetryBaseDelay * Math.Pow(2, Math.Min(attempt - 1, 16));
        if (exponential > _options.MaxRetryDelay)
        {
            exponential = _options.MaxRetryDelay;
        }

        var jittered = (exponential / 2) + (exponential / 2 * Random.Shared.NextDouble());
        return retryAfter is { } asked && asked > jittered ? asked : jittered;
    }

    /// <summary>
    /// Plain HTTP for a registry configured as insecure, or for any registry of an entry with
    /// <c>imageRegistryCredentials.allowInsecureRegistry</c> (credentials still never go over HTTP to another host).
    /// </summary>
    private bool IsInsecure(string registry) => _options.IsInsecure(registry) || RegistryCredentialScope.Current is { AllowInsecure: true };

    // ---- authentication ------------------------------------------------------------------------------------------

    /// <summary>
    /// The credential a cloud helper the entry names gives for the registry (after its Secrets and the Pod's pull
    /// secrets, as Kyverno chains its keychains); a helper that cannot be asked makes the call an outage, not anonymous.
    /// </summary>
    private async Task<RegistryCredential?> FindCloudCredentialAsync(string registry, CancellationToken cancellationToken)
    {
        // A cloud identity's token never travels over plain HTTP: a registry reached that way is not offered one.
        if (RegistryCredentialScope.Current is not { Providers.Count: > 0 } scope || CloudCredentials is null || IsInsecure(registry))
        {
            return null;
        }

        try
        {
            return await CloudCredentials.FindAsync(registry, scope.Providers, cancellationToken).ConfigureAwait(false);
        }
        catch (Cloud.CloudException e)
        {
            throw new RegistryException(e.IsTransient ? RegistryFailure.Unavailable : RegistryFailure.Unauthorized, $"registry credentials for {registry}: {e.Message}", inner: e);
        }
    }

    /// <summary>
    /// Sends a GET with what the registry accepted last time (a cached token for this repository and scope, or Basic
    /// credentials for a registry that asked for Basic), and on 401 answers its challenge once.
    /// </summary>
    private async Task<HttpResponseMessage> SendAuthenticatedAsync(string registry, string repository, Uri uri, string? accept, CancellationToken cancellationToken)
    {
        // A review's own pull secrets come first, as the kubelet would use them for this Pod.
        var credential = RegistryCredentialScope.Find(registry, repository)
            ?? await FindCloudCredentialAsync(registry, cancellationToken).ConfigureAwait(false)
            ?? _credentials.Find(registry, repository);
        var scope = $"repository:{repository}:pull";

        // Tokens are kept per credential: one obtained with a Pod's pull secret must not serve a review without it.
        var tokenKey = registry + "|" + repository + "|" + scope + "|" + (credential?.Id ?? "anonymous");

        AuthenticationHeaderValue? authorization = null;
        var usedCachedToken = false;
        if (_tokens.TryGetValue(tokenKey, out var cached))
        {
            if (cached.ExpiresAt > _time.GetUtcNow())
            {
                authorization = new AuthenticationHeaderValue("Bearer", cached.Token);
                usedCachedToken = true;
            }
            else
            {
                _tokens.TryRemove(KeyValuePair.Create(tokenKey, cached));
            }
        }

        if (authorization is null && credential is not null)
        {
            if (credential.HasBasic && _basicRegistries.ContainsKey(registry))
            {
                authorization = new AuthenticationHeaderValue("Basic", credential.BasicParameter());
            }
            else if (credential.RegistryToken is { } registryToken)
            {
                authorization = new AuthenticationHeaderValue("Bearer", registryToken);
            }
        }

        var response = await SendOnceAsync(uri, accept, authorization, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Unauthorized)
        {
            return response;
        }

        var challenges = response.Headers.WwwAuthenticate.ToList();
        response.Dispose();
        if (usedCachedToken)
        {
            _tokens.TryRemove(tokenKey, out _);
        }

        string? withheld = null;
        AuthenticationHeaderValue next;
        var bearer = challenges.FirstOrDefault(c => string.Equals(c.Scheme, "Bearer", StringComparison.OrdinalIgnoreCase) && c.Parameter is not null);
        if (bearer is not null)
        {
            var token = await FetchTokenAsync(registry, repository, scope, bearer.Parameter!, credential, cancellationToken).ConfigureAwait(false);
            withheld = token.WithheldReason;
            if (token.ExpiresAt > _time.GetUtcNow())
            {
                _tokens[tokenKey] = token;
            }

            next = new AuthenticationHeaderValue("Bearer", token.Token);
        }
        else if (challenges.Any(c => string.Equals(c.Scheme, "Basic", StringComparison.OrdinalIgnoreCase)))
        {
            _basicRegistries[registry] = true;
            if (credential is null || !credential.HasBasic)
            {
                throw Unauthorized(registry, repository, credential, withheld: null);
            }

            if (string.Equals(authorization?.Scheme, "Basic", StringComparison.Ordinal))
            {
                throw Rejected(registry, repository, credential);
            }

            next = new AuthenticationHeaderValue("Basic", credential.BasicParameter());
        }
        else
        {
            throw new RegistryException(RegistryFailure.Unauthorized, $"registry {registry} answered 401 for {repository} without a Basic or Bearer challenge", HttpStatusCode.Unauthorized);
        }

        response = await SendOnceAsync(uri, accept, next, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Unauthorized)
        {
            return response;
        }

        response.Dispose();
        _tokens.TryRemove(tokenKey, out _);
        throw credential is null || withheld is not null ? Unauthorized(registry, repository, credential, withheld) : Rejected(registry, repository, credential);
    }

    private static RegistryException Unauthorized(string registry, string repository, RegistryCredential? credential, string? withheld) =>
        new(
            RegistryFailure.Unauthorized,
            withheld is not null
                ? $"registry {registry} requires authentication for {repository}; {withheld}"
                : credential is null
                    ? $"registry {registry} requires authentication for {repository}, and no credentials are configured for it (Registry:CredentialFiles)"
                    : $"registry {registry} requires authentication for {repository}, and the {credential.Kind} configured for it cannot answer its challenge",
            HttpStatusCode.Unauthorized);

    private static RegistryException Rejected(string registry, string repository, RegistryCredential credential) =>
        new(RegistryFailure.Unauthorized, $"registry {registry} rejected the {credential.Kind} configured for it (authentication failed for {repository})", HttpStatusCode.Unauthorized);

    private async Task<HttpResponseMessage> SendOnceAsync(Uri uri, string? accept, AuthenticationHeaderValue? authorization, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (accept is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept", accept);
        }

        request.Headers.Authorization = authorization;
        return await SendRawAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The registry token protocol (distribution's docs/spec/auth/token.md and oauth.md): a GET to the realm with
    /// Basic credentials (or none), or a POST with <c>grant_type=refresh_token</c> for an identity token. Credentials
    /// go to an HTTPS realm, or to a plain-HTTP realm only when it is the registry itself or is itself configured
    /// insecure; otherwise the token is requested anonymously.
    /// </summary>
    private async Task<CachedToken> FetchTokenAsync(string registry, string repository, string scope, string challengeParameters, RegistryCredential? credential, CancellationToken cancellationToken)
    {
        var parameters = ParseChallenge(challengeParameters);
        if (!parameters.TryGetValue("realm", out var realm) || !Uri.TryCreate(realm, UriKind.Absolute, out var realmUri)
            || (realmUri.Scheme != Uri.UriSchemeHttps && realmUri.Scheme != Uri.UriSchemeHttp))
        {
            throw new RegistryException(RegistryFailure.Unauthorized, $"registry {registry} sent a Bearer challenge without a usable realm");
        }

        string? withheld = null;
        if (realmUri.Scheme == Uri.UriSchemeHttp)
        {
            if (!IsInsecure(registry))
            {
                throw new RegistryException(RegistryFailure.Unauthorized, $"registry {registry} names a token realm that is not HTTPS: {realmUri.GetLeftPart(UriPartial.Path)}");
            }

            var registryUri = BuildUri(registry, "/v2/");
            var sameEndpoint = string.Equals(realmUri.Authority, registryUri.Authority, StringComparison.OrdinalIgnoreCase);
            if (credential is not null && !sameEndpoint && !_options.IsInsecure(realmUri.Authority))
            {
                withheld = $"its credentials were not sent to the plain-HTTP token realm on another host ({realmUri.Authority})";
                credential = null;
            }
        }

        // A cloud helper's credential is for the registry it was made for (ghcr.io, ACR and Google registries name
        // themselves as their realm): a realm elsewhere gets an anonymous request.
        if (credential?.CloudProvider is { } provider
            && (realmUri.Scheme != Uri.UriSchemeHttps || !string.Equals(realmUri.IdnHost, BuildUri(registry, "/v2/").IdnHost, StringComparison.OrdinalIgnoreCase)))
        {
            withheld = $"its {provider} credentials were not sent to the token realm on another host ({realmUri.Authority})";
            credential = null;
        }

        parameters.TryGetValue("service", out var service);
        using var request = credential?.IdentityToken is { } refreshToken
            ? RefreshTokenRequest(realmUri, service, scope, refreshToken)
            : BasicTokenRequest(realmUri, service, scope, credential);

        var what = $"token for {repository} from {realmUri.Authority}";
        using var response = await SendRawAsync(request, cancellationToken).ConfigureAwait(false);
        // OAuth 2.0 answers a refresh token it does not accept with 400 invalid_grant.
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden
            || (response.StatusCode == HttpStatusCode.BadRequest && request.Method == HttpMethod.Post))
        {
            throw credential is null
                ? Unauthorized(registry, repository, null, withheld)
                : new RegistryException(RegistryFailure.Unauthorized, $"the token endpoint of registry {registry} rejected the {credential.Kind} configured for it (authentication failed for {repository})", response.StatusCode);
        }

        // A refresh-token POST is not repeated: only GETs are retried.
        EnsureSuccess(response, what, retryable: request.Method == HttpMethod.Get);
        var body = await ReadBoundedAsync(response, MaxTokenResponseBytes, "token response", cancellationToken).ConfigureAwait(false);
        TokenResponse? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize(body, RegistryJsonContext.Default.TokenResponse);
        }
        catch (JsonException)
        {
            // The JsonException is not kept as the inner exception: its message quotes the offending text, which in a
            // token response may be the token itself, and exceptions end up in logs.
            throw new RegistryException(RegistryFailure.InvalidResponse, $"token endpoint of {registry} answered malformed JSON");
        }

        // The token spec: "token", with "access_token" as the OAuth 2.0 compatible alias.
        var token = parsed?.Token is { Length: > 0 } t ? t : parsed?.AccessToken;
        if (string.IsNullOrEmpty(token))
        {
            throw new RegistryException(RegistryFailure.Unauthorized, $"token endpoint of {registry} answered without a token");
        }

        // expires_in defaults to 60 seconds; renew a little before the end.
        var lifetime = TimeSpan.FromSeconds(Math.Clamp(parsed!.ExpiresIn ?? 60, 0, 24 * 3600)) - s_tokenExpiryMargin;
        return new CachedToken(token, _time.GetUtcNow() + lifetime, withheld);
    }

    private static HttpRequestMessage BasicTokenRequest(Uri realm, string? service, string scope, RegistryCredential? credential)
    {
        var query = new List<string>();
        if (!string.IsNullOrEmpty(service))
        {
            query.Add("service=" + Uri.EscapeDataString(service));
        }

        query.Add("scope=" + Uri.EscapeDataString(scope));
        var existing = realm.Query.TrimStart('?');
        var builder = new UriBuilder(realm) { Query = (existing.Length > 0 ? existing + "&" : string.Empty) + string.Join('&', query) };
        var request = new HttpRequestMessage(HttpMethod.Get, builder.Uri);
        if (credential is { HasBasic: true })
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", credential.BasicParameter());
        }

        return request;
    }

    private static HttpRequestMessage RefreshTokenRequest(Uri realm, string? service, string scope, string refreshToken)
    {
        var form = new List<KeyValuePair<string, string>>
        {
            new("grant_type", "refresh_token"),
            new("refresh_token", refreshToken),
            new("client_id", ClientId),
            new("scope", scope),
        };
        if (!string.IsNullOrEmpty(service))
        {
            form.Add(new("service", service));
        }

        return new HttpRequestMessage(HttpMethod.Post, realm) { Content = new FormUrlEncodedContent(form) };
    }

    // ---- transport -----------------------------------------------------------------------------------------------

    private async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var authority = request.RequestUri?.Authority ?? string.Empty;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            _metrics?.RegistryRequests.Inc(authority, ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));
            return response;
        }
        catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.SecureConnectionError)
        {
            _metrics?.RegistryRequests.Inc(authority, "tls");
            var reason = Trust.LastRejection(request.RequestUri?.IdnHost ?? string.Empty) ?? e.InnerException?.Message ?? e.Message;
            throw new RegistryException(RegistryFailure.TlsFailure, $"TLS handshake with registry {authority} failed: {reason}", inner: e);
        }
        catch (HttpRequestException e)
        {
            _metrics?.RegistryRequests.Inc(authority, "unreachable");
            throw new RegistryException(RegistryFailure.Unavailable, $"registry {authority} is unreachable: {e.Message}", e.StatusCode, e)
            {
                // A name that does not resolve will not resolve in 200 ms either.
                Retryable = e.HttpRequestError != HttpRequestError.NameResolutionError,
            };
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            // The connect timeout, not the caller's deadline.
            _metrics?.RegistryRequests.Inc(authority, "unreachable");
            throw new RegistryException(RegistryFailure.Unavailable, $"registry {authority} is unreachable: connection timed out", inner: e) { Retryable = true };
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

    private void EnsureSuccess(HttpResponseMessage response, string what, bool retryable = true)
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
        var transient = status is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout
            || (status >= HttpStatusCode.InternalServerError && status is not HttpStatusCode.NotImplemented and not HttpStatusCode.HttpVersionNotSupported);
        var authority = response.RequestMessage?.RequestUri?.Authority;

        // The standard phrase for the status, never the one the server sent: a registry or proxy can put anything in
        // its reason phrase, including the Authorization header it received, and this message reaches the denial
        // that the Pod's author reads.
        using var standard = new HttpResponseMessage(status);
        throw new RegistryException(failure, $"registry {authority} answered {(int)status} {standard.ReasonPhrase} for {what}", status)
        {
            Retryable = retryable && transient,
            RetryAfter = RetryAfter(response),
        };
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        }

        if (header?.Date is { } date)
        {
            var wait = date - _time.GetUtcNow();
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }

        return null;
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
            return await HttpBody.ReadAtMostAsync(response, maxBytes, cancellationToken).ConfigureAwait(false)
                ?? throw new RegistryException(RegistryFailure.InvalidResponse, $"{what} is larger than the limit of {maxBytes} bytes");
        }
        catch (IOException e)
        {
            throw new RegistryException(RegistryFailure.Unavailable, $"connection lost while reading {what}: {e.Message}", inner: e) { Retryable = true };
        }
        catch (HttpRequestException e)
        {
            throw new RegistryException(RegistryFailure.Unavailable, $"connection lost while reading {what}: {e.Message}", inner: e) { Retryable = true };
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

    /// <summary>A bearer token; <see cref="WithheldReason"/> says why it was requested without the configured credentials.</summary>
    private sealed record CachedToken(string Token, DateTimeOffset ExpiresAt, string? WithheldReason);
}
