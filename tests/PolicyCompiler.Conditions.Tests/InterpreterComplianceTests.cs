using System.Text.Json;
using PolicyCompiler.Runtime.Conditions;
using Xunit.Abstractions;

namespace PolicyCompiler.Conditions.Tests;

/// <summary>
/// The JMESPath compliance suite (TestData/jmespath-compliance, see its NOTICE.md) through
/// <see cref="JmesInterpreter"/>, the runtime's evaluator for expressions learned at admission (GlobalContextEntry
/// projections). It shares the compiled path's parser and operations, so it must give the same answers.
/// </summary>
public sealed class InterpreterComplianceTests(ITestOutputHelper output)
{
    /// <summary>
    /// The interpreter calls Kyverno's function table, as Kyverno evaluates projections with it; Kyverno's <c>sum</c>
    /// replaces the built-in and refuses an empty array, so this case expects Kyverno's answer instead of the suite's.
    /// </summary>
    private static readonly Dictionary<string, string> KyvernoAnswers = new(StringComparer.Ordinal)
    {
        ["sum(`[]`)"] = "function-error",
    };

    [Fact]
    public void EveryComplianceCasePassesThroughTheInterpreter()
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "TestData", "jmespath-compliance");
        var failures = new List<string>();
        var total = 0;
        foreach (var path in Directory.GetFiles(directory, "*.json").Order(StringComparer.Ordinal))
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            foreach (var group in document.RootElement.EnumerateArray())
            {
                var given = JmesValue.FromJson(group.GetProperty("given"));
                foreach (var c in group.GetProperty("cases").EnumerateArray())
                {
                    total++;
                    var expression = c.GetProperty("expression").GetString()!;
                    var error = KyvernoAnswers.TryGetValue(expression, out var kyverno) ? kyverno : c.TryGetProperty("error", out var e) ? e.GetString() : null;
                    var failure = Run(expression, given, c.TryGetProperty("result", out var r) ? r : null, error, c.TryGetProperty("bench", out _));
                    if (failure is not null)
                    {
                        failures.Add($"{Path.GetFileName(path)} `{expression}`: {failure}");
                    }
                }
            }
        }

        output.WriteLine($"JMESPath compliance: {total - failures.Count} of {total} cases pass through the interpreter.");
        Assert.True(total > 900, $"only {total} cases were read");
        Assert.True(failures.Count == 0, $"{failures.Count} of {total} compliance cases fail:\n" + string.Join("\n", failures));
    }

    private static string? Run(string expression, JmesValue given, JsonElement? result, string? error, bool bench)
    {
        JmesValue actual;
        try
        {
            actual = JmesInterpreter.Compile(expression)(given, JmesContext.Default);
        }
        catch (JmesPathException e)
        {
            return error is null ? $"expected a result, got {e.SpecName}: {e.Message}"
                : e.SpecName == error ? null
                : $"expected {error} error, got {e.SpecName}: {e.Message}";
        }

        if (bench)
        {
            return null;
        }

        if (error is not null)
        {
            return $"expected {error} error, got {actual.ToJsonString()}";
        }

        var expected = JmesValue.FromJson(result!.Value);
        return JmesValue.DeepEquals(expected, actual) ? null : $"expected {expected.ToJsonString()}, got {actual.ToJsonString()}";
    }
}
