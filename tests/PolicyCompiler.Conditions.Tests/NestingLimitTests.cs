using PolicyCompiler.Generators.Conditions;

namespace PolicyCompiler.Conditions.Tests;

/// <summary>
/// Found by build/fuzz.sh (tests/PolicyCompiler.Fuzz, target jmespath): an expression nested some ten thousand levels
/// deep overflowed the stack of the parser (<c>[[[[…</c>, <c>((((…</c>, <c>!!!!…</c>) or of the validator
/// (<c>a.a.a.…</c>), which ends the compiler process. It is now a syntax diagnostic at the token that goes too deep.
/// </summary>
public sealed class NestingLimitTests
{
    public static TheoryData<string> TooDeep() =>
    [
        new string('[', 100_000),
        new string('(', 100_000) + "a",
        new string('!', 100_000) + "a",
        string.Concat(Enumerable.Repeat("a.", 100_000)) + "b",
        string.Concat(Enumerable.Repeat("a | ", 100_000)) + "b",
        "a" + string.Concat(Enumerable.Repeat("[0]", 100_000)),
    ];

    [Theory]
    [MemberData(nameof(TooDeep))]
    public void AnExpressionNestedTooDeeplyIsADiagnosticNotAStackOverflow(string expression)
    {
        var result = JmesCompiler.Parse(expression, JmesDialect.Kyverno);

        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal("syntax", diagnostic.SpecName);
        Assert.Contains("nests deeper than", diagnostic.Message, StringComparison.Ordinal);
        Assert.InRange(diagnostic.Start, 0, expression.Length - 1);
    }

    [Fact]
    public void AKyvernoVariableNestedTooDeeplyIsADiagnostic()
    {
        var result = KyvernoTemplateParser.Parse("{{ " + new string('(', 50_000) + "a }}");

        Assert.False(result.Success);
        Assert.Contains(result.Diagnostics, d => d.Message.Contains("nests deeper than", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(300)]
    [InlineData(900)]
    public void NestingWellPastRealExpressionsStillCompiles(int levels)
    {
        // Each bracket pair and each dot is one level; the limit is 1000.
        var brackets = string.Concat(Enumerable.Repeat("[", levels)) + "a" + string.Concat(Enumerable.Repeat("]", levels));
        var chain = string.Join(".", Enumerable.Repeat("a", levels));

        Assert.True(JmesCompiler.Parse(brackets, JmesDialect.Kyverno).Success);
        Assert.True(JmesCompiler.Parse(chain, JmesDialect.Kyverno).Success);
    }
}
