using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;

namespace PolicyCompiler.Runtime.Kubernetes;

/// <summary>
/// Namespace labels read from the Kubernetes API (<c>GET /api/v1/namespaces/{name}</c>) and kept for a while: labels
/// change rarely, and a review must not wait for the API server on every Pod. Concurrent misses for one namespace share
/// one request; failures are not kept.
/// </summary>
/// <remarks>
/// One GET with a bearer token does not justify KubernetesClient.Aot: linking it grew the NativeAOT binary from 15.2 to
/// 35.7 MiB (measured; see the README), against the image-size target.
/// </remarks>
public sealed class KubernetesNamespaceLabels : INamespaceLabelSource, IDisposable
{
    private const string ServiceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount";
    private const int MaxResponseBytes = 1 << 20;

    private readonly ConcurrentDictionary<string, Lazy<Task<(LabelSet Labels, DateTimeOffset Expires)>>> _cache = new(StringComparer.Ordinal);
    private readonly HttpClient _http;
    private readonly Uri _server;
    private readonly string? _tokenFile;
    private readonly TimeProvider _time;
    private readonly TimeSpan _timeToLive;

    public KubernetesNamespaceLabels(Uri server, string? tokenFile, string? caFile, TimeSpan timeToLive, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(server);
        _server = server;
        _tokenFile = tokenFile;
        _time = time;
        _timeToLive = timeToLive;
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
    public static KubernetesNamespaceLabels? InCluster(TimeSpan timeToLive, TimeProvider time)
    {
        var host = Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST");
        var port = Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_PORT");
        if (string.IsNullOrEmpty(host) || string.IsNullOrEmpty(port) || !File.Exists(Path.Combine(ServiceAccountDirectory, "token")))
        {
            return null;
        }

        var authority = host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{port}" : $"{host}:{port}";
        return new KubernetesNamespaceLabels(new Uri("https://" + authority), Path.Combine(ServiceAccountDirectory, "token"), Path.Combine(ServiceAccountDirectory, "ca.crt"), timeToLive, time);
    }

    public async ValueTask<LabelSet> GetLabelsAsync(string name, CancellationToken cancellationToken)
    {
        var entry = _cache.GetOrAdd(name, n => new(() => FetchAsync(n)));
        if (entry.Value.IsCompletedSuccessfully && entry.Value.Result.Expires <= _time.GetUtcNow())
        {
            var fresh = new Lazy<Task<(LabelSet, DateTimeOffset)>>(() => FetchAsync(name));
            entry = _cache.TryUpdate(name, fresh, entry) ? fresh : _cache.GetOrAdd(name, fresh);
        }

        try
        {
            return (await entry.Value.WaitAsync(cancellationToken).ConfigureAwait(false)).Labels;
        }
        catch (NamespaceLabelException)
        {
            _cache.TryRemove(KeyValuePair.Create(name, entry));
            throw;
        }
    }

    private async Task<(LabelSet, DateTimeOffset)> FetchAsync(string name)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_server, "/api/v1/namespaces/" + Uri.EscapeDataString(name)));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (_tokenFile is not null)
        {
            // Bound service-account tokens rotate; the kubelet rewrites the file, so it is read for every request.
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(_tokenFile).ConfigureAwait(false)).Trim());
        }

        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                throw new NamespaceLabelException($"namespace {name} does not exist");
            }

            if (!response.IsSuccessStatusCode)
            {
                throw new NamespaceLabelException($"the API server answered {(int)response.StatusCode} to the namespace read");
            }

            if (response.Content.Headers.ContentLength > MaxResponseBytes)
            {
                throw new NamespaceLabelException("the API server's answer is larger than 1 MiB");
            }

            await using var stream = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
            using var bounded = new MemoryStream();
            var buffer = new byte[16 * 1024];
            int read;
            while ((read = await stream.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                if (bounded.Length + read > MaxResponseBytes)
                {
                    throw new NamespaceLabelException("the API server's answer is larger than 1 MiB");
                }

                bounded.Write(buffer, 0, read);
            }

            using var document = JsonDocument.Parse(bounded.ToArray());
            var labels = document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("metadata", out var metadata)
                && metadata.ValueKind == JsonValueKind.Object
                && metadata.TryGetProperty("labels", out var map)
                    ? LabelSet.FromJson(map)
                    : LabelSet.Empty;
            return (labels, _time.GetUtcNow() + _timeToLive);
        }
        catch (HttpRequestException e)
        {
            throw new NamespaceLabelException($"the API server is unreachable ({e.HttpRequestError})", e);
        }
        catch (TaskCanceledException e)
        {
            throw new NamespaceLabelException("the API server did not answer within 10s", e);
        }
        catch (JsonException e)
        {
            throw new NamespaceLabelException("the API server's answer is not JSON", e);
        }
        catch (IOException e)
        {
            throw new NamespaceLabelException("the service account token or the connection could not be read: " + e.GetType().Name, e);
        }
    }

    public void Dispose() => _http.Dispose();
}
