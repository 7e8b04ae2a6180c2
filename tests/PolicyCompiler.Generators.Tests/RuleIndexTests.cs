using System.Collections.Immutable;
using System.Text.Json;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// The engine visits only the rules whose kinds (emitted by the generator) could match a review. The decisions must be
/// those of visiting every rule: the same policies with their kinds removed are the reference, since a rule without
/// kinds is offered every request, as every rule was before the index.
/// </summary>
public sealed class RuleIndexTests
{
    private static string Cluster(string name, string kinds, string action = "Enforce", string extra = "") => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: {{name}}
        spec:
          validationFailureAction: {{action}}
          rules:
            - name: {{name}}-rule
              match:
                any:
                - resources:
                    kinds: {{kinds}}
        {{extra}}
              verifyImages:
              - imageReferences: ["registry.invalid/*"]
                mutateDigest: false
                verifyDigest: true
        """;

    private static string Namespaced(string name, string @namespace) => $$"""
        apiVersion: kyverno.io/v1
        kind: Policy
        metadata:
          name: {{name}}
          namespace: {{@namespace}}
        spec:
          validationFailureAction: Enforce
          rules:
            - name: {{name}}-rule
              match:
                any:
                - resources:
                    kinds: [Pod]
              verifyImages:
              - imageReferences: ["registry.invalid/*"]
                mutateDigest: false
                verifyDigest: true
        """;

    private const string AllFilters = """
              match:
                all:
                - resources:
                    kinds: [Pod, StatefulSet]
                - resources:
                    kinds: [Pod]
                    namespaces: [team-a]
              verifyImages:
              - imageReferences: ["registry.invalid/*"]
                mutateDigest: false
                verifyDigest: true
        """;

    private static readonly (string Name, string Yaml)[] s_policies =
    [
        ("pod.yaml", Cluster("pod", "[Pod]")),
        ("deployment.yaml", Cluster("deployment", "[Deployment]")),
        ("audit.yaml", Cluster("audit", "[Pod, Job]", "Audit")),
        ("team-a.yaml", Namespaced("team-a-pods", "team-a")),
        ("wildcard.yaml", Cluster("wildcard", "[\"*\"]")),
        ("pattern.yaml", Cluster("pattern", "[\"Po?\"]")),
        ("team-b.yaml", Namespaced("team-b-pods", "team-b")),
        ("grouped.yaml", Cluster("grouped", "[apps/v1/StatefulSet, example.com/v1/Widget]")),
        ("subresource.yaml", Cluster("subresource", "[Pod/ephemeralcontainers]")),
        ("all.yaml", """
            apiVersion: kyverno.io/v1
            kind: ClusterPolicy
            metadata:
              name: all-filters
            spec:
              validationFailureAction: Enforce
              rules:
                - name: all-filters-rule

