using PolicyCompiler.Runtime.Admission;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>
/// Kyverno's request exclusions (the <c>kyverno</c> ConfigMap's <c>excludeUsernames</c>, <c>excludeGroups</c>,
/// <c>excludeRoles</c>, <c>excludeClusterRoles</c>; pkg/config, <c>IsExcluded</c>): a review whose username, one of
/// whose groups, roles or cluster roles matches a pattern (<c>*</c> and <c>?</c> wildcards) meets no rule, so it is
/// admitted unjudged. A pattern written <c>!pattern</c> is an inclusion: a review it matches is never excluded,
/// whatever the exclusions say. Kyverno 1.10 replaced <c>excludeGroupRole</c>/<c>excludeUsername</c>, which only
/// waived role checks, with these.
/// </summary>
public sealed class RequestExclusions
{
    private readonly Lists _excluded;
    private readonly Lists _included;

    public RequestExclusions(
        IEnumerable<string>? usernames = null,
        IEnumerable<string>? groups = null,
        IEnumerable<string>? roles = null,
        IEnumerable<string>? clusterRoles = null)
    {
        (var excludedUsers, var includedUsers) = Split(usernames);
        (var excludedGroups, var includedGroups) = Split(groups);
        (var excludedRoles, var includedRoles) = Split(roles);
        (var excludedClusterRoles, var includedClusterRoles) = Split(clusterRoles);
        _excluded = new Lists(excludedUsers, excludedGroups, excludedRoles, excludedClusterRoles);
        _included = new Lists(includedUsers, includedGroups, includedRoles, includedClusterRoles);
    }

    /// <summary>Nothing excluded: Kyverno without a ConfigMap.</summary>
    public static RequestExclusions None { get; } = new();

    /// <summary>
    /// What Kyverno's Helm chart writes into its ConfigMap when installed with default values: requests of the nodes
    /// (<c>system:nodes</c>, the kubelets' mirror Pods) are not judged.
    /// </summary>
    public static RequestExclusions KyvernoDefaults { get; } = new(groups: ["system:nodes"]);

    /// <summary>Whether a pattern (either kind) compares roles or cluster roles, which must then be read for every review.</summary>
    public RoleUse RolesNeeded =>
        (_excluded.Roles.Length + _included.Roles.Length > 0 ? RoleUse.Roles : RoleUse.None)
        | (_excluded.ClusterRoles.Length + _included.ClusterRoles.Length > 0 ? RoleUse.ClusterRoles : RoleUse.None);

    public bool IsEmpty => _excluded.IsEmpty && _included.IsEmpty;

    /// <summary>Kyverno's <c>IsExcluded</c>: no inclusion matches and some exclusion does.</summary>
    public bool IsExcluded(UserInfo? user, IReadOnlySet<string> roles, IReadOnlySet<string> clusterRoles)
    {
        ArgumentNullException.ThrowIfNull(roles);
        ArgumentNullException.ThrowIfNull(clusterRoles);
        return !_included.Match(user, roles, clusterRoles) && _excluded.Match(user, roles, clusterRoles);
    }

    private static (string[] Excluded, string[] Included) Split(IEnumerable<string>? patterns)
    {
        var excluded = new List<string>();
        var included = new List<string>();
        foreach (var raw in patterns ?? [])
        {
            // Kyverno splits the ConfigMap value at commas and trims each entry; empty entries name nothing.
            var pattern = raw?.Trim() ?? string.Empty;
            if (pattern.StartsWith('!'))
            {
                if (pattern.Length > 1)
                {
                    included.Add(pattern[1..]);
                }
            }
            else if (pattern.Length > 0)
            {
                excluded.Add(pattern);
            }
        }

        return ([.. excluded], [.. included]);
    }

    private sealed record Lists(string[] Usernames, string[] Groups, string[] Roles, string[] ClusterRoles)
    {
        public bool IsEmpty => Usernames.Length + Groups.Length + Roles.Length + ClusterRoles.Length == 0;

        public bool Match(UserInfo? user, IReadOnlySet<string> roles, IReadOnlySet<string> clusterRoles) =>
            Usernames.Any(p => Wildcard.Match(p, user?.Username ?? string.Empty))
            || Groups.Any(p => user?.Groups?.Any(g => Wildcard.Match(p, g)) == true)
            || Roles.Any(p => roles.Any(r => Wildcard.Match(p, r)))
            || ClusterRoles.Any(p => clusterRoles.Any(r => Wildcard.Match(p, r)));
    }
}
