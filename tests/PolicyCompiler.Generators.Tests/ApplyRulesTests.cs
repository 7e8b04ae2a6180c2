using System.Text.Json;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// <c>spec.applyRules</c> compiled and run through the admission engine. Kyverno counts a rule as applied when one of its
/// responses is pass or fail (engine/internal AddRuleResponse, RulesAppliedCount); with <c>One</c> the rules after it
/// are not evaluated, while a skipped rule or one that ended in an error lets the next one run.
/// The rules pin digests without verifying signatures (<c>verifyDigest</c>), so the validating pass decides without a
/// registry: "missing digest" names each rule that was evaluated on the image.
/// </summary>
public sealed class ApplyRulesTests
{
    private static string Policy(string applyRules, string firstRule, string extraSpec = "") => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: pinned
        spec:
          validationFailureAction: Enforce
        {{applyRules}}
        {{extraSpec}}
          rules:
        {{firstRule}}
            - name: second
              match:
                any:
                - resources:
                    kinds: [Pod]
              verifyImages:
              - imageReferences: ["*"]
                mutateDigest: false
                verifyDigest: true
        """;

    private static string First(string imageReferences = "\"registry.invalid/org/*\"", string extra = "", string entryExtra = "verifyDigest: true") => $$"""
            - name: first
              match:
                any:
                - resources:
                    kinds: [Pod]
        {{extra}}
              verifyImages:
              - imageReferences: [{{imageReferences}}]
                mutateDigest: false
                {{entryExtra}}
        """;

    private static AdmissionEngine Engine(string yaml) =>
        new(Load(("policy.yaml", yaml)), new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)));

    private static AdmissionRequest Pod(string labels = "{}") => new()
    {
        Uid = "00000000-0000-0000-0000-000000000003",
        Kind = new GroupVersionKind { Group = "", Version = "v1", Kind = "Pod" },
        Namespace = "team-a",
        Name = "app",
        Operation = "CREATE",
        Object = JsonDocument.Parse("""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"app","labels":""" + labels
            + """},"spec":{"containers":[{"name":"app","image":"registry.invalid/org/app:v1"}]}}""").RootElement,
    };

    private static async Task<AdmissionDecision> Validate(AdmissionEngine engine, AdmissionRequest request) =>
        await engine.DecideWithOutcomesAsync(request, mutate: false, CancellationToken.None);

    [Fact]
    public void Generated_definition_carries_the_value()
    {
        Assert.Equal(ApplyRules.One, Assert.Single(Load(("policy.yaml", Policy("  applyRules: One", First())))).ApplyRules);
        Assert.Equal(ApplyRules.All, Assert.Single(Load(("policy.yaml", Policy("  applyRules: All", First())))).ApplyRules);
        Assert.Equal(ApplyRules.All, Assert.Single(Load(("policy.yaml", Policy(string.Empty, First())))).ApplyRules);
    }

    [Fact]
    public async Task All_evaluates_every_rule_and_One_stops_after_the_first_that_fails()
    {
        var all = await Validate(Engine(Policy("  applyRules: All", First())), Pod());
        var one = await Validate(Engine(Policy("  applyRules: One", First())), Pod());

        Assert.False(all.Response.Allowed);
        Assert.Contains("first: missing digest", all.Response.Status!.Message, StringComparison.Ordinal);
        Assert.Contains("second: missing digest", all.Response.Status!.Message, StringComparison.Ordinal);

        Assert.False(one.Response.Allowed);
        Assert.Contains("first: missing digest", one.Response.Status!.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("second", one.Response.Status!.Message, StringComparison.Ordinal);
        var skipped = Assert.Single(one.Outcomes, o => o.Rule == "second");
        Assert.Equal(RuleOutcomeStatus.Skip, skipped.Status);
        Assert.Contains("applyRules is One", skipped.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rule_that_passes_ends_the_policy()
    {
        // The first rule covers the image without requiring a digest: it passes, so the second is never evaluated.
        var yamlOne = Policy("  applyRules: One", First(entryExtra: "verifyDigest: false"));
        var yamlAll = Policy("  applyRules: All", First(entryExtra: "verifyDigest: false"));

        var one = await Validate(Engine(yamlOne), Pod());
        var all = await Validate(Engine(yamlAll), Pod());

        Assert.True(one.Response.Allowed);
        Assert.Contains(one.Outcomes, o => o.Rule == "first" && o.Status == RuleOutcomeStatus.Pass);
        Assert.False(all.Response.Allowed);
        Assert.Contains("second: missing digest", all.Response.Status!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task In_the_validating_pass_a_rule_that_checks_nothing_there_does_not_end_the_policy()
    {
        // Neither verifyDigest nor required: Kyverno's validating pass gives the rule no response (HasVerifyImageChecks),
        // so it is not applied there and the second rule still runs.
        var response = await Validate(Engine(Policy("  applyRules: One", First(entryExtra: "verifyDigest: false\n        required: false"))), Pod());

        Assert.False(response.Response.Allowed);
        Assert.Contains("second: missing digest", response.Response.Status!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rule_with_no_image_of_its_own_does_not_end_the_policy()
    {
        var response = await Validate(Engine(Policy("  applyRules: One", First(imageReferences: "\"ghcr.io/other/*\""))), Pod());

        Assert.False(response.Response.Allowed);
        Assert.Contains("second: missing digest", response.Response.Status!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rule_skipped_by_its_preconditions_does_not_end_the_policy()
    {
        var first = First(extra: """
                  preconditions:
                    all:
                    - key: "{{ request.object.metadata.labels.pin }}"
                      operator: Equals
                      value: "first"
            """);
        var engine = Engine(Policy("  applyRules: One", first));

        var skipped = await Validate(engine, Pod());
        var applied = await Validate(engine, Pod("""{"pin":"first"}"""));

        Assert.Contains("second: missing digest", skipped.Response.Status!.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("first", skipped.Response.Status!.Message, StringComparison.Ordinal);
        Assert.Contains("first: missing digest", applied.Response.Status!.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("second", applied.Response.Status!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rule_that_ends_in_an_error_does_not_end_the_policy()
    {
        // The first rule's namespaceSelector cannot be read (no Kubernetes API here): an error, which failurePolicy
        // Ignore turns into a warning, and which Kyverno does not count as applied.
        var first = First(imageReferences: "\"*\"", extra: """
                  exclude:
                    any:
                    - resources:
                        namespaceSelector:
                          matchLabels:
                            skip: "yes"
            """);
        var response = await Validate(Engine(Policy("  applyRules: One", first, "  failurePolicy: Ignore")), Pod());

        Assert.False(response.Response.Allowed);
        Assert.Contains("second: missing digest", response.Response.Status!.Message, StringComparison.Ordinal);
        Assert.Contains(response.Outcomes, o => o.Rule == "first" && o.Message.Contains("labels of namespace team-a are unknown", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_audited_failure_counts_as_applied()
    {
        var response = await Validate(Engine(Policy("  applyRules: One", First(entryExtra: "verifyDigest: true\n        failureAction: Audit"))), Pod());

        Assert.True(response.Response.Allowed);
        Assert.Contains(response.Response.Warnings!, w => w.Contains("pinned.first: missing digest", StringComparison.Ordinal));
        Assert.Equal(RuleOutcomeStatus.Skip, Assert.Single(response.Outcomes, o => o.Rule == "second").Status);
    }

    [Fact]
    public async Task Other_policies_are_not_affected()
    {
        var other = Policy(string.Empty, First()).Replace("name: pinned", "name: other", StringComparison.Ordinal);
        var engine = new AdmissionEngine(
            Load(("policy.yaml", Policy("  applyRules: One", First())), ("other.yaml", other)),
            new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)));

        var response = await Validate(engine, Pod());

        var failed = response.Outcomes.Where(o => o.Status == RuleOutcomeStatus.Fail).Select(o => o.Policy + "/" + o.Rule).Order(StringComparer.Ordinal);
        Assert.Equal(["other/first", "other/second", "pinned/first"], failed);
    }
}
