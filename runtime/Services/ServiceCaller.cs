using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using PolicyCompiler.Runtime.Engine;

namespace PolicyCompiler.Runtime.Services;

/// <summary>Limits of calls to services outside the API server (rule context <c>apiCall.service</c>).</summary>
public sealed record ServiceCallOptions
{
    /// <summary>Answers larger than this fail the call. Kyverno's admission controller defaults to 10 MB as well.</summary>
    public long MaxResponseBytes { get; init; } = 10_000_000;

    /// <summary>
    /// One call's limit. The engine gives a rule's whole context a shorter deadline inside the review's own
    /// (<see cref="AdmissionEngine.ContextLoadTimeout"/>), which wins when it comes first.
    /// </summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// When not empty, the only URLs that may be called: each entry's scheme, host and port, and its path or a path
    /// below it (Kyverno's <c>--httpAllowlist</c>). A URL whose host a variable gives (from the request, say) can then not
    /// be pointed anywhere else, such as a cloud metadata endpoint, with the policy's headers.
    /// </summary>
    public IReadOnlyList<Uri> Allowlist { get; init; } = [];
}

/// <summary>
/// Sends <c>apiCall.service</c> calls. Only what the policy wrote goes out: its URL, its headers, its JSON body. The
/// webhook's service-account token, registry credentials or cookies are never added (Kyverno may add a token of its own;
/// a policy that needs one writes the header). A <c>caBundle</c> is the only trust for its call, as in Kyverno; without one
/// the system roots are. Redirects are not followed: a header written for one service (an API key) would go to another.
/// </summary>
public sealed class ServiceCaller : IServiceCallSource, IDisposable
{
    // Bundles come from policies, possibly through variables: a few clients are kept, beyond that each call gets its own.
    private const int MaxKeptClients = 32;

    private readonly ServiceCallOptions _options;
    private readonly ConcurrentDictionary<string, HttpClient> _clients = new(StringComparer.Ordinal);

    public ServiceCaller(ServiceCallOptions? options = null)
    {
        _options = options ?? new ServiceCallOptions();
        if (_options.MaxResponseBytes <= 0)
        {
            throw new ArgumentException("the maximum response size of service calls must be positive", nameof(options));
        }
    }

