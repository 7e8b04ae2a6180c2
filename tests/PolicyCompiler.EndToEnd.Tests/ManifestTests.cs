using PolicyCompiler.EndToEnd.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace PolicyCompiler.EndToEnd.Tests;

/// <summary>
/// <c>policy-compiler manifests</c>: the published binary describes its own deployment, with webhook rules derived from
/// the policies compiled into it (here the end-to-end policies: Pods and, through auto-generation, their controllers).
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class ManifestTests(WebhookFixture fixture)
{
    public const string RbacPolicyName = "e2e-rbac-reads";
    public const string NamespacedRbacPolicyName = "e2e-rbac-own-namespace";

    /// <summary>
    /// Context entries whose reads the printed RBAC must grant: a ConfigMap anywhere (templated namespace), a literal
    /// cluster-wide list, a literal object in one namespace, a POST to a literal collection, and a path with variables.
    /// The rule matches Pods of a namespace no test reviews in, so the entries are never loaded.
    /// </summary>
    public static string RbacPolicy() => """
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: e2e-rbac-reads
        spec:
          validationFailureAction: Enforce
          failurePolicy: Fail
          webhookTimeoutSeconds: 30
          rules:
            - name: reads
              match:
                any:
                - resources:
                    kinds: [Pod]
                    namespaces: [pc-rbac-never-reviewed]
              context:
              - name: perNamespace
                configMap:
                  name: "{{ request.namespace }}-keys"
                  namespace: "{{ request.namespace }}"
              - name: nodes
                apiCall:
                  urlPath: /api/v1/nodes
                  jmesPath: "items | length(@)"
              - name: web
                apiCall:
                  urlPath: /apis/apps/v1/namespaces/payments/deployments/web
              - name: review
                apiCall:
                  urlPath: /apis/authorization.k8s.io/v1/subjectaccessreviews
                  method: POST
                  data:
                  - key: kind
                    value: SubjectAccessReview
              - name: replicas
                apiCall:
                  urlPath: "/apis/apps/v1/namespaces/{{ request.namespace }}/deployments"
                  default: []
              verifyImages:
              - imageReferences: ["127.0.0.1:*/e2e/rbac-never/*"]
                mutateDigest: false
                verifyDigest: true
        """;

    /// <summary>A namespaced Policy's ConfigMap without a namespace: the policy's own namespace, and only it.</summary>
    public static string NamespacedRbacPolicy() => """
        apiVersion: kyverno.io/v1
        kind: Policy
        metadata:
          name: e2e-rbac-own-namespace
          namespace: team-rbac
        spec:
          validationFailureAction: Enforce
          failurePolicy: Fail
          webhookTimeoutSeconds: 30
          rules:
            - name: reads
              match:
                any:
                - resources:
                    kinds: [Pod]
              context:
              - name: settings
                configMap:
                  name: settings
              verifyImages:
              - imageReferences: ["127.0.0.1:*/e2e/rbac-never/*"]
                mutateDigest: false
                verifyDigest: true
        """;

    private async Task<List<YamlMappingNode>> RenderAsync(params string[] arguments)
    {
        var result = (await ProcessRunner.RunAsync(fixture.Published.Executable, ["manifests", .. arguments], TimeSpan.FromSeconds(30))).EnsureSuccess();
        // The captured log prefixes each line with its stream ("out| ", "err| "); the manifests are standard output.
        var manifests = string.Join('\n', result.Output.Split('\n').Where(l => l.StartsWith("out| ", StringComparison.Ordinal)).Select(l => l["out| ".Length..]));
        var stream = new YamlStream();
        stream.Load(new StringReader(manifests));
        return [.. stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>()];
    }

    private static string Text(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            node = ((YamlMappingNode)node).Children[new YamlScalarNode(key)];
        }

        return ((YamlScalarNode)node).Value!;
    }

    [Fact]
    public async Task ManifestsDeployTheBinaryWithTwoReplicasBehindAServiceAndBudget()
    {
        var documents = await RenderAsync("--namespace", "pc-e2e", "--image", "registry.example/policy-compiler:e2e");

        Assert.Equal(
            ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Role", "RoleBinding", "Role", "RoleBinding", "Service", "Deployment", "PodDisruptionBudget", "Issuer", "Certificate", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"],
            documents.Select(d => Text(d, "kind")));
        var deployment = documents.Single(d => Text(d, "kind") == "Deployment");
        Assert.Equal("2", Text(deployment, "spec", "replicas"));
        Assert.Equal("pc-e2e", Text(deployment, "metadata", "namespace"));
        var container = (YamlMappingNode)((YamlSequenceNode)((YamlMappingNode)((YamlMappingNode)((YamlMappingNode)deployment["spec"])["template"])["spec"])["containers"])[0];
        Assert.Equal("registry.example/policy-compiler:e2e", Text(container, "image"));
        Assert.Equal("true", Text(container, "securityContext", "readOnlyRootFilesystem"));
    }

    [Fact]
    public async Task TheClusterRoleLetsTheWebhookGetGlobalContextEntriesWhenAPolicyReadsThem()
    {
        var documents = await RenderAsync("--namespace", "pc-e2e");

        // The end-to-end policies include one with globalReference entries (GlobalContextAdmissionTests).
        var role = documents.Single(d => Text(d, "kind") == "ClusterRole");
        var rules = ((YamlSequenceNode)role["rules"]).Children.Cast<YamlMappingNode>().ToList();
        var kyverno = Assert.Single(rules, r => ((YamlSequenceNode)r["apiGroups"]).Children.Cast<YamlScalarNode>().Any(g => g.Value == "kyverno.io"));
        Assert.Equal(["globalcontextentries"], ((YamlSequenceNode)kyverno["resources"]).Children.Cast<YamlScalarNode>().Select(n => n.Value));
        Assert.Equal(["get"], ((YamlSequenceNode)kyverno["verbs"]).Children.Cast<YamlScalarNode>().Select(n => n.Value));
    }

    private static List<(string Group, string Resources, string Verb, string Names)> RulesOf(YamlMappingNode role)
    {
        static string Join(YamlMappingNode rule, string key) =>
            rule.Children.TryGetValue(new YamlScalarNode(key), out var node) ? string.Join(",", ((YamlSequenceNode)node).Children.Cast<YamlScalarNode>().Select(n => n.Value)) : string.Empty;

        return [.. ((YamlSequenceNode)role["rules"]).Children.Cast<YamlMappingNode>().Select(r => (Join(r, "apiGroups"), Join(r, "resources"), Join(r, "verbs"), Join(r, "resourceNames")))];
    }

    [Fact]
    public async Task TheClusterRoleGrantsOnlyTheReadsThatCanBeInAnyNamespace()
    {
        var documents = await RenderAsync("--namespace", "pc-e2e");
        var role = documents.Single(d => Text(d, "kind") == "ClusterRole");

        // Secrets: Pod pull secrets live in the Pod's namespace. Namespaces: one GET for a namespaceSelector, no list or
        // watch. ConfigMaps: a ClusterPolicy entry with a templated namespace. Nodes: a literal collection path, listed.
        // SubjectAccessReviews: a POST to a literal collection, created.
        Assert.Equal(
            [
                ("", "configmaps,namespaces,secrets", "get", ""),
                ("", "nodes", "list", ""),
                ("authorization.k8s.io", "subjectaccessreviews", "create", ""),
                ("kyverno.io", "globalcontextentries", "get", ""),
                ("rbac.authorization.k8s.io", "clusterrolebindings,rolebindings", "list", ""),
            ],
            RulesOf(role));
    }

    [Fact]
    public async Task ReadsKnownToStayInOneNamespaceAreGrantedByARoleThereBoundToTheServiceAccount()
    {
        var documents = await RenderAsync("--namespace", "pc-e2e", "--name", "pc");

        var roles = documents.Where(d => Text(d, "kind") == "Role").ToDictionary(d => Text(d, "metadata", "namespace"));
        Assert.Equal(["kyverno", "payments", "team-rbac"], roles.Keys.Order(StringComparer.Ordinal));
        // The ConfigMap the e2e-keys-from-configmap ClusterPolicy names, in the namespace it names.
        Assert.Equal([("", "configmaps", "get", "keys")], RulesOf(roles["kyverno"]));
        // A literal apiCall path to one object: get on that object only.
        Assert.Equal([("apps", "deployments", "get", "web")], RulesOf(roles["payments"]));
        // A namespaced Policy's ConfigMap, namespace unwritten: the policy's own.
        Assert.Equal([("", "configmaps", "get", "settings")], RulesOf(roles["team-rbac"]));

        var bindings = documents.Where(d => Text(d, "kind") == "RoleBinding").ToList();
        Assert.Equal(["kyverno", "payments", "team-rbac"], bindings.Select(b => Text(b, "metadata", "namespace")).Order(StringComparer.Ordinal));
        Assert.All(bindings, b =>
        {
            Assert.Equal("Role", Text(b, "roleRef", "kind"));
            Assert.Equal("pc", Text(b, "roleRef", "name"));
            var subject = (YamlMappingNode)((YamlSequenceNode)b["subjects"])[0];
            Assert.Equal(("ServiceAccount", "pc", "pc-e2e"), (Text(subject, "kind"), Text(subject, "name"), Text(subject, "namespace")));
        });
    }

    [Fact]
    public async Task AnApiCallPathWithVariablesIsNamedInACommentForTheOperatorToGrant()
    {
        var text = await RenderTextAsync("--namespace", "pc-e2e");

        // "\nkind:" at the start of a line: the ClusterRoleBinding names the ClusterRole too, indented under roleRef.
        var clusterRole = text.Split("---\n").Single(d => d.Contains("\nkind: ClusterRole\n", StringComparison.Ordinal));
        var comments = clusterRole.Split('\n').Where(l => l.StartsWith('#')).ToList();
        Assert.Contains("whose path has variables", comments[0], StringComparison.Ordinal);
        // The rule and its Pod-controller variants (autogen copies the context), each named; no other entry is listed.
        Assert.Contains("#   \"e2e-rbac-reads rule reads context replicas: GET /apis/apps/v1/namespaces/{{ request.namespace }}/deployments\"", comments);
        Assert.True(comments.Count > 2, string.Join('\n', comments));
        Assert.All(comments.Skip(1), c => Assert.EndsWith(" context replicas: GET /apis/apps/v1/namespaces/{{ request.namespace }}/deployments\"", c, StringComparison.Ordinal));
    }

    [Fact]
    public async Task WebhookRulesCoverExactlyTheCompiledKindsAndSkipTheOwnNamespace()
    {
        var documents = await RenderAsync("--namespace", "pc-e2e");

        foreach (var kind in new[] { "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration" })
        {
            var configuration = documents.Single(d => Text(d, "kind") == kind);
            var path = kind.StartsWith("Mutating", StringComparison.Ordinal) ? "/mutate" : "/validate";
            // The namespaced e2e-rbac-own-namespace Policy has a webhook of its own namespace, left out here.
            var webhooks = ((YamlSequenceNode)configuration["webhooks"]).Children.Cast<YamlMappingNode>()
                .Where(w => Text(w, "clientConfig", "service", "path") == path && !Text(w, "name").Contains("-ns-", StringComparison.Ordinal))
                .ToList();

            // One shared webhook per failure policy and timeout: the fixture's policies use Fail and Ignore, with 30 s,
            // and the stalled-registry policies 5 s (the policy with matchConditions, Ignore and 12 s, is not among them).
            Assert.Equal(
                ["Fail/30", "Fail/5", "Ignore/30", "Ignore/5"],
                webhooks.Select(w => Text(w, "failurePolicy") + "/" + Text(w, "timeoutSeconds")).Order(StringComparer.Ordinal));
            var webhook = webhooks.Single(w => Text(w, "failurePolicy") == "Fail" && Text(w, "timeoutSeconds") == "30");
            Assert.False(webhook.Children.ContainsKey(new YamlScalarNode("matchConditions")));
            var selector = (YamlMappingNode)((YamlSequenceNode)((YamlMappingNode)webhook["namespaceSelector"])["matchExpressions"])[0];
            Assert.Equal("NotIn", Text(selector, "operator"));
            Assert.Equal("pc-e2e", ((YamlScalarNode)((YamlSequenceNode)selector["values"])[0]).Value);

            var resources = ((YamlSequenceNode)webhook["rules"]).Children.Cast<YamlMappingNode>()
                .SelectMany(rule => ((YamlSequenceNode)rule["resources"]).Children.Select(r => ((YamlScalarNode)r).Value!))
                .Order(StringComparer.Ordinal);
            Assert.Equal(["cronjobs", "daemonsets", "deployments", "jobs", "pods", "replicasets", "replicationcontrollers", "statefulsets"], resources);
        }
    }

    [Fact]
    public async Task APolicyWithMatchConditionsHasAWebhookOfItsOwnInEachConfiguration()
    {
        var documents = await RenderAsync("--namespace", "pc-e2e");

        foreach (var (kind, verb) in new[] { ("MutatingWebhookConfiguration", "mutate"), ("ValidatingWebhookConfiguration", "validate") })
        {
            var configuration = documents.Single(d => Text(d, "kind") == kind);
            var webhooks = ((YamlSequenceNode)configuration["webhooks"]).Children.Cast<YamlMappingNode>().ToList();

            // Every webhook but this one goes to the shared path, which skips the policy whatever the API server sends.
            var webhook = Assert.Single(webhooks, w => Text(w, "clientConfig", "service", "path") != "/" + verb);
            Assert.Equal($"/{verb}/policy/{MatchConditionAdmissionTests.PolicyName}", Text(webhook, "clientConfig", "service", "path"));
            Assert.Equal($"{MatchConditionAdmissionTests.PolicyName}.cluster.{verb}-policy.policy-compiler.policycompiler.dev", Text(webhook, "name"));
            Assert.Equal("Ignore", Text(webhook, "failurePolicy"));
            Assert.Equal("12", Text(webhook, "timeoutSeconds"));
            Assert.Equal("NotIn", Text((YamlMappingNode)((YamlSequenceNode)((YamlMappingNode)webhook["namespaceSelector"])["matchExpressions"])[0], "operator"));

            var conditions = ((YamlSequenceNode)webhook["matchConditions"]).Children.Cast<YamlMappingNode>().ToList();
            Assert.Equal(["not-kube-system", "policies.example.com/mc-pods"], conditions.Select(c => Text(c, "name")));
            Assert.Equal("request.namespace != 'kube-system'", Text(conditions[0], "expression"));
            Assert.Equal("has(object.metadata.name) &&\nobject.metadata.name.startsWith(\"mc-\")\n", Text(conditions[1], "expression"));

            // The policy's rule and its auto-generated variants: Pods and the Pod controllers.
            var resources = ((YamlSequenceNode)webhook["rules"]).Children.Cast<YamlMappingNode>()
                .SelectMany(rule => ((YamlSequenceNode)rule["resources"]).Children.Select(r => ((YamlScalarNode)r).Value!))
                .Order(StringComparer.Ordinal);
            Assert.Equal(["cronjobs", "daemonsets", "deployments", "jobs", "pods", "replicasets", "replicationcontrollers", "statefulsets"], resources);

            // No other webhook carries conditions: the shared ones serve every other policy unconditionally.
            Assert.All(webhooks.Where(w => w != webhook), w => Assert.False(w.Children.ContainsKey(new YamlScalarNode("matchConditions"))));
        }
    }

    /// <summary>
    /// The printed manifests against the Kubernetes OpenAPI schemas (and cert-manager's, for Issuer and Certificate),
    /// offline: kubectl validates only with an API server to download the schema from, so this uses
    /// <c>build/manifest-validation</c> (the kubernetes-models validators, compiled from those schemas; installed by
    /// build/test.sh). Types, enums, required fields and formats are checked; unknown fields are not (the schemas allow
    /// them, as the API server's non-strict decoding does).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task PrintedManifestsAreValidAgainstTheKubernetesSchemas(bool ownCa)
    {
        using var work = new TempDirectory("manifests");
        List<string> arguments = ["--namespace", "pc-e2e", "--image", "registry.example/policy-compiler:e2e"];
        if (ownCa)
        {
            // --ca-file: the webhook configurations carry the CA bundle themselves and no cert-manager objects are printed.
            var ca = work.Combine("ca.pem");
            File.WriteAllText(ca, fixture.Certificate.CertificatePem);
            arguments.AddRange(["--ca-file", ca]);
        }

        var manifests = work.Combine("manifests.yaml");
        File.WriteAllText(manifests, await RenderTextAsync([.. arguments]));

        var result = await ManifestValidator.RunAsync(manifests);

        Assert.True(result.ExitCode == 0, "the printed manifests do not validate:\n" + result.Output + "\n" + File.ReadAllText(manifests));
        var valid = result.Output.Split('\n').Count(l => l.Contains("| valid ", StringComparison.Ordinal));
        // Three Roles and their RoleBindings beside the cluster-wide objects.
        Assert.Equal(ownCa ? 14 : 16, valid);
    }

    [Fact]
    public async Task TheValidatorRefusesAManifestTheApiServerWouldRefuse()
    {
        // Fault injected on purpose: a printed Deployment with one field of the wrong type and an enum value Kubernetes
        // does not know, and match conditions without their expression, so that the test above cannot pass because the
        // validator accepts everything.
        using var work = new TempDirectory("manifests-bad");
        var manifests = work.Combine("manifests.yaml");
        var text = await RenderTextAsync("--namespace", "pc-e2e");
        const string Expression = "        expression: \"request.namespace != 'kube-system'\"\n";
        Assert.Contains(Expression, text, StringComparison.Ordinal);
        File.WriteAllText(manifests, text.Replace("replicas: 2", "replicas: two", StringComparison.Ordinal).Replace("scheme: HTTPS", "scheme: GOPHER", StringComparison.Ordinal).Replace(Expression, string.Empty, StringComparison.Ordinal));

        var result = await ManifestValidator.RunAsync(manifests);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("invalid Deployment/", result.Output, StringComparison.Ordinal);
        Assert.Contains("/spec/replicas must be integer", result.Output, StringComparison.Ordinal);
        Assert.Contains("scheme must be equal to one of the allowed values", result.Output, StringComparison.Ordinal);
        Assert.Contains("invalid MutatingWebhookConfiguration/", result.Output, StringComparison.Ordinal);
        Assert.Contains("invalid ValidatingWebhookConfiguration/", result.Output, StringComparison.Ordinal);
        Assert.Contains("/matchConditions/0 must have required property", result.Output, StringComparison.Ordinal);
    }

    private async Task<string> RenderTextAsync(params string[] arguments)
    {
        var result = (await ProcessRunner.RunAsync(fixture.Published.Executable, ["manifests", .. arguments], TimeSpan.FromSeconds(30))).EnsureSuccess();
        return string.Join('\n', result.Output.Split('\n').Where(l => l.StartsWith("out| ", StringComparison.Ordinal)).Select(l => l["out| ".Length..])) + "\n";
    }

    [Fact]
    public async Task AnUnknownOptionIsRefusedWithAReason()
    {
        var result = await ProcessRunner.RunAsync(fixture.Published.Executable, ["manifests", "--replicas", "zero"], TimeSpan.FromSeconds(30));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--replicas (a positive number)", result.Output, StringComparison.Ordinal);
    }
}
