using System.Text.Json;
using PolicyCompiler.Runtime.Engine;

namespace PolicyCompiler.Runtime.Kubernetes;

/// <summary>
/// What rule <c>context</c> entries read from the API server: ConfigMaps (<c>GET /api/v1/namespaces/{ns}/configmaps/{name}</c>)
/// and <c>apiCall</c> paths. ConfigMaps and GET answers are kept for a while, as the other readers keep theirs; POSTs
/// (subject access reviews and the like) are sent every time.
/// </summary>
public sealed class KubernetesContextData : IContextDataSource
{
    private readonly KubernetesApi _api;
    private readonly ExpiringReadCache<JsonElement> _configMaps;
    private readonly ExpiringReadCache<JsonElement> _reads;

    public KubernetesContextData(KubernetesApi api, TimeSpan timeToLive, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(api);
        _api = api;
        _configMaps = new ExpiringReadCache<JsonElement>(ReadConfigMapAsync, timeToLive, time);
        _reads = new ExpiringReadCache<JsonElement>(path => ReadAsync(HttpMethod.Get, path, null), timeToLive, time);
    }

    public async ValueTask<JsonElement> GetConfigMapAsync(string @namespace, string name, CancellationToken cancellationToken)
    {
        try
        {
            return await _configMaps.GetAsync(@namespace + "/" + name, cancellationToken).ConfigureAwait(false);
        }
        catch (KubernetesApiException e)
        {
            throw new ContextDataException(e.Message, isTransient: !e.NotFound, e);
        }
    }

    public async ValueTask<JsonElement> CallAsync(string method, string path, string? body, CancellationToken cancellationToken)
    {
        try
        {
            return method == "POST"
                ? await ReadAsync(HttpMethod.Post, path, body ?? "{}").WaitAsync(cancellationToken).ConfigureAwait(false)
                : await _reads.GetAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (KubernetesApiException e)
        {
            throw new ContextDataException(e.Message, isTransient: !e.NotFound, e);
        }
    }

    private async Task<JsonElement> ReadConfigMapAsync(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        var (ns, name) = (key[..slash], key[(slash + 1)..]);
        using var document = await _api.GetAsync($"/api/v1/namespaces/{Uri.EscapeDataString(ns)}/configmaps/{Uri.EscapeDataString(name)}", $"configmap {ns}/{name}").ConfigureAwait(false);
        return document.RootElement.Clone();
    }

    private async Task<JsonElement> ReadAsync(HttpMethod method, string path, string? body)
    {
        using var document = await _api.SendAsync(method, path, body, path).ConfigureAwait(false);
        return document.RootElement.Clone();
    }
}
