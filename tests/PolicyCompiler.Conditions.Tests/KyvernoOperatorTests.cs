using PolicyCompiler.Runtime.Conditions;

namespace PolicyCompiler.Conditions.Tests;

/// <summary>
/// Kyverno's condition operators and their coercions. Expectations come from kyverno/kyverno
/// pkg/engine/variables/operator: equal_test.go (E), numeric_test.go (N), allnotin_test.go (ANI) and the operator
/// sources (K) for the deprecated and set operators. Keys and values are JSON, as Kyverno sees them after
/// converting the condition to untyped JSON (a YAML 42 is the number 42).
/// </summary>
public sealed class KyvernoOperatorTests
{
    public static readonly TheoryData<string, string, string, bool, string> Cases = new()
    {
        // Equals (E)
        { "Equals", "true", "true", true, "E" },
        { "Equals", "true", "false", false, "E" },
        { "Equals", "true", "\"true\"", false, "E: bool with wrong type" },
        { "Equals", "42", "42", true, "E" },
        { "Equals", "42", "43", false, "E" },
        { "Equals", "42", "42.5", false, "E" },
        { "Equals", "42", "\"42\"", true, "E: int with string" },
        { "Equals", "42", "\"invalid\"", false, "E" },
        { "Equals", "3.14", "\"3.14\"", true, "E" },
        { "Equals", "\"hello\"", "\"hello\"", true, "E" },
        { "Equals", "\"hello-world\"", "\"hello-*\"", true, "E: wildcard in the value" },
        { "Equals", "\"goodbye-world\"", "\"hello-*\"", false, "E" },
        { "Equals", "\"hello\"", "123", false, "E: string with wrong type" },
        { "Equals", "\"1Gi\"", "\"1024Mi\"", true, "E: quantities" },
        { "Equals", "\"100Mi\"", "\"200Mi\"", false, "E" },
        { "Equals", "\"1h\"", "\"60m\"", true, "E: durations" },
        { "Equals", "\"1h\"", "\"30m\"", false, "E" },
        { "Equals", "\"1m\"", "60", true, "K: a duration against seconds" },
        { "Equals", "{\"foo\":\"bar\"}", "{\"foo\":\"bar\"}", true, "E" },
        { "Equals", "{\"foo\":\"bar\"}", "{\"foo\":\"baz\"}", false, "E" },
        { "Equals", "{\"foo\":\"bar\"}", "\"not a map\"", false, "E" },
        { "Equals", "[\"a\",\"b\",\"c\"]", "[\"a\",\"b\",\"c\"]", true, "E" },
        { "Equals", "[\"a\",\"b\",\"c\"]", "[\"a\",\"b\"]", false, "E" },
        { "Equals", "null", "null", false, "E: unsupported type" },

        // NotEquals is the negation of Equals (K)
        { "NotEquals", "\"hello-world\"", "\"hello-*\"", false, "K" },
        { "NotEquals", "\"1Gi\"", "\"1025Mi\"", true, "K" },
        { "NotEquals", "42", "\"42\"", false, "K" },

        // GreaterThan & co (N)
        { "GreaterThan", "10", "5", true, "N" },
        { "GreaterThan", "5", "10", false, "N" },
        { "GreaterThan", "5", "5", false, "N" },
        { "GreaterThanOrEquals", "10", "10", true, "N" },
        { "LessThan", "5", "10", true, "N" },
        { "LessThanOrEquals", "5", "5", true, "N" },
        { "GreaterThan", "10.5", "10.4", true, "N" },
        { "LessThan", "10.4", "10.5", true, "N" },
        { "GreaterThan", "\"100\"", "50", true, "N: string numeric" },
        { "LessThan", "\"50\"", "\"100\"", true, "N" },
        { "GreaterThan", "\"1.2.3\"", "\"1.2.2\"", true, "N: semver" },
        { "LessThan", "\"1.1.0\"", "\"1.2.0\"", true, "N" },
        { "GreaterThanOrEquals", "\"1.2.0\"", "\"1.2.0\"", true, "N" },
        { "GreaterThan", "\"200Mi\"", "\"100Mi\"", true, "N: quantities" },
        { "LessThan", "\"1Gi\"", "\"2Gi\"", true, "N" },
        { "GreaterThanOrEquals", "\"500m\"", "\"0.5\"", true, "N" },
        { "GreaterThan", "true", "5", false, "N: unsupported key" },
        { "GreaterThan", "\"not-a-number\"", "5", false, "N" },
        { "GreaterThan", "null", "5", false, "N" },
        { "GreaterThan", "\"200h\"", "\"168h\"", true, "K: durations (the vulnerability-scan age check)" },
        { "LessThan", "\"2h\"", "7200.5", false, "K: seconds are truncated to whole seconds" },
        { "LessThanOrEquals", "\"2h\"", "7200", true, "K" },
        { "GreaterThan", "3600", "\"30m\"", true, "K: a number of seconds against a duration" },

        // Deprecated Duration* operators (K: duration.go)
        { "DurationGreaterThan", "\"2h\"", "\"1h\"", true, "K" },
        { "DurationGreaterThanOrEquals", "\"1h\"", "3600", true, "K" },
        { "DurationLessThan", "60", "\"2m\"", true, "K" },
        { "DurationLessThanOrEquals", "\"bad\"", "\"1h\"", false, "K" },

        // In, NotIn (deprecated; K: in.go)
        { "In", "\"a\"", "[\"a\",\"b\"]", true, "K" },
        { "In", "\"c\"", "[\"a\",\"b\"]", false, "K" },
        { "In", "\"kube-system\"", "\"kube-*\"", true, "K: the value string is a pattern" },
        { "In", "\"b\"", "\"[\\\"a\\\",\\\"b\\\"]\"", true, "K: a JSON array written as a string" },
        { "In", "[\"a\",\"b\"]", "[\"a\",\"b\",\"c\"]", true, "K: every key element present" },
        { "In", "[\"a\",\"d\"]", "[\"a\",\"b\",\"c\"]", false, "K" },
        { "NotIn", "\"c\"", "[\"a\",\"b\"]", true, "K" },
        { "NotIn", "[\"a\",\"d\"]", "[\"a\",\"b\",\"c\"]", true, "K" },

        // AnyIn, AllIn, AnyNotIn, AllNotIn (K: anyin.go, allin.go; ANI)
        { "AnyIn", "[\"a\",\"x\"]", "[\"a\",\"b\"]", true, "K" },
        { "AnyIn", "[\"x\",\"y\"]", "[\"a\",\"b\"]", false, "K" },
        { "AnyIn", "[\"kube-system\"]", "[\"kube-*\"]", true, "K: wildcards in values" },
        { "AnyIn", "[\"kube-*\"]", "[\"kube-system\"]", true, "K: wildcards in keys" },
        { "AnyIn", "8080", "\"8000-9000\"", true, "K: a range" },
        { "AnyIn", "[\"7000\",\"9500\"]", "\"8000-9000\"", false, "K" },
        { "AnyIn", "true", "[\"true\"]", true, "K: a boolean key as text" },
        { "AnyIn", "1000000", "[\"1e+06\"]", true, "K: numbers as Go prints them" },
        { "AllIn", "[\"a\",\"b\"]", "[\"a\",\"b\",\"c\"]", true, "K" },
        { "AllIn", "[\"a\",\"x\"]", "[\"a\",\"b\",\"c\"]", false, "K" },
        { "AllIn", "[\"8080\",\"8081\"]", "\"8000-9000\"", true, "K" },
        { "AnyNotIn", "[\"a\",\"x\"]", "[\"a\",\"b\"]", true, "K" },
        { "AnyNotIn", "[\"a\",\"b\"]", "[\"a\",\"b\"]", false, "K" },
        { "AnyNotIn", "\"kyverno\"", "\"default\"", true, "K" },
        { "AnyNotIn", "[\"7000\",\"8500\"]", "\"8000-9000\"", true, "K" },
        { "AllNotIn", "\"kyverno\"", "\"kyverno\"", false, "ANI" },
        { "AllNotIn", "\"kube-system\"", "[\"default\",\"kube-*\"]", false, "ANI" },
        { "AllNotIn", "\"kyverno\"", "\"default\"", true, "ANI" },
        { "AllNotIn", "64", "\"64\"", false, "ANI" },
        { "AllNotIn", "64", "\"default\"", true, "ANI" },
        { "AllNotIn", "[\"kube-system\",\"kube-public\"]", "\"kube-*\"", false, "ANI" },
        { "AllNotIn", "[\"kube-system\",\"default\"]", "\"kube-system\"", false, "ANI" },
        { "AllNotIn", "[\"default\",\"kyverno\"]", "\"kube-*\"", true, "ANI" },
        { "AllNotIn", "[\"default\",\"kyverno\"]", "[\"kube-*\",\"kube-system\"]", true, "ANI" },
        { "AllNotIn", "[\"default\",\"kyverno\"]", "[\"kube-*\",\"ky*\"]", false, "ANI" },
        { "AnyIn", "{\"a\":1}", "[\"a\"]", false, "K: an object key is not supported" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void OperatorBehavesAsKyverno(string op, string key, string value, bool expected, string source)
    {
        var result = KyvernoConditions.Evaluate(Enum.Parse<KyvernoOperator>(op), JmesValue.ParseJson(key), JmesValue.ParseJson(value));
        Assert.True(expected == result, $"{key} {op} {value} should be {expected} [{source}]");
    }

    [Fact]
    public void EveryOperatorHasACase()
    {
        var covered = Cases.Select(c => (string)c[0]).ToHashSet();
        Assert.All(Enum.GetNames<KyvernoOperator>(), name => Assert.Contains(name, covered));
    }

    [Theory]
    [InlineData("equals", "Equals")]
    [InlineData("Equal", "Equals")]
    [InlineData("NotEqual", "NotEquals")]
    [InlineData("anyin", "AnyIn")]
    [InlineData("Bogus", null)]
    public void OperatorNamesAreReadAsKyvernoReadsThem(string written, string? canonical) =>
        Assert.Equal(canonical, Generators.Conditions.KyvernoOperators.Canonical(written));

    [Fact]
    public void QuantitiesPrintInKubernetesCanonicalForm()
    {
        string Canonical(string text) => Quantity.TryParse(text, out var q) ? q.ToString() : "invalid";
        Assert.Equal("1Gi", Canonical("1024Mi"));
        Assert.Equal("500m", Canonical("0.5"));
        Assert.Equal("1k", Canonical("1000"));
        Assert.Equal("12301", Canonical("12301"));
        Assert.Equal("1500m", Canonical("1.5"));
        Assert.Equal("invalid", Canonical("12s"));
        Assert.Equal("invalid", Canonical("1K"));
        Assert.Equal("2e3", Canonical("2e3"));
    }

    [Fact]
    public void DurationsParseAndPrintAsGo()
    {
        Assert.True(GoDuration.TryParse("1h30m", out var d));
        Assert.Equal("1h30m0s", GoDuration.Format(d));
        Assert.True(GoDuration.TryParse("1.5s", out d));
        Assert.Equal("1.5s", GoDuration.Format(d));
        Assert.True(GoDuration.TryParse("-2ms", out d));
        Assert.Equal("-2ms", GoDuration.Format(d));
        Assert.True(GoDuration.TryParse("300µs", out d));
        Assert.Equal("300µs", GoDuration.Format(d));
        Assert.Equal("0s", GoDuration.Format(0));
        Assert.False(GoDuration.TryParse("5", out _));
        Assert.False(GoDuration.TryParse("1d", out _));
    }
}
