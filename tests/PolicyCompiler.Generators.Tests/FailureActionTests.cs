using System.Text.Json;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// <c>verifyImages[].failureAction</c> (Kyverno 1.13+): the rule's own Enforce or Audit over the policy's
/// <c>validationFailureAction</c>. As in <see cref="MatchSelectorTests"/>, the entries only demand digests
/// (<c>verifyDigest</c>), so an undigested image fails the rule without a registry.
/// </summary>
public sealed class FailureActionTests
{
    private const string File = GeneratorHarness.PolicyDirectory + "policy.yaml";

    private static string Policy(string policyAction, params string?[] entryActions) => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: pinned
        spec:
          validationFailureAction: {{policyAction}}
          rules:
            - name: pinned
              match:
                any:
                - resources:
                    kinds: [Pod]
              verifyImages:
        {{string.Concat(entryActions.Select(Entry))}}
        """;

    private static string Entry(string? action, int index) =>
        $"      - imageReferences: [\"registry.invalid/org/app{index}:*\"]\n"
        + "        mutateDigest: false\n"
        + "        verifyDigest: true\n"
        + (action is null ? string.Empty : $"        failureAction: {action}\n");

    private static AdmissionEngine Engine(string yaml, INamespaceLabelSource? namespaces = null) =>
        new(
            Load(("policy.yaml", yaml)),
            new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)),
            new AdmissionEngineServices { Namespaces = namespaces });

    /// <summary>The policy with <c>validationFailureActionOverrides</c> (given at the spec's indentation) before its rules.</summary>
    private static string WithOverrides(string policy, string overrides) =>
        policy.Replace("  rules:\n", "  validationFailureActionOverrides:\n" + overrides + "\n  rules:\n", StringComparison.Ordinal);

    private static StaticNamespaceLabels Namespaces(params (string Name, string Labels)[] namespaces) =>
        new(namespaces.ToDictionary(n => n.Name, n => LabelSet.FromJson(JsonDocument.Parse(n.Labels).RootElement), StringComparer.Ordinal));

    private static AdmissionRequest Pod(int image = 0, string ns = "team-a") => new()
    {
        Uid = "00000000-0000-0000-0000-000000000004",
        Kind = new GroupVersionKind { Group = "", Version = "v1", Kind = "Pod" },
        Namespace = ns,
        Name = "app",
        Operation = "CREATE",
        Object = JsonDocument.Parse(
            """{"apiVersion":"v1","kind":"Pod","metadata":{"name":"app"},"spec":{"containers":[{"name":"app","image":"registry.invalid/org/app""" + image + """:v1"}]}}""").RootElement,
    };

    [Fact]
    public async Task An_audit_entry_admits_with_a_warning_under_an_enforcing_policy()
    {
        var response = await Engine(Policy("Enforce", "Audit")).ValidateAsync(Pod(), CancellationToken.None);

        Assert.True(response.Allowed);
        Assert.Equal(["policy pinned.pinned: missing digest for registry.invalid/org/app0:v1"], response.Warnings);
    }

    [Fact]
    public async Task An_enforcing_entry_blocks_under_an_audit_policy()
    {
        var response = await Engine(Policy("Audit", "Enforce")).ValidateAsync(Pod(), CancellationToken.None);

        Assert.False(response.Allowed);
        Assert.Contains("missing digest for registry.invalid/org/app0:v1", response.Status!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task One_enforcing_entry_makes_the_whole_rule_enforce_as_in_kyverno()
    {
        // Kyverno resolves one action per rule: Enforce when any entry enforces, so the Audit entry's image blocks too.
        var engine = Engine(Policy("Audit", "Audit", "Enforce"));

        var audited = await engine.ValidateAsync(Pod(0), CancellationToken.None);
        var enforced = await engine.ValidateAsync(Pod(1), CancellationToken.None);

        Assert.False(audited.Allowed);
        Assert.False(enforced.Allowed);
    }

    [Fact]
    public async Task Entries_without_an_action_follow_the_policy()
    {
        var response = await Engine(Policy("Audit", null, null)).ValidateAsync(Pod(1), CancellationToken.None);

        Assert.True(response.Allowed);
        Assert.Single(response.Warnings!);
    }

    [Fact]
    public void The_rule_and_its_controller_rules_carry_the_entries_action()
    {
        var policy = Assert.Single(Load(("policy.yaml", Policy("Audit", null, "Enforce"))));

        Assert.Equal(FailureAction.Audit, policy.FailureAction);
        Assert.Equal(["pinned", "autogen-pinned", "autogen-cronjob-pinned"], policy.Rules.Select(r => r.Name));
        Assert.All(policy.Rules, r => Assert.Equal(FailureAction.Enforce, r.FailureAction));
        Assert.All(Assert.Single(Load(("policy.yaml", Policy("Enforce", (string?)null)))).Rules, r => Assert.Null(r.FailureAction));
    }

    [Fact]
    public async Task Overrides_by_namespace_name_change_the_policys_action_where_they_apply()
    {
        var engine = Engine(WithOverrides(Policy("Audit", (string?)null), """
              - action: enforce
                namespaces: ["prod-*", "payments"]
              - action: Audit
                namespaces: ["prod-sandbox"]
            """));

        var prod = await engine.ValidateAsync(Pod(ns: "prod-eu"), CancellationToken.None);
        var sandbox = await engine.ValidateAsync(Pod(ns: "prod-sandbox"), CancellationToken.None);
        var dev = await engine.ValidateAsync(Pod(ns: "dev"), CancellationToken.None);

        Assert.False(prod.Allowed);
        // The first override that applies decides: prod-sandbox matches prod-* first.
        Assert.False(sandbox.Allowed);
        Assert.True(dev.Allowed);
        Assert.Single(dev.Warnings!);
    }

    [Fact]
    public async Task Overrides_by_namespace_selector_read_the_labels_and_block_when_they_cannot()
    {
        const string Overrides = """
              - action: Enforce
                namespaceSelector:
                  matchLabels:
                    environment: production
            """;
        var engine = Engine(WithOverrides(Policy("Audit", (string?)null), Overrides), Namespaces(("shop", """{"environment":"production"}"""), ("lab", """{"environment":"dev"}""")));
        var noApi = Engine(WithOverrides(Policy("Audit", (string?)null), Overrides));

        Assert.False((await engine.ValidateAsync(Pod(ns: "shop"), CancellationToken.None)).Allowed);
        Assert.True((await engine.ValidateAsync(Pod(ns: "lab"), CancellationToken.None)).Allowed);
        // Unknown labels could hide an Enforce override: the failure blocks rather than guess.
        Assert.False((await engine.ValidateAsync(Pod(ns: "unlisted"), CancellationToken.None)).Allowed);
        Assert.False((await noApi.ValidateAsync(Pod(ns: "lab"), CancellationToken.None)).Allowed);
    }

    [Fact]
    public async Task An_entrys_failure_action_wins_over_the_overrides_and_an_empty_namespace_list_applies_nowhere()
    {
        var ruleWins = Engine(WithOverrides(Policy("Enforce", "Audit"), """
              - action: Enforce
            """));
        var emptyList = Engine(WithOverrides(Policy("Audit", (string?)null), """
              - action: Enforce
                namespaces: []
            """));

        Assert.True((await ruleWins.ValidateAsync(Pod(ns: "prod-eu"), CancellationToken.None)).Allowed);
        Assert.True((await emptyList.ValidateAsync(Pod(ns: "prod-eu"), CancellationToken.None)).Allowed);
    }

    [Theory]
    [InlineData("- action: Block\n    namespaces: [prod]", "'Block' is not a valid value for 'action'. Use one of: Enforce, Audit.", 8, 13)]
    [InlineData("- namespaces: [prod]", "'action'", 8, 5)]
    [InlineData("- action: Enforce\n    namespaces: [\"prod *\"]", "'prod *' is not a usable pattern", 9, 18)]
    public void Invalid_overrides_are_build_errors(string overrides, string message, int line, int column)
    {
        var run = GeneratorHarness.Run("policy.yaml", WithOverrides(Policy("Audit", (string?)null), "  " + overrides));

        var diagnostic = Assert.Single(run.GeneratorDiagnostics);
        DiagnosticAssert.MessageContains(diagnostic, message);
        DiagnosticAssert.At(diagnostic, File, line, column);
    }

    [Theory]
    [InlineData("enforce")]
    [InlineData("Block")]
    public void Only_kyvernos_two_spellings_are_accepted(string action)
    {
        // The CRD's enum for this field is exactly Audit and Enforce (validationFailureAction also takes lower case).
        var run = GeneratorHarness.Run("policy.yaml", Policy("Enforce", action));

        var diagnostic = Assert.Single(run.GeneratorDiagnostics);
        Assert.Equal("PC0010", diagnostic.Id);
        DiagnosticAssert.MessageContains(diagnostic, $"'{action}' is not a valid value for 'failureAction'. Use one of: Enforce, Audit.");
        DiagnosticAssert.At(diagnostic, File, 17, 24);
    }
}
