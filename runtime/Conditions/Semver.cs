using System.Globalization;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary>
/// Semantic versions and ranges as Kyverno reads them (blang/semver v4): strict <c>MAJOR.MINOR.PATCH[-pre][+build]</c>,
/// ranges such as <c>&gt;=1.2.0 &lt;2.0.0 || &gt;=3.0.0</c> with <c>x</c> wildcards expanded the way blang does.
/// </summary>
public sealed class Semver : IComparable<Semver>
{
    private Semver(ulong major, ulong minor, ulong patch, string[] pre)
    {
        Major = major;
        Minor = minor;
        Patch = patch;
        Pre = pre;
    }

    public static readonly Semver Zero = new(0, 0, 0, []);

    public ulong Major { get; }

    public ulong Minor { get; }

    public ulong Patch { get; }

    public IReadOnlyList<string> Pre { get; }

    public static bool TryParse(string text, out Semver version)
    {
        ArgumentNullException.ThrowIfNull(text);
        version = Zero;
        if (text.Length == 0)
        {
            return false;
        }

        var build = text.IndexOf('+', StringComparison.Ordinal);
        if (build >= 0)
        {
            var metadata = text[(build + 1)..].Split('.');
            if (metadata.Any(m => m.Length == 0 || !m.All(IsIdentifierChar)))
            {
                return false;
            }

            text = text[..build];
        }

        string[] pre = [];
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash >= 0)
        {
            pre = text[(dash + 1)..].Split('.');
            foreach (var p in pre)
            {
                if (p.Length == 0 || !p.All(IsIdentifierChar) || (p.All(char.IsAsciiDigit) && p.Length > 1 && p[0] == '0'))
                {
                    return false;
                }
            }

            text = text[..dash];
        }

        var parts = text.Split('.');
        if (parts.Length != 3 || !TryNumber(parts[0], out var major) || !TryNumber(parts[1], out var minor) || !TryNumber(parts[2], out var patch))
        {
            return false;
        }

