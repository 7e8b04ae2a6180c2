using System.Globalization;
using System.Text;

namespace PolicyCompiler.ScaleBenchmarks;

/// <summary>
/// A policy set of a given size in which a fixed number of policies match the reviewed Pod. The others look like a
/// real cluster's: rules for Pod controllers and custom kinds, namespaced Policies of other teams, and Pod rules for
/// other registries (these do match the Pod's kind, so they count as matching kind-wise; see <see cref="PodOtherImages"/>).
/// </summary>
internal static class SyntheticPolicies
{
    /// <summary>The namespace of the reviewed Pod.</summary>
    public const string ReviewNamespace = "team-under-review";

    /// <summary>Of the non-matching policies, every tenth is a Pod rule whose imageReferences miss the Pod's images.</summary>
    public static int PodOtherImages(int total, int matching) => Enumerable.Range(matching, total - matching).Count(i => i % 10 == 9);

    public static (string Name, string Yaml)[] Create(int total, int matching)
    {
        if (matching > total)
        {
            throw new ArgumentOutOfRangeException(nameof(matching), "more matching policies than policies");
        }

        var policies = new (string, string)[total];
        for (var i = 0; i < total; i++)
        {
            var name = "scale-" + i.ToString("D4", CultureInfo.InvariantCulture);
            policies[i] = (name + ".yaml", i < matching ? Matching(name) : Other(name, i));
        }

        return policies;
    }

    // Pins digests (verifyDigest) without attestors: decided without a registry, so the figures are match and dispatch.
    private static string Matching(string name) => ClusterPolicy(name, "[Pod]", "registry.invalid/scale/*");

    private static string Other(string name, int i) => (i % 10) switch
    {
        0 or 1 => ClusterPolicy(name, "[Deployment]", "registry.invalid/scale/*"),
        2 => ClusterPolicy(name, "[StatefulSet, DaemonSet]", "registry.invalid/scale/*"),
        3 => ClusterPolicy(name, "[Job, CronJob]", "registry.invalid/scale/*"),
        4 or 5 => ClusterPolicy(name, $"[example.com/v1/Widget{i}]", "registry.invalid/scale/*"),
        6 => ClusterPolicy(name, $"[Gadget{i}, Gizmo{i}]", "registry.invalid/scale/*"),
        7 or 8 => NamespacedPolicy(name, "team-" + i.ToString(CultureInfo.InvariantCulture)),
        _ => ClusterPolicy(name, "[Pod]", $"other.invalid/team-{i}/*"),
    };

    private static string ClusterPolicy(string name, string kinds, string images) => Header("ClusterPolicy", name, null) + Rule(kinds, images);

    private static string NamespacedPolicy(string name, string @namespace) => Header("Policy", name, @namespace) + Rule("[Pod]", "registry.invalid/scale/*");

    private static string Header(string kind, string name, string? @namespace)
    {
        var builder = new StringBuilder();
        builder.Append("apiVersion: kyverno.io/v1\n");
        builder.Append("kind: ").Append(kind).Append('\n');
        builder.Append("metadata:\n");
        builder.Append("  name: ").Append(name).Append('\n');
        if (@namespace is not null)
        {
            builder.Append("  namespace: ").Append(@namespace).Append('\n');
        }

        builder.Append("spec:\n");
        builder.Append("  validationFailureAction: Enforce\n");
        return builder.ToString();
    }

    private static string Rule(string kinds, string images) => $"""
          rules:
            - name: pinned
              match:
                any:
                - resources:
                    kinds: {kinds}
              verifyImages:
              - imageReferences: ["{images}"]
                mutateDigest: false
                verifyDigest: true

        """;
}
