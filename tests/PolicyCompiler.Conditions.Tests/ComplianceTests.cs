using System.Text;
using System.Text.Json;
using PolicyCompiler.Conditions.Tests.Infrastructure;
using PolicyCompiler.Generators.Conditions;
using PolicyCompiler.Runtime.Conditions;
using Xunit.Abstractions;

namespace PolicyCompiler.Conditions.Tests;

/// <summary>
/// The JMESPath compliance suite (TestData/jmespath-compliance, see its NOTICE.md) through the compiled path: every
/// expression is parsed and validated by the generator's compiler, emitted as C#, all of them compiled together with
/// Roslyn into one assembly, loaded, and run on the case's document. Every case is counted; none is skipped.
/// </summary>
public sealed class ComplianceTests(ITestOutputHelper output)
{
    private sealed record Case(string File, int Group, int Index, string Expression, JsonElement Given, JsonElement? Result, string? Error, bool Bench)
    {
        public string Id => $"{File}#{Group}.{Index}";
    }

    [Fact]
    public void EveryComplianceCasePassesThroughTheCompiledPath()
    {
        var cases = LoadCases();
        var source = new StringBuilder(InMemoryCompiler.Usings).AppendLine("namespace Compliance;");
        var compileErrors = new Dictionary<int, JmesDiagnostic>();
        for (var i = 0; i < cases.Count; i++)
        {
            var parsed = JmesCompiler.Parse(cases[i].Expression, JmesDialect.Standard);
            if (!parsed.Success)
            {
                compileErrors[i] = parsed.Diagnostics[0];
                continue;
            }

            source.AppendLine($"public static class Case{i}").AppendLine("{")
                .AppendLine(JmesCompiler.EmitMethod(parsed.Expression!, JmesDialect.Standard, "Evaluate", cases[i].Expression))
                .AppendLine("}");
        }

        var assembly = InMemoryCompiler.Compile(source.ToString(), "Compliance");
        var failures = new List<string>();
        var passedByFile = new SortedDictionary<string, (int Passed, int Total)>(StringComparer.Ordinal);
        var passed = 0;
        for (var i = 0; i < cases.Count; i++)
        {
            var c = cases[i];
            var failure = Run(c, i, assembly, compileErrors);
            var (p, t) = passedByFile.GetValueOrDefault(c.File);
            passedByFile[c.File] = (p + (failure is null ? 1 : 0), t + 1);
            if (failure is null)
            {
                passed++;
            }
            else
            {
                failures.Add($"{c.Id} `{c.Expression}`: {failure}");
            }
        }

        foreach (var (file, (p, t)) in passedByFile)
        {
            output.WriteLine($"{file,-20} {p,4} / {t,4}");
        }

        output.WriteLine($"JMESPath compliance: {passed} of {cases.Count} cases pass through the compiled path.");
        foreach (var failure in failures)
        {
            output.WriteLine("FAIL " + failure);
        }

        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} compliance cases fail:\n" + string.Join("\n", failures));
    }

    private static string? Run(Case c, int i, System.Reflection.Assembly assembly, Dictionary<int, JmesDiagnostic> compileErrors)
    {
        if (compileErrors.TryGetValue(i, out var diagnostic))
        {
            if (c.Error is not null)
            {
                return diagnostic.SpecName == c.Error ? null : $"expected {c.Error} error, compiler reported {diagnostic}";
            }

            return $"expected a result, compiler reported {diagnostic}";
        }

        var evaluate = InMemoryCompiler.Method(assembly, $"Compliance.Case{i}", "Evaluate");
        JmesValue actual;
        try
        {
            actual = evaluate(JmesValue.FromJson(c.Given), JmesContext.Default);
        }
        catch (JmesPathException e)
        {
            if (c.Error is not null)
            {
                return e.SpecName == c.Error ? null : $"expected {c.Error} error, got {e.SpecName}: {e.Message}";
            }

            return $"expected a result, got {e.SpecName}: {e.Message}";
        }

        if (c.Bench)
        {
            return null;
        }

        if (c.Error is not null)
        {
            return $"expected {c.Error} error, got {actual.ToJsonString()}";
        }

        var expected = JmesValue.FromJson(c.Result!.Value);
        return JmesValue.DeepEquals(expected, actual) ? null : $"expected {expected.ToJsonString()}, got {actual.ToJsonString()}";
    }

    private static List<Case> LoadCases()
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "TestData", "jmespath-compliance");
        var cases = new List<Case>();
        foreach (var path in Directory.GetFiles(directory, "*.json").Order(StringComparer.Ordinal))
        {
            var file = Path.GetFileName(path);
            var document = JsonDocument.Parse(File.ReadAllText(path));
            var group = 0;
            foreach (var g in document.RootElement.EnumerateArray())
            {
                var given = g.GetProperty("given").Clone();
                var index = 0;
                foreach (var c in g.GetProperty("cases").EnumerateArray())
                {
                    var expression = c.GetProperty("expression").GetString()!;
                    JsonElement? result = c.TryGetProperty("result", out var r) ? r.Clone() : null;
                    var error = c.TryGetProperty("error", out var e) ? e.GetString() : null;
                    var bench = c.TryGetProperty("bench", out _);
                    cases.Add(new Case(file, group, index++, expression, given, result, error, bench));
                }

                group++;
            }
        }

        return cases;
    }
}
