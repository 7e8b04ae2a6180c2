using System.Collections.Immutable;
using System.Text.Json;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;
using PolicyCompiler.Runtime.Registry;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// Rule <c>preconditions</c> compiled and run through the admission engine: a rule whose preconditions do not hold
/// does not apply; variables that do not resolve are empty strings (Kyverno's precondition rule); auto-generated
/// rules read the Pod template.
/// The policies pin digests without verifying signatures (<c>verifyDigest</c>), so the validating pass decides
/// without a registry: "missing digest" shows that the rule applied.
/// </summary>
public sealed class PreconditionTests
{
    private const string File = GeneratorHarness.PolicyDirectory + "policy.yaml";

    private static string Policy(string preconditions) => $$"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: pinned
        spec:
          validationFailureAction: Enforce
          rules:
            - name: pinned-when-labelled
              match:
                any:
                - resources:
                    kinds: [Pod]
        {{preconditions}}
              verifyImages:
              - imageReferences: ["*"]
                mutateDigest: false
                verifyDigest: true
        """;

    private const string LabelledYes = """
              preconditions:
                all:
                - key: "{{ request.object.metadata.labels.verify }}"
                  operator: Equals
                  value: "yes"
        """;

    private static AdmissionEngine Engine(string yaml) =>
        new(Load(("policy.yaml", yaml)), new ImageVerifier(new RegistryClient(new RegistryOptions()), new VerificationCache(new VerificationCacheOptions(), TimeProvider.System)));

    private static AdmissionRequest Request(string kind, string group, string json) => new()
    {
        Uid = "00000000-0000-0000-0000-000000000002",
        Kind = new GroupVersionKind { Group = group, Version = "v1", Kind = kind },
        Namespace = "team-a",
        Name = "app",
        Operation = "CREATE",
        Object = JsonDocument.Parse(json).RootElement,
    };

    private static AdmissionRequest Pod(string labels) => Request(
        "Pod",
        "",
        """{"apiVersion":"v1","kind":"Pod","metadata":{"name":"app","labels":""" + labels
        + """},"spec":{"containers":[{"name":"app","image":"registry.invalid/org/app:v1"}]}}""");

    private static AdmissionRequest Deployment(string labels, string templateLabels) => Request(
        "Deployment",
        "apps",
        """{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"app","labels":""" + labels
        + """},"spec":{"template":{"metadata":{"labels":""" + templateLabels
        + """},"spec":{"containers":[{"name":"app","image":"registry.invalid/org/app:v1"}]}}}}""");

    private static async Task<AdmissionResponse> Validate(AdmissionEngine engine, AdmissionRequest request) =>
        await engine.ValidateAsync(request, CancellationToken.None);

    [Fact]
    public async Task Rule_applies_only_when_its_preconditions_hold()
    {
        var engine = Engine(Policy(LabelledYes));

        var labelled = await Validate(engine, Pod("""{"verify":"yes"}"""));
        var other = await Validate(engine, Pod("""{"verify":"no"}"""));

        Assert.False(labelled.Allowed);
        Assert.Contains("missing digest for registry.invalid/org/app:v1", labelled.Status!.Message, StringComparison.Ordinal);
        Assert.True(other.Allowed);
    }

    [Fact]
    public async Task Unresolvable_precondition_variable_is_an_empty_string_not_an_error()
    {
        var engine = Engine(Policy(LabelledYes));

        var unlabelled = await Validate(engine, Pod("{}"));

        Assert.True(unlabelled.Allowed);
        Assert.Null(unlabelled.Warnings);
    }

    [Fact]
    public async Task Expression_error_in_a_precondition_reads_as_an_empty_string_as_in_kyverno()
    {
        // abs() of a string is a JMESPath type error; Kyverno's precondition resolver turns any failed variable into
        // "", so the comparison is false and the rule is skipped rather than failed.
        var engine = Engine(Policy("""
                  preconditions:
                    any:
                    - key: "{{ abs(request.object.metadata.name) }}"
                      operator: Equals
                      value: ""
            """));

        var response = await Validate(engine, Pod("{}"));

        Assert.False(response.Allowed);
        Assert.Contains("missing digest", response.Status!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Auto_generated_rule_reads_the_pod_template_as_kyverno_rewrites_it()
    {
        var engine = Engine(Policy(LabelledYes));
        var rule = Assert.Single(engine.Policies).Rules;
        Assert.Equal([RuleAutogen.None, RuleAutogen.PodControllers, RuleAutogen.CronJob], rule.Select(r => r.Autogen));
        Assert.All(rule, r => Assert.Single(r.Preconditions));

        var templateLabelled = await Validate(engine, Deployment(labels: "{}", templateLabels: """{"verify":"yes"}"""));
        var deploymentLabelled = await Validate(engine, Deployment(labels: """{"verify":"yes"}""", templateLabels: "{}"));

        Assert.False(templateLabelled.Allowed);
        Assert.Contains("autogen-pinned-when-labelled: missing digest", templateLabelled.Status!.Message, StringComparison.Ordinal);
        Assert.True(deploymentLabelled.Allowed);
    }

    [Fact]
    public async Task Auto_generated_cronjob_rule_reads_the_job_template()
    {
        var engine = Engine(Policy(LabelledYes));
        var cronJob = Request("CronJob", "batch", """
            {"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"app"},
             "spec":{"schedule":"* * * * *","jobTemplate":{"spec":{"template":{"metadata":{"labels":{"verify":"yes"}},
             "spec":{"containers":[{"name":"app","image":"registry.invalid/org/app:v1"}]}}}}}}
            """);

        var response = await Validate(engine, cronJob);

        Assert.False(response.Allowed);
        Assert.Contains("autogen-cronjob-pinned-when-labelled: missing digest", response.Status!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Older_list_form_is_one_all_block()
    {
        var policy = Assert.Single(Load(("policy.yaml", Policy("""
                  preconditions:
                  - key: "{{ request.operation }}"
                    operator: Equals
                    value: CREATE
                  - key: "{{ request.namespace }}"
                    operator: NotEquals
                    value: kube-system
            """))));

        var block = Assert.Single(policy.Rules[0].Preconditions);
        Assert.Null(block.Any);
        Assert.Equal(["preconditions[0]", "preconditions[1]"], block.All.Select(c => c.Path));
    }

    [Fact]
    public void Mistake_in_a_precondition_is_reported_where_it_is()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  preconditions:
                    all:
                    - key: "{{ request.operation }}"
                      operator: Equals
                      value: "{{ upper(request.namespace) }}"
            """));

        var diagnostic = run.Single("PC0023");
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].preconditions.all[0].value' has an invalid variable: Unknown function 'upper'");
        DiagnosticAssert.At(diagnostic, File, 17, 22);
        Assert.Empty(run.PolicySources);
    }

    [Fact]
    public void Preconditions_must_be_any_all_or_a_list()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                  preconditions: "{{ request.operation }}"
            """));

        var diagnostic = run.Single("PC0003");
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].preconditions' must be a mapping");
    }

    [Fact]
    public void Rule_without_preconditions_has_none()
    {
        var policy = Assert.Single(Load(("policy.yaml", Policy(string.Empty))));

        Assert.All(policy.Rules, r => Assert.Equal(ImmutableArray<ConditionBlockDefinition>.Empty, r.Preconditions));
    }
}
