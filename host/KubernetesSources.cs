using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Kubernetes;
using PolicyCompiler.Runtime.Services;

namespace PolicyCompiler.Host;

/// <summary>What the host reads from Kubernetes, chosen from configuration: namespace labels, key Secrets, pull secrets, its own namespace.</summary>
internal static class KubernetesSources
{
    /// <summary>
    /// <c>Kubernetes:NamespaceLabels:&lt;namespace&gt;:&lt;key&gt;</c> when given (outside a cluster); otherwise the API server
    /// (in-cluster, or <c>Kubernetes:ApiServer</c>); none when no compiled rule has a namespace selector.
    /// </summary>
    public static INamespaceLabelSource? FromConfiguration(IConfiguration configuration, TimeProvider time, IEnumerable<PolicyDefinition> policies)
    {
        if (!policies.Any(p => p.Rules.Any(r => r.ReadsNamespaceLabels)))
        {
            return null;
        }

        var fixedLabels = configuration.GetSection("Kubernetes:NamespaceLabels").GetChildren().ToList();
        if (fixedLabels.Count > 0)
        {
            return new StaticNamespaceLabels(fixedLabels.ToDictionary(
                ns => ns.Key,
                ns => new LabelSet(ns.GetChildren().Select(label => KeyValuePair.Create(label.Key, label.Value ?? string.Empty))),
                StringComparer.Ordinal));
        }

        var ttl = configuration.GetValue("Kubernetes:NamespaceLabelTimeToLive", TimeSpan.FromSeconds(30));
        return KubernetesApiFromConfiguration(configuration) is { } api ? new KubernetesNamespaceLabels(api, ttl, time) : null;
    }

    /// <summary>
    /// RoleBindings and ClusterRoleBindings for <c>roles</c>/<c>clusterRoles</c>, listed through the same API
    /// (<c>Kubernetes:RoleBindingTimeToLive</c>, default 30 s); none when no compiled rule compares roles, so such
    /// policies cost no API call and no RBAC permission. Without an API the rules that need roles are errors at review
    /// time, as namespace selectors are.
    /// </summary>
    public static IRoleBindingSource? RoleBindingsFromConfiguration(IConfiguration configuration, TimeProvider time, IEnumerable<PolicyDefinition> policies) =>
        (policies.Any(p => p.Rules.Any(r => r.Roles != RoleUse.None)) || Exclusions(configuration).RolesNeeded != RoleUse.None)
        && KubernetesApiFromConfiguration(configuration) is { } api
            ? new KubernetesRoleBindings(api, configuration.GetValue("Kubernetes:RoleBindingTimeToLive", TimeSpan.FromSeconds(30)), time)
            : null;

    /// <summary>
    /// Kyverno's request exclusions (its ConfigMap's <c>excludeUsernames</c>, <c>excludeGroups</c>, <c>excludeRoles</c>,
    /// <c>excludeClusterRoles</c>): <c>Kubernetes:ExcludeUsernames:N</c> and so on, <c>!pattern</c> for an inclusion.
    /// A list that is not configured takes the value of Kyverno's Helm chart: groups <c>system:nodes</c>, the others
    /// empty; one empty entry (<c>Kubernetes:ExcludeGroups:0=</c>) empties it.
    /// </summary>
    public static RequestExclusions Exclusions(IConfiguration configuration)
    {
        string[]? List(string key)
        {
            var section = configuration.GetSection("Kubernetes:" + key);
            return section.GetChildren().Any() ? [.. section.GetChildren().Select(c => c.Value ?? string.Empty)] : null;
        }

        return new RequestExclusions(
            List("ExcludeUsernames"),
            List("ExcludeGroups") ?? ["system:nodes"],
            List("ExcludeRoles"),
            List("ExcludeClusterRoles"));
    }

    /// <summary>Secrets holding <c>cosign.pub</c> keys, read through the same API as namespace labels; none outside a cluster.</summary>
    public static ISecretKeySource? SecretKeysFromConfiguration(IConfiguration configuration, TimeProvider time) =>
        KubernetesApiFromConfiguration(configuration) is { } api
            ? new KubernetesSecretKeys(api, configuration.GetValue("Kubernetes:SecretKeyTimeToLive", TimeSpan.FromSeconds(30)), time)
            : null;

    /// <summary>ConfigMaps and API paths for rule <c>context</c> entries, read through the same API; none outside a cluster.</summary>
    public static IContextDataSource? ContextDataFromConfiguration(IConfiguration configuration, TimeProvider time) =>
        KubernetesApiFromConfiguration(configuration) is { } api
            ? new KubernetesContextData(api, configuration.GetValue("Kubernetes:ContextTimeToLive", TimeSpan.FromSeconds(30)), time)
            : null;

