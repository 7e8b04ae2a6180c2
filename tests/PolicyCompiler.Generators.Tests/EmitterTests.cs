using PolicyCompiler.Generators.Tests.Infrastructure;
using static PolicyCompiler.Generators.Tests.Infrastructure.CompiledPolicies;

namespace PolicyCompiler.Generators.Tests;

/// <summary>Shapes of generated expressions that the baselines do not show: constants, negations, comments.</summary>
public sealed class EmitterTests
{
    private const string Yaml = """
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: shapes
        spec:
          rules:
            - name: any-name
              match:
                any:
                - resources:
                    kinds: [Pod]
                    names: ["*"]
              exclude:
                any:
                - resources:
                    operations: [DELETE]
              verifyImages:
              - imageReferences: ["ghcr.io/org/*", "*", "*/mirror/*"]
                verifyDigest: false
            - name: not-tmp
              match:
                any:
                - resources:
                    kinds: [Pod]
              exclude:
                any:
                - resources:
                    names: ["tmp-*"]
              verifyImages:
              - imageReferences: ["*/mirror/*"]
                verifyDigest: false
        """;

    [Fact]
    public void Match_all_patterns_vanish_from_conjunctions_and_decide_disjunctions()
    {
        var source = Assert.Single(GeneratorHarness.Run("shapes.yaml", Yaml).AssertClean().PolicySources).Value;

        Assert.Contains(
            "private static bool MatchRule0(AdmissionContext request) =>\n        request.KindIs(null, null, \"Pod\", null)\n        && !(request.Operation == \"DELETE\");\n",
            source,
            StringComparison.Ordinal);
        Assert.Contains("private static bool ImageReferencesRule0Entry0(string image) =>\n        true;\n", source, StringComparison.Ordinal);
        Assert.DoesNotContain("true ||", source, StringComparison.Ordinal);
        Assert.DoesNotContain("&& true", source, StringComparison.Ordinal);
    }

    [Fact]
    public void Negated_call_needs_no_parentheses()
    {
        var source = Assert.Single(GeneratorHarness.Run("shapes.yaml", Yaml).AssertClean().PolicySources).Value;

        Assert.Contains("        && !request.Name.StartsWith(\"tmp-\", StringComparison.Ordinal);\n", source, StringComparison.Ordinal);
    }

    [Fact]
    public void Patterns_are_shown_unchanged_in_doc_comments()
    {
        var source = Assert.Single(GeneratorHarness.Run("shapes.yaml", Yaml).AssertClean().PolicySources).Value;

        Assert.Contains("verifyImages[0].imageReferences: ghcr.io/org/*, *, */mirror/*.</summary>", source, StringComparison.Ordinal);
    }

    [Fact]
    public void Shapes_decide_as_written()
    {
        var rules = Assert.Single(Load(("shapes.yaml", Yaml))).Rules;

        Assert.True(rules[0].Matches(Request("Pod", name: "anything")));
        Assert.False(rules[0].Matches(Request("Pod", operation: "DELETE")));
        Assert.True(rules[0].VerifyImages[0].ImageReferences("quay.io/x:1"));
        Assert.True(rules[1].Matches(Request("Pod", name: "web")));
        Assert.False(rules[1].Matches(Request("Pod", name: "tmp-1")));
        Assert.True(rules[1].VerifyImages[0].ImageReferences("quay.io/mirror/x:1"));
        Assert.False(rules[1].VerifyImages[0].ImageReferences("quay.io/x:1"));
    }
}
