using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary>
/// Go (RE2) regular expressions, as Kyverno and cosign compile them, run on .NET. The syntax is mostly shared; where the
/// same text means something else the pattern is rewritten so that it matches what Go matches:
/// <list type="bullet">
/// <item><c>$</c> outside multi-line mode is the end of the text in Go; .NET's <c>$</c> also matches before a final
/// newline, so <c>^v[0-9]$</c> would accept <c>"v1\n"</c>. It becomes <c>\z</c>.</item>
/// <item><c>\d</c>, <c>\w</c>, <c>\s</c> (and their negations) are ASCII in Go, Unicode in .NET.</item>
/// <item>POSIX classes (<c>[[:alpha:]]</c>) exist only in Go; <c>(?P&lt;name&gt;…)</c> is spelt <c>(?&lt;name&gt;…)</c>.</item>
/// </list>
/// RE2 never backtracks, so the non-backtracking engine runs them: linear time, no catastrophic pattern at admission.
/// </summary>
public static class GoRegex
{
    private static readonly ConcurrentDictionary<string, Regex> Cache = new(StringComparer.Ordinal);

    // The pattern as the policy wrote it, for messages: users know their Go spelling, not the translation.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Regex, string> Sources = [];

    /// <summary>The Go pattern a regex of <see cref="Create"/> came from; any other regex's own pattern.</summary>
    public static string SourceOf(Regex regex)
    {
        ArgumentNullException.ThrowIfNull(regex);
        return Sources.TryGetValue(regex, out var source) ? source : regex.ToString();
    }