    private static Uri AllowlistEntry(string text) =>
        Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp) && uri.Host.Length > 0
            ? uri
            : throw new ArgumentException($"Context:ServiceAllowlist entry '{text}' must be an absolute http(s) URL with a host, e.g. https://scanner.security.svc/");

    /// <summary>
    /// GlobalContextEntry resources for <c>globalReference</c>, and their data, read through the same API (resources kept
    /// <c>Kubernetes:ContextTimeToLive</c>, calls their <c>refreshInterval</c>); none outside a cluster.
    /// </summary>
    public static IGlobalContextSource? GlobalContextFromConfiguration(IConfiguration configuration, TimeProvider time, IServiceCallSource services) =>
        KubernetesApiFromConfiguration(configuration) is { } api
            ? new KubernetesGlobalContext(api, services, configuration.GetValue("Kubernetes:ContextTimeToLive", TimeSpan.FromSeconds(30)), time)
            : null;

    /// <summary>
    /// Rule context <c>apiCall.service</c> calls: <c>Context:ServiceMaxResponseBytes</c> (default 10,000,000),
    /// <c>Context:ServiceTimeout</c> (default 30 s, within the rule context's own deadline) and
    /// <c>Context:ServiceAllowlist:N</c> (URL prefixes; none: any URL). They need no cluster.
    /// </summary>
    public static ServiceCaller ServiceCallsFromConfiguration(IConfiguration configuration)
    {
        var options = new ServiceCallOptions
        {
            MaxResponseBytes = configuration.GetValue("Context:ServiceMaxResponseBytes", 10_000_000L),
            Timeout = configuration.GetValue("Context:ServiceTimeout", TimeSpan.FromSeconds(30)),
            Allowlist = [.. configuration.GetSection("Context:ServiceAllowlist").GetChildren().Select(c => c.Value).OfType<string>().Where(v => v.Length > 0).Select(AllowlistEntry)],
        };
        return options.Timeout <= TimeSpan.Zero
            ? throw new ArgumentException("Context:ServiceTimeout must be positive")
            : new ServiceCaller(options);
    }

    /// <summary>The registry credentials of Pods' <c>imagePullSecrets</c>, read through the same API; none outside a cluster.</summary>
    public static IPullSecretSource? PullSecretsFromConfiguration(IConfiguration configuration, TimeProvider time) =>
        KubernetesApiFromConfiguration(configuration) is { } api
            ? new KubernetesPullSecrets(api, configuration.GetValue("Kubernetes:PullSecretTimeToLive", TimeSpan.FromSeconds(30)), time)
            : null;

    /// <summary>
    /// <c>Registry:PullSecrets:N</c>: <c>dockerconfigjson</c> Secrets of the webhook's namespace whose credentials every
    /// review uses after the Pod's own (Kyverno's <c>--imagePullSecrets</c>). They are read through the API, so naming
    /// them without one is a start-up error rather than credentials silently missing.
    /// </summary>
    public static IReadOnlyList<string> HostPullSecrets(IConfiguration configuration, IPullSecretSource? source)
    {
        var names = configuration.GetSection("Registry:PullSecrets").GetChildren().Select(c => c.Value).OfType<string>().Where(v => v.Length > 0).ToList();
        return names.Count > 0 && source is null
            ? throw new InvalidOperationException("Registry:PullSecrets names Secrets, but there is no Kubernetes API to read them from (set Kubernetes:ApiServer, or run in a cluster); use Registry:CredentialFiles for mounted files")
            : names;
    }

    /// <summary>The webhook's own namespace, where <c>imageRegistryCredentials.secrets</c> live: <c>Kubernetes:Namespace</c>, else the service account's.</summary>
    public static string? WebhookNamespace(IConfiguration configuration) =>
        configuration["Kubernetes:Namespace"] is { Length: > 0 } configured ? configured : KubernetesApi.InClusterNamespace();

    /// <summary><c>Kubernetes:ApiServer</c> (with <c>TokenFile</c>, <c>CaFile</c>) when configured, else the in-cluster service account, else none.</summary>
    public static KubernetesApi? KubernetesApiFromConfiguration(IConfiguration configuration)
    {
        if (configuration["Kubernetes:ApiServer"] is { Length: > 0 } server)
        {
            return new KubernetesApi(new Uri(server), NullIfEmpty(configuration["Kubernetes:TokenFile"]), NullIfEmpty(configuration["Kubernetes:CaFile"]));
        }

        return KubernetesApi.InCluster();

        static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
    }
}
