using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using PolicyCompiler.Runtime.Engine;

namespace PolicyCompiler.Host;

/// <summary>Options of the <c>manifests</c> command.</summary>
public sealed class ManifestOptions
{
    public string Namespace { get; set; } = "policy-compiler";

    public string Name { get; set; } = "policy-compiler";

    public string Image { get; set; } = "ghcr.io/policycompiler/policy-compiler:latest";

    public int Replicas { get; set; } = 2;

    /// <summary>PEM of the CA that signed the serving certificate; without it, cert-manager issues the certificate and injects the CA.</summary>
    public string? CaBundlePem { get; set; }
}

/// <summary>
/// Writes the Kubernetes objects that run this binary: ServiceAccount, RBAC, Service, Deployment with a
/// PodDisruptionBudget, the serving certificate (cert-manager) and the Mutating/ValidatingWebhookConfigurations whose
/// rules are exactly the resources and operations of the compiled rules, grouped by failure policy and timeout.
/// </summary>
public static class Manifests
{
    private const int Port = 9443;

    public static string Render(ImmutableArray<PolicyDefinition> policies, ManifestOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var y = new StringBuilder();
        Document(y, $"""
            apiVersion: v1
            kind: ServiceAccount
            metadata:
              name: {Quote(options.Name)}
              namespace: {Quote(options.Namespace)}
            """);
        var rbac = ManifestRbac.For(policies);
        Document(y, ClusterRole(rbac, options));
        Document(y, $"""
            apiVersion: rbac.authorization.k8s.io/v1
            kind: ClusterRoleBinding
            metadata:
              name: {Quote(options.Name)}
            roleRef:
              apiGroup: rbac.authorization.k8s.io
              kind: ClusterRole
              name: {Quote(options.Name)}
            subjects:
              - kind: ServiceAccount
                name: {Quote(options.Name)}
                namespace: {Quote(options.Namespace)}
            """);
        foreach (var @namespace in rbac.RoleNamespaces)
        {
            // Reads known to stay in one namespace (a ConfigMap a policy names, a literal apiCall path there) are
            // granted there only, rather than in every namespace through the ClusterRole.
            var role = new StringBuilder();
            role.Append("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: ").Append(Quote(options.Name))
                .Append("\n  namespace: ").Append(Quote(@namespace)).Append('\n');
            AppendRules(role, rbac.RulesOf(@namespace));
            Document(y, role.ToString());
            Document(y, $"""
                apiVersion: rbac.authorization.k8s.io/v1
                kind: RoleBinding
                metadata:
                  name: {Quote(options.Name)}
                  namespace: {Quote(@namespace)}
                roleRef:
                  apiGroup: rbac.authorization.k8s.io
                  kind: Role
                  name: {Quote(options.Name)}
                subjects:
                  - kind: ServiceAccount
                    name: {Quote(options.Name)}
                    namespace: {Quote(options.Namespace)}
                """);
        }

        Document(y, $"""
            apiVersion: v1
            kind: Service
            metadata:
              name: {Quote(options.Name)}
              namespace: {Quote(options.Namespace)}
            spec:
              selector:
                app.kubernetes.io/name: {Quote(options.Name)}
              ports:
                - name: https
                  port: 443
                  targetPort: {Port}
            """);
        Document(y, Deployment(options));
        Document(y, $"""
            apiVersion: policy/v1
            kind: PodDisruptionBudget
            metadata:
              name: {Quote(options.Name)}
              namespace: {Quote(options.Namespace)}
            spec:
              minAvailable: 1
              selector:
                matchLabels:
                  app.kubernetes.io/name: {Quote(options.Name)}
            """);
        if (options.CaBundlePem is null)
        {
            Document(y, $"""
                apiVersion: cert-manager.io/v1
                kind: Issuer
                metadata:
                  name: {Quote(options.Name + "-selfsigned")}
                  namespace: {Quote(options.Namespace)}
                spec:
                  selfSigned: {"{}"}
                """);
            Document(y, $"""
                apiVersion: cert-manager.io/v1
                kind: Certificate
                metadata:
                  name: {Quote(options.Name)}
                  namespace: {Quote(options.Namespace)}
                spec:
                  secretName: {Quote(options.Name + "-tls")}
                  dnsNames:
                    - {Quote(options.Name + "." + options.Namespace + ".svc")}
                    - {Quote(options.Name + "." + options.Namespace + ".svc.cluster.local")}
                  issuerRef:
                    name: {Quote(options.Name + "-selfsigned")}
                """);
        }

        Document(y, WebhookConfiguration(policies, options, mutating: true));
        Document(y, WebhookConfiguration(policies, options, mutating: false));
        return y.ToString();
    }

