using System.Text.Json;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Conditions;
using PolicyCompiler.Runtime.Engine;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// <c>attestations[].conditions</c> compiled: the generated methods run against in-toto predicates (and the admission
/// request) with Kyverno's any/all semantics and messages, and every mistake in a condition is a build error at its
/// own line and column.
/// </summary>
public sealed class AttestationConditionTests
{
    private const string File = GeneratorHarness.PolicyDirectory + "policy.yaml";

    // Twenty lines; the conditions given to Policy() start on line 21, indented as the attestation's fields.
    private const string Head = """
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: attest
        spec:
          rules:
            - name: attest
              match:
                any:
                - resources:
                    kinds: [Pod]
              verifyImages:
              - imageReferences: ["ghcr.io/*"]
                attestations:
                - type: https://example.com/CodeReview/v1
                  attestors:
                  - entries:
                    - keyless:
                        subject: "https://github.com/org/repo/*"
                        issuer: https://token.actions.githubusercontent.com
        """;

    private static string Policy(string conditions) => Head + "\n" + conditions;

    private static AttestationDefinition Attestation(PolicyDefinition policy) =>
        Assert.Single(Assert.Single(policy.Rules[0].VerifyImages).Attestations);

    private static AttestationDefinition Compile(string conditions) =>
        Attestation(Assert.Single(Load(("policy.yaml", Policy(conditions)))));

    private static string? Check(AttestationDefinition attestation, string predicate, AdmissionContext? request = null)
    {
        using var document = JsonDocument.Parse(predicate);
        return attestation.CheckConditions(document.RootElement, request, JmesContext.Default);
    }

    private static AdmissionContext PodRequest(string labels = "{}", string image = "ghcr.io/org/app:v1") =>
        new(new AdmissionRequest
        {
            Uid = "00000000-0000-0000-0000-000000000001",
            Kind = new GroupVersionKind { Group = "", Version = "v1", Kind = "Pod" },
            Namespace = "team-a",
            Name = "app",
            Operation = "CREATE",
            Object = JsonDocument.Parse($$$"""
                {"apiVersion":"v1","kind":"Pod","metadata":{"name":"app","labels":{{{labels}}}},
                 "spec":{"containers":[{"name":"app","image":"{{{image}}}"}]}}
                """).RootElement,
        });

    [Fact]
    public void Nested_attestor_sets_of_an_attestation_compile_with_their_counts_and_paths()
    {
        var yaml = Head.Replace("""
                    - keyless:
                        subject: "https://github.com/org/repo/*"
                        issuer: https://token.actions.githubusercontent.com
        """, """
                    - keyless:
                        subject: "https://github.com/org/repo/*"
                        issuer: https://token.actions.githubusercontent.com
                    - attestor:
                        count: 1
                        entries:
                        - keyless:
                            subject: reviewer@example.com
                            issuer: https://accounts.google.com
                        - keyless:
                            subject: lead@example.com
                            issuer: https://accounts.google.com
        """, StringComparison.Ordinal);
        Assert.Contains("- attestor:", yaml, StringComparison.Ordinal);
        Assert.Empty(GeneratorHarness.Run("policy.yaml", yaml).GeneratorDiagnostics);

        var set = Assert.Single(Attestation(Assert.Single(Load(("policy.yaml", yaml)))).Attestors);
        Assert.Null(set.Count);
        var nested = Assert.IsType<NestedAttestorDefinition>(set.Entries[1]);
        Assert.Equal(".attestors[0].entries[1].attestor", nested.Path);
        Assert.Equal(1, nested.Set.RequiredCount);
        Assert.Equal([".attestors[0].entries[1].attestor.entries[0].keyless", ".attestors[0].entries[1].attestor.entries[1].keyless"], nested.Set.Entries.Select(e => e.Path));
    }