        version = new Semver(major, minor, patch, pre);
        return true;
    }

    private static bool IsIdentifierChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '-';

    private static bool TryNumber(string text, out ulong value)
    {
        value = 0;
        return text.Length > 0 && text.All(char.IsAsciiDigit) && !(text.Length > 1 && text[0] == '0')
            && ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    public int CompareTo(Semver? other)
    {
        if (other is null)
        {
            return 1;
        }

        var c = Major.CompareTo(other.Major);
        if (c == 0)
        {
            c = Minor.CompareTo(other.Minor);
        }

        if (c == 0)
        {
            c = Patch.CompareTo(other.Patch);
        }

        if (c != 0)
        {
            return c;
        }

        if (Pre.Count == 0 || other.Pre.Count == 0)
        {
            return Pre.Count == 0 ? (other.Pre.Count == 0 ? 0 : 1) : -1;
        }

        for (var i = 0; i < Math.Min(Pre.Count, other.Pre.Count); i++)
        {
            var a = Pre[i];
            var b = other.Pre[i];
            var aNumeric = a.All(char.IsAsciiDigit);
            var bNumeric = b.All(char.IsAsciiDigit);
            int r;
            if (aNumeric && bNumeric)
            {
                r = ulong.Parse(a, CultureInfo.InvariantCulture).CompareTo(ulong.Parse(b, CultureInfo.InvariantCulture));
            }
            else if (aNumeric != bNumeric)
            {
                r = aNumeric ? -1 : 1;
            }
            else
            {
                r = string.CompareOrdinal(a, b);
            }

            if (r != 0)
            {
                return Math.Sign(r);
            }
        }

        return Pre.Count.CompareTo(other.Pre.Count);
    }

    /// <summary>blang's <c>ParseRange</c>: a predicate over versions, or null with the reason.</summary>
    public static Func<Semver, bool>? ParseRange(string range, out string? error)
    {
        ArgumentNullException.ThrowIfNull(range);
        error = null;
        var parts = SplitAndTrim(range);
        var orParts = new List<List<string>>();
        var last = 0;
        for (var i = 0; i < parts.Count; i++)
        {
            if (parts[i] == "||")
            {
                if (i == 0)
                {
                    error = "First element in range is '||'";
                    return null;
                }

                orParts.Add(parts.GetRange(last, i - last));
                last = i + 1;
            }
        }

        if (last == parts.Count)
        {
            error = "Last element in range is '||'";
            return null;
        }

        orParts.Add(parts.GetRange(last, parts.Count - last));
        var alternatives = new List<List<Func<Semver, bool>>>();
        foreach (var and in orParts)
        {
            var comparators = new List<Func<Semver, bool>>();
            foreach (var part in ExpandWildcards(and))
            {
                var digit = part.IndexOf(part.FirstOrDefault(char.IsAsciiDigit));
                if (!part.Any(char.IsAsciiDigit))
                {
                    error = $"Could not get version from string: \"{part}\"";
                    return null;
                }

                var op = part[..digit].Trim();
                if (!TryParse(part[digit..], out var version))
                {
                    error = $"Could not parse Range \"{range}\": invalid version \"{part[digit..]}\"";
                    return null;
                }

                Func<Semver, bool>? comparator = op switch
                {
                    "" or "=" or "==" => v => v.CompareTo(version) == 0,
                    ">" => v => v.CompareTo(version) > 0,
                    ">=" => v => v.CompareTo(version) >= 0,
                    "<" => v => v.CompareTo(version) < 0,
                    "<=" => v => v.CompareTo(version) <= 0,
                    "!" or "!=" => v => v.CompareTo(version) != 0,
                    _ => null,
                };
                if (comparator is null)
                {
                    error = $"Could not parse comparator \"{op}\" in \"{part}\"";
                    return null;
                }

                comparators.Add(comparator);
            }

            alternatives.Add(comparators);
        }

        return v => alternatives.Any(and => and.All(c => c(v)));
    }

    private static List<string> SplitAndTrim(string s)
    {
        var result = new List<string>();
        var last = 0;
        var lastChar = '\0';
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == ' ' && lastChar is not ('>' or '<' or '='))
            {
                if (last < i - 1)
                {
                    result.Add(s[last..i]);
                }

                last = i + 1;
            }
            else if (s[i] != ' ')
            {
                lastChar = s[i];
            }
        }

        if (last < s.Length - 1)
        {
            result.Add(s[last..]);
        }

        return result.ConvertAll(r => r.Replace(" ", string.Empty, StringComparison.Ordinal));
    }

    private static List<string> ExpandWildcards(List<string> parts)
    {
        var result = new List<string>();
        foreach (var original in parts)
        {
            var part = original;
            if (part.Contains('x', StringComparison.Ordinal))
            {
                var digit = part.IndexOf(part.FirstOrDefault(char.IsAsciiDigit));
                var op = digit < 0 ? part : part[..digit].Trim();
                var version = digit < 0 ? string.Empty : part[digit..];
                var segments = version.Split('.');
                var wildcard = segments[^1] == "x" ? segments.Length : 0;
                var flat = version.Replace(".x.x", ".x", StringComparison.Ordinal);
                var firstX = flat.IndexOf(".x", StringComparison.Ordinal);
                if (firstX >= 0)
                {
                    flat = string.Concat(flat.AsSpan(0, firstX), ".0", flat.AsSpan(firstX + 2));
                }

                if (flat.Split('.').Length == 2)
                {
                    flat += ".0";
                }

                string resultOperator = op;
                var increment = false;
                switch (op)
                {
                    case ">":
                        resultOperator = ">=";
                        increment = true;
                        break;
                    case ">=":
                    case "<":
                        break;
                    case "<=":
                        resultOperator = "<";
                        increment = true;
                        break;
                    case "":
                    case "=":
                    case "==":
                        result.Add(">=" + flat);
                        resultOperator = "<";
                        increment = true;
                        break;
                    case "!=":
                    case "!":
                        result.Add("<" + flat);
                        resultOperator = ">=";
                        increment = true;
                        break;
                }

                var resultVersion = flat;
                if (increment)
                {
                    resultVersion = wildcard switch
                    {
                        3 => IncrementAt(flat, 1),
                        2 => IncrementAt(flat, 0),
                        _ => string.Empty,
                    };
                }

                part = resultOperator + resultVersion;
            }

            result.Add(part);
        }

        return result;
    }

    private static string IncrementAt(string version, int index)
    {
        var segments = version.Split('.');
        if (index < segments.Length && int.TryParse(segments[index], NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            segments[index] = (n + 1).ToString(CultureInfo.InvariantCulture);
        }

        return string.Join('.', segments);
    }
}
