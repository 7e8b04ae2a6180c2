using System.Text.Json;
using PolicyCompiler.Runtime.Engine;

namespace PolicyCompiler.Runtime.Kubernetes;

/// <summary>
/// RoleBindings and ClusterRoleBindings for <c>roles</c>/<c>clusterRoles</c>, listed cluster-wide through
/// <c>rbac.authorization.k8s.io/v1</c> and kept for a while; concurrent reviews share one list request.
/// </summary>
/// <remarks>
/// Kyverno reads its informers' caches of every binding in the cluster, so a RoleBinding in another namespace than the
/// request's still gives its role (and a RoleBinding to a ClusterRole anywhere gives that cluster role). Listing only
/// the request's namespace would change which rules match; the whole list is read, page by page.
/// </remarks>
public sealed class KubernetesRoleBindings : IRoleBindingSource
{
    private const string RoleBindingsPath = "/apis/rbac.authorization.k8s.io/v1/rolebindings";
    private const string ClusterRoleBindingsPath = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";
    private const int PageSize = 250;

    private readonly ExpiringReadCache<IReadOnlyList<RbacBinding>> _cache;

    public KubernetesRoleBindings(KubernetesApi api, TimeSpan timeToLive, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(api);
        _cache = new ExpiringReadCache<IReadOnlyList<RbacBinding>>(path => ListAsync(api, path), timeToLive, time);
    }

    public ValueTask<IReadOnlyList<RbacBinding>> GetRoleBindingsAsync(CancellationToken cancellationToken) => GetAsync(RoleBindingsPath, cancellationToken);

    public ValueTask<IReadOnlyList<RbacBinding>> GetClusterRoleBindingsAsync(CancellationToken cancellationToken) => GetAsync(ClusterRoleBindingsPath, cancellationToken);

    private async ValueTask<IReadOnlyList<RbacBinding>> GetAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            return await _cache.GetAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (KubernetesApiException e)
        {
            throw new RoleBindingException(e.Message, e);
        }
    }

    private static async Task<IReadOnlyList<RbacBinding>> ListAsync(KubernetesApi api, string path)
    {
        var what = path == RoleBindingsPath ? "rolebindings" : "clusterrolebindings";
        var bindings = new List<RbacBinding>();
        string? next = null;
        do
        {
            // Pages keep each answer under the client's 1 MiB bound however many bindings the cluster has.
            var query = $"?limit={PageSize}" + (next is null ? string.Empty : "&continue=" + Uri.EscapeDataString(next));
            using var document = await api.GetAsync(path + query, what).ConfigureAwait(false);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("items", out var items) || items.ValueKind is not (JsonValueKind.Array or JsonValueKind.Null))
            {
                throw new KubernetesApiException($"the API server's list of {what} has no items");
            }

            if (items.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in items.EnumerateArray())
                {
                    if (Read(item) is { } binding)
                    {
                        bindings.Add(binding);
                    }
                }
            }

            next = root.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object
                && metadata.TryGetProperty("continue", out var token) && token.ValueKind == JsonValueKind.String && token.GetString() is { Length: > 0 } more
                ? more
                : null;
        }
        while (next is not null);

        return bindings;
    }

    /// <summary>A binding without a usable <c>roleRef</c> grants nothing and is skipped, as the API server never stores one.</summary>
    private static RbacBinding? Read(JsonElement item)
    {
        if (item.ValueKind != JsonValueKind.Object
            || !item.TryGetProperty("roleRef", out var roleRef) || roleRef.ValueKind != JsonValueKind.Object
            || String(roleRef, "kind") is not { } kind || String(roleRef, "name") is not { } name)
        {
            return null;
        }

        var @namespace = item.TryGetProperty("metadata", out var metadata) && metadata.ValueKind == JsonValueKind.Object ? String(metadata, "namespace") : null;
        var subjects = new List<RbacSubject>();
        if (item.TryGetProperty("subjects", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var subject in list.EnumerateArray())
            {
                if (subject.ValueKind == JsonValueKind.Object && String(subject, "name") is { } subjectName)
                {
                    subjects.Add(new RbacSubject(String(subject, "kind") ?? string.Empty, subjectName, String(subject, "namespace")));
                }
            }
        }

        return new RbacBinding(@namespace, kind, name, subjects);
    }

    private static string? String(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