    [Fact]
    public void Reference_sample_conditions_decide_on_the_predicate()
    {
        var policy = Assert.Single(Load(("attest.yaml", TestFiles.Read("reference-samples", "02-attest-code-review.yaml"))));
        var attestation = Attestation(policy);
        var block = Assert.Single(attestation.Conditions);
        Assert.Null(block.Any);
        Assert.Equal(["conditions[0].all[0]", "conditions[0].all[1]", "conditions[0].all[2]"], block.All.Select(c => c.Path));
        Assert.False(attestation.ConditionsReadRequest);
        Assert.True(policy.Rules[0].VerifyImages[0].VerdictIsReusable);

        const string Reviewed = """{"repo":{"uri":"https://git-repo.com/org/app","branch":"main"},"reviewers":["ana@example.com"]}""";
        Assert.Null(Check(attestation, Reviewed));
        Assert.Equal(
            "conditions[0].all[1] ({{ repo.branch }} Equals main) is false",
            Check(attestation, Reviewed.Replace("\"main\"", "\"dev\"", StringComparison.Ordinal)));
        Assert.Equal(
            "conditions[0].all[2] ({{ reviewers }} In [ana@example.com, bob@example.com]) is false",
            Check(attestation, Reviewed.Replace("ana@", "mallory@", StringComparison.Ordinal)));
    }

