using System.Globalization;
using System.Text;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary>
/// A small, reflection-free YAML reader for <c>parse_yaml</c>: the first document, as JSON data. It covers block
/// mappings and sequences, flow collections, plain/single/double-quoted scalars, literal and folded block scalars
/// with chomping indicators, comments and document markers, and resolves scalars as <c>sigs.k8s.io/yaml</c> (YAML 1.1
/// booleans such as <c>yes</c>/<c>off</c>, null, integers, floats). Anchors, aliases and tags are rejected with an error.
/// </summary>
internal static class MiniYaml
{
    public static JmesValue Parse(string text)
    {
        try
        {
            return ParseDocument(text);
        }
        catch (FormatException e)
        {
            throw new JmesPathException(JmesErrorKind.FunctionError, $"JMESPath function 'parse_yaml': yaml: {e.Message}", e);
        }
    }

    /// <summary>
    /// The first document of <paramref name="text"/>; <see cref="FormatException"/> (with a 1-based line number of
    /// <paramref name="text"/>) when it is not valid YAML of the supported subset.
    /// </summary>
    public static JmesValue ParseDocument(string text)
    {
        var lines = new List<(int Indent, string Content, int Number)>();
        var raw = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var started = false;
        for (var i = 0; i < raw.Length; i++)
        {
            var line = raw[i];
            var trimmed = line.TrimStart(' ');
            if (trimmed.StartsWith("---", StringComparison.Ordinal) && line.Length == trimmed.Length && (trimmed.Length == 3 || trimmed[3] == ' '))
            {
                if (started)
                {
                    break;
                }

                started = true;
                var rest = trimmed[3..].Trim();
                if (rest.Length > 0)
                {
                    lines.Add((0, rest, i));
                }

                continue;
            }

            if (trimmed == "..." && line.Length == trimmed.Length)
            {
                break;
            }

            if (trimmed.Length > 0 && trimmed[0] != '#')
            {
                started = true;
            }

            lines.Add((line.Length - trimmed.Length, line, i));
        }

        var reader = new Reader(lines, text.EndsWith('\n'));
        reader.SkipBlank();
        if (reader.AtEnd)
        {
            return JmesValue.Null;
        }

        var value = reader.ParseNode(-1);
        reader.SkipBlank();
        if (!reader.AtEnd)
        {
            throw new FormatException($"unexpected content at line {reader.LineNumber + 1}");
        }

        return value;
    }

    private sealed class Reader(List<(int Indent, string Content, int Number)> lines, bool endsWithNewline)
    {
        private int _line;

        public bool AtEnd => _line >= lines.Count;

        public int LineNumber => _line < lines.Count ? lines[_line].Number : lines.Count;

        public void SkipBlank()
        {
            while (_line < lines.Count && IsBlank(lines[_line].Content))
            {
                _line++;
            }
        }

        private static bool IsBlank(string line)
        {
            var t = line.Trim();
            return t.Length == 0 || t[0] == '#';
        }

        /// <summary>Parses the node starting at the current line, indented more than <paramref name="parentIndent"/>.</summary>
        public JmesValue ParseNode(int parentIndent)
        {
            SkipBlank();
            if (AtEnd || lines[_line].Indent <= parentIndent)
            {
                return JmesValue.Null;
            }

            var (indent, content, _) = lines[_line];
            var body = content[indent..];
            if (body == "-" || body.StartsWith("- ", StringComparison.Ordinal))
            {
                return ParseSequence(indent);
            }

            if (FindKeySeparator(body) >= 0)
            {
                return ParseMapping(indent);
            }

            _line++;
            return ParseInlineValue(body, indent, parentIndent);
        }

        private JmesValue ParseSequence(int indent)
        {
            var items = new List<JmesValue>();
            while (true)
            {
                SkipBlank();
                if (AtEnd || lines[_line].Indent != indent)
                {
                    break;
                }

                var body = lines[_line].Content[indent..];
                if (!(body == "-" || body.StartsWith("- ", StringComparison.Ordinal)))
                {
                    break;
                }

                var rest = body.Length > 1 ? body[2..] : string.Empty;
                var restTrim = rest.TrimStart(' ');
                if (restTrim.Length == 0 || restTrim[0] == '#')
                {
                    _line++;
                    items.Add(ParseNode(indent));
                    continue;
                }

                // "- key: value" or "- - x": the rest is a nested node indented at its own column.
                var column = indent + 2 + (rest.Length - restTrim.Length);
                lines[_line] = (column, new string(' ', column) + restTrim, lines[_line].Number);
                items.Add(ParseNode(indent));
            }

            return JmesValue.FromArray([.. items]);
        }

