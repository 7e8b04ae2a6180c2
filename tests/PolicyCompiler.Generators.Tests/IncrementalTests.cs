using System.Collections;
using System.Reflection;
using Microsoft.CodeAnalysis;
using PolicyCompiler.Generators.Model;
using PolicyCompiler.Generators.Tests.Infrastructure;

namespace PolicyCompiler.Generators.Tests;

/// <summary>
/// The pipeline is value-equatable (DESIGN.md, "The generator is pure"): an edit to one policy re-runs that policy's
/// steps only, and an edit that does not change meaning changes no model and no generated source.
/// </summary>
public sealed class IncrementalTests
{
    private static readonly string[] s_steps = [TrackingNames.PolicyFiles, TrackingNames.ParsedFiles, TrackingNames.Policies, TrackingNames.Catalog];

    [Fact]
    public void Running_again_without_changes_reuses_every_step()
    {
        var (driver, compilation, _, _) = RunTwoPolicies();

        var result = driver.RunGenerators(compilation).GetRunResult().Results[0];

        foreach (var step in s_steps)
        {
            Assert.All(Outputs(result, step), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
        }
    }

    [Fact]
    public void Editing_one_policy_re_runs_only_that_policy()
    {
        var (driver, compilation, _, beta) = RunTwoPolicies();
        var before = driver.GetRunResult().Results[0].GeneratedSources.ToDictionary(s => s.HintName, s => s.SourceText.ToString());

        driver = driver.ReplaceAdditionalText(beta, GeneratorHarness.Policy("beta.yaml", PolicyYaml("beta", "ghcr.io/beta-team/*")));
        var result = driver.RunGenerators(compilation).GetRunResult().Results[0];

        var policies = Outputs(result, TrackingNames.Policies).ToList();
        Assert.Equal(2, policies.Count);
        var alpha = Assert.Single(policies, o => ((PolicyModel)o.Value).Name == "alpha");
        Assert.Contains(alpha.Reason, new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged });
        var edited = Assert.Single(policies, o => ((PolicyModel)o.Value).Name == "beta");
        Assert.Contains(edited.Reason, new[] { IncrementalStepRunReason.Modified, IncrementalStepRunReason.New });
        Assert.Equal("ghcr.io/beta-team/*", ((PolicyModel)edited.Value).Rules[0].VerifyImages[0].ImageReferences[0]);

        // The same shows in the output: only beta's source differs.
        var after = result.GeneratedSources.ToDictionary(s => s.HintName, s => s.SourceText.ToString());
        Assert.Equal(before.Keys.Order(StringComparer.Ordinal), after.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["BetaPolicy.beta.yaml.g.cs"], before.Keys.Where(k => before[k] != after[k]));
    }

    [Fact]
    public void A_comment_line_changes_no_model_and_no_source()
    {
        var (driver, compilation, alpha, _) = RunTwoPolicies();
        var before = driver.GetRunResult().Results[0].GeneratedSources.ToDictionary(s => s.HintName, s => s.SourceText.ToString());

        var commented = "# Owned by team alpha.\n" + PolicyYaml("alpha", "ghcr.io/alpha/*");
        driver = driver.ReplaceAdditionalText(alpha, GeneratorHarness.Policy("alpha.yaml", commented));
        var result = driver.RunGenerators(compilation).GetRunResult().Results[0];

        // The file's text changed, so its input step is new work ...
        Assert.Contains(Outputs(result, TrackingNames.PolicyFiles), o => o.Reason == IncrementalStepRunReason.Modified);

        // ... but parsing yields an equal result (the model holds no positions), so nothing after it re-runs.
        var parsed = Outputs(result, TrackingNames.ParsedFiles).ToList();
        Assert.Equal(2, parsed.Count);
        Assert.Equal(IncrementalStepRunReason.Unchanged, Assert.Single(parsed, o => ((PolicyFileResult)o.Value).Path.EndsWith("alpha.yaml", StringComparison.Ordinal)).Reason);
        Assert.Equal(IncrementalStepRunReason.Cached, Assert.Single(parsed, o => ((PolicyFileResult)o.Value).Path.EndsWith("beta.yaml", StringComparison.Ordinal)).Reason);
        Assert.All(Outputs(result, TrackingNames.Policies), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
        Assert.All(Outputs(result, TrackingNames.Catalog), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));

        var after = result.GeneratedSources.ToDictionary(s => s.HintName, s => s.SourceText.ToString());
        Assert.Equal(before, after);
    }

    [Fact]
    public void Pipeline_values_hold_no_compiler_objects()
    {
        var (driver, _, _, _) = RunTwoPolicies();
        var result = driver.GetRunResult().Results[0];

        foreach (var step in s_steps)
        {
            foreach (var (value, _) in Outputs(result, step))
            {
                AssertNoCompilerObjects(value, step, new HashSet<object>(ReferenceEqualityComparer.Instance));
            }
        }
    }

    private static (GeneratorDriver Driver, Compilation Compilation, AdditionalText Alpha, AdditionalText Beta) RunTwoPolicies()
    {
        var alpha = GeneratorHarness.Policy("alpha.yaml", PolicyYaml("alpha", "ghcr.io/alpha/*"));
        var beta = GeneratorHarness.Policy("beta.yaml", PolicyYaml("beta", "ghcr.io/beta/*"));
        var compilation = GeneratorHarness.CreateCompilation();
        var driver = GeneratorHarness.CreateDriver([alpha, beta]).RunGenerators(compilation);

        var first = driver.GetRunResult().Results[0];
        Assert.Empty(first.Diagnostics);
        Assert.Equal(3, first.GeneratedSources.Length);
        return (driver, compilation, alpha, beta);
    }

    private static IEnumerable<(object Value, IncrementalStepRunReason Reason)> Outputs(GeneratorRunResult result, string step)
    {
        Assert.True(result.TrackedSteps.TryGetValue(step, out var runs), $"the step '{step}' was not tracked");
        return runs.SelectMany(r => r.Outputs);
    }

    private static string PolicyYaml(string name, string image) => $"""
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata:
          name: {name}
        spec:
          rules:
            - name: {name}-images
              match:
                any:
                - resources:
                    kinds: [Pod]
              verifyImages:
              - imageReferences: ["{image}"]
                attestors:
                - entries:
                  - keys:
                      publicKeys: |-
                        -----BEGIN PUBLIC KEY-----
                        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM
                        5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==
                        -----END PUBLIC KEY-----
        """;

    /// <summary>Walks a pipeline value's fields: a symbol, compilation, syntax node or location inside it would defeat caching.</summary>
    private static void AssertNoCompilerObjects(object? value, string path, HashSet<object> visited)
    {
        if (value is null or string || value.GetType().IsPrimitive || value.GetType().IsEnum || value is DiagnosticDescriptor)
        {
            return;
        }

        Assert.False(
            value is Compilation or ISymbol or SyntaxNode or SyntaxTree or Location or SemanticModel,
            $"{path} holds a {value.GetType().Name}, which keeps compiler state alive and never compares equal");

        if (!value.GetType().IsValueType && !visited.Add(value))
        {
            return;
        }

        if (value is IEnumerable items and not IDictionary)
        {
            var i = 0;
            foreach (var item in items)
            {
                AssertNoCompilerObjects(item, $"{path}[{i++}]", visited);
            }

            return;
        }

        for (var type = value.GetType(); type is not null && type != typeof(object); type = type.BaseType)
        {
            foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                AssertNoCompilerObjects(field.GetValue(value), $"{path}.{field.Name}", visited);
            }
        }
    }
}
