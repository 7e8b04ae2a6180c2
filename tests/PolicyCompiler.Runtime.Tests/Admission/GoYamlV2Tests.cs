using System.Text.Json;
using PolicyCompiler.Runtime.Admission;

namespace PolicyCompiler.Runtime.Tests.Admission;

/// <summary>
/// The bytes Kyverno's denial message prints its failures with, checked rule by rule (each expectation below is what
/// gopkg.in/yaml.v2 2.4.0 writes, as printed by build/goyaml-oracle) and then against every case of
/// TestData/goyaml-v2-cases.json, which that program produced with the real encoder.
/// </summary>
public sealed class GoYamlV2Tests
{
    private static string One(string message, string policy = "p", string rule = "r") =>
        GoYamlV2.MarshalMapOfMaps(new Dictionary<string, IReadOnlyDictionary<string, string>> { [policy] = new Dictionary<string, string> { [rule] = message } });

    [Fact]
    public void The_reference_pages_denial_body_is_reproduced()
    {
        // Kyverno's verifyImages page: the message is single-quoted (it holds ": ") and folds at the first space past
        // column 80, continuing four spaces in.
        Assert.Equal(
            "check-image:\n  check-image: 'image verification failed for ghcr.io/kyverno/test-verify-image:unsigned:\n    signature not found'\n",
            One("image verification failed for ghcr.io/kyverno/test-verify-image:unsigned: signature not found", "check-image", "check-image"));
    }

    [Fact]
    public void Plain_text_stays_plain()
    {
        Assert.Equal("test:\n  rule-fail: message fail\n", One("message fail", "test", "rule-fail"));
        // A quote that is not at the start does not need quoting.
        Assert.Equal("p:\n  r: it's fine\n", One("it's fine"));
    }

    [Theory]
    [InlineData("a: b", "'a: b'")] // ": " would start a mapping value
    [InlineData("a:", "'a:'")] // so does a colon at the end
    [InlineData("a:b", "a:b")] // a colon inside a word is plain
    [InlineData("a #b", "'a #b'")] // " #" would start a comment
    [InlineData("a#b", "a#b")]
    [InlineData("- item", "'- item'")] // a sequence entry
    [InlineData("-item", "-item")]
    [InlineData("#x", "'#x'")] // indicators at the start
    [InlineData("[x", "'[x'")]
    [InlineData("*a", "'*a'")]
    [InlineData("--- x", "'--- x'")] // a document marker
    [InlineData(" leading", "' leading'")] // leading and trailing spaces
    [InlineData("trailing ", "'trailing '")]
    [InlineData("it's: broken", "'it''s: broken'")] // a quote inside single quotes is doubled
    [InlineData("x,y", "x,y")] // flow indicators only matter inside flow collections
    public void Text_that_cannot_be_plain_is_single_quoted(string message, string written) =>
        Assert.Equal($"p:\n  r: {written}\n", One(message));

    [Theory]
    [InlineData("true")]
    [InlineData("yes")]
    [InlineData("on")]
    [InlineData("null")]
    [InlineData("~")]
    [InlineData("")]
    [InlineData("12")]
    [InlineData("0x1F")]
    [InlineData("1.5")]
    [InlineData(".inf")]
    [InlineData("2024-01-02")]
    [InlineData("1:20")] // a sexagesimal number, quoted for older parsers
    public void Text_that_would_read_back_as_another_type_is_double_quoted(string message) =>
        Assert.Equal($"p:\n  r: \"{message}\"\n", One(message));

    [Theory]
    [InlineData("2024-02-30")] // not a date: time.Parse refuses the 30th of February
    [InlineData("3.4.5")]
    [InlineData("1e")]
    [InlineData("<<")] // in yaml.v2's table of values, but never looked up: '<' does not start a resolvable value
    public void Text_that_only_looks_like_another_type_stays_plain(string message) =>
        Assert.Equal($"p:\n  r: {message}\n", One(message));

