using System.Text.Json;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// The match filters that read the request beyond kind and name: <c>selector</c>, <c>namespaceSelector</c>,
/// <c>annotations</c> and <c>subjects</c>, compiled and run through the admission engine. As in
/// <see cref="PreconditionTests"/>, the policies only demand digests (<c>verifyDigest</c>), so "missing digest" in a
/// denial shows that the rule matched, without a registry.
/// </summary>
public sealed class MatchSelectorTests
{
    private const string File = GeneratorHarness.PolicyDirectory + "policy.yaml";

    private static string Policy(string filter, string exclude = "") => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: pinned
        spec:
          validationFailureAction: Enforce
          rules:
            - name: pinned
              match:
                any:
                - resources:
                    kinds: [Pod]
        {{filter}}
        {{exclude}}
              verifyImages:
              - imageReferences: ["*"]
                mutateDigest: false
                verifyDigest: true
        """;

    private static AdmissionEngine Engine(string yaml, INamespaceLabelSource? namespaces = null) =>
        new(
            Load(("policy.yaml", yaml)),
            new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)),
            new AdmissionEngineServices { Namespaces = namespaces });

    private static AdmissionRequest Pod(string metadata = "", string? user = null, string[]? groups = null, string ns = "team-a") => new()
    {
        Uid = "00000000-0000-0000-0000-000000000003",
        Kind = new GroupVersionKind { Group = "", Version = "v1", Kind = "Pod" },
        Namespace = ns,
        Name = "app",
        Operation = "CREATE",
        UserInfo = user is null ? null : new UserInfo { Username = user, Groups = groups },
        Object = JsonDocument.Parse(
            """{"apiVersion":"v1","kind":"Pod","metadata":{"name":"app" """ + metadata
            + """},"spec":{"containers":[{"name":"app","image":"registry.invalid/org/app:v1"}]}}""").RootElement,
    };

    private static async Task<bool> Applies(AdmissionEngine engine, AdmissionRequest request)
    {
        var response = await engine.ValidateAsync(request, CancellationToken.None);
        if (response.Allowed)
        {
            Assert.Null(response.Warnings);
            return false;
        }

        Assert.Contains("missing digest for registry.invalid/org/app:v1", response.Status!.Message, StringComparison.Ordinal);
        return true;
    }

    private static StaticNamespaceLabels Namespaces(params (string Name, string Labels)[] namespaces) =>
        new(namespaces.ToDictionary(n => n.Name, n => LabelSet.FromJson(JsonDocument.Parse(n.Labels).RootElement), StringComparer.Ordinal));

    [Fact]
    public async Task Selector_match_labels_and_expressions_follow_kubernetes_operators()
    {
        var engine = Engine(Policy("""
                        selector:
                          matchLabels:
                            app: web
                          matchExpressions:
                          - key: tier
                            operator: In
                            values: [frontend, edge]
                          - key: env
                            operator: NotIn
                            values: [dev]
                          - key: owner
                            operator: Exists
                          - key: skip-verify
                            operator: DoesNotExist
            """));

        Assert.True(await Applies(engine, Pod(""","labels":{"app":"web","tier":"edge","owner":"me"}""")));
        Assert.True(await Applies(engine, Pod(""","labels":{"app":"web","tier":"frontend","env":"prod","owner":"me"}""")));
        Assert.False(await Applies(engine, Pod(""","labels":{"app":"api","tier":"edge","owner":"me"}""")));
        Assert.False(await Applies(engine, Pod(""","labels":{"app":"web","tier":"backend","owner":"me"}""")));
        Assert.False(await Applies(engine, Pod(""","labels":{"app":"web","tier":"edge","env":"dev","owner":"me"}""")));
        Assert.False(await Applies(engine, Pod(""","labels":{"app":"web","tier":"edge"}""")));
        Assert.False(await Applies(engine, Pod(""","labels":{"app":"web","tier":"edge","owner":"me","skip-verify":""}""")));
        Assert.False(await Applies(engine, Pod()));
    }

    [Fact]
    public async Task Selector_wildcards_in_keys_and_values_match_as_kyverno_substitutes_them()
    {
        var engine = Engine(Policy("""
                        selector:
                          matchLabels:
                            "app.kubernetes.io/*": "web-?"
            """));

        Assert.True(await Applies(engine, Pod(""","labels":{"app.kubernetes.io/name":"web-1"}""")));
        Assert.False(await Applies(engine, Pod(""","labels":{"app.kubernetes.io/name":"web-10"}""")));
        Assert.False(await Applies(engine, Pod(""","labels":{"app/name":"web-1"}""")));
    }

    [Fact]
    public async Task Empty_selector_matches_every_resource_as_in_kubernetes()
    {
        var engine = Engine(Policy("""
                        selector: {}
            """));

        Assert.True(await Applies(engine, Pod()));
    }

    [Fact]
    public async Task Annotations_must_all_be_present_with_wildcards_on_keys_and_values()
    {
        var engine = Engine(Policy("""
                        annotations:
                          "security.example.com/*": "strict"
                          team: "pay*"
            """));

        Assert.True(await Applies(engine, Pod(""","annotations":{"security.example.com/level":"strict","team":"payments"}""")));
        Assert.False(await Applies(engine, Pod(""","annotations":{"security.example.com/level":"strict"}""")));
        Assert.False(await Applies(engine, Pod(""","annotations":{"security.example.com/level":"lax","team":"payments"}""")));
    }

    [Fact]
    public async Task Exclude_by_subjects_lets_system_service_accounts_and_groups_through()
    {
        var engine = Engine(Policy(string.Empty, """
                  exclude:
                    any:
                    - subjects:
                      - kind: ServiceAccount
                        name: replicaset-controller
                        namespace: kube-system
                      - kind: Group
                        name: "break-glass:*"
                      - kind: User
                        name: admin@example.com
            """));

        Assert.True(await Applies(engine, Pod(user: "alice@example.com", groups: ["system:authenticated"])));
        Assert.True(await Applies(engine, Pod(user: "system:serviceaccount:default:replicaset-controller")));
        Assert.True(await Applies(engine, Pod()));
        Assert.False(await Applies(engine, Pod(user: "system:serviceaccount:kube-system:replicaset-controller")));
        Assert.False(await Applies(engine, Pod(user: "bob@example.com", groups: ["system:authenticated", "break-glass:oncall"])));
        Assert.False(await Applies(engine, Pod(user: "admin@example.com")));
    }

    [Fact]
    public async Task Service_account_wildcards_match_any_service_account_but_no_user()
    {
        // Kyverno's conformance case for issue 7938: system:serviceaccount:?*:?* names service accounts only.
        var engine = Engine(Policy("""
                      subjects:
                      - kind: ServiceAccount
                        name: "?*"
                        namespace: "?*"
            """));

        Assert.True(await Applies(engine, Pod(user: "system:serviceaccount:ci:deployer")));
        Assert.False(await Applies(engine, Pod(user: "kubernetes-admin", groups: ["system:masters"])));
    }

    [Fact]
    public async Task Namespace_selector_reads_the_labels_of_the_request_namespace()
    {
        var engine = Engine(
            Policy("""
                        namespaceSelector:
                          matchExpressions:
                          - key: environment
                            operator: In
                            values: [production]
            """),
            Namespaces(("prod-a", """{"environment":"production"}"""), ("dev-a", """{"environment":"dev"}""")));

        Assert.True(await Applies(engine, Pod(ns: "prod-a")));
        Assert.False(await Applies(engine, Pod(ns: "dev-a")));
    }

    [Fact]
    public async Task Namespace_labels_that_cannot_be_read_fail_closed_unless_failure_policy_is_ignore()
    {
        const string Selector = """
                        namespaceSelector:
                          matchLabels:
                            environment: production
            """;
        var failing = Engine(Policy(Selector), Namespaces(("prod-a", """{"environment":"production"}""")));
        var ignoring = Engine(Policy(Selector).Replace("validationFailureAction: Enforce", "validationFailureAction: Enforce\n  failurePolicy: Ignore", StringComparison.Ordinal), Namespaces());
        var noApi = Engine(Policy(Selector));

        var denied = await failing.ValidateAsync(Pod(ns: "unknown"), CancellationToken.None);
        var warned = await ignoring.ValidateAsync(Pod(ns: "prod-a"), CancellationToken.None);
        var noApiDenied = await noApi.ValidateAsync(Pod(ns: "prod-a"), CancellationToken.None);

        Assert.False(denied.Allowed);
        Assert.Contains("failed to read the labels of namespace unknown", denied.Status!.Message, StringComparison.Ordinal);
        Assert.True(warned.Allowed);
        // Kyverno's warning format for a rule error under failurePolicy: Ignore: "policy <policy>.<rule>: <message>".
        Assert.Contains(warned.Warnings!, w => w.StartsWith("policy ", StringComparison.Ordinal) && w.Contains(": failed to read the labels of namespace prod-a", StringComparison.Ordinal));
        Assert.False(noApiDenied.Allowed);
        Assert.Contains("no Kubernetes API is configured", noApiDenied.Status!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unreadable_namespace_labels_do_not_matter_to_a_rule_that_covers_none_of_the_images()
    {
        var engine = Engine(
            Policy("""
                        namespaceSelector:
                          matchLabels:
                            environment: production
            """).Replace("""imageReferences: ["*"]""", """imageReferences: ["ghcr.io/acme/*"]""", StringComparison.Ordinal),
            Namespaces());

        var response = await engine.ValidateAsync(Pod(ns: "unknown"), CancellationToken.None);

        Assert.True(response.Allowed);
        Assert.Null(response.Warnings);
    }

    [Fact]
    public async Task Namespace_selector_on_a_cluster_scoped_request_sees_no_labels()
    {
        var engine = Engine(
            Policy("""
                        namespaceSelector:
                          matchExpressions:
                          - key: environment
                            operator: DoesNotExist
            """),
            Namespaces());

        Assert.True(await Applies(engine, Pod(ns: "")));
    }

    [Fact]
    public void Filters_on_pod_labels_or_annotations_get_no_controller_rules_but_namespace_selectors_do()
    {
        var labelled = Assert.Single(Load(("policy.yaml", Policy("""
                        selector:
                          matchLabels:
                            app: web
            """))));
        var byNamespace = Assert.Single(Load(("policy.yaml", Policy("""
                        namespaceSelector:
                          matchLabels:
                            environment: production
            """))));

        Assert.Equal(["pinned"], labelled.Rules.Select(r => r.Name));
        Assert.Equal(["pinned", "autogen-pinned", "autogen-cronjob-pinned"], byNamespace.Rules.Select(r => r.Name));
        Assert.All(byNamespace.Rules, r => Assert.True(r.ReadsNamespaceLabels));
        Assert.False(labelled.Rules[0].ReadsNamespaceLabels);
    }

    [Theory]
    [InlineData("operator: Contains\n                values: [a]", "'Contains' is not a valid value for 'operator'", 16, 27)]
    [InlineData("operator: In", "operator In needs at least one value", 16, 27)]
    [InlineData("operator: Exists\n                values: [a]", "operator Exists takes no values", 16, 27)]
    public void Invalid_selector_requirements_are_build_errors(string requirement, string message, int line, int column)
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy($$"""
                        selector:
                          matchExpressions:
                          - key: app
                            {{requirement}}
            """));

        var diagnostic = Assert.Single(run.GeneratorDiagnostics);
        DiagnosticAssert.MessageContains(diagnostic, message);
        DiagnosticAssert.At(diagnostic, File, line, column);
    }

    [Theory]
    [InlineData("- kind: Robot\n            name: r2", "'Robot' is not a valid value for 'kind'")]
    [InlineData("- kind: ServiceAccount\n            name: deployer", "requires 'namespace'")]
    [InlineData("- kind: User\n            name: alice\n            namespace: default", "only a ServiceAccount subject has a namespace")]
    public void Invalid_subjects_are_build_errors(string subject, string message)
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy($$"""
                      subjects:
                      {{subject}}
            """));

        DiagnosticAssert.MessageContains(Assert.Single(run.GeneratorDiagnostics), message);
    }

    private static AdmissionEngine RoleEngine(string yaml, IRoleBindingSource? bindings) =>
        new(
            Load(("policy.yaml", yaml)),
            new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)),
            new AdmissionEngineServices { RoleBindings = bindings });

    private static RbacBinding Binding(string? ns, string kind, string name, params RbacSubject[] subjects) => new(ns, kind, name, subjects);

    /// <summary>
    /// Bindings of a small cluster: alice deploys in team-a through a Role; the ops group holds the ClusterRole
    /// admin through a RoleBinding in team-b; the builder service account of team-a is bound to the ClusterRole ci
    /// cluster-wide; bob has the Role auditor in team-b only.
    /// </summary>
    private static readonly StaticRoleBindings Cluster = new(
        [
            Binding("team-a", "Role", "deployer", new RbacSubject("User", "alice", null)),
            Binding("team-b", "ClusterRole", "admin", new RbacSubject("Group", "ops", null)),
            Binding("team-b", "Role", "auditor", new RbacSubject("User", "bob", null)),
            Binding("team-a", "Role", "builder", new RbacSubject("ServiceAccount", "builder", "elsewhere")),
        ],
        [
            Binding(null, "ClusterRole", "ci", new RbacSubject("ServiceAccount", "builder", "team-a")),
            Binding(null, "Role", "ignored", new RbacSubject("User", "carol", null)),
        ]);

    [Fact]
    public async Task Roles_match_the_namespace_and_role_of_the_users_role_bindings_in_any_namespace()
    {
        var engine = RoleEngine(Policy("""
                      roles: ["team-a:deployer", "team-b:auditor"]
            """), Cluster);

        Assert.True(await Applies(engine, Pod(user: "alice")));
        // Kyverno reads every RoleBinding of the cluster: bob's Role in team-b matches a request in team-a.
        Assert.True(await Applies(engine, Pod(user: "bob", ns: "team-a")));
        Assert.False(await Applies(engine, Pod(user: "mallory", groups: ["developers"])));
        // A ClusterRoleBinding to a Role grants nothing, and the role name alone is not the role.
        Assert.False(await Applies(engine, Pod(user: "carol")));
    }

    [Fact]
    public async Task Service_accounts_are_bound_by_the_role_bindings_namespace_and_the_cluster_bindings_subject_namespace()
    {
        var roles = RoleEngine(Policy("""
                      roles: ["team-a:builder"]
            """), Cluster);
        var clusterRoles = RoleEngine(Policy("""
                      clusterRoles: [ci]
            """), Cluster);

        // The RoleBinding's subject says namespace "elsewhere"; Kyverno compares with the binding's own namespace.
        Assert.True(await Applies(roles, Pod(user: "system:serviceaccount:team-a:builder")));
        Assert.False(await Applies(roles, Pod(user: "system:serviceaccount:elsewhere:builder")));
        Assert.True(await Applies(clusterRoles, Pod(user: "system:serviceaccount:team-a:builder")));
        Assert.False(await Applies(clusterRoles, Pod(user: "system:serviceaccount:team-b:builder")));
        // A service account is never compared by its groups: builder's group does not make it an ops member.
        Assert.False(await Applies(RoleEngine(Policy("""
                      clusterRoles: [admin]
            """), Cluster), Pod(user: "system:serviceaccount:team-a:builder", groups: ["ops"])));
    }

    [Fact]
    public async Task Cluster_roles_come_from_role_bindings_to_cluster_roles_and_from_cluster_role_bindings()
    {
        var engine = RoleEngine(Policy("""
                      clusterRoles: [admin]
            """), Cluster);

        Assert.True(await Applies(engine, Pod(user: "dave", groups: ["ops"])));
        Assert.False(await Applies(engine, Pod(user: "alice")));
    }

    [Fact]
    public async Task Exclude_by_role_lets_the_role_holders_through_and_compares_every_user_exactly()
    {
        var counting = new CountingBindings(Cluster);
        var engine = RoleEngine(Policy(string.Empty, """
                  exclude:
                    any:
                    - roles: ["team-a:deployer"]
            """), counting);

        Assert.False(await Applies(engine, Pod(user: "alice")));
        Assert.True(await Applies(engine, Pod(user: "mallory")));
        Assert.Equal(2, counting.RoleBindingReads);
        Assert.Equal(0, counting.ClusterRoleBindingReads);

        // Kyverno 1.10+ no longer waives role checks for its excluded groups (the old excludeGroupRole): a node holds
        // no role here, so the exclusion does not apply and the rule does. Excluded users skip whole reviews instead
        // (RequestExclusionTests).
        Assert.True(await Applies(engine, Pod(user: "system:node:worker-1", groups: ["system:nodes"])));
        Assert.Equal(3, counting.RoleBindingReads);
    }

    [Fact]
    public async Task Policies_without_roles_never_read_bindings()
    {
        var counting = new CountingBindings(Cluster);
        var engine = RoleEngine(Policy("""
                      subjects:
                      - kind: User
                        name: alice
            """), counting);

        Assert.True(await Applies(engine, Pod(user: "alice")));
        Assert.Equal(0, counting.RoleBindingReads + counting.ClusterRoleBindingReads);
    }

    [Fact]
    public async Task Unreadable_bindings_are_an_error_that_failure_policy_decides()
    {
        const string Roles = """
                      roles: ["team-a:deployer"]
            """;
        var failing = RoleEngine(Policy(Roles), new FailingBindings());
        var ignoring = RoleEngine(Policy(Roles).Replace("validationFailureAction: Enforce", "validationFailureAction: Enforce\n  failurePolicy: Ignore", StringComparison.Ordinal), new FailingBindings());
        var noApi = RoleEngine(Policy(Roles), null);

        var denied = await failing.ValidateAsync(Pod(user: "alice"), CancellationToken.None);
        var warned = await ignoring.ValidateAsync(Pod(user: "alice"), CancellationToken.None);
        var noApiDenied = await noApi.ValidateAsync(Pod(user: "alice"), CancellationToken.None);

        Assert.False(denied.Allowed);
        // The denial folds long reasons as Kyverno's YAML encoder does; the words are what counts here.
        Assert.Contains("failed to read the RBAC bindings of the requesting user: the API server answered 403", Words(denied.Status!.Message), StringComparison.Ordinal);
        Assert.True(warned.Allowed, warned.Status?.Message);
        Assert.Contains(warned.Warnings!, w => w.StartsWith("policy pinned.pinned: failed to read the RBAC bindings", StringComparison.Ordinal));
        Assert.False(noApiDenied.Allowed);
        Assert.Contains("no Kubernetes API is configured for roles and clusterRoles", Words(noApiDenied.Status!.Message), StringComparison.Ordinal);
    }

    [Fact]
    public void Rules_with_roles_ask_for_the_kind_of_roles_they_compare_and_keep_their_controller_rules()
    {
        var both = Assert.Single(Load(("policy.yaml", Policy("""
                      roles: ["team-a:deployer"]
            """, """
                  exclude:
                    any:
                    - clusterRoles: [admin]
            """))));

        Assert.Equal(["pinned", "autogen-pinned", "autogen-cronjob-pinned"], both.Rules.Select(r => r.Name));
        Assert.All(both.Rules, r => Assert.Equal(RoleUse.Roles | RoleUse.ClusterRoles, r.Roles));
    }

    [Theory]
    [InlineData("roles: [deployer]", "'deployer' is not a valid role: a role is written namespace:name", 13, 19)]
    [InlineData("roles: [\"team-*:deployer\"]", "'team-*:deployer' is not a valid role", 13, 19)]
    [InlineData("clusterRoles: [\"admin-*\"]", "'admin-*' is not a valid cluster role", 13, 26)]
    public void Roles_that_can_never_match_are_build_errors(string filter, string message, int line, int column)
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("          " + filter));

        var diagnostic = Assert.Single(run.GeneratorDiagnostics);
        Assert.Equal("PC0015", diagnostic.Id);
        DiagnosticAssert.MessageContains(diagnostic, message);
        DiagnosticAssert.At(diagnostic, File, line, column);
    }

    private static string Words(string? message) => string.Join(' ', (message ?? string.Empty).Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries));

    private sealed class CountingBindings(IRoleBindingSource inner) : IRoleBindingSource
    {
        public int RoleBindingReads { get; private set; }

        public int ClusterRoleBindingReads { get; private set; }

        public ValueTask<IReadOnlyList<RbacBinding>> GetRoleBindingsAsync(CancellationToken cancellationToken)
        {
            RoleBindingReads++;
            return inner.GetRoleBindingsAsync(cancellationToken);
        }

        public ValueTask<IReadOnlyList<RbacBinding>> GetClusterRoleBindingsAsync(CancellationToken cancellationToken)
        {
            ClusterRoleBindingReads++;
            return inner.GetClusterRoleBindingsAsync(cancellationToken);
        }
    }

    /// <summary>Fault injection: an API server that refuses the list (a missing RBAC permission).</summary>
    private sealed class FailingBindings : IRoleBindingSource
    {
        public ValueTask<IReadOnlyList<RbacBinding>> GetRoleBindingsAsync(CancellationToken cancellationToken) =>
            throw new RoleBindingException("the API server answered 403 to the read of rolebindings");

        public ValueTask<IReadOnlyList<RbacBinding>> GetClusterRoleBindingsAsync(CancellationToken cancellationToken) =>
            throw new RoleBindingException("the API server answered 403 to the read of clusterrolebindings");
    }
}