    [Fact]
    public void Unresolvable_variable_fails_the_check_with_its_name()
    {
        var attestation = Attestation(Assert.Single(Load(("attest.yaml", TestFiles.Read("reference-samples", "02-attest-code-review.yaml")))));

        var failure = Check(attestation, """{"repo":{"branch":"main"},"reviewers":["ana@example.com"]}""");

        Assert.NotNull(failure);
        Assert.StartsWith("failed to evaluate the conditions: ", failure, StringComparison.Ordinal);
        Assert.Contains("{{ repo.uri }}", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Messages_are_literal_or_substituted_and_any_joins_the_messages_of_its_false_conditions()
    {
        var policy = Assert.Single(Load(("attestation-conditions.yaml", TestFiles.Read("baselines", "attestation-conditions.yaml"))));
        var attestation = Attestation(policy);
        const string Good = """{"repo":{"uri":"https://git-repo.com/org/app","branch":"main"},"reviewers":["ana@example.com","bob@example.com"]}""";
        var plainPod = PodRequest();

        Assert.Null(Check(attestation, Good, plainPod));
        Assert.Equal("the code was not reviewed in the app repository", Check(attestation, Good.Replace("org/app", "org/other", StringComparison.Ordinal), plainPod));
        Assert.Equal("reviewed on dev, not on main", Check(attestation, Good.Replace("\"main\"", "\"dev\"", StringComparison.Ordinal), plainPod));

        // One reviewer from example.com: the any block holds only for Pods labelled experimental.
        var oneReviewer = Good.Replace(",\"bob@example.com\"", ",\"eve@elsewhere.org\"", StringComparison.Ordinal);
        Assert.Equal(
            "conditions[1].any[0] ({{ reviewers[?ends_with(@, '@example.com')] | length(@) }} GreaterThanOrEquals 2) is false; "
            + "conditions[1].any[1] ({{ request.object.metadata.labels.tier || '' }} Equals experimental) is false",
            Check(attestation, oneReviewer, plainPod));
        Assert.Null(Check(attestation, oneReviewer, PodRequest(labels: """{"tier":"experimental"}""")));
    }

    [Fact]
    public void Conditions_that_read_the_request_are_never_served_from_the_cache()
    {
        var policy = Assert.Single(Load(("attestation-conditions.yaml", TestFiles.Read("baselines", "attestation-conditions.yaml"))));

        Assert.True(Attestation(policy).ConditionsReadRequest);
        Assert.True(policy.Rules[0].VerifyImages[0].UseCache);
        Assert.False(policy.Rules[0].VerifyImages[0].VerdictIsReusable);
    }

    [Fact]
    public void Images_variable_describes_the_pod_containers_as_kyverno_does()
    {
        var attestation = Compile("""
                      conditions:
                      - all:
                        - key: "{{ images.containers.app.tag }}"
                          operator: Equals
                          value: "{{ release.tag }}"
                        - key: "{{ images.containers.app.registry }}/{{ images.containers.app.path }}"
                          operator: Equals
                          value: ghcr.io/org/app
            """);

        Assert.True(attestation.ConditionsReadRequest);
        Assert.Null(Check(attestation, """{"release":{"tag":"v1"}}""", PodRequest()));
        Assert.Equal(
            "conditions[0].all[0] ({{ images.containers.app.tag }} Equals {{ release.tag }}) is false",
            Check(attestation, """{"release":{"tag":"v2"}}""", PodRequest()));
    }

    [Fact]
    public void Variables_in_the_keys_of_a_condition_key_or_value_are_substituted_as_in_kyverno()
    {
        // Kyverno's substitution visits map keys too: no PC0099, and the keys are read from the predicate.
        var yaml = Policy("""
                      conditions:
                      - all:
                        - key: "{{ build.owner }}"
                          operator: Equals
                          value:
                            "{{ build.team }}": "{{ build.lead }}"
                            on-call-{{ build.team }}: yes
                        - key:
                            "{{ build.team }}": "{{ build.lead }}"
                          operator: Equals
                          value: "{{ build.owners }}"
            """);
        var run = GeneratorHarness.Run("policy.yaml", yaml);
        Assert.Empty(run.GeneratorDiagnostics);

        var attestation = Attestation(Assert.Single(Load(("policy.yaml", yaml))));
        const string Good = """{"build":{"team":"ci","lead":"ana","owner":{"ci":"ana","on-call-ci":true},"owners":{"ci":"ana"}}}""";
        Assert.Null(Check(attestation, Good));
        Assert.NotNull(Check(attestation, Good.Replace("\"team\":\"ci\"", "\"team\":\"cd\"", StringComparison.Ordinal)));
        Assert.Equal(
            "conditions[0].all[0] ({{ build.owner }} Equals {{{ build.team }}: {{ build.lead }}, on-call-{{ build.team }}: yes}) is false",
            Check(attestation, Good.Replace("\"ci\":\"ana\",\"on-call-ci\"", "\"ci\":\"bob\",\"on-call-ci\"", StringComparison.Ordinal)));
    }

    [Fact]
    public void A_key_variable_of_another_type_than_string_fails_the_check_as_kyverno_does()
    {
        var attestation = Compile("""
                      conditions:
                      - all:
                        - key: "{{ build.owner }}"
                          operator: Equals
                          value:
                            "{{ build.attempts }}": ana
            """);

        var failure = Check(attestation, """{"build":{"attempts":2,"owner":{"2":"ana"}}}""");

        Assert.Equal("failed to evaluate the conditions: expected string after substituting variables in key \"{{ build.attempts }}\", got 2", failure);
    }

    [Fact]
    public void PC0023_in_a_map_key_points_inside_the_key()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                      conditions:
                      - all:
                        - key: "{{ build.owner }}"
                          operator: Equals
                          value:
                            "{{ build.team == }}": ana
            """));

        var diagnostic = run.Single("PC0023");
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].verifyImages[0].attestations[0].conditions[0].all[0].value.{{ build.team == }}' has an invalid variable:");
        // At the closing }} of the key, where the right operand of == is missing.
        DiagnosticAssert.At(diagnostic, File, 26, 35);
        Assert.DoesNotContain(run.GeneratorDiagnostics, d => d.Id == "PC0099");
        Assert.Empty(run.PolicySources);
    }

    [Fact]
    public void Predicate_fields_shadow_the_request_documents_as_in_kyverno_merge()
    {
        var attestation = Compile("""
                      conditions:
                      - all:
                        - key: "{{ request.kind }}"
                          operator: Equals
                          value: from-the-predicate
            """);

        Assert.Null(Check(attestation, """{"request":{"kind":"from-the-predicate"}}""", PodRequest()));
    }

    [Fact]
    public void Yaml_values_are_typed_as_the_api_server_stores_them()
    {
        var attestation = Compile("""
                      conditions:
                      - all:
                        - key: "{{ build.reproducible }}"
                          operator: Equals
                          value: true
                        - key: "{{ build.attempts }}"
                          operator: LessThanOrEquals
                          value: 3
                        - key: "{{ build.tags }}"
                          operator: AllIn
                          value: [release, signed]
                        - key: "{{ build.owner }}"
                          operator: Equals
                          value: {team: ci, oncall: yes}
            """);

        Assert.Null(Check(attestation, """{"build":{"reproducible":true,"attempts":2,"tags":["release"],"owner":{"team":"ci","oncall":true}}}"""));
        Assert.NotNull(Check(attestation, """{"build":{"reproducible":"true","attempts":2,"tags":["release"],"owner":{"team":"ci","oncall":true}}}"""));
        Assert.NotNull(Check(attestation, """{"build":{"reproducible":true,"attempts":4,"tags":["release"],"owner":{"team":"ci","oncall":true}}}"""));
        Assert.NotNull(Check(attestation, """{"build":{"reproducible":true,"attempts":2,"tags":["nightly"],"owner":{"team":"ci","oncall":true}}}"""));
    }

    [Fact]
    public void Documented_slsa_builder_check_accepts_only_tagged_releases_of_the_official_generator()
    {
        // Kyverno's documentation of SLSA provenance checks: a regex over builder.id, with the id nested as a variable.
        var attestation = Compile("""
                      conditions:
                      - all:
                        - key: "{{ regex_match('^https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v[0-9].[0-9].[0-9]$','{{ builder.id }}') }}"
                          operator: Equals
                          value: true
            """);
        const string Generator = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml";

        Assert.Null(Check(attestation, $$$"""{"builder":{"id":"{{{Generator}}}@refs/tags/v1.9.0"}}"""));
        Assert.NotNull(Check(attestation, $$$"""{"builder":{"id":"{{{Generator}}}@refs/heads/main"}}"""));
        Assert.NotNull(Check(attestation, """{"builder":{"id":"https://github.com/attacker/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v1.9.0"}}"""));
    }

    [Fact]
    public void Documented_vulnerability_scan_age_check_reads_the_clock_and_substitutes_its_message()
    {
        // Kyverno's documentation of attestation conditions: the scan must be at most a week old.
        var attestation = Compile("""
                      conditions:
                      - all:
                        - key: "{{ time_since('','{{metadata.scanFinishedOn}}','') }}"
                          operator: LessThanOrEquals
                          value: "168h"
                          message: Scan finished at {{metadata.scanFinishedOn}} and is not younger than 7 days.
            """);
        const string Report = """{"scanner":{"uri":"pkg:github/aquasecurity/trivy@0.50.0"},"metadata":{"scanStartedOn":"2024-05-01T07:07:51Z","scanFinishedOn":"2024-05-01T07:08:09Z"}}""";
        using var predicate = JsonDocument.Parse(Report);

        var fiveDaysLater = new JmesContext(new FixedClock(new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero)));
        var eightDaysLater = new JmesContext(new FixedClock(new DateTimeOffset(2024, 5, 9, 7, 8, 9, TimeSpan.Zero)));

        Assert.Null(attestation.CheckConditions(predicate.RootElement, null, fiveDaysLater));
        Assert.Equal("Scan finished at 2024-05-01T07:08:09Z and is not younger than 7 days.", attestation.CheckConditions(predicate.RootElement, null, eightDaysLater));
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    [Fact]
    public void PC0023_invalid_expression_points_inside_the_string()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                      conditions:
                      - all:
                        - key: "{{ repo.branch == }}"
                          operator: Equals
                          value: main
            """));

