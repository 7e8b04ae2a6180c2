using PolicyCompiler.Conditions.Tests.Infrastructure;
using PolicyCompiler.Generators.Common;
using PolicyCompiler.Generators.Conditions;
using PolicyCompiler.Runtime.Conditions;
using Xunit.Abstractions;

namespace PolicyCompiler.Conditions.Tests;

/// <summary>
/// Kyverno's variable rules compiled: typed single variables, text substitution, nested variables, escapes, what an
/// unresolvable variable means in conditions and in preconditions, and build-time errors at their position.
/// </summary>
public sealed class KyvernoVariableTests(ITestOutputHelper output)
{
    private static readonly KyvernoHarness Harness = new();

    private const string Predicate = """
        {
          "builder": { "id": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/builder_go_slsa3.yml@refs/tags/v1.9.0" },
          "replicas": 3,
          "labels": { "app": "web", "tier": "front" },
          "scanner": { "result": { "summary": { "criticalCount": 0, "highCount": 2 } } },
          "metadata": { "scanFinishedOn": "2024-05-01T07:08:09Z" },
          "key": "builder",
          "name": "o'brien",
          "empty": null
        }
        """;

    [Theory]
    [InlineData("{{ replicas }}", "3")]
    [InlineData("{{replicas}}", "3")]
    [InlineData("{{ labels }}", "{\"app\":\"web\",\"tier\":\"front\"}")]
    [InlineData("{{ empty }}", "null")]
    [InlineData("replicas: {{ replicas }}", "\"replicas: 3\"")]
    [InlineData(" {{ replicas }}", "\" 3\"")]
    [InlineData("labels={{ labels }}", "\"labels={\\\"app\\\":\\\"web\\\",\\\"tier\\\":\\\"front\\\"}\"")]
    [InlineData("{{ labels.app }}-{{ labels.tier }}", "\"web-front\"")]
    [InlineData("plain text", "\"plain text\"")]
    [InlineData("\\{{ replicas }}", "\"{{ replicas }}\"")]
    [InlineData("a \\{{ b }} {{ labels.app }}", "\"a {{ b }} web\"")]
    public void SubstitutionKeepsTypesOnlyForAWholeValue(string value, string expected)
    {
        var actual = Harness.Evaluate(value, Predicate);
        Assert.Equal(expected, actual.ToJsonString());
    }

    [Theory]
    [InlineData("{{ regex_match('^https://github.com/slsa-framework/slsa-github-generator/.+$', '{{ builder.id }}') }}", "true")]
    [InlineData("{{ \"{{ key }}\".id }}", "\"https://github.com/slsa-framework/slsa-github-generator/.github/workflows/builder_go_slsa3.yml@refs/tags/v1.9.0\"")]
    [InlineData("{{ to_upper('{{ labels.app }}') }}", "\"WEB\"")]
    [InlineData("{{ label_match(`{{ labels }}`, labels) }}", "true")]
    [InlineData("{{ truncate(labels.app, `{{ replicas }}`) }}", "\"web\"")]
    [InlineData("{{ labels.{{ labels.app }} || 'none' }}", "\"none\"")]
    [InlineData("{{ length('{{ name }}') }}", "7")]
    public void NestedVariablesAreSubstitutedFirst(string value, string expected)
    {
        var actual = Harness.Evaluate(value, Predicate);
        Assert.Equal(expected, actual.ToJsonString());
    }

    [Fact]
    public void ANestedVariableInARawStringCannotBreakOutOfIt()
    {
        // Kyverno pastes "o'brien" into '...' and the expression no longer parses; compiled, it is just text.
        Assert.Equal("\"O'BRIEN\"", Harness.Evaluate("{{ to_upper('{{ name }}') }}", Predicate).ToJsonString());
    }

    [Fact]
    public void AnUnresolvableVariableFailsAConditionAndIsEmptyInAPrecondition()
    {
        var e = Assert.Throws<JmesPathException>(() => Harness.Evaluate("{{ scanner.missing.field }}", Predicate));
        Assert.Equal(Runtime.Conditions.JmesErrorKind.VariableNotFound, e.Kind);
        Assert.Contains("{{ scanner.missing.field }}", e.Message, StringComparison.Ordinal);

        var empty = Harness.Evaluate("{{ scanner.missing.field }}", Predicate, KyvernoVariableMode.Precondition);
        Assert.Equal("\"\"", empty.ToJsonString());
        var embedded = Harness.Evaluate("x-{{ nope }}-y", Predicate, KyvernoVariableMode.Precondition);
        Assert.Equal("\"x--y\"", embedded.ToJsonString());

        // A null value and a defaulted missing value are resolved.
        Assert.Equal("null", Harness.Evaluate("{{ empty }}", Predicate).ToJsonString());
        Assert.Equal("\"dflt\"", Harness.Evaluate("{{ nope || 'dflt' }}", Predicate).ToJsonString());
    }

