using System.Text.Json;
using PolicyCompiler.Generators.Tests.Infrastructure;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Conditions;
using PolicyCompiler.Runtime.Engine;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// <c>verifyImages[].validate.deny</c> compiled: the conditions read the named attestations' predicates (and the
/// request), the image is denied when they hold, with Kyverno's wording; mistakes are build errors.
/// </summary>
public sealed class ValidateDenyTests
{
    private const string File = GeneratorHarness.PolicyDirectory + "policy.yaml";

    private static string Policy(string validate, string name = "name: reviews") => $$"""
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
                  {{name}}
                  attestors:
                  - entries:
                    - keyless:
                        subject: "https://github.com/org/repo/*"
                        issuer: https://token.actions.githubusercontent.com
        {{validate}}
        """;

    private const string DenyFewReviewers = """
                validate:
                  message: "at least two reviewers must approve"
                  deny:
                    conditions:
                      any:
                      - key: "{{ length(reviews.reviewers[?approved]) }}"
                        operator: LessThan
                        value: 2
        """;

    private static ImageVerificationDefinition Entry(string yaml) =>
        Assert.Single(Assert.Single(Load(("policy.yaml", yaml))).Rules[0].VerifyImages);

    private static string? Check(ImageVerificationDefinition entry, string name, string predicate, AdmissionContext? request = null)
    {
        using var document = JsonDocument.Parse(predicate);
        return entry.Validation!.Check([(name, document.RootElement.Clone())], request, JmesContext.Default);
    }

    private static AdmissionContext PodRequest(string app) =>
        new(new AdmissionRequest
        {
            Uid = "00000000-0000-0000-0000-000000000004",
            Kind = new GroupVersionKind { Group = "", Version = "v1", Kind = "Pod" },
            Namespace = "team-a",
            Name = "app",
            Operation = "CREATE",
            Object = JsonDocument.Parse($$$"""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"app","labels":{"app":"{{{app}}}"}},"spec":{"containers":[{"name":"app","image":"ghcr.io/org/app:v1"}]}}""").RootElement,
        });

    [Fact]
    public void Deny_conditions_read_the_named_predicate_and_deny_when_they_hold()
    {
        var entry = Entry(Policy(DenyFewReviewers));

        var one = Check(entry, "reviews", """{"reviewers":[{"name":"a","approved":true},{"name":"b","approved":false}]}""");
        var two = Check(entry, "reviews", """{"reviewers":[{"name":"a","approved":true},{"name":"b","approved":true}]}""");

        Assert.Equal("validation in verifyImages failed: at least two reviewers must approve", one);
        Assert.Null(two);
        Assert.Equal("reviews", Assert.Single(entry.Attestations).Name);
        Assert.True(entry.VerdictIsReusable);
    }

    [Fact]
    public void Deny_without_a_message_uses_kyvernos_wording()
    {
        var entry = Entry(Policy(DenyFewReviewers.Replace("          message: \"at least two reviewers must approve\"\n", string.Empty, StringComparison.Ordinal)));

        Assert.Equal("validation in verifyImages failed: validation error: imageVerify  failed", Check(entry, "reviews", """{"reviewers":[]}"""));
    }

    [Fact]
    public void A_missing_named_attestation_is_an_evaluation_error_that_denies()
    {
        // Strict substitution, as in Kyverno's validate rules: a variable that does not resolve fails the check.
        var entry = Entry(Policy(DenyFewReviewers));

        var result = Check(entry, "other", """{"reviewers":[]}""");

        Assert.StartsWith("validation in verifyImages failed: failed to check deny conditions: ", result, StringComparison.Ordinal);
    }

    [Fact]
    public void Deny_conditions_that_read_the_request_make_the_verdict_per_request()
    {
        var entry = Entry(Policy("""
                validate:
                  message: "only the payments app may run unreviewed images"
                  deny:
                    conditions:
                      all:
                      - key: "{{ length(reviews.reviewers) }}"
                        operator: Equals
                        value: 0
                      - key: "{{ request.object.metadata.labels.app }}"
                        operator: NotEquals
                        value: payments
        """));

        Assert.False(entry.VerdictIsReusable);
        Assert.Null(Check(entry, "reviews", """{"reviewers":[]}""", PodRequest("payments")));
        Assert.Equal("validation in verifyImages failed: only the payments app may run unreviewed images", Check(entry, "reviews", """{"reviewers":[]}""", PodRequest("shop")));
    }

    [Fact]
    public void Older_list_form_of_deny_conditions_must_all_hold()
    {
        var entry = Entry(Policy("""
                validate:
                  deny:
                    conditions:
                    - key: "{{ reviews.branch }}"
                      operator: NotEquals
                      value: main
        """));

        Assert.NotNull(Check(entry, "reviews", """{"branch":"dev"}"""));
        Assert.Null(Check(entry, "reviews", """{"branch":"main"}"""));
    }

