using System.Collections.Generic;
using System.Linq;
using PolicyCompiler.Generators.Common;
using PolicyCompiler.Generators.Model;

namespace PolicyCompiler.Generators.Emit;

/// <summary>
/// What the API server must send a rule: the resources of the kinds its match blocks name and the operations they
/// allow. Decided here, at build time, so that the webhook configuration covers exactly the compiled rules.
/// </summary>
internal static class WebhookResources
{
    /// <summary>The built-in kinds whose group and plural cannot be guessed from the kind alone.</summary>
    private static readonly Dictionary<string, (string Group, string Version, string Resource)> s_builtIn = new()
    {
        ["Pod"] = (string.Empty, "v1", "pods"),
        ["ReplicationController"] = (string.Empty, "v1", "replicationcontrollers"),
        ["Deployment"] = ("apps", "v1", "deployments"),
        ["DaemonSet"] = ("apps", "v1", "daemonsets"),
        ["StatefulSet"] = ("apps", "v1", "statefulsets"),
        ["ReplicaSet"] = ("apps", "v1", "replicasets"),
        ["Job"] = ("batch", "v1", "jobs"),
        ["CronJob"] = ("batch", "v1", "cronjobs"),
    };

    private static readonly string[] s_defaultOperations = ["CREATE", "UPDATE"];

    public static string Expression(MatchModel match)
    {
        var filters = match.Any.Concat(match.All).ToList();
        var operations = filters.SelectMany(f => f.Operations).Distinct().OrderBy(o => o, System.StringComparer.Ordinal).ToList();

        // A filter without operations admits every operation; image verification needs only creations and updates.
        if (operations.Count == 0 || filters.Any(f => f.Operations.IsEmpty))
        {
            operations = [.. s_defaultOperations];
        }

        operations.Remove("DELETE");
        operations.Remove("CONNECT");
        if (operations.Count == 0)
        {
            operations = [.. s_defaultOperations];
        }

        var resources = filters.SelectMany(f => f.Kinds).Select(Resource).Distinct().OrderBy(r => r, System.StringComparer.Ordinal).ToList();
        return $"new WebhookRule([{string.Join(", ", operations.Select(CSharp.Literal))}], [{string.Join(", ", resources)}])";
    }

    /// <summary>
    /// <c>kinds: [...]</c> naming every kind a request can have when the match block holds, so the runtime can skip the
    /// rule for other kinds without calling it; empty (the argument left out) when a kind pattern has wildcards or a
    /// filter names no kinds, as the rule may then match any kind.
    /// </summary>
    public static string KindsArgument(MatchModel match)
    {
        // The union over all filters: an 'any' filter that holds names the kind, and so does every 'all' filter.
        var filters = match.Any.Concat(match.All).ToList();
        if (filters.Count == 0 || filters.Any(f => f.Kinds.IsEmpty || f.Kinds.Any(k => k.Kind.IndexOf('*') >= 0 || k.Kind.IndexOf('?') >= 0)))
        {
            return string.Empty;
        }

        var kinds = filters.SelectMany(f => f.Kinds).Select(k => k.Kind).Distinct().OrderBy(k => k, System.StringComparer.Ordinal);
        return $"kinds: [{string.Join(", ", kinds.Select(CSharp.Literal))}]";
    }

    private static string Resource(KindSelectorModel kind)
    {
        string group;
        string version;
        string resource;
        if (s_builtIn.TryGetValue(kind.Kind, out var known))
        {
            (group, version, resource) = known;
        }
        else if (kind.Kind == "*")
        {
            (group, version, resource) = ("*", "*", "*");
        }
        else
        {
            // Custom resources: the API server's default plural is the lowercase kind plus "s".
            group = kind.Group ?? "*";
            version = "*";
            resource = kind.Kind.ToLowerInvariant() + (kind.Kind.EndsWith("s", System.StringComparison.Ordinal) ? "es" : "s");
        }

        if (kind.Group is not null && kind.Group != "*")
        {
            group = kind.Group;
        }

        if (kind.Version is not null)
        {
            version = kind.Version;
        }

        if (kind.SubResource is not null)
        {
            resource += "/" + kind.SubResource;
        }

        return $"new WebhookResource({CSharp.Literal(group)}, {CSharp.Literal(version)}, {CSharp.Literal(resource)})";
    }
}
