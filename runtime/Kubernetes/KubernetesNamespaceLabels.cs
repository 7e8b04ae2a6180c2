using System.Text.Json;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;

namespace PolicyCompiler.Runtime.Kubernetes;

/// <summary>Namespace labels for <c>namespaceSelector</c>, read with <c>GET /api/v1/namespaces/{name}</c> and kept for a while.</summary>
public sealed class KubernetesNamespaceLabels : INamespaceLabelSource
{
    private readonly ExpiringReadCache<LabelSet> _cache;

    public KubernetesNamespaceLabels(KubernetesApi api, TimeSpan timeToLive, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(api);
        _cache = new ExpiringReadCache<LabelSet>(name => ReadAsync(api, name), timeToLive, time);
    }

    public async ValueTask<LabelSet> GetLabelsAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return await _cache.GetAsync(name, cancellationToken).ConfigureAwait(false);
        }
        catch (KubernetesApiException e)
        {
            throw new NamespaceLabelException(e.Message, e);
        }
    }

    private static async Task<LabelSet> ReadAsync(KubernetesApi api, string name)
    {
        using var document = await api.GetAsync("/api/v1/namespaces/" + Uri.EscapeDataString(name), "namespace " + name).ConfigureAwait(false);
        return document.RootElement.ValueKind == JsonValueKind.Object
            && document.RootElement.TryGetProperty("metadata", out var metadata)
            && metadata.ValueKind == JsonValueKind.Object
            && metadata.TryGetProperty("labels", out var map)
                ? LabelSet.FromJson(map)
                : LabelSet.Empty;
    }
}
