using PolicyCompiler.Conditions.Tests.Infrastructure;
using PolicyCompiler.Generators.Common;
using PolicyCompiler.Generators.Conditions;
using PolicyCompiler.Runtime.Conditions;

namespace PolicyCompiler.Conditions.Tests;

/// <summary>
/// Variables in the keys of a map value (a condition's <c>key</c> or <c>value</c>, a context variable's value), which
/// Kyverno substitutes because its JSON traversal visits map keys as well as leaves: a key that is one variable takes
/// the variable's string value, is left as written when the variable is null, and fails for any other type; a key with
/// text around its variables reads them as text, as a string value does.
/// </summary>
public sealed class KyvernoMapKeyTests
{
    private const string Predicate = """
        {
          "labels": { "app": "web", "tier": "front" },
          "replicas": 3,
          "empty": null
        }
        """;

    private static KyvernoStringValue Text(string text) => new(KyvernoHarness.Template(text));

    private static KyvernoMapValue Map(params (string Key, KyvernoValue Value)[] entries) =>
        new(entries.Select(e => new KyvernoMapEntry(KyvernoHarness.Template(e.Key), e.Value)).ToEquatableArray());

    private static JmesValue Evaluate(KyvernoValue value, KyvernoVariableMode mode = KyvernoVariableMode.Strict) =>
        KyvernoHarness.CompileValues([value], mode)[0](JmesValue.ParseJson(Predicate), KyvernoHarness.Context);

    [Fact]
    public void Keys_are_substituted_like_string_values()
    {
        var value = Map(
            ("{{ labels.app }}", Text("{{ replicas }}")),
            ("team-{{ labels.tier }}-{{ replicas }}", Text("x")),
            ("\\{{ labels.app }}", Text("escaped")),
            ("plain", Map(("{{ labels.tier }}", new KyvernoBooleanValue(true)))));

        Assert.Equal(
            """{"web":3,"team-front-3":"x","{{ labels.app }}":"escaped","plain":{"front":true}}""",
            Evaluate(value).ToJsonString());
    }

    [Fact]
    public void A_key_whose_variable_is_null_stays_as_written()
    {
        // Kyverno keeps the old key when the substituted key is nil; braces included.
        Assert.Equal("""{"{{ empty }}":1}""", Evaluate(Map(("{{ empty }}", new KyvernoNumberValue(1)))).ToJsonString());

        // Inside a longer key, null reads as its JSON text, as in a string value.
        Assert.Equal("""{"x-null":1}""", Evaluate(Map(("x-{{ empty }}", new KyvernoNumberValue(1)))).ToJsonString());
    }

    [Theory]
    [InlineData("{{ replicas }}", "3")]
    [InlineData("{{ labels }}", "{\"app\":\"web\",\"tier\":\"front\"}")]
    public void A_key_that_is_one_variable_of_another_type_fails_the_evaluation(string key, string json)
    {
        var e = Assert.Throws<JmesPathException>(() => Evaluate(Map((key, Text("v")))));

        Assert.Equal(Runtime.Conditions.JmesErrorKind.InvalidValue, e.Kind);
        Assert.Equal($"expected string after substituting variables in key \"{key}\", got {json}", e.Message);
    }

    [Fact]
    public void An_unresolvable_key_variable_fails_a_condition_and_is_empty_in_a_precondition()
    {
        var value = Map(("{{ labels.missing }}", Text("v")));

        var e = Assert.Throws<JmesPathException>(() => Evaluate(value));
        Assert.Equal(Runtime.Conditions.JmesErrorKind.VariableNotFound, e.Kind);
        Assert.Contains("{{ labels.missing }}", e.Message, StringComparison.Ordinal);

        Assert.Equal("""{"":"v"}""", Evaluate(value, KyvernoVariableMode.Precondition).ToJsonString());
    }

    [Fact]
    public void Two_keys_that_substitute_to_one_name_keep_the_later_value()
    {
        // Kyverno's outcome depends on Go's map order here; compiled, the later key in the YAML wins, every time.
        var value = Map(("web", new KyvernoNumberValue(1)), ("{{ labels.app }}", new KyvernoNumberValue(2)));

        Assert.Equal("""{"web":2}""", Evaluate(value).ToJsonString());
    }

    [Fact]
    public void Key_variables_in_maps_inside_lists_are_substituted()
    {
        var value = new KyvernoListValue(new KyvernoValue[]
        {
            Map(("{{ labels.app }}", Text("{{ labels.tier }}"))),
            Map(("n", Text("{{ replicas }}"))),
        }.ToEquatableArray());

        Assert.Equal("""[{"web":"front"},{"n":3}]""", Evaluate(value).ToJsonString());
    }
}