            """ + AllFilters),
        ("team-a-again.yaml", Namespaced("team-a-again", "team-a")),
    ];

    private static readonly Lazy<ImmutableArray<PolicyDefinition>> s_compiled = new(() => Load(s_policies));

    private static AdmissionEngine Engine(ImmutableArray<PolicyDefinition> policies) =>
        new(policies, new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)));

    /// <summary>The same policies with the kinds dropped: the engine then offers every rule every request.</summary>
    private static ImmutableArray<PolicyDefinition> WithoutKinds(ImmutableArray<PolicyDefinition> policies) =>
    [
        .. policies.Select(p => new PolicyDefinition(
            p.Name,
            p.Namespace,
            p.FailureAction,
            p.FailurePolicy,
            p.WebhookTimeoutSeconds,
            p.SourcePath,
            [.. p.Rules.Select(r => new RuleDefinition(r.Name, r.Matches, r.VerifyImages, r.Webhook, r.ImageExtractors, r.Preconditions, r.Autogen, r.ReadsNamespaceLabels))])),
    ];

    private static AdmissionRequest Request(string kind, string group, string? @namespace, string image, string? subResource = null, string operation = "CREATE")
    {
        var podSpec = """{"containers":[{"name":"a","image":"IMAGE"},{"name":"b","image":"docker.io/library/other:1"}]}""".Replace("IMAGE", image, StringComparison.Ordinal);
        var body = kind switch
        {
            "Pod" => """{"metadata":{"name":"app"},"spec":SPEC}""",
            "CronJob" => """{"metadata":{"name":"app"},"spec":{"jobTemplate":{"spec":{"template":{"spec":SPEC}}}}}""",
            _ => """{"metadata":{"name":"app"},"spec":{"template":{"spec":SPEC}}}""",
        };
        body = body.Replace("SPEC", podSpec, StringComparison.Ordinal);
        return new AdmissionRequest
        {
            Uid = "00000000-0000-0000-0000-000000000009",
            Kind = new GroupVersionKind { Group = group, Version = "v1", Kind = kind },
            Namespace = @namespace,
            Name = "app",
            Operation = operation,
            SubResource = subResource,
            Object = JsonDocument.Parse(body).RootElement,
        };
    }

    private const string Tagged = "registry.invalid/org/app:v1";
    private const string Pinned = "registry.invalid/org/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    public static TheoryData<string, string, string?, string?, string> Reviews() => new()
    {
        { "Pod", "", "team-a", null, "CREATE" },
        { "Pod", "", "team-b", null, "UPDATE" },
        { "Pod", "", "team-c", null, "CREATE" },
        { "Pod", "", null, null, "CREATE" },
        { "Pod", "", "team-a", "ephemeralcontainers", "UPDATE" },
        { "Pod", "", "team-a", "status", "UPDATE" },
        { "Deployment", "apps", "team-a", null, "CREATE" },
        { "StatefulSet", "apps", "team-a", null, "CREATE" },
        { "Job", "batch", "team-b", null, "CREATE" },
        { "CronJob", "batch", "team-a", null, "CREATE" },
        { "Widget", "example.com", "team-a", null, "CREATE" },
        { "Gadget", "example.com", "team-a", null, "CREATE" },
        { "pod", "", "team-a", null, "CREATE" },
        { "Pod", "", "team-a", null, "DELETE" },
    };

    [Theory]
    [MemberData(nameof(Reviews))]
    public async Task Decisions_and_outcomes_are_those_of_visiting_every_rule(string kind, string group, string? @namespace, string? subResource, string operation)
    {
        var indexed = Engine(s_compiled.Value);
        var reference = Engine(WithoutKinds(s_compiled.Value));

        // Tags fail verifyDigest in the validating pass; digests pass both passes without a registry.
        foreach (var (image, mutate) in new[] { (Tagged, false), (Pinned, false), (Pinned, true) })
        {
            var expected = await reference.DecideWithOutcomesAsync(Request(kind, group, @namespace, image, subResource, operation), mutate, CancellationToken.None);
            var actual = await indexed.DecideWithOutcomesAsync(Request(kind, group, @namespace, image, subResource, operation), mutate, CancellationToken.None);

            Assert.Equal(expected.Response.Allowed, actual.Response.Allowed);
            Assert.Equal(expected.Response.Status?.Message, actual.Response.Status?.Message);
            Assert.Equal(expected.Response.Warnings, actual.Response.Warnings);
            Assert.Equal(expected.Response.Patch, actual.Response.Patch);
            Assert.Equal(expected.Outcomes, actual.Outcomes);
        }
    }

    [Fact]
    public async Task A_pod_in_team_a_is_judged_by_every_rule_that_names_pods_in_policy_set_order()
    {
        // Guards the equivalence test against comparing two empty answers: the reference decision itself is checked.
        var decision = await Engine(s_compiled.Value).DecideWithOutcomesAsync(Request("Pod", "", "team-a", Tagged), mutate: false, CancellationToken.None);

        Assert.False(decision.Response.Allowed);
        string[] judges = ["all-filters", "audit", "pattern", "pod", "team-a/team-a-again", "team-a/team-a-pods", "wildcard"];
        var setOrder = s_compiled.Value.Select(p => p.Namespace is null ? p.Name : p.Namespace + "/" + p.Name).Where(judges.Contains);
        Assert.Equal(judges.Order(StringComparer.Ordinal), decision.Outcomes.Select(o => o.Policy).Distinct().Order(StringComparer.Ordinal));
        Assert.Equal(setOrder, decision.Outcomes.Select(o => o.Policy).Distinct());
        Assert.Contains("missing digest for registry.invalid/org/app:v1", decision.Response.Status!.Message, StringComparison.Ordinal);

        // As in Kyverno, a blocked request carries no warnings: the Audit policy's failure is listed in the message.
        Assert.Null(decision.Response.Warnings);
        Assert.Contains("\naudit:\n", decision.Response.Status!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_namespace_labels_fail_only_reviews_of_the_kinds_the_rule_names()
    {
        // A Deployment rule with a namespaceSelector says nothing about Pods: unreadable labels must not fail a Pod.
        const string Selector = "            namespaceSelector:\n              matchLabels:\n                env: prod";
        var policies = Load(("selector.yaml", Cluster("selector", "[Deployment]", extra: Selector)));
        Assert.True(policies.SelectMany(p => p.Rules).First().ReadsNamespaceLabels);

        var pod = await Engine(policies).DecideWithOutcomesAsync(Request("Pod", "", "team-a", Tagged), mutate: false, CancellationToken.None);
        var deployment = await Engine(policies).DecideWithOutcomesAsync(Request("Deployment", "apps", "team-a", Tagged), mutate: false, CancellationToken.None);

        Assert.True(pod.Response.Allowed, pod.Response.Status?.Message);
        Assert.False(deployment.Response.Allowed);
        Assert.Contains("labels of namespace team-a are unknown", deployment.Response.Status!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Generator_emits_the_kinds_of_literal_match_blocks_only()
    {
        var rules = s_compiled.Value.SelectMany(p => p.Rules).ToDictionary(r => r.Name, r => r.Kinds.ToArray());

        Assert.Equal(["Pod"], rules["pod-rule"]);
        Assert.Equal(["Pod"], rules["team-a-pods-rule"]);
        Assert.Equal(["Job", "Pod"], rules["audit-rule"]);
        Assert.Equal(["StatefulSet", "Widget"], rules["grouped-rule"]);
        Assert.Equal(["Pod"], rules["subresource-rule"]);
        Assert.Equal(["Pod", "StatefulSet"], rules["all-filters-rule"]);
        Assert.Empty(rules["wildcard-rule"]);
        Assert.Empty(rules["pattern-rule"]);

        // Auto-generated rules name the Pod controllers.
        Assert.Equal(["DaemonSet", "Deployment", "Job", "ReplicaSet", "ReplicationController", "StatefulSet"], rules["autogen-pod-rule"]);
        Assert.Equal(["CronJob"], rules["autogen-cronjob-pod-rule"]);
    }

    [Fact]
    public async Task A_rule_of_another_kind_is_not_called()
    {
        var calls = new List<string>();
        var entry = new ImageVerificationDefinition("verifyImages[0]", _ => true, [], mutateDigest: false, verifyDigest: true, required: true, repository: null);
        RuleDefinition Rule(string name, ImmutableArray<string> kinds) => new(name, request => { calls.Add(name); return request.Kind == "Deployment"; }, [entry], kinds: kinds);
        var policy = new PolicyDefinition("p", null, FailureAction.Enforce, FailurePolicy.Fail, 10, "p.yaml", [
            Rule("deployments", ["Deployment"]),
            Rule("unknown", default),
            Rule("pattern", ["Deploy*"]),
        ]);
        var engine = Engine([policy]);

        await engine.ValidateAsync(Request("Pod", "", "team-a", Tagged), CancellationToken.None);
        Assert.Equal(["unknown", "pattern"], calls);

        calls.Clear();
        var deployment = await engine.ValidateAsync(Request("Deployment", "apps", "team-a", Tagged), CancellationToken.None);
        Assert.Equal(["deployments", "unknown", "pattern"], calls);
        Assert.False(deployment.Allowed);
    }
}