        private JmesValue ParseMapping(int indent)
        {
            var result = new JmesObject();
            while (true)
            {
                SkipBlank();
                if (AtEnd || lines[_line].Indent != indent)
                {
                    break;
                }

                var body = lines[_line].Content[indent..];
                var separator = FindKeySeparator(body);
                if (separator < 0)
                {
                    throw new FormatException($"line {LineNumber + 1}: could not find expected ':'");
                }

                var key = ScalarText(body[..separator].Trim());
                var rest = body[(separator + 1)..].Trim();
                _line++;
                JmesValue value;
                if (rest.Length == 0 || rest[0] == '#')
                {
                    SkipBlank();
                    // A sequence may sit at the same indentation as its key.
                    value = !AtEnd && lines[_line].Indent == indent && lines[_line].Content[indent..] is var next && (next == "-" || next.StartsWith("- ", StringComparison.Ordinal))
                        ? ParseSequence(indent)
                        : ParseNode(indent);
                }
                else
                {
                    value = ParseInlineValue(rest, indent, indent);
                }

                result.Set(key, value);
            }

            return JmesValue.FromObject(result);
        }

        /// <summary>A value written after a key or dash (or a lone scalar line), possibly continued on more lines.</summary>
        private JmesValue ParseInlineValue(string text, int indent, int parentIndent)
        {
            text = StripComment(text);
            if (text.Length == 0)
            {
                return JmesValue.Null;
            }

            if (text[0] is '&' or '*' or '!')
            {
                throw new FormatException($"line {LineNumber}: anchors, aliases and tags are not supported");
            }

            if (text[0] is '|' or '>')
            {
                return JmesValue.From(BlockScalar(text, parentIndent));
            }

            if (text[0] is '[' or '{')
            {
                var flow = new StringBuilder(text);
                while (!Balanced(flow.ToString()) && !AtEnd)
                {
                    flow.Append(' ').Append(StripComment(lines[_line].Content.Trim()));
                    _line++;
                }

                var position = 0;
                var value = ParseFlow(flow.ToString(), ref position);
                return value;
            }

            if (text[0] is '"' or '\'')
            {
                var quoted = new StringBuilder(text);
                while (!ClosedQuote(quoted.ToString()) && !AtEnd)
                {
                    quoted.Append(' ').Append(lines[_line].Content.Trim());
                    _line++;
                }

                return JmesValue.From(Unquote(quoted.ToString().Trim()));
            }

            // A plain scalar may continue on more-indented lines, folded with spaces.
            var plain = new StringBuilder(text);
            while (!AtEnd && !IsBlank(lines[_line].Content) && lines[_line].Indent > parentIndent && FindKeySeparator(lines[_line].Content.Trim()) < 0
                && !lines[_line].Content.TrimStart().StartsWith("- ", StringComparison.Ordinal))
            {
                plain.Append(' ').Append(StripComment(lines[_line].Content.Trim()));
                _line++;
            }

            return Resolve(plain.ToString());
        }

        private string BlockScalar(string header, int parentIndent)
        {
            var literal = header[0] == '|';
            var chomp = header.Contains('-', StringComparison.Ordinal) ? '-' : header.Contains('+', StringComparison.Ordinal) ? '+' : ' ';
            var body = new List<string>();
            var blockIndent = -1;
            while (!AtEnd)
            {
                var (indent, content, _) = lines[_line];
                if (content.Trim().Length == 0)
                {
                    body.Add(string.Empty);
                    _line++;
                    continue;
                }

                if (indent <= parentIndent || (blockIndent >= 0 && indent < blockIndent))
                {
                    break;
                }

                if (blockIndent < 0)
                {
                    blockIndent = indent;
                }

                body.Add(content[blockIndent..]);
                _line++;
            }

            var trailing = 0;
            while (body.Count > 0 && body[^1].Length == 0)
            {
                body.RemoveAt(body.Count - 1);
                trailing++;
            }

            string text;
            if (literal)
            {
                text = string.Join('\n', body);
            }
            else
            {
                var sb = new StringBuilder();
                for (var i = 0; i < body.Count; i++)
                {
                    if (i > 0)
                    {
                        var previousMore = body[i - 1].StartsWith(' ');
                        var currentMore = body[i].StartsWith(' ');
                        sb.Append(body[i].Length == 0 || body[i - 1].Length == 0 || previousMore || currentMore ? "\n" : " ");
                    }

                    sb.Append(body[i]);
                }

                text = sb.ToString().Replace(" \n", "\n", StringComparison.Ordinal);
            }

            return chomp switch
            {
                '-' => text,
                '+' => text + new string('\n', trailing + (body.Count > 0 ? 1 : 0)),
                _ => body.Count > 0 && (!AtEnd || trailing > 0 || endsWithNewline) ? text + "\n" : text,
            };
        }

