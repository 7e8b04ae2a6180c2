using PolicyCompiler.Runtime.Admission;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>An RBAC subject of a binding, as the API server stores it.</summary>
public sealed record RbacSubject(string Kind, string Name, string? Namespace);

/// <summary>
/// A RoleBinding (<see cref="Namespace"/> set) or ClusterRoleBinding (<see cref="Namespace"/> null): what it grants
/// (<c>roleRef</c>) and to whom.
/// </summary>
public sealed record RbacBinding(string? Namespace, string RoleKind, string RoleName, IReadOnlyList<RbacSubject> Subjects);

/// <summary>Where the engine reads RBAC bindings for <c>roles</c>/<c>clusterRoles</c> (the Kubernetes API in a cluster, fixed lists in tests).</summary>
public interface IRoleBindingSource
{
    /// <summary>Every RoleBinding of the cluster. Throws <see cref="RoleBindingException"/> when they cannot be read.</summary>
    ValueTask<IReadOnlyList<RbacBinding>> GetRoleBindingsAsync(CancellationToken cancellationToken);

    /// <summary>Every ClusterRoleBinding. Throws <see cref="RoleBindingException"/> when they cannot be read.</summary>
    ValueTask<IReadOnlyList<RbacBinding>> GetClusterRoleBindingsAsync(CancellationToken cancellationToken);
}

/// <summary>The bindings could not be read; the message is safe to show (no tokens, no bodies).</summary>
public sealed class RoleBindingException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Bindings given up front (tests, and clusters the process cannot reach).</summary>
public sealed class StaticRoleBindings(IReadOnlyList<RbacBinding> roleBindings, IReadOnlyList<RbacBinding> clusterRoleBindings) : IRoleBindingSource
{
    public ValueTask<IReadOnlyList<RbacBinding>> GetRoleBindingsAsync(CancellationToken cancellationToken) => ValueTask.FromResult(roleBindings);

    public ValueTask<IReadOnlyList<RbacBinding>> GetClusterRoleBindingsAsync(CancellationToken cancellationToken) => ValueTask.FromResult(clusterRoleBindings);
}

/// <summary>
/// The requesting user's roles as Kyverno derives them (pkg/userinfo, GetRoleRef): a RoleBinding to a Role gives
/// <c>namespace:role</c>, a RoleBinding to a ClusterRole and a ClusterRoleBinding give the ClusterRole's name.
/// </summary>
public static class UserRoles
{
    private const string ServiceAccountPrefix = "system:serviceaccount:";

    /// <summary><c>namespace:role</c> for every RoleBinding to a Role that names the user.</summary>
    public static HashSet<string> Roles(UserInfo? user, IEnumerable<RbacBinding> roleBindings)
    {
        var roles = new HashSet<string>(StringComparer.Ordinal);
        foreach (var binding in roleBindings)
        {
            if (binding.RoleKind == "Role" && binding.Subjects.Any(s => Names(s, user, binding.Namespace ?? string.Empty)))
            {
                roles.Add(binding.Namespace + ":" + binding.RoleName);
            }
        }

        return roles;
    }

    /// <summary>The ClusterRoles bound to the user, by RoleBindings (any namespace) or ClusterRoleBindings.</summary>
    public static HashSet<string> ClusterRoles(UserInfo? user, IEnumerable<RbacBinding> roleBindings, IEnumerable<RbacBinding> clusterRoleBindings)
    {
        var roles = new HashSet<string>(StringComparer.Ordinal);
        foreach (var binding in roleBindings)
        {
            if (binding.RoleKind == "ClusterRole" && binding.Subjects.Any(s => Names(s, user, binding.Namespace ?? string.Empty)))
            {
                roles.Add(binding.RoleName);
            }
        }

        foreach (var binding in clusterRoleBindings)
        {
            if (binding.RoleKind == "ClusterRole" && binding.Subjects.Any(s => Names(s, user, s.Namespace ?? string.Empty)))
            {
                roles.Add(binding.RoleName);
            }
        }

        return roles;
    }

    /// <summary>
    /// Kyverno's subject comparison, kept as it is: a service-account user (its name contains
    /// <c>system:serviceaccount:</c>) is compared, after those 22 characters, with <c>namespace:name</c>, where the
    /// namespace is a RoleBinding's own and a ClusterRoleBinding subject's; anyone else with the subject's name against
    /// the username and every group. Neither looks at the subject's kind, and nothing is a wildcard.
    /// </summary>
    private static bool Names(RbacSubject subject, UserInfo? user, string @namespace)
    {
        var username = user?.Username ?? string.Empty;
        if (username.Contains(ServiceAccountPrefix, StringComparison.Ordinal))
        {
            return string.Equals(username[ServiceAccountPrefix.Length..], @namespace + ":" + subject.Name, StringComparison.Ordinal);
        }

        return subject.Name == username || (user?.Groups?.Contains(subject.Name, StringComparer.Ordinal) ?? false);
    }
}
