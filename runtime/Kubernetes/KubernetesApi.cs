using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace PolicyCompiler.Runtime.Kubernetes;

/// <summary>A read failed; <see cref="NotFound"/> when the object does not exist. Messages never carry tokens or bodies.</summary>
public sealed class KubernetesApiException(string message, bool notFound = false, Exception? inner = null) : Exception(message, inner)
{
    public bool NotFound { get; } = notFound;
}

/// <summary>
/// The few reads the host makes from the Kubernetes API (namespaces for <c>namespaceSelector</c>, Secrets for keys):
/// bounded GETs with the service-account token, trusting the cluster CA.
/// </summary>
/// <remarks>
/// A handful of GETs with a bearer token does not justify KubernetesClient.Aot: linking it grew the NativeAOT binary from
/// 15.2 to 35.7 MiB (measured; see the README), against the image-size target.
/// </remarks>
public sealed class KubernetesApi : IDisposable
{
    private const string ServiceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount";
    private const int MaxResponseBytes = 1 << 20;

    private readonly HttpClient _http;
    private readonly Uri _server;
    private readonly string? _tokenFile;

    public KubernetesApi(Uri server, string? tokenFile, string? caFile)
    {
        ArgumentNullException.ThrowIfNull(server);
        _server = server;
        _tokenFile = tokenFile;
        var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
        if (!string.IsNullOrEmpty(caFile))
        {
            // The API server's certificate is issued by the cluster CA, trusted for this client only.
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(caFile);
            handler.SslOptions.CertificateChainPolicy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust };
            handler.SslOptions.CertificateChainPolicy.CustomTrustStore.AddRange(roots);
        }

        _http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
    }

    /// <summary>The Pod's own service account when running in a cluster; null elsewhere.</summary>
    public static KubernetesApi? InCluster()
    {
        var host = Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST");
        var port = Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_PORT");
        if (string.IsNullOrEmpty(host) || string.IsNullOrEmpty(port) || !File.Exists(Path.Combine(ServiceAccountDirectory, "token")))
        {
            return null;
        }

        var authority = host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{port}" : $"{host}:{port}";
        return new KubernetesApi(new Uri("https://" + authority), Path.Combine(ServiceAccountDirectory, "token"), Path.Combine(ServiceAccountDirectory, "ca.crt"));
    }

    /// <summary>The namespace this Pod runs in (its service account's), or null outside a cluster.</summary>
    public static string? InClusterNamespace()
    {
        var file = Path.Combine(ServiceAccountDirectory, "namespace");
        return File.Exists(file) ? File.ReadAllText(file).Trim() : null;
    }

    /// <summary>
    /// The <c>data</c> of Secret <paramref name="key"/> (<c>namespace/name</c>), with the Secret's name for messages.
    /// A Secret without data reads as empty; a missing one throws with <see cref="KubernetesApiException.NotFound"/>.
    /// </summary>
    public async Task<(JsonElement Data, string What)> GetSecretDataAsync(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        var (ns, name) = (key[..slash], key[(slash + 1)..]);
        var what = $"secret {ns}/{name}";
        using var document = await GetAsync($"/api/v1/namespaces/{Uri.EscapeDataString(ns)}/secrets/{Uri.EscapeDataString(name)}", what).ConfigureAwait(false);
        var data = document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("data", out var found) && found.ValueKind == JsonValueKind.Object
            ? found.Clone()
            : default;
        return (data, what);
    }

    /// <summary>GETs <paramref name="path"/> (escaped by the caller) and parses the object; throws <see cref="KubernetesApiException"/>.</summary>
    public Task<JsonDocument> GetAsync(string path, string what) => SendAsync(HttpMethod.Get, path, null, what);

    /// <summary>
    /// Sends <paramref name="method"/> to <paramref name="path"/> (escaped by the caller), with a JSON body when one is
    /// given, and parses the answer; throws <see cref="KubernetesApiException"/>.
    /// </summary>
    public async Task<JsonDocument> SendAsync(HttpMethod method, string path, string? jsonBody, string what)
    {
        using var request = new HttpRequestMessage(method, new Uri(_server, path));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (jsonBody is not null)
        {
            request.Content = new StringContent(jsonBody, System.Text.Encoding.UTF8, "application/json");
        }

        try
        {
            if (_tokenFile is not null)
            {
                // Bound service-account tokens rotate; the kubelet rewrites the file, so it is read for every request.
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(_tokenFile).ConfigureAwait(false)).Trim());
            }

            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                throw new KubernetesApiException($"{what} does not exist", notFound: true);
            }

            if (!response.IsSuccessStatusCode)
            {
                throw new KubernetesApiException($"the API server answered {(int)response.StatusCode} to the read of {what}");
            }

            var body = await HttpBody.ReadAtMostAsync(response, MaxResponseBytes, CancellationToken.None).ConfigureAwait(false)
                ?? throw new KubernetesApiException("the API server's answer is larger than 1 MiB");
            return JsonDocument.Parse(body);
        }
        catch (HttpRequestException e)
        {
            throw new KubernetesApiException($"the API server is unreachable ({e.HttpRequestError})", inner: e);
        }
        catch (TaskCanceledException e)
        {
            throw new KubernetesApiException("the API server did not answer within 10s", inner: e);
        }
        catch (JsonException e)
        {
            throw new KubernetesApiException("the API server's answer is not JSON", inner: e);
        }
        catch (IOException e)
        {
            throw new KubernetesApiException("the service account token or the connection could not be read: " + e.GetType().Name, inner: e);
        }
    }

    public void Dispose() => _http.Dispose();
}