    public async ValueTask<JsonElement> CallAsync(ServiceCallRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var where = Describe(request.Url);
        if (_options.Allowlist.Count > 0 && !_options.Allowlist.Any(entry => Allows(entry, request.Url)))
        {
            throw new ContextDataException($"{where} is not permitted: no Context:ServiceAllowlist entry matches it", isTransient: false);
        }

        var (client, owned) = ClientFor(request.CaBundle);
        try
        {
            using var message = new HttpRequestMessage(new HttpMethod(request.Method), request.Url);
            message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            if (request.Body is not null)
            {
                message.Content = new StringContent(request.Body, Encoding.UTF8, "application/json");
            }

            foreach (var (key, value) in request.Headers)
            {
                // Kyverno adds each header as written; Content-Type belongs to the body in .NET's model.
                if (message.Content is not null && key.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
                {
                    message.Content.Headers.Remove("Content-Type");
                    message.Content.Headers.TryAddWithoutValidation(key, value);
                }
                else if (!message.Headers.TryAddWithoutValidation(key, value) && message.Content is not null)
                {
                    message.Content.Headers.TryAddWithoutValidation(key, value);
                }
            }

            using var response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            var code = (int)response.StatusCode;
            if (code is < 200 or >= 300)
            {
                var excerpt = await ExcerptAsync(response, cancellationToken).ConfigureAwait(false);
                var transient = code >= 500 || response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout;
                throw new ContextDataException($"HTTP {code} {response.ReasonPhrase} from {where}{excerpt}", transient);
            }

            var body = await HttpBody.ReadAtMostAsync(response, _options.MaxResponseBytes, cancellationToken).ConfigureAwait(false)
                ?? throw new ContextDataException($"the answer of {where} is larger than the {_options.MaxResponseBytes} bytes allowed", isTransient: false);
            try
            {
                using var document = JsonDocument.Parse(body);
                return document.RootElement.Clone();
            }
            catch (JsonException)
            {
                throw new ContextDataException($"the answer of {where} is not JSON", isTransient: false);
            }
        }
        catch (HttpRequestException e)
        {
            throw new ContextDataException($"{where} could not be reached ({Reason(e)})", isTransient: true, e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ContextDataException($"{where} did not answer within {_options.Timeout.TotalSeconds}s", isTransient: true, e);
        }
        catch (IOException e)
        {
            throw new ContextDataException($"the answer of {where} could not be read ({e.GetType().Name})", isTransient: true, e);
        }
        finally
        {
            if (owned)
            {
                client.Dispose();
            }
        }
    }

    private static bool Allows(Uri entry, Uri url)
    {
        if (!entry.Scheme.Equals(url.Scheme, StringComparison.OrdinalIgnoreCase) || !entry.IdnHost.Equals(url.IdnHost, StringComparison.OrdinalIgnoreCase) || entry.Port != url.Port)
        {
            return false;
        }

        // Both paths as Uri normalised them (dot segments removed), compared at segment boundaries.
        var prefix = entry.AbsolutePath.TrimEnd('/');
        var path = url.AbsolutePath;
        return prefix.Length == 0 || path == prefix || path.StartsWith(prefix + "/", StringComparison.Ordinal);
    }

    /// <summary>Scheme, host, port and path: queries can carry tokens, and messages reach the denial and the logs.</summary>
    private static string Describe(Uri url) => url.GetLeftPart(UriPartial.Path);

    private static string Reason(HttpRequestException e) =>
        e.InnerException is System.Security.Authentication.AuthenticationException
            ? "its TLS certificate is not trusted" + (e.InnerException.Message.Length > 0 ? ": " + e.InnerException.Message : string.Empty)
            : e.HttpRequestError.ToString();

    private (HttpClient Client, bool Owned) ClientFor(string? caBundle)
    {
        var key = caBundle ?? string.Empty;
        if (_clients.TryGetValue(key, out var kept))
        {
            return (kept, false);
        }

        var client = Create(caBundle);
        if (_clients.Count >= MaxKeptClients)
        {
            return (client, true);
        }

        if (_clients.TryAdd(key, client))
        {
            return (client, false);
        }

        client.Dispose();
        return (_clients[key], false);
    }

    private HttpClient Create(string? caBundle)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = true,
            Credentials = null,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = _options.Timeout,
        };
        if (caBundle is not null)
        {
            var roots = new X509Certificate2Collection();
            try
            {
                roots.ImportFromPem(caBundle);
            }
            catch (CryptographicException e)
            {
                handler.Dispose();
                throw new ContextDataException("caBundle is not PEM certificates: " + e.Message, isTransient: false, e);
            }

            if (roots.Count == 0)
            {
                handler.Dispose();
                throw new ContextDataException("caBundle holds no PEM certificate", isTransient: false);
            }

            // Go's TLS client, which Kyverno calls with, reads no revocation lists either; a private CA seldom publishes one.
            handler.SslOptions.CertificateChainPolicy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            handler.SslOptions.CertificateChainPolicy.CustomTrustStore.AddRange(roots);
        }

        return new HttpClient(handler) { Timeout = _options.Timeout, MaxResponseContentBufferSize = int.MaxValue };
    }

    /// <summary>The start of an error answer, as Kyverno quotes it, on one line and short.</summary>
    private static async Task<string> ExcerptAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var bytes = await HttpBody.ReadAtMostAsync(response, 64 * 1024, cancellationToken).ConfigureAwait(false);
            if (bytes is null || bytes.Length == 0)
            {
                return string.Empty;
            }

            var text = Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, 200)).ReplaceLineEndings(" ").Trim();
            return text.Length == 0 ? string.Empty : ": " + text;
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            return string.Empty;
        }
    }

    public void Dispose()
    {
        foreach (var client in _clients.Values)
        {
            client.Dispose();
        }

        _clients.Clear();
    }
}