    [Theory]
    [InlineData("tab\there", "\"tab\\there\"")] // a tab is not printable: only double quotes can hold it
    [InlineData("ctrl\u0001x", "\"ctrl\\x01x\"")]
    [InlineData("emoji \U0001F600", "\"emoji \\U0001F600\"")] // beyond the BMP is escaped
    [InlineData("nbsp\u00a0x", "nbsp\u00a0x")] // other Unicode is written as it is
    [InlineData("space \nbreak", "\"space \\nbreak\"")] // a space before a line break
    public void Text_with_characters_quotes_cannot_hold_is_double_quoted_and_escaped(string message, string written) =>
        Assert.Equal($"p:\n  r: {written}\n", One(message));

    [Fact]
    public void Text_with_line_breaks_is_a_literal_block()
    {
        Assert.Equal("p:\n  r: |-\n    new\n    line\n", One("new\nline"));
        Assert.Equal("p:\n  r: |\n    ends with newline\n", One("ends with newline\n"));
        Assert.Equal("p:\n  r: |2-\n\n    leading break\n", One("\nleading break"));
    }

    [Fact]
    public void A_long_line_folds_at_the_first_single_space_past_column_80_and_never_inside_a_word()
    {
        var word = new string('x', 100);
        Assert.Equal($"p:\n  r: {word}\n    tail\n", One(word + " tail"));

        // Two spaces are not a fold point: the line goes on to the next single space.
        var text = new string('a', 79) + "  b c";
        Assert.Equal($"p:\n  r: {new string('a', 79)}  b\n    c\n", One(text));
    }

    [Fact]
    public void Policies_and_rules_are_sorted_as_yaml_v2_sorts_map_keys()
    {
        // Digit runs compare as numbers, then by length; a letter sorts after punctuation; a prefix first.
        Assert.Equal(["rule-0", "rule-1", "rule-1-", "rule-2", "rule-02", "rule-10"], GoYamlV2.SortKeys(["rule-10", "rule-2", "rule-02", "rule-1-", "rule-1", "rule-0"]));
        Assert.Equal(["a", "a-b", "a.b", "a_b", "ab"], GoYamlV2.SortKeys(["ab", "a_b", "a.b", "a-b", "a"]));
    }

    [Fact]
    public void Keys_this_order_cannot_rank_are_still_sorted_deterministically()
    {
        // rule-10 < rule-1a (a letter sorts last), rule-1a < rule-02 (1 < 2), rule-02 < rule-10 (2 < 10): a cycle, for
        // which Go's result depends on its random map order. Here the same input order always gives the same output.
        string[] keys = ["rule-1a", "rule-02", "rule-10"];
        Assert.True(GoYamlV2.KeyLess("rule-10", "rule-1a") && GoYamlV2.KeyLess("rule-1a", "rule-02") && GoYamlV2.KeyLess("rule-02", "rule-10"));
        Assert.Equal(GoYamlV2.SortKeys(keys), GoYamlV2.SortKeys(keys.Reverse()));
    }

    [Fact]
    public void A_key_longer_than_128_bytes_is_written_as_an_explicit_key()
    {
        var policy = new string('p', 130);
        Assert.Equal($"? {policy}\n: r: v\n", One("v", policy));
    }

    public static TheoryData<string> OracleCases() => [.. Cases().Select(c => c.Name)];

    [Theory]
    [MemberData(nameof(OracleCases))]
    public void Matches_the_real_encoder(string name)
    {
        var testCase = Cases().Single(c => c.Name == name);
        var input = testCase.Input.ToDictionary(p => p.Key, p => (IReadOnlyDictionary<string, string>)p.Value, StringComparer.Ordinal);
        Assert.Equal(testCase.Output, GoYamlV2.MarshalMapOfMaps(input));
    }

    [Fact]
    public void The_oracle_file_covers_the_rules()
    {
        // Guards against an empty or truncated regeneration of the oracle's file.
        Assert.True(Cases().Count >= 100, $"only {Cases().Count} cases");
    }

    private sealed record OracleCase(string Name, Dictionary<string, Dictionary<string, string>> Input, string Output);

    private static List<OracleCase> Cases() =>
        JsonSerializer.Deserialize<List<OracleCase>>(
            File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Admission", "TestData", "goyaml-v2-cases.json")),
            new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase })!;
}