    [Fact]
    public void Validate_without_attestations_is_a_build_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", """
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
                    mutateDigest: false
                    validate:
                      deny:
                        conditions:
                          any:
                          - key: "{{ images.containers.app.tag }}"
                            operator: Equals
                            value: latest
            """);

        var diagnostic = run.Single("PC0024");
        DiagnosticAssert.MessageContains(diagnostic, "'validate' cannot be combined with 'an entry without attestations'");
        DiagnosticAssert.At(diagnostic, File, 15, 9);
    }

    [Fact]
    public void Invalid_deny_expression_is_a_build_error_at_its_column()
    {
        var yaml = Policy(DenyFewReviewers.Replace("length(reviews.reviewers[?approved])", "length(reviews.reviewers[?approved]", StringComparison.Ordinal));
        var run = GeneratorHarness.Run("policy.yaml", yaml);

        var diagnostic = run.Single("PC0023");
        DiagnosticAssert.MessageContains(diagnostic, "has an invalid variable");
        var keyLine = yaml.Split('\n').ToList().FindIndex(l => l.Contains("- key: \"{{ length(", StringComparison.Ordinal));
        Assert.Equal(keyLine, diagnostic.Location.GetLineSpan().StartLinePosition.Line);
    }

    [Fact]
    public void Deny_without_conditions_is_a_build_error()
    {
        var run = GeneratorHarness.Run("policy.yaml", Policy("""
                validate:
                  message: nothing to check
                  deny: {}
        """));

        DiagnosticAssert.MessageContains(run.Single("PC0004"), "requires 'conditions'");
    }

    [Fact]
    public void Variables_in_the_message_are_substituted_from_the_predicate_when_the_conditions_hold()
    {
        var entry = Entry(Policy(DenyFewReviewers.Replace("at least two reviewers must approve", "{{ reviews.author }} has {{ length(reviews.reviewers[?approved]) }} approval(s), needs 2", StringComparison.Ordinal)));

        var denied = Check(entry, "reviews", """{"author":"alice","reviewers":[{"name":"a","approved":true}]}""");
        var admitted = Check(entry, "reviews", """{"author":"alice","reviewers":[{"name":"a","approved":true},{"name":"b","approved":true}]}""");

        Assert.Equal("validation in verifyImages failed: alice has 1 approval(s), needs 2", denied);
        Assert.Null(admitted);
        Assert.True(entry.VerdictIsReusable);
    }

    [Fact]
    public void A_message_variable_that_reads_the_request_and_images_makes_the_verdict_per_request()
    {
        var entry = Entry(Policy(DenyFewReviewers.Replace("at least two reviewers must approve", "{{ request.object.metadata.labels.app }}: {{ images.containers.app.registry }}/{{ images.containers.app.path }} lacks reviews", StringComparison.Ordinal)));

        using var document = JsonDocument.Parse("""{"reviewers":[]}""");
        var result = entry.Validation!.Check([("reviews", document.RootElement.Clone())], PodRequest("shop"), JmesContext.Default);

        Assert.Equal("validation in verifyImages failed: shop: ghcr.io/org/app lacks reviews", result);
        Assert.False(entry.VerdictIsReusable);
    }

    [Fact]
    public void An_unresolvable_message_variable_still_denies_and_loses_the_message_as_in_kyverno()
    {
        // Kyverno substitutes the message strictly and, when that fails, answers with the conditions' own failure
        // messages instead, which are empty once the deny conditions hold.
        var entry = Entry(Policy(DenyFewReviewers.Replace("at least two reviewers must approve", "{{ reviews.author }} needs two approvals", StringComparison.Ordinal)));

        var result = Check(entry, "reviews", """{"reviewers":[]}""");

        Assert.Equal("validation in verifyImages failed: ", result);
    }

    [Fact]
    public void A_message_that_is_one_variable_of_another_type_is_kyvernos_not_a_string_message()
    {
        var entry = Entry(Policy(DenyFewReviewers.Replace("at least two reviewers must approve", "{{ reviews.reviewers }}", StringComparison.Ordinal)));

        var list = Check(entry, "reviews", """{"reviewers":[{"name":"a","approved":false}]}""");
        var text = Check(Entry(Policy(DenyFewReviewers.Replace("at least two reviewers must approve", "{{ reviews.summary }}", StringComparison.Ordinal))), "reviews", """{"summary":"no approvals","reviewers":[]}""");

        Assert.Equal("validation in verifyImages failed: " + ValidationDefinition.NotAStringMessage, list);
        Assert.Equal("validation in verifyImages failed: no approvals", text);
    }

    [Fact]
    public void An_invalid_message_variable_is_a_build_error_at_its_column()
    {
        var yaml = Policy(DenyFewReviewers.Replace("\"at least two reviewers must approve\"", "at least two of {{ length(reviews.reviewers }}", StringComparison.Ordinal));

        var diagnostic = GeneratorHarness.Run("policy.yaml", yaml).Single("PC0023");

        DiagnosticAssert.MessageContains(diagnostic, "'spec.rules[0].verifyImages[0].validate.message'");
        var line = yaml.Split('\n').ToList().FindIndex(l => l.Contains("message: at least two of", StringComparison.Ordinal));
        var column = yaml.Split('\n')[line].IndexOf("{{", StringComparison.Ordinal);
        Assert.Equal(line, diagnostic.Location.GetLineSpan().StartLinePosition.Line);
        Assert.True(diagnostic.Location.GetLineSpan().StartLinePosition.Character >= column, diagnostic.ToString());
    }
}