    [Fact]
    public void ConditionsCompileWithTheirOperators()
    {
        // The SLSA builder check and the vulnerability-scan age check of the reference page, as conditions.
        var writer = new SourceWriter();
        writer.WriteLine("namespace Kyverno;");
        writer.WriteLine("public static class Conditions");
        writer.OpenBrace();
        KyvernoEmitter.EmitConditionMethod(writer, "Builder", Condition(
            "{{ regex_match('^https://github.com/slsa-framework/slsa-github-generator/.github/workflows/builder_go_slsa3.yml@refs/tags/v[0-9].[0-9].[0-9]$','{{ builder.id}}') }}",
            "Equals", new KyvernoBooleanValue(true)), KyvernoVariableMode.Strict);
        KyvernoEmitter.EmitConditionMethod(writer, "Age", Condition(
            "{{ time_since('','{{ metadata.scanFinishedOn }}','') }}", "LessThanOrEquals", Text("168h")), KyvernoVariableMode.Strict);
        KyvernoEmitter.EmitConditionMethod(writer, "Critical", Condition(
            "{{ scanner.result.summary.criticalCount }}", "Equals", new KyvernoNumberValue(0)), KyvernoVariableMode.Strict);
        KyvernoEmitter.EmitConditionMethod(writer, "Tier", Condition(
            "{{ labels.tier }}", "AnyIn", new KyvernoListValue(new KyvernoValue[] { Text("back"), Text("{{ labels.tier }}") }.ToEquatableArray())), KyvernoVariableMode.Strict);
        KyvernoEmitter.EmitConditionMethod(writer, "Missing", Condition(
            "{{ nope }}", "Equals", Text("")), KyvernoVariableMode.Precondition);
        writer.WriteLine("public static bool Block(JmesValue root, JmesContext context) =>");
        writer.WriteLine("    " + KyvernoEmitter.AnyAll(["Tier(root, context)", "Missing(root, context)"], ["Builder(root, context)", "Age(root, context)", "Critical(root, context)"]) + ";");
        writer.CloseBrace();
        var source = writer.ToString();
        output.WriteLine(source);

        var assembly = InMemoryCompiler.Compile(InMemoryCompiler.Usings + source, "Conditions");
        var type = assembly.GetType("Kyverno.Conditions")!;
        var root = JmesValue.ParseJson(Predicate);
        bool Run(string name) => (bool)type.GetMethod(name)!.Invoke(null, [root, KyvernoHarness.Context])!;
        Assert.True(Run("Builder"));
        Assert.True(Run("Age"), "scanned 5 days before the fixed clock: within 168h");
        Assert.True(Run("Critical"));
        Assert.True(Run("Tier"));
        Assert.True(Run("Missing"));
        Assert.True(Run("Block"));
    }

    private static KyvernoCondition Condition(string key, string op, KyvernoValue value) => new(Text(key), op, value);

    private static KyvernoStringValue Text(string text)
    {
        var parsed = KyvernoTemplateParser.Parse(text);
        Assert.True(parsed.Success, string.Join("; ", parsed.Diagnostics));
        return new KyvernoStringValue(parsed.Template!);
    }

    [Theory]
    [InlineData("{{ }}", 0, 5, "Empty variable")]
    [InlineData("image {{ images.containers.app.tag", 6, 28, "Unterminated variable")]
    [InlineData("x {{ foo[ }}", 10, 1, "Incomplete")]
    [InlineData("{{ foo.bar( }}", 12, 1, "Incomplete")]
    [InlineData("{{ to_upper(a, b) }}", 3, 14, "to_upper() takes 1 argument")]
    [InlineData("{{ a || unknown_fn(b) }}", 8, 10, "Unknown function 'unknown_fn'")]
    [InlineData("{{ regex_match('[', '{{ x }}') }}", 15, 3, "Invalid regular expression")]
    [InlineData("{{ a == `{\"a\": }` }}", 8, 9, "Invalid JSON literal")]
    [InlineData("{{ a.{{ b. }} }}", 11, 1, "Incomplete")]
    [InlineData("{{ sort_by(items, name) }}", 18, 4, "must be &expression")]
    public void ErrorsPointIntoTheValue(string value, int start, int length, string message)
    {
        var result = KyvernoTemplateParser.Parse(value);
        Assert.False(result.Success);
        var diagnostic = result.Diagnostics[0];
        output.WriteLine($"{value}\n{new string(' ', diagnostic.Start)}{new string('^', diagnostic.Length)} {diagnostic}");
        Assert.True(diagnostic.Message.Contains(message, StringComparison.Ordinal) || diagnostic.SpecName == message, diagnostic.ToString());
        Assert.Equal((start, length), (diagnostic.Start, diagnostic.Length));
    }

    [Fact]
    public void ParsedModelsCompareByValue()
    {
        // The incremental pipeline caches on equality: parsing the same text twice gives equal models.
        var a = KyvernoTemplateParser.Parse("{{ request.object.spec.containers[?name == 'x'].image | [0] }}");
        var b = KyvernoTemplateParser.Parse("{{ request.object.spec.containers[?name == 'x'].image | [0] }}");
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, KyvernoTemplateParser.Parse("{{ request.object.spec.containers[?name == 'y'].image | [0] }}"));
    }

    [Fact]
    public void GeneratedCodeIsPlainCSharp()
    {
        var parsed = JmesCompiler.Parse("spec.containers[?name == 'web'].image | [0]", JmesDialect.Kyverno);
        var code = JmesCompiler.EmitMethod(parsed.Expression!, JmesDialect.Kyverno, "WebImage", "spec.containers[?name == 'web'].image | [0]");
        output.WriteLine(code);
        Assert.Contains("public static JmesValue WebImage(JmesValue input, JmesContext context)", code, StringComparison.Ordinal);
        Assert.Contains("Jmes.Filter(", code, StringComparison.Ordinal);
        Assert.Contains(".StringEquals(\"web\"u8, \"web\")", code, StringComparison.Ordinal);
        Assert.DoesNotContain("Parse", code, StringComparison.Ordinal);
    }
}
