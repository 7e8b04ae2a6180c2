namespace PolicyCompiler.Runtime.Tests.Engine;

public sealed class WildcardTests
{
    /// <summary>
    /// Kyverno's own table, kyverno/kyverno ext/wildcard/match_test.go (also pkg/utils/wildcard/match_test.go),
    /// Apache-2.0: pattern, text, matched.
    /// </summary>
    public static TheoryData<string, string, bool> KyvernoCases => new()
    {
        { "*", "s3:GetObject", true },
        { string.Empty, "s3:GetObject", false },
        { string.Empty, string.Empty, true },
        { "s3:*", "s3:ListMultipartUploadParts", true },
        { "s3:ListBucketMultipartUploads", "s3:ListBucket", false },
        { "s3:ListBucket", "s3:ListBucket", true },
        { "s3:ListBucketMultipartUploads", "s3:ListBucketMultipartUploads", true },
        { "my-bucket/oo*", "my-bucket/oo", true },
        { "my-bucket/In*", "my-bucket/India/Karnataka/", true },
        { "my-bucket/In*", "my-bucket/Karnataka/India/", false },
        { "my-bucket/In*/Ka*/Ban", "my-bucket/India/Karnataka/Ban", true },
        { "my-bucket/In*/Ka*/Ban", "my-bucket/India/Karnataka/Ban/Ban/Ban/Ban/Ban", true },
        { "my-bucket/In*/Ka*/Ban", "my-bucket/India/Karnataka/Area1/Area2/Area3/Ban", true },
        { "my-bucket/In*/Ka*/Ban", "my-bucket/India/State1/State2/Karnataka/Area1/Area2/Area3/Ban", true },
        { "my-bucket/In*/Ka*/Ban", "my-bucket/India/Karnataka/Bangalore", false },
        { "my-bucket/In*/Ka*/Ban*", "my-bucket/India/Karnataka/Bangalore", true },
        { "my-bucket/*", "my-bucket/India", true },
        { "my-bucket/oo*", "my-bucket/odo", false },
        { "my-bucket?/abc*", "mybucket/abc", false },
        { "my-bucket?/abc*", "my-bucket1/abc", true },
        { "my-?-bucket/abc*", "my--bucket/abc", false },
        { "my-?-bucket/abc*", "my-1-bucket/abc", true },
        { "my-?-bucket/abc*", "my-k-bucket/abc", true },
        { "my??bucket/abc*", "mybucket/abc", false },
        { "my??bucket/abc*", "my4abucket/abc", true },
        { "my-bucket?abc*", "my-bucket/abc", true },
        { "my-bucket/abc?efg", "my-bucket/abcdefg", true },
        { "my-bucket/abc?efg", "my-bucket/abc/efg", true },
        { "my-bucket/abc????", "my-bucket/abc", false },
        { "my-bucket/abc????", "my-bucket/abcde", false },
        { "my-bucket/abc????", "my-bucket/abcdefg", true },
        { "my-bucket/abc?", "my-bucket/abc", false },
        { "my-bucket/abc?", "my-bucket/abcd", true },
        { "my-bucket/abc?", "my-bucket/abcde", false },
        { "my-bucket/mnop*?", "my-bucket/mnop", false },
        { "my-bucket/mnop*?", "my-bucket/mnopqrst/mnopqr", true },
        { "my-bucket/mnop*?", "my-bucket/mnopqrst/mnopqrs", true },
        { "my-bucket/mnop*?", "my-bucket/mnopq", true },
        { "my-bucket/mnop*?", "my-bucket/mnopqr", true },
        { "my-bucket/mnop*?and", "my-bucket/mnopqand", true },
        { "my-bucket/mnop*?and", "my-bucket/mnopand", false },
        { "my-bucket/mnop*?", "my-bucket/mn", false },
        { "my-bucket/mnop*??", "my-bucket/mnopqrst", true },
        { "my-bucket/mnop*qrst", "my-bucket/mnopabcdegqrst", true },
        { "my-bucket/mnop*?and?", "my-bucket/mnopqanda", true },
        { "my-bucket/mnop*?and", "my-bucket/mnopqanda", false },
        { "my-?-bucket/abc*", "my-bucket/mnopqanda", false },
    };

    public static TheoryData<string, string, bool> ImagePatternCases => new()
    {
        { "*", string.Empty, true },
        { "**", string.Empty, true },
        { "?", string.Empty, false },
        { "ghcr.io/*", "ghcr.io/org/team/app:v1", true },
        { "ghcr.io/org/*", "ghcr.io/other/app:v1", false },
        { "*/*", "a/b/c", true },
        { "*/*", "abc", false },
        { "docker.io/library/*:*", "docker.io/library/nginx:1.25", true },
        { "docker.io/library/*:*", "docker.io/library/nginx", false },
        { "*.azurecr.io/*", "myreg.azurecr.io/app:1", true },
        { "*.azurecr.io/*", "azurecr.io/app:1", false },
        { "a*b*c", "abc", true },
        { "a*b*c", "aXXbYYc", true },
        { "a*b*c", "acb", false },
        { "a*b*c", "abcabd", false },
        { "***a***", "xxaxx", true },
        { "*a", "aaaaab", false },
        { "ghcr.io/org/app:v?", "ghcr.io/org/app:v1", true },
        { "ghcr.io/org/app:v?", "ghcr.io/org/app:v10", false },
        { "GHCR.io/*", "ghcr.io/org/app", false },
        { "ghcr.io/org/app", "ghcr.io/org/app:v1", false },
        { "ghcr.io/org/app:v1", "ghcr.io/org/app", false },
    };

    [Theory]
    [MemberData(nameof(KyvernoCases))]
    public void MatchesAsKyvernoDoes(string pattern, string text, bool expected)
    {
        Assert.Equal(expected, Wildcard.Match(pattern, text));
    }

    [Theory]
    [MemberData(nameof(ImagePatternCases))]
    public void MatchesImagePatterns(string pattern, string text, bool expected)
    {
        Assert.Equal(expected, Wildcard.Match(pattern, text));
        Assert.Equal(expected, Wildcard.Match(pattern.AsSpan(), text.AsSpan()));
    }

    [Fact]
    public void PathologicalPatternFinishesAndDoesNotMatch()
    {
        var pattern = string.Concat(Enumerable.Repeat("a*", 50)) + "b";
        var text = new string('a', 20_000);

        Assert.False(Wildcard.Match(pattern, text));
    }

    [Fact]
    public void NullArgumentsAreRefused()
    {
        Assert.Throws<ArgumentNullException>(() => Wildcard.Match(null!, "x"));
        Assert.Throws<ArgumentNullException>(() => Wildcard.Match("x", null!));
    }

    [Theory]
    [InlineData("ghcr.io/org/app", false)]
    [InlineData("ghcr.io/*", true)]
    [InlineData("app:v?", true)]
    [InlineData("", false)]
    public void HasWildcardsDetectsStarAndQuestionMark(string pattern, bool expected)
    {
        Assert.Equal(expected, Wildcard.HasWildcards(pattern));
    }
}