    /// <summary>A compiled regex for a Go pattern; throws <see cref="ArgumentException"/> for a pattern .NET cannot parse.</summary>
    public static Regex Create(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        if (Cache.TryGetValue(pattern, out var cached))
        {
            return cached;
        }

        var dotnet = ToDotNet(pattern);
        Regex regex;
        try
        {
            regex = new Regex(dotnet, RegexOptions.CultureInvariant | RegexOptions.NonBacktracking);
        }
        catch (NotSupportedException)
        {
            // Constructs the non-backtracking engine lacks (none of them is RE2 syntax): a deadline bounds them instead.
            regex = new Regex(dotnet, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        }

        if (Cache.Count > 512)
        {
            Cache.Clear();
        }

        Sources.AddOrUpdate(regex, pattern);
        Cache[pattern] = regex;
        return regex;
    }

    /// <summary>The .NET spelling of a Go pattern (see the class remarks); a pattern that is invalid stays invalid.</summary>
    public static string ToDotNet(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var output = new StringBuilder(pattern.Length + 8);

        // Whether multi-line mode is on, per open group: (?m) changes the current group, (?m:…) opens one.
        var multiline = new Stack<bool>();
        var current = false;
        var i = 0;
        while (i < pattern.Length)
        {
            var c = pattern[i];
            switch (c)
            {
                case '\\' when i + 1 < pattern.Length:
                    output.Append(Escape(pattern[i + 1], inClass: false) ?? pattern.Substring(i, 2));
                    i += 2;
                    break;
                case '[':
                    i = CopyClass(pattern, i, output);
                    break;
                case '$':
                    output.Append(current ? "$" : @"\z");
                    i++;
                    break;
                case '(':
                    multiline.Push(current);
                    i = CopyGroupOpening(pattern, i, output, ref current, out var setsFlagsOnly);
                    if (setsFlagsOnly)
                    {
                        // (?flags) opens no group: it changes the rest of the enclosing one.
                        multiline.Pop();
                    }

                    break;
                case ')':
                    output.Append(')');
                    current = multiline.Count > 0 ? multiline.Pop() : current;
                    i++;
                    break;
                default:
                    output.Append(c);
                    i++;
                    break;
            }
        }

        return output.ToString();
    }

    /// <summary>Copies <c>(</c>, <c>(?:</c>, <c>(?P&lt;name&gt;</c>, <c>(?flags)</c> or <c>(?flags:</c>, tracking <c>m</c>.</summary>
    private static int CopyGroupOpening(string pattern, int start, StringBuilder output, ref bool multiline, out bool setsFlagsOnly)
    {
        setsFlagsOnly = false;
        if (start + 1 >= pattern.Length || pattern[start + 1] != '?')
        {
            output.Append('(');
            return start + 1;
        }

        if (string.CompareOrdinal(pattern, start, "(?P<", 0, 4) == 0)
        {
            output.Append("(?<");
            return start + 4;
        }

        // Flags: (?ims-ims) or (?ims-ims: …
        var j = start + 2;
        var on = true;
        var value = multiline;
        while (j < pattern.Length && (char.IsAsciiLetter(pattern[j]) || pattern[j] == '-'))
        {
            if (pattern[j] == '-')
            {
                on = false;
            }
            else if (pattern[j] == 'm')
            {
                value = on;
            }

            j++;
        }

        if (j < pattern.Length && (pattern[j] == ')' || pattern[j] == ':'))
        {
            setsFlagsOnly = pattern[j] == ')';
            multiline = value;
            output.Append(pattern, start, j + 1 - start);
            return j + 1;
        }

        // Something else ((?<name>, (?=, …): copied as it is for .NET to accept or refuse.
        output.Append("(?");
        return start + 2;
    }

    /// <summary>Copies a character class from <paramref name="start"/> (its <c>[</c>) to its <c>]</c>.</summary>
    private static int CopyClass(string pattern, int start, StringBuilder output)
    {
        output.Append('[');
        var i = start + 1;
        if (i < pattern.Length && pattern[i] == '^')
        {
            output.Append('^');
            i++;
        }

        // A ']' first in the class is a literal.
        if (i < pattern.Length && pattern[i] == ']')
        {
            output.Append(@"\]");
            i++;
        }

        while (i < pattern.Length && pattern[i] != ']')
        {
            if (pattern[i] == '\\' && i + 1 < pattern.Length)
            {
                output.Append(Escape(pattern[i + 1], inClass: true) ?? pattern.Substring(i, 2));
                i += 2;
            }
            else if (pattern[i] == '[' && i + 1 < pattern.Length && pattern[i + 1] == ':' && PosixClass(pattern, i) is { } posix)
            {
                output.Append(posix.Ranges);
                i += posix.Length;
            }
            else
            {
                if (pattern[i] == '[')
                {
                    // A literal '[' in Go; .NET reads "[" followed by a class-like text oddly, so it is escaped.
                    output.Append('\\');
                }

                output.Append(pattern[i]);
                i++;
            }
        }

        if (i < pattern.Length)
        {
            output.Append(']');
            i++;
        }

        return i;
    }

    /// <summary>Go's ASCII meaning of a Perl class escape, or null when the escape means the same in .NET.</summary>
    private static string? Escape(char escaped, bool inClass) => escaped switch
    {
        'd' => inClass ? "0-9" : "[0-9]",
        'w' => inClass ? "0-9A-Za-z_" : "[0-9A-Za-z_]",
        's' => inClass ? @"\t\n\f\r " : @"[\t\n\f\r ]",
        'D' when !inClass => "[^0-9]",
        'W' when !inClass => "[^0-9A-Za-z_]",
        'S' when !inClass => @"[^\t\n\f\r ]",
        _ => null,
    };

    private static (string Ranges, int Length)? PosixClass(string pattern, int start)
    {
        var end = pattern.IndexOf(":]", start + 2, StringComparison.Ordinal);
        if (end < 0)
        {
            return null;
        }

        var ranges = pattern[(start + 2)..end] switch
        {
            "alnum" => "0-9A-Za-z",
            "alpha" => "A-Za-z",
            "ascii" => @"\x00-\x7F",
            "blank" => @"\t ",
            "cntrl" => @"\x00-\x1F\x7F",
            "digit" => "0-9",
            "graph" => "!-~",
            "lower" => "a-z",
            "print" => " -~",
            "punct" => @"!-/:-@\[-`{-~",
            "space" => @"\t\n\v\f\r ",
            "upper" => "A-Z",
            "word" => "0-9A-Za-z_",
            "xdigit" => "0-9A-Fa-f",
            _ => null,
        };
        return ranges is null ? null : (ranges, end + 2 - start);
    }
}