        private static JmesValue ParseFlow(string text, ref int position)
        {
            SkipSpaces(text, ref position);
            if (position >= text.Length)
            {
                throw new FormatException("unexpected end of flow collection");
            }

            var c = text[position];
            if (c == '[')
            {
                position++;
                var items = new List<JmesValue>();
                while (true)
                {
                    SkipSpaces(text, ref position);
                    if (position < text.Length && text[position] == ']')
                    {
                        position++;
                        return JmesValue.FromArray([.. items]);
                    }

                    items.Add(ParseFlow(text, ref position));
                    SkipSpaces(text, ref position);
                    if (position < text.Length && text[position] == ',')
                    {
                        position++;
                    }
                }
            }

            if (c == '{')
            {
                position++;
                var result = new JmesObject();
                while (true)
                {
                    SkipSpaces(text, ref position);
                    if (position < text.Length && text[position] == '}')
                    {
                        position++;
                        return JmesValue.FromObject(result);
                    }

                    var key = ParseFlow(text, ref position);
                    SkipSpaces(text, ref position);
                    var value = JmesValue.Null;
                    if (position < text.Length && text[position] == ':')
                    {
                        position++;
                        value = ParseFlow(text, ref position);
                    }

                    result.Set(key.Type == JmesType.String ? key.GetString() : key.ToJsonString(), value);
                    SkipSpaces(text, ref position);
                    if (position < text.Length && text[position] == ',')
                    {
                        position++;
                    }
                }
            }

            if (c is '"' or '\'')
            {
                var end = position + 1;
                while (end < text.Length && !(text[end] == c && (c == '\'' ? !(end + 1 < text.Length && text[end + 1] == '\'') : text[end - 1] != '\\')))
                {
                    end += c == '\'' && end + 1 < text.Length && text[end] == '\'' && text[end + 1] == '\'' ? 2 : 1;
                }

                var quoted = text[position..Math.Min(end + 1, text.Length)];
                position = end + 1;
                return JmesValue.From(Unquote(quoted));
            }

            var start = position;
            while (position < text.Length && text[position] is not (',' or ']' or '}') && !(text[position] == ':' && (position + 1 >= text.Length || text[position + 1] == ' ')))
            {
                position++;
            }

            return Resolve(text[start..position].Trim());
        }

        private static void SkipSpaces(string text, ref int position)
        {
            while (position < text.Length && text[position] == ' ')
            {
                position++;
            }
        }

        private static bool Balanced(string text)
        {
            var depth = 0;
            char? quote = null;
            foreach (var c in text)
            {
                if (quote is not null)
                {
                    if (c == quote)
                    {
                        quote = null;
                    }

                    continue;
                }

                if (c is '"' or '\'')
                {
                    quote = c;
                }
                else if (c is '[' or '{')
                {
                    depth++;
                }
                else if (c is ']' or '}')
                {
                    depth--;
                }
            }

            return depth <= 0;
        }

        private static bool ClosedQuote(string text)
        {
            var q = text[0];
            for (var i = 1; i < text.Length; i++)
            {
                if (text[i] == q)
                {
                    if (q == '\'' && i + 1 < text.Length && text[i + 1] == '\'')
                    {
                        i++;
                        continue;
                    }

                    if (q == '"' && text[i - 1] == '\\')
                    {
                        continue;
                    }

                    return true;
                }
            }

            return false;
        }