    private static string ClusterRole(ManifestRbac rbac, ManifestOptions options)
    {
        var y = new StringBuilder();
        y.Append("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: ").Append(Quote(options.Name)).Append('\n');
        AppendRules(y, rbac.ClusterRules);
        if (rbac.Ungranted.Count > 0)
        {
            // The path depends on the request, so the resource it reads is unknown here; granting it is the operator's
            // decision (a Role or ClusterRole bound to this service account). Without it the call fails and the entry's
            // default, if any, is used.
            y.Append("# Not granted: apiCall urlPath entries whose path has variables; grant get/list on what they read:\n");
            foreach (var line in rbac.Ungranted)
            {
                y.Append("#   ").Append(Quote(line)).Append('\n');
            }
        }

        return y.ToString();
    }

    private static void AppendRules(StringBuilder y, IReadOnlyList<ManifestRbac.RoleRule> rules)
    {
        y.Append("rules:\n");
        foreach (var rule in rules)
        {
            y.Append("  - apiGroups: [").Append(Quote(rule.Group)).Append("]\n");
            y.Append("    resources: [").Append(string.Join(", ", rule.Resources.Select(Quote))).Append("]\n");
            y.Append("    verbs: [").Append(rule.Verb).Append("]\n");
            if (rule.Names.Count > 0)
            {
                y.Append("    resourceNames: [").Append(string.Join(", ", rule.Names.Select(Quote))).Append("]\n");
            }
        }
    }

    private static string Deployment(ManifestOptions options) => $"""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {Quote(options.Name)}
          namespace: {Quote(options.Namespace)}
          labels:
            app.kubernetes.io/name: {Quote(options.Name)}
        spec:
          replicas: {options.Replicas.ToString(CultureInfo.InvariantCulture)}
          selector:
            matchLabels:
              app.kubernetes.io/name: {Quote(options.Name)}
          template:
            metadata:
              labels:
                app.kubernetes.io/name: {Quote(options.Name)}
            spec:
              serviceAccountName: {Quote(options.Name)}
              securityContext:
                runAsNonRoot: true
                runAsUser: 65532
                runAsGroup: 65532
                seccompProfile:
                  type: RuntimeDefault
              affinity:
                podAntiAffinity:
                  preferredDuringSchedulingIgnoredDuringExecution:
                    - weight: 100
                      podAffinityTerm:
                        topologyKey: kubernetes.io/hostname
                        labelSelector:
                          matchLabels:
                            app.kubernetes.io/name: {Quote(options.Name)}
              containers:
                - name: webhook
                  image: {Quote(options.Image)}
                  args:
                    - --urls=https://0.0.0.0:{Port.ToString(CultureInfo.InvariantCulture)}
                    - --Tls:CertificateFile=/tls/tls.crt
                    - --Tls:KeyFile=/tls/tls.key
                  ports:
                    - name: https
                      containerPort: {Port.ToString(CultureInfo.InvariantCulture)}
                  readinessProbe:
                    httpGet:
                      path: /readyz
                      port: https
                      scheme: HTTPS
                  livenessProbe:
                    httpGet:
                      path: /healthz
                      port: https
                      scheme: HTTPS
                  resources:
                    requests:
                      cpu: 100m
                      memory: 64Mi
                    limits:
                      memory: 256Mi
                  securityContext:
                    allowPrivilegeEscalation: false
                    readOnlyRootFilesystem: true
                    capabilities:
                      drop: [ALL]
                  volumeMounts:
                    - name: tls
                      mountPath: /tls
                      readOnly: true
              volumes:
                - name: tls
                  secret:
                    secretName: {Quote(options.Name + "-tls")}
        """;

