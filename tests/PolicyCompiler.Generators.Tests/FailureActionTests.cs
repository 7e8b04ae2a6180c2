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

    private static AdmissionEngine Engine(string yaml) =>
        new(
            Load(("policy.yaml", yaml)),
            new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)));

    private static AdmissionRequest Pod(int image = 0) => new()
    {
        Uid = "00000000-0000-0000-0000-000000000004",
        Kind = new GroupVersionKind { Group = "", Version = "v1", Kind = "Pod" },
        Namespace = "team-a",
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