        /// <summary>The offset of the <c>: </c> (or final <c>:</c>) separating a mapping key, outside quotes; -1 if none.</summary>
        private static int FindKeySeparator(string text)
        {
            if (text.Length == 0 || text[0] is '[' or '{' or '#' or '|' or '>')
            {
                return -1;
            }

            char? quote = null;
            for (var i = 0; i < text.Length; i++)
            {
                var c = text[i];
                if (quote is not null)
                {
                    if (c == quote)
                    {
                        quote = null;
                    }

                    continue;
                }

                if (i == 0 && c is '"' or '\'')
                {
                    quote = c;
                    continue;
                }

                if (c == '#' && i > 0 && text[i - 1] == ' ')
                {
                    return -1;
                }

                if (c == ':' && (i + 1 == text.Length || text[i + 1] == ' '))
                {
                    return i;
                }
            }

            return -1;
        }

        private static string StripComment(string text)
        {
            char? quote = null;
            for (var i = 0; i < text.Length; i++)
            {
                var c = text[i];
                if (quote is not null)
                {
                    if (c == quote)
                    {
                        quote = null;
                    }

                    continue;
                }

                if (c is '"' or '\'' && (i == 0 || text[i - 1] is ' ' or '[' or '{' or ','))
                {
                    quote = c;
                }
                else if (c == '#' && (i == 0 || text[i - 1] == ' '))
                {
                    return text[..i].TrimEnd();
                }
            }

            return text.TrimEnd();
        }

        private static string ScalarText(string text) => text.Length > 0 && text[0] is '"' or '\'' ? Unquote(text) : Resolve(text) is var v && v.Type == JmesType.String ? v.GetString() : v.ToJsonString();

        private static string Unquote(string text)
        {
            if (text.Length < 2 || text[^1] != text[0])
            {
                throw new FormatException($"unterminated quoted scalar {text}");
            }

            var body = text[1..^1];
            if (text[0] == '\'')
            {
                return body.Replace("''", "'", StringComparison.Ordinal);
            }

            var sb = new StringBuilder();
            for (var i = 0; i < body.Length; i++)
            {
                if (body[i] != '\\' || i + 1 >= body.Length)
                {
                    sb.Append(body[i]);
                    continue;
                }

                var e = body[++i];
                switch (e)
                {
                    case 'n': sb.Append('\n'); break;
                    case 't': sb.Append('\t'); break;
                    case 'r': sb.Append('\r'); break;
                    case '0': sb.Append('\0'); break;
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case ' ': sb.Append(' '); break;
                    case 'x' when i + 2 < body.Length:
                        sb.Append((char)int.Parse(body.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 2;
                        break;
                    case 'u' when i + 4 < body.Length:
                        sb.Append((char)int.Parse(body.AsSpan(i + 1, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 4;
                        break;
                    default:
                        sb.Append('\\').Append(e);
                        break;
                }
            }

            return sb.ToString();
        }

        /// <summary>Plain scalar resolution as go-yaml v2 does it (YAML 1.1 booleans, null, numbers).</summary>
        private static JmesValue Resolve(string text)
        {
            switch (text)
            {
                case "" or "~" or "null" or "Null" or "NULL":
                    return JmesValue.Null;
                case "y" or "Y" or "yes" or "Yes" or "YES" or "on" or "On" or "ON" or "true" or "True" or "TRUE":
                    return JmesValue.True;
                case "n" or "N" or "no" or "No" or "NO" or "off" or "Off" or "OFF" or "false" or "False" or "FALSE":
                    return JmesValue.False;
                case ".inf" or ".Inf" or ".INF" or "+.inf" or "+.Inf" or "+.INF":
                    return JmesValue.From(double.PositiveInfinity);
                case "-.inf" or "-.Inf" or "-.INF":
                    return JmesValue.From(double.NegativeInfinity);
            }

            var plain = text.Replace("_", string.Empty, StringComparison.Ordinal);
            if (plain.StartsWith("0x", StringComparison.Ordinal) && long.TryParse(plain.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var hex))
            {
                return JmesValue.From(hex);
            }

            if (plain.Length > 0 && (char.IsAsciiDigit(plain[0]) || (plain.Length > 1 && plain[0] is '-' or '+' or '.' && (char.IsAsciiDigit(plain[1]) || plain[1] == '.')))
                && double.TryParse(plain, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && !plain.EndsWith('.'))
            {
                return JmesValue.From(number);
            }

            return JmesValue.From(text);
        }
    }
}
