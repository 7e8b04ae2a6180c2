namespace PolicyCompiler.Runtime;

/// <summary>
/// Kyverno's wildcard patterns: <c>*</c> matches any run of characters (slashes included), <c>?</c> exactly one.
/// The generator compiles the common shapes (exact, prefix, suffix) to plain string calls and uses this for the rest.
/// </summary>
public static class Wildcard
{
    public static bool Match(string pattern, string text)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(text);
        return Match(pattern.AsSpan(), text.AsSpan());
    }

    /// <summary>Linear-space greedy matching with a single backtrack point: O(pattern × text) in the worst case, no recursion.</summary>
    public static bool Match(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        int p = 0, t = 0, starP = -1, starT = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t]) && pattern[p] != '*')
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                starP = p++;
                starT = t;
            }
            else if (starP >= 0)
            {
                p = starP + 1;
                t = ++starT;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }

    public static bool HasWildcards(string pattern) => pattern.AsSpan().IndexOfAny('*', '?') >= 0;
}
