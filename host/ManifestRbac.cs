using System.Collections.Immutable;
using PolicyCompiler.Runtime.Engine;

namespace PolicyCompiler.Host;

/// <summary>
/// What the webhook reads from the API server for the compiled policies, as RBAC: the ClusterRole's rules, one Role per
/// namespace where every read is known to stay in that namespace, and the <c>apiCall.urlPath</c> entries whose access
/// cannot be told from the policies (their path has variables), which the operator must grant.
/// </summary>
internal sealed class ManifestRbac
{
    /// <summary>A rule of a Role or ClusterRole: the grants that share a group, a verb and object names (none: every object).</summary>
    internal sealed record RoleRule(string Group, IReadOnlyList<string> Resources, string Verb, IReadOnlyList<string> Names);

    // (namespace or "" for the ClusterRole, group, resource, verb) -> object names; null when every object is needed.
    private readonly Dictionary<(string Namespace, string Group, string Resource, string Verb), SortedSet<string>?> _grants = [];

    /// <summary>The rules of the ClusterRole.</summary>
    public IReadOnlyList<RoleRule> ClusterRules => Rules(string.Empty);

    /// <summary>The namespaces that get a Role (and a RoleBinding), in order.</summary>
    public IReadOnlyList<string> RoleNamespaces =>
        [.. _grants.Keys.Select(k => k.Namespace).Where(ns => ns.Length > 0).Distinct().Order(StringComparer.Ordinal)];

    /// <summary>Calls whose access is the operator's to grant, one line each, for a YAML comment.</summary>
    public List<string> Ungranted { get; } = [];

    public IReadOnlyList<RoleRule> RulesOf(string @namespace) => Rules(@namespace);

    public static ManifestRbac For(ImmutableArray<PolicyDefinition> policies)
    {
        var rbac = new ManifestRbac();

        // Pull secrets are read in the namespace of the Pod under review, which can be any; keys.secret attestors,
        // imageRegistryCredentials.secrets and Registry:PullSecrets name Secrets too. Only get (by name) is used.
        rbac.Add(string.Empty, string.Empty, "secrets", "get", null);

        // namespaceSelector reads the labels of the request's namespace, one GET by name (never a list or a watch).
        if (policies.Any(p => p.OverridesReadNamespaceLabels || p.Rules.Any(r => r.ReadsNamespaceLabels)))
        {
            rbac.Add(string.Empty, string.Empty, "namespaces", "get", null);
        }

        if (policies.Any(p => p.Rules.Any(r => r.Roles != RoleUse.None)))
        {
            rbac.Add(string.Empty, "rbac.authorization.k8s.io", "rolebindings", "list", null);
            rbac.Add(string.Empty, "rbac.authorization.k8s.io", "clusterrolebindings", "list", null);
        }

        foreach (var policy in policies)
        {
            foreach (var rule in policy.Rules)
            {
                foreach (var entry in rule.Context)
                {
                    switch (entry)
                    {
                        // Entries are read one by one by name. The objects a kubernetesResource entry lists are named
                        // in the cluster, not in the policies, so their list permission is for the operator to grant.
                        case GlobalReferenceContextEntry:
                            rbac.Add(string.Empty, "kyverno.io", "globalcontextentries", "get", null);
                            break;
                        case ConfigMapContextEntry configMap:
                            rbac.AddConfigMap(policy, configMap);
                            break;
                        case ApiCallContextEntry { Service: null, UrlPathText: { } path } call:
                            rbac.AddApiCall(policy, rule, call, path);
                            break;
                    }
                }
            }
        }

        return rbac;
    }

    /// <summary>
    /// The engine reads the ConfigMap with one GET in the written namespace; none written means the policy's own
    /// namespace, or <c>default</c> for a ClusterPolicy; a namespaced policy can read no other namespace (the engine
    /// refuses it). Only a ClusterPolicy with a templated namespace needs the ClusterRole.
    /// </summary>
    private void AddConfigMap(PolicyDefinition policy, ConfigMapContextEntry entry)
    {
        var @namespace = policy.Namespace
            ?? (entry.LiteralNamespace is { Length: > 0 } written ? written
                : entry.Namespace is null || entry.LiteralNamespace is not null ? "default"
                : string.Empty);
        Add(@namespace, string.Empty, "configmaps", "get", entry.LiteralName);
    }

