using PolicyCompiler.Runtime.Conditions;

namespace PolicyCompiler.Conditions.Tests;

/// <summary>
/// Go (RE2) patterns keep Go's meaning on .NET: what Go's regexp package matches, as its documentation states, for the
/// constructs the two engines spell alike but read differently.
/// </summary>
public sealed class GoRegexTests
{
    [Theory]
    [InlineData("^v[0-9]$", "v1", true)]
    [InlineData("^v[0-9]$", "v1\n", false)] // Go's $ is the end of the text; .NET's also matches before a final newline
    [InlineData("^v[0-9]\\z", "v1\n", false)]
    [InlineData("(?m)^v[0-9]$", "v1\nv2", true)] // multi-line: $ before every newline, in both
    [InlineData("(?m:^a$)\nb$", "a\nb\n", false)] // the flag ends with its group
    [InlineData("(?m:^a$)\nb$", "a\nb", true)]
    [InlineData("a(?m)$", "a\n", true)] // (?m) changes the rest of the enclosing group
    [InlineData("(a(?m))$", "a\n", false)] // … and only that group
    [InlineData("^[$]$", "$", true)] // inside a class $ is a literal
    [InlineData("^\\$$", "$", true)]
    [InlineData("^\\d+$", "123", true)]
    [InlineData("^\\d+$", "١٢٣", false)] // Arabic-Indic digits: \d is ASCII in Go
    [InlineData("^\\w+$", "héllo", false)]
    [InlineData("^[\\w.-]+$", "a.b-c_1", true)]
    [InlineData("^\\s$", "\u00a0", false)]
    [InlineData("^\\S+$", "abc", true)]
    [InlineData("^[[:alpha:]]+$", "Abc", true)] // POSIX classes exist only in Go
    [InlineData("^[[:digit:][:upper:]]+$", "A1", true)]
    [InlineData("^[[:alpha:]]+$", "a1", false)]
    [InlineData("^[^[:space:]]+$", "a b", false)]
    [InlineData("^[]a]+$", "]a]", true)] // a ']' first in a class is a literal
    [InlineData("^(?P<major>[0-9]+)\\.(?P<minor>[0-9]+)$", "1.25", true)]
    public void Pattern_matches_as_in_go(string pattern, string input, bool expected)
    {
        Assert.Equal(expected, GoRegex.Create(pattern).IsMatch(input));
    }

    [Theory]
    [InlineData("^v[0-9]$", @"^v[0-9]\z")]
    [InlineData("(?m)^a$", "(?m)^a$")]
    [InlineData(@"^\d\w\s$", @"^[0-9][0-9A-Za-z_][\t\n\f\r ]\z")]
    [InlineData("(?P<x>a)", "(?<x>a)")]
    [InlineData("[[:xdigit:]]", "[0-9A-Fa-f]")]
    public void Pattern_is_rewritten_only_where_the_engines_differ(string pattern, string expected)
    {
        Assert.Equal(expected, GoRegex.ToDotNet(pattern));
    }

    [Fact]
    public void Messages_show_the_pattern_as_the_policy_wrote_it()
    {
        var regex = GoRegex.Create(@"^v[0-9]+\.[0-9]+$");

        Assert.Equal(@"^v[0-9]+\.[0-9]+\z", regex.ToString());
        Assert.Equal(@"^v[0-9]+\.[0-9]+$", GoRegex.SourceOf(regex));
        Assert.Equal("^a$", GoRegex.SourceOf(new System.Text.RegularExpressions.Regex("^a$")));
    }

    [Fact]
    public void Invalid_pattern_stays_invalid()
    {
        Assert.ThrowsAny<ArgumentException>(() => GoRegex.Create("^(org$"));
    }

    [Fact]
    public void Regex_match_uses_go_semantics()
    {
        Assert.Equal(JmesValue.False, KyvernoFunctions.RegexMatch(JmesValue.From("^v[0-9]$"), JmesValue.From("v1\n")));
        Assert.Equal(JmesValue.True, KyvernoFunctions.RegexMatch(JmesValue.From("^v[0-9]$"), JmesValue.From("v1")));
    }
}
