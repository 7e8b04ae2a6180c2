namespace PolicyCompiler.Runtime.Engine;

/// <summary>
/// What an <see cref="AdmissionEngine"/> reads besides its policies and its image verifier. Each property is optional:
/// left null, the feature that needs it answers as it does without a Kubernetes API (a rule that needs the data is
/// refused with a message naming what is missing), so tests and <c>policy-compiler check</c> set only what they use.
/// </summary>
/// <remarks>
/// A record with named, init-only properties rather than a long list of optional constructor parameters: several of
/// the sources have compatible types, and positional arguments slipped silently in merges.
/// </remarks>
public sealed record AdmissionEngineServices
{
    /// <summary>No sources at all: every lookup behaves as when no Kubernetes API is configured.</summary>
    public static AdmissionEngineServices None { get; } = new();

    /// <summary>Verdict and pull-secret failure counters; null counts nothing.</summary>
    public Telemetry.WebhookMetrics? Metrics { get; init; }

    /// <summary>Namespace labels for <c>namespaceSelector</c>.</summary>
    public INamespaceLabelSource? Namespaces { get; init; }

    /// <summary>Pod pull secrets and <c>imageRegistryCredentials.secrets</c>; null reads none (anonymous pulls).</summary>
    public IPullSecretSource? PullSecrets { get; init; }

    /// <summary>
    /// The namespace the webhook runs in, where <c>imageRegistryCredentials.secrets</c> and
    /// <see cref="HostPullSecrets"/> are read; null means <c>default</c>.
    /// </summary>
    public string? WebhookNamespace { get; init; }

    /// <summary>The webhook's own pull secrets (Kyverno's <c>--imagePullSecrets</c>), read in <see cref="WebhookNamespace"/>.</summary>
    public IReadOnlyList<string>? HostPullSecrets { get; init; }

    /// <summary>ConfigMaps of <c>context[].configMap</c> entries.</summary>
    public IContextDataSource? ContextData { get; init; }

    /// <summary>RoleBindings and ClusterRoleBindings, for <c>roles</c>/<c>clusterRoles</c> matches and exclusions.</summary>
    public IRoleBindingSource? RoleBindings { get; init; }

    /// <summary>Kyverno's configured request exclusions (users, groups, roles); null excludes nothing.</summary>
    public RequestExclusions? Exclusions { get; init; }

    /// <summary>
    /// The reader of <c>imageRegistry</c> context entries; null makes one over the verifier's registry client that keeps
    /// answers for <see cref="AdmissionEngine.ImageDataTimeToLive"/>.
    /// </summary>
    public IImageDataSource? ImageData { get; init; }

    /// <summary>Calls of <c>apiCall</c> context entries (API server paths and services).</summary>
    public IServiceCallSource? ServiceCalls { get; init; }

    /// <summary>Kyverno GlobalContextEntries read by <c>globalReference</c> context entries.</summary>
    public IGlobalContextSource? GlobalContext { get; init; }
}