        var diagnostic = run.Single("PC0023");
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].verifyImages[0].attestations[0].conditions[0].all[0].key' has an invalid variable:");
        // The right operand of == is missing: the diagnostic points where it should be, at the closing }}.
        DiagnosticAssert.At(diagnostic, File, 23, 39);
        Assert.Empty(run.PolicySources);
    }

    [Fact]
    public void PC0023_in_a_literal_block_points_at_its_line_and_column()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                      conditions:
                      - all:
                        - key: |
                            {{ repo.branch == }}
                          operator: Equals
                          value: main
            """));

        var diagnostic = run.Single("PC0023");
        // The block's first line is the file's next line, less the block's indentation.
        DiagnosticAssert.At(diagnostic, File, 24, 35);
    }

    [Fact]
    public void PC0023_unknown_function_is_named()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                      conditions:
                      - all:
                        - key: main
                          operator: Equals
                          value: "{{ lenght(reviewers) }}"
            """));

        var diagnostic = run.Single("PC0023");
        DiagnosticAssert.MessageContains(diagnostic, "lenght");
        DiagnosticAssert.At(diagnostic, File, 25, 26);
    }

    [Fact]
    public void PC0023_in_a_message_is_reported_on_the_message()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                      conditions:
                      - all:
                        - key: "{{ repo.branch }}"
                          operator: Equals
                          value: main
                          message: "branch {{ repo.branch | }}"
            """));

        var diagnostic = run.Single("PC0023");
        DiagnosticAssert.MessageContains(diagnostic, "conditions[0].all[0].message' has an invalid variable:");
        Assert.Equal(25, diagnostic.Location.GetLineSpan().StartLinePosition.Line);
    }

    [Fact]
    public void PC0010_unknown_operator_lists_the_operators()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                      conditions:
                      - all:
                        - key: "{{ repo.branch }}"
                          operator: Equalz
                          value: main
            """));

        var diagnostic = run.Single("PC0010");
        DiagnosticAssert.MessageContains(diagnostic, "'Equalz' is not a valid value for 'spec.rules[0].verifyImages[0].attestations[0].conditions[0].all[0].operator'. Use one of: Equals, NotEquals, In, AnyIn");
        DiagnosticAssert.At(diagnostic, File, 24, 25);
    }

    [Fact]
    public void Operators_are_matched_without_regard_to_case_as_kyverno_does()
    {
        var attestation = Compile("""
                      conditions:
                      - all:
                        - key: "{{ repo.branch }}"
                          operator: equals
                          value: main
            """);

        Assert.Equal("{{ repo.branch }} Equals main", Assert.Single(Assert.Single(attestation.Conditions).All).Text);
    }

    [Fact]
    public void PC0004_condition_without_operator()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                      conditions:
                      - all:
                        - key: "{{ repo.branch }}"
                          value: main
            """));

        var diagnostic = run.Single("PC0004");
        DiagnosticAssert.MessageContains(diagnostic, "requires 'operator'");
        DiagnosticAssert.At(diagnostic, File, 23, 15);
    }

    [Fact]
    public void PC0016_empty_any_never_holds()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                      conditions:
                      - any: []
            """));

        var diagnostic = run.Single("PC0016");
        DiagnosticAssert.MessageContains(diagnostic, "An empty 'any' list never holds");
        DiagnosticAssert.At(diagnostic, File, 22, 13);
    }

    [Fact]
    public void PC0003_conditions_must_be_a_list_of_blocks()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                      conditions:
                        all:
                        - key: "{{ repo.branch }}"
                          operator: Equals
                          value: main
            """));

        var diagnostic = run.Single("PC0003");
        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].verifyImages[0].attestations[0].conditions' must be a list");
        DiagnosticAssert.At(diagnostic, File, 22, 13);
    }

    [Fact]
    public void PC0002_misspelt_condition_field()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                      conditions:
                      - all:
                        - key: "{{ repo.branch }}"
                          operator: Equals
                          value: main
                          mesage: reviewed on another branch
            """));

        var diagnostic = run.Single("PC0002");
        DiagnosticAssert.MessageContains(diagnostic, "'mesage' is not a field of Condition");
        DiagnosticAssert.At(diagnostic, File, 26, 15);
    }

    [Fact]
    public void Every_mistake_of_a_conditions_list_is_reported_in_one_build()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                      conditions:
                      - all:
                        - key: "{{ a. }}"
                          operator: Equals
                          value: x
                        - key: x
                          operator: Nope
                          value: x
                      - any:
                        - key: "{{ b }}"
                          value: "{{ to_number('x', 'y') }}"
            """));

        Assert.Equal(["PC0004", "PC0010", "PC0023", "PC0023"], run.GeneratorDiagnostics.Select(d => d.Id).Order(StringComparer.Ordinal));
        Assert.Empty(run.PolicySources);
    }
}