    /// <summary>
    /// One webhook per (namespace scope, failure policy, timeout) of the compiled policies, as Kyverno groups them, and one
    /// per policy with <c>matchConditions</c>, at its own path: the API server applies a webhook's conditions to every
    /// policy behind it, so conditions of one policy need a webhook of their own (Kyverno does the same). The shared
    /// webhooks' rules leave such a policy out, and the host's shared path skips it whatever the API server sends.
    /// </summary>
    private static string WebhookConfiguration(ImmutableArray<PolicyDefinition> policies, ManifestOptions options, bool mutating)
    {
        var kind = mutating ? "MutatingWebhookConfiguration" : "ValidatingWebhookConfiguration";
        var y = new StringBuilder();
        y.Append("apiVersion: admissionregistration.k8s.io/v1\n");
        y.Append("kind: ").Append(kind).Append('\n');
        y.Append("metadata:\n  name: ").Append(Quote(options.Name)).Append('\n');
        if (options.CaBundlePem is null)
        {
            y.Append("  annotations:\n    cert-manager.io/inject-ca-from: ").Append(Quote(options.Namespace + "/" + options.Name)).Append('\n');
        }

        var groups = policies
            .Where(p => !p.HasOwnWebhook)
            .GroupBy(p => (p.Namespace, p.FailurePolicy, Timeout: p.WebhookTimeoutSeconds))
            .OrderBy(g => g.Key.Namespace ?? string.Empty, StringComparer.Ordinal)
            .ThenBy(g => g.Key.FailurePolicy)
            .ThenBy(g => g.Key.Timeout)
            .ToList();
        var own = policies
            .Where(p => p.HasOwnWebhook)
            .OrderBy(p => p.Namespace ?? string.Empty, StringComparer.Ordinal)
            .ThenBy(p => p.Name, StringComparer.Ordinal)
            .ToList();
        if (groups.Count == 0 && own.Count == 0)
        {
            y.Append("webhooks: []\n");
            return y.ToString();
        }

        y.Append("webhooks:\n");
        var verb = mutating ? "mutate" : "validate";
        foreach (var group in groups)
        {
            var name = string.Create(CultureInfo.InvariantCulture, $"{verb}-{(group.Key.Namespace is null ? "cluster" : "ns-" + group.Key.Namespace)}-{group.Key.FailurePolicy.ToString().ToLowerInvariant()}-{group.Key.Timeout}s.{options.Name}.policycompiler.dev");
            Webhook(y, options, mutating, name, mutating ? "/mutate" : "/validate", group.Key.Namespace, group.Key.FailurePolicy, group.Key.Timeout, group, []);
        }

        foreach (var policy in own)
        {
            // "<name>.cluster." for a ClusterPolicy, "<name>.<namespace>.ns." for a Policy: a policy name may hold dots,
            // and the label before the verb keeps the two kinds from ever giving the same webhook name.
            var scope = policy.Namespace is null ? "cluster" : policy.Namespace + ".ns";
            var name = $"{policy.Name}.{scope}.{verb}-policy.{options.Name}.policycompiler.dev";
            Webhook(y, options, mutating, name, AdmissionEndpoints.PolicyPath(policy, mutating), policy.Namespace, policy.FailurePolicy, policy.WebhookTimeoutSeconds, [policy], policy.MatchConditions);
        }

        return y.ToString();
    }

