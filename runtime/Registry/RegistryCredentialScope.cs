namespace PolicyCompiler.Runtime.Registry;

/// <summary>
/// Credentials that belong to one admission review (the Pod's <c>imagePullSecrets</c>): consulted before the host's own,
/// for every registry call made while the review is decided. The scope flows with the review's async calls and ends with
/// them.
/// </summary>
public static class RegistryCredentialScope
{
    private static readonly AsyncLocal<Scope?> s_current = new();

    /// <summary>The review's credentials; <see cref="Scope.Id"/> names their source (for cache keys), never their content.</summary>
    public sealed record Scope(string Id, IReadOnlyList<DockerConfigEntry> Entries, bool AllowInsecure = false)
    {
        /// <summary>The cloud credential helpers this scope may ask (<c>imageRegistryCredentials.providers</c>).</summary>
        public IReadOnlyList<string> Providers { get; init; } = [];
    }

    public static Scope? Current => s_current.Value;

    /// <summary>
    /// Sets the scope for the rest of the calling async method and what it starts. An async method's changes to it do not
    /// reach its caller, so a review's credentials end with the review.
    /// </summary>
    public static void Enter(Scope? scope) => s_current.Value = scope;

    /// <summary>The review's credential for the repository, if its secrets hold one.</summary>
    public static RegistryCredential? Find(string registry, string repository) =>
        s_current.Value is { } scope ? DockerConfig.Match(scope.Entries, registry, repository)?.Credential : null;
}