    /// <summary>
    /// A literal path maps to one resource: a GET of an object is <c>get</c> on it by name, a GET of a collection
    /// <c>list</c>, a POST to a collection <c>create</c> (subject access reviews); a namespace in the path makes it a
    /// Role there. A path with variables, or one that names no resource, is left to the operator, by name.
    /// </summary>
    private void AddApiCall(PolicyDefinition policy, RuleDefinition rule, ApiCallContextEntry entry, string path)
    {
        if (!path.Contains("{{", StringComparison.Ordinal) && Resolve(path, entry.Method) is { } access)
        {
            Add(access.Namespace, access.Group, access.Resource, access.Verb, access.Name);
            return;
        }

        var owner = policy.Namespace is null ? policy.Name : policy.Namespace + "/" + policy.Name;
        Ungranted.Add($"{owner} rule {rule.Name} context {entry.Name}: {entry.Method} {path}");
    }

    /// <summary>The resource a literal API path addresses, or null when it addresses none this can name.</summary>
    internal static (string Namespace, string Group, string Resource, string Verb, string? Name)? Resolve(string path, string method)
    {
        var query = path.IndexOf('?', StringComparison.Ordinal);
        var segments = (query < 0 ? path : path[..query]).TrimEnd('/').Split('/');

        // "", "api", version, ... or "", "apis", group, version, ...
        if (segments.Length < 3 || segments[0].Length != 0 || segments.Skip(1).Any(s => s.Length == 0) || segments.Any(s => s.Contains('%', StringComparison.Ordinal)))
        {
            return null;
        }

        string group;
        int rest;
        if (segments[1] == "api")
        {
            (group, rest) = (string.Empty, 3);
        }
        else if (segments[1] == "apis" && segments.Length >= 4)
        {
            (group, rest) = (segments[2], 4);
        }
        else
        {
            return null;
        }

        var @namespace = string.Empty;
        if (segments.Length - rest >= 3 && segments[rest] == "namespaces")
        {
            @namespace = segments[rest + 1];
            rest += 2;
        }

        var parts = segments[rest..];
        return (parts.Length, method) switch
        {
            (1, "GET") => (@namespace, group, parts[0], "list", null),
            (1, "POST") => (@namespace, group, parts[0], "create", null),
            (2, "GET") => (@namespace, group, parts[0], "get", parts[1]),
            (3, "GET") => (@namespace, group, parts[0] + "/" + parts[2], "get", parts[1]),
            _ => null,
        };
    }

    private void Add(string @namespace, string group, string resource, string verb, string? name)
    {
        var key = (@namespace, group, resource, verb);
        if (_grants.TryGetValue(key, out var names))
        {
            // Once every object is needed, names no longer narrow anything.
            if (names is not null)
            {
                if (name is null)
                {
                    _grants[key] = null;
                }
                else
                {
                    names.Add(name);
                }
            }

            return;
        }

        _grants[key] = name is null ? null : new SortedSet<string>(StringComparer.Ordinal) { name };
    }

    private List<RoleRule> Rules(string @namespace) =>
        [.. _grants
            .Where(g => g.Key.Namespace == @namespace)
            .GroupBy(g => (g.Key.Group, g.Key.Verb, Names: g.Value is null ? string.Empty : string.Join("\n", g.Value)))
            .OrderBy(g => g.Key.Group, StringComparer.Ordinal)
            .ThenBy(g => g.Key.Verb, StringComparer.Ordinal)
            .ThenBy(g => g.Key.Names, StringComparer.Ordinal)
            .Select(g => new RoleRule(
                g.Key.Group,
                [.. g.Select(x => x.Key.Resource).Order(StringComparer.Ordinal)],
                g.Key.Verb,
                g.Key.Names.Length == 0 ? [] : g.Key.Names.Split('\n')))];
}