    private static void Webhook(StringBuilder y, ManifestOptions options, bool mutating, string name, string path, string? @namespace, FailurePolicy failurePolicy, int timeout, IEnumerable<PolicyDefinition> policies, ImmutableArray<MatchCondition> matchConditions)
    {
        y.Append("  - name: ").Append(Quote(name)).Append('\n');
        y.Append("    admissionReviewVersions: [v1]\n");
        y.Append("    sideEffects: None\n");
        y.Append("    matchPolicy: Equivalent\n");
        y.Append("    failurePolicy: ").Append(failurePolicy).Append('\n');
        y.Append("    timeoutSeconds: ").Append(timeout.ToString(CultureInfo.InvariantCulture)).Append('\n');
        if (mutating)
        {
            // A later mutation may change an image; being called again re-verifies the new one.
            y.Append("    reinvocationPolicy: IfNeeded\n");
        }

        y.Append("    clientConfig:\n");
        y.Append("      service:\n        name: ").Append(Quote(options.Name)).Append("\n        namespace: ").Append(Quote(options.Namespace)).Append("\n        path: ").Append(Quote(path)).Append("\n        port: 443\n");
        if (options.CaBundlePem is not null)
        {
            y.Append("      caBundle: ").Append(Convert.ToBase64String(Encoding.UTF8.GetBytes(options.CaBundlePem))).Append('\n');
        }

        y.Append("    namespaceSelector:\n      matchExpressions:\n        - key: kubernetes.io/metadata.name\n");
        if (@namespace is { } scoped)
        {
            y.Append("          operator: In\n          values: [").Append(Quote(scoped)).Append("]\n");
        }
        else
        {
            // The webhook never judges its own namespace, so it can always be repaired.
            y.Append("          operator: NotIn\n          values: [").Append(Quote(options.Namespace)).Append("]\n");
        }

        if (!matchConditions.IsEmpty)
        {
            // CEL, evaluated by the API server before it calls this webhook; nothing in this binary evaluates it.
            y.Append("    matchConditions:\n");
            foreach (var condition in matchConditions)
            {
                y.Append("      - name: ").Append(Quote(condition.Name)).Append('\n');
                y.Append("        expression: ").Append(Quote(condition.Expression)).Append('\n');
            }
        }

        y.Append("    rules:\n");
        foreach (var rule in Rules(policies))
        {
            y.Append("      - apiGroups: [").Append(Quote(rule.Group)).Append("]\n");
            y.Append("        apiVersions: [").Append(Quote(rule.Version)).Append("]\n");
            y.Append("        operations: [").Append(string.Join(", ", rule.Operations)).Append("]\n");
            y.Append("        resources: [").Append(string.Join(", ", rule.Resources.Select(Quote))).Append("]\n");
            y.Append("        scope: \"").Append(@namespace is null ? "*" : "Namespaced").Append("\"\n");
        }
    }

    /// <summary>The rules' resources merged per API group, version and operation set, in a stable order.</summary>
    private static IEnumerable<(string Group, string Version, IReadOnlyList<string> Operations, IReadOnlyList<string> Resources)> Rules(IEnumerable<PolicyDefinition> policies) =>
        policies
            .SelectMany(p => p.Rules)
            .Where(r => r.Webhook is not null)
            .SelectMany(r => r.Webhook!.Resources.Select(resource => (resource, operations: string.Join(",", r.Webhook.Operations))))
            .GroupBy(x => (x.resource.Group, x.resource.Version, x.operations))
            .OrderBy(g => g.Key.Group, StringComparer.Ordinal)
            .ThenBy(g => g.Key.Version, StringComparer.Ordinal)
            .ThenBy(g => g.Key.operations, StringComparer.Ordinal)
            .Select(g => (g.Key.Group, g.Key.Version, (IReadOnlyList<string>)g.Key.operations.Split(','), (IReadOnlyList<string>)g.Select(x => x.resource.Resource).Distinct().Order(StringComparer.Ordinal).ToList()));

    /// <summary>
    /// A double-quoted YAML scalar: names like <c>y</c> or <c>on</c> would otherwise read as booleans. Control characters
    /// are escaped, as a multi-line CEL expression has them and a raw line break would fold into a space.
    /// </summary>
    private static string Quote(string value)
    {
        var quoted = new StringBuilder(value.Length + 2).Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': quoted.Append("\\\""); break;
                case '\\': quoted.Append("\\\\"); break;
                case '\n': quoted.Append("\\n"); break;
                case '\r': quoted.Append("\\r"); break;
                case '\t': quoted.Append("\\t"); break;
                default:
                    if (char.IsControl(c) || c is '\u0085' or '\u2028' or '\u2029' or '\ufeff')
                    {
                        quoted.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        quoted.Append(c);
                    }

                    break;
            }
        }

        return quoted.Append('"').ToString();
    }

    private static void Document(StringBuilder builder, string yaml)
    {
        builder.Append("---\n").Append(yaml.TrimEnd('\n')).Append('\n');
    }
}
