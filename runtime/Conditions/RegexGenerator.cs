using System.Text;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary>
/// Generates a random string matching a regular expression, for Kyverno's <c>random()</c>: literals, escapes
/// (<c>\d \w \s</c> and their negations), classes with ranges and negation, <c>.</c>, groups, alternation and the
/// quantifiers <c>* + ? {n} {n,} {n,m}</c> (unbounded repetition stops at 10). Anchors are ignored.
/// </summary>
public static class RegexGenerator
{
    private const int UnboundedLimit = 10;
    private static readonly char[] Printable = [.. Enumerable.Range(0x20, 0x5F).Select(i => (char)i)];

    public static string Generate(string pattern, Func<int, int> random)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(random);
        var parser = new Parser(pattern);
        var node = parser.ParseAlternation();
        if (parser.Position != pattern.Length)
        {
            throw new JmesPathException(JmesErrorKind.FunctionError, $"error parsing regexp: unexpected ) in `{pattern}`");
        }

        var sb = new StringBuilder();
        node(sb, random);
        return sb.ToString();
    }

    private delegate void Node(StringBuilder output, Func<int, int> random);

    private sealed class Parser(string pattern)
    {
        public int Position { get; private set; }

        public Node ParseAlternation()
        {
            var branches = new List<Node> { ParseSequence() };
            while (Position < pattern.Length && pattern[Position] == '|')
            {
                Position++;
                branches.Add(ParseSequence());
            }

            return branches.Count == 1 ? branches[0] : (o, r) => branches[r(branches.Count)](o, r);
        }

        private Node ParseSequence()
        {
            var items = new List<Node>();
            while (Position < pattern.Length && pattern[Position] is not ('|' or ')'))
            {
                var atom = ParseAtom();
                items.Add(ParseQuantifier(atom));
            }

            return (o, r) =>
            {
                foreach (var item in items)
                {
                    item(o, r);
                }
            };
        }

        private Node ParseQuantifier(Node atom)
        {
            if (Position >= pattern.Length)
            {
                return atom;
            }

            int min, max;
            switch (pattern[Position])
            {
                case '*':
                    (min, max) = (0, UnboundedLimit);
                    Position++;
                    break;
                case '+':
                    (min, max) = (1, UnboundedLimit);
                    Position++;
                    break;
                case '?':
                    (min, max) = (0, 1);
                    Position++;
                    break;
                case '{':
                    var close = pattern.IndexOf('}', Position);
                    if (close < 0)
                    {
                        return atom;
                    }

                    var spec = pattern[(Position + 1)..close].Split(',');
                    if (!int.TryParse(spec[0], System.Globalization.CultureInfo.InvariantCulture, out min))
                    {
                        return atom;
                    }

                    max = spec.Length == 1 ? min
                        : spec[1].Length == 0 ? min + UnboundedLimit
                        : int.Parse(spec[1], System.Globalization.CultureInfo.InvariantCulture);
                    Position = close + 1;
                    break;
                default:
                    return atom;
            }

            if (Position < pattern.Length && pattern[Position] == '?')
            {
                Position++;
            }

            return (o, r) =>
            {
                var count = min + r(max - min + 1);
                for (var i = 0; i < count; i++)
                {
                    atom(o, r);
                }
            };
        }

        private Node ParseAtom()
        {
            var c = pattern[Position++];
            switch (c)
            {
                case '(':
                    if (Position + 1 < pattern.Length && pattern[Position] == '?')
                    {
                        // (?:…), (?P<name>…), (?<name>…), (?i) and friends: skip to the group body.
                        var colon = pattern.IndexOfAny([':', '>'], Position);
                        Position = colon < 0 ? Position : colon + 1;
                    }

                    var inner = ParseAlternation();
                    if (Position < pattern.Length && pattern[Position] == ')')
                    {
                        Position++;
                    }

                    return inner;
                case '[':
                    return Choose(ParseClass());
                case '.':
                    return Choose(Printable);
                case '^':
                case '$':
                    return (_, _) => { };
                case '\\':
                    return Choose(Escape());
                default:
                    return (o, _) => o.Append(c);
            }
        }

        private static Node Choose(char[] set) => (o, r) => o.Append(set[r(set.Length)]);

        private char[] Escape()
        {
            var e = pattern[Position++];
            return e switch
            {
                'd' => [.. "0123456789"],
                'w' => [.. "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"],
                's' => [' ', '\t', '\n'],
                'D' => [.. Printable.Where(ch => !char.IsAsciiDigit(ch))],
                'W' => [.. Printable.Where(ch => !(char.IsAsciiLetterOrDigit(ch) || ch == '_'))],
                'S' => [.. Printable.Where(ch => ch != ' ')],
                'n' => ['\n'],
                't' => ['\t'],
                _ => [e],
            };
        }

        private char[] ParseClass()
        {
            var negate = Position < pattern.Length && pattern[Position] == '^';
            if (negate)
            {
                Position++;
            }

            var set = new HashSet<char>();
            var first = true;
            while (Position < pattern.Length && (pattern[Position] != ']' || first))
            {
                first = false;
                char[] items;
                if (pattern[Position] == '\\')
                {
                    Position++;
                    items = Escape();
                }
                else
                {
                    var low = pattern[Position++];
                    if (Position + 1 < pattern.Length && pattern[Position] == '-' && pattern[Position + 1] != ']')
                    {
                        var high = pattern[Position + 1];
                        Position += 2;
                        items = [.. Enumerable.Range(low, Math.Max(high - low + 1, 0)).Select(i => (char)i)];
                    }
                    else
                    {
                        items = [low];
                    }
                }

                set.UnionWith(items);
            }

            Position++;
            var result = negate ? [.. Printable.Where(ch => !set.Contains(ch))] : set.Order().ToArray();
            return result.Length == 0 ? [' '] : result;
        }
    }
}
