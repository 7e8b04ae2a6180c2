using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.RegularExpressions;

namespace PolicyCompiler.Runtime.Admission;

/// <summary>
/// The bytes <c>gopkg.in/yaml.v2</c> 2.4.0's <c>yaml.Marshal</c> writes for a map of maps of strings, the one shape
/// Kyverno's denial message prints (policy → rule → message). Users' runbooks and tools grep these messages, so the
/// layout is reproduced exactly rather than approximately: which scalars are plain, single-quoted, double-quoted or
/// literal, where long lines fold, and in which order keys come. Each rule is written down where it is applied, with an
/// example; <c>GoYamlV2Tests</c> checks them one by one and against outputs of the real encoder
/// (<c>build/goyaml-oracle/</c>).
/// </summary>
/// <remarks>
/// The encoder is a port of libyaml's emitter: it works on the UTF-8 bytes of each scalar and counts columns in
/// characters, with a preferred width of 80 and an indentation of 2. Only what this shape can reach is implemented: block
/// mappings of scalars, no flow collections, no sequences, no tags or anchors.
/// </remarks>
public static partial class GoYamlV2
{
    private const int BestWidth = 80;
    private const int BestIndent = 2;

    /// <summary>The YAML text, ending with a line break, as <c>yaml.Marshal(map[string]interface{}{p: map[string]string{r: m}})</c>.</summary>
    public static string MarshalMapOfMaps(IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> map)
    {
        ArgumentNullException.ThrowIfNull(map);
        var emitter = new Emitter();
        emitter.BlockMapping(SortKeys(map.Keys), policy =>
        {
            var rules = map[policy];
            if (rules.Count == 0)
            {
                // Go writes an empty map as "{}" in flow style; Kyverno never has one (a policy without failures is left out).
                throw new ArgumentException($"policy {policy} has no rules: Kyverno leaves such a policy out", nameof(map));
            }

            emitter.BlockMapping(SortKeys(rules.Keys), rule => emitter.Scalar(rules[rule], simpleKey: false));
        });
        emitter.DocumentEnd();
        return emitter.ToString();
    }

    /// <summary>
    /// Keys in the order of yaml.v2's <c>keyList</c>: at the first differing character, two letters compare by code point;
    /// a letter sorts after anything else (<c>a-b</c> before <c>ab</c>); two non-letters compare as the numbers of the digit
    /// runs starting there (<c>rule-2</c> before <c>rule-10</c>), then by run length (<c>a1</c> before <c>a01</c>), then by
    /// code point; a prefix sorts first. Go sorts with <c>sort.Sort</c>, an insertion sort for the twelve or fewer keys a
    /// denial has; the same insertion sort is used here for any count, over the keys in ordinal order (Go's map order is
    /// random, which only matters for the rare keys this order does not rank consistently).
    /// </summary>
    public static List<string> SortKeys(IEnumerable<string> keys)
    {
        var list = keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        for (var i = 1; i < list.Count; i++)
        {
            for (var j = i; j > 0 && KeyLess(list[j], list[j - 1]); j--)
            {
                (list[j], list[j - 1]) = (list[j - 1], list[j]);
            }
        }

        return list;
    }

    /// <summary>yaml.v2 2.4.0's <c>keyList.Less</c> for two string keys.</summary>
    public static bool KeyLess(string a, string b)
    {
        var ar = Runes(a);
        var br = Runes(b);
        for (var i = 0; i < ar.Length && i < br.Length; i++)
        {
            if (ar[i] == br[i])
            {
                continue;
            }

            var al = Rune.IsLetter(ar[i]);
            var bl = Rune.IsLetter(br[i]);
            if (al && bl)
            {
                return ar[i].Value < br[i].Value;
            }

            if (al || bl)
            {
                return bl;
            }

            long an = 0, bn = 0;
            if (ar[i].Value == '0' || br[i].Value == '0')
            {
                // A zero inside a digit run counts: "a10" against "a1" compares 10 with 1, not 0 with nothing.
                for (var j = i - 1; j >= 0 && Rune.IsDigit(ar[j]); j--)
                {
                    if (ar[j].Value != '0')
                    {
                        an = 1;
                        bn = 1;
                        break;
                    }
                }
            }

            int ai, bi;
            for (ai = i; ai < ar.Length && Rune.IsDigit(ar[ai]); ai++)
            {
                an = unchecked((an * 10) + (ar[ai].Value - '0'));
            }

            for (bi = i; bi < br.Length && Rune.IsDigit(br[bi]); bi++)
            {
                bn = unchecked((bn * 10) + (br[bi].Value - '0'));
            }

            if (an != bn)
            {
                return an < bn;
            }

            if (ai != bi)
            {
                return ai < bi;
            }

            return ar[i].Value < br[i].Value;
        }

        return ar.Length < br.Length;
    }

    private static Rune[] Runes(string s) => [.. s.EnumerateRunes()];

    /// <summary>
    /// Whether yaml.v2 would read the text back as something other than a string if it were written plain, in which case
    /// the encoder asks for double quotes: <c>true</c>, <c>yes</c>, <c>on</c>, <c>null</c>, <c>~</c>, the empty string,
    /// <c>12</c>, <c>0x1F</c>, <c>1.5</c>, <c>.inf</c>, <c>2024-01-02</c>, and sexagesimal numbers such as <c>1:20</c>.
    /// </summary>
    public static bool ResolvesToNonString(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (Base60Float().IsMatch(s))
        {
            return true;
        }

        var hint = s.Length == 0 ? 'N' : s[0] switch
        {
            '+' or '-' => 'S',
            >= '0' and <= '9' => 'D',
            'y' or 'Y' or 'n' or 'N' or 't' or 'T' or 'f' or 'F' or 'o' or 'O' or '~' => 'M',
            '.' => '.',
            _ => '\0',
        };
        if (hint == '\0')
        {
            return false;
        }

        if (s is "" or "~" or "null" or "Null" or "NULL"
            or "y" or "Y" or "yes" or "Yes" or "YES" or "true" or "True" or "TRUE" or "on" or "On" or "ON"
            or "n" or "N" or "no" or "No" or "NO" or "false" or "False" or "FALSE" or "off" or "Off" or "OFF"
            or ".nan" or ".NaN" or ".NAN" or ".inf" or ".Inf" or ".INF" or "+.inf" or "+.Inf" or "+.INF"
            or "-.inf" or "-.Inf" or "-.INF")
        {
            return true;
        }

        switch (hint)
        {
            case '.':
                // strconv.ParseFloat of a text starting with '.': a decimal fraction with an optional exponent.
                return DotFloat().IsMatch(s) && IsFiniteFloat(s);
            case 'D':
            case 'S':
                if (IsTimestamp(s))
                {
                    return true;
                }

                var plain = s.Replace("_", string.Empty, StringComparison.Ordinal);
                if (FitsGoInteger(plain))
                {
                    return true;
                }

                return YamlStyleFloat().IsMatch(plain) && IsFiniteFloat(plain);
            default:
                return false;
        }
    }

    private static bool IsFiniteFloat(string s) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value);

    /// <summary><c>strconv.ParseInt(s, 0, 64)</c> or <c>strconv.ParseUint(s, 0, 64)</c> succeeds.</summary>
    private static bool FitsGoInteger(string s)
    {
        var match = GoInteger().Match(s);
        if (!match.Success)
        {
            return false;
        }

        var negative = match.Groups["sign"].Value == "-";
        var signed = match.Groups["sign"].Success;
        BigInteger value;
        if (match.Groups["hex"].Success)
        {
            value = BigInteger.Parse("0" + match.Groups["hex"].Value, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        }
        else
        {
            var (digits, radix) = match.Groups["bin"].Success ? (match.Groups["bin"].Value, 2)
                : match.Groups["oct"].Success ? (match.Groups["oct"].Value, 8)
                : (match.Groups["dec"].Value, 10);
            value = BigInteger.Zero;
            foreach (var digit in digits)
            {
                value = (value * radix) + (digit - '0');
            }
        }

        if (negative)
        {
            return value <= BigInteger.One << 63;
        }

        // ParseUint takes no sign; ParseInt takes '+' up to int64's maximum.
        return signed ? value <= long.MaxValue : value <= ulong.MaxValue;
    }

    /// <summary>Go's <c>time.Parse</c> with the four layouts yaml.v2 tries, for texts starting with four digits and a dash.</summary>
    private static bool IsTimestamp(string s)
    {
        var match = Timestamp().Match(s);
        if (!match.Success)
        {
            return false;
        }

        int Number(string group) => int.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture);
        var year = Number("y");
        var month = Number("m");
        if (month is < 1 or > 12 || Number("d") < 1 || Number("d") > DateTime.DaysInMonth(year == 0 ? 2000 : year, month))
        {
            return false;
        }

        if (!match.Groups["H"].Success)
        {
            return true;
        }

        if (Number("H") > 23 || Number("M") > 59 || Number("S") > 59)
        {
            return false;
        }

        return !match.Groups["zh"].Success || (Number("zh") <= 23 && Number("zm") <= 59);
    }

    [GeneratedRegex(@"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Base60Float();

    [GeneratedRegex(@"^\.[0-9]+(?:[eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex DotFloat();

    [GeneratedRegex(@"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex YamlStyleFloat();

    [GeneratedRegex(@"^(?<sign>[-+])?(?:0[xX](?<hex>[0-9a-fA-F]+)|0[bB](?<bin>[01]+)|0[oO]?(?<oct>[0-7]+)|(?<dec>0|[1-9][0-9]*))$", RegexOptions.CultureInvariant)]
    private static partial Regex GoInteger();

    [GeneratedRegex(@"^(?<y>[0-9]{4})-(?<m>[0-9]{1,2})-(?<d>[0-9]{1,2})(?:(?:[Tt](?<H>[0-9]{1,2}):(?<M>[0-9]{1,2}):(?<S>[0-9]{1,2})(?:\.[0-9]+)?(?:Z|[-+](?<zh>[0-9]{2}):(?<zm>[0-9]{2})))|(?: (?<H>[0-9]{1,2}):(?<M>[0-9]{1,2}):(?<S>[0-9]{1,2})(?:\.[0-9]+)?))?$", RegexOptions.CultureInvariant)]
    private static partial Regex Timestamp();

    private enum Style
    {
        Plain,
        SingleQuoted,
        DoubleQuoted,
        Literal,
    }

    /// <summary>What libyaml's <c>yaml_emitter_analyze_scalar</c> learns about a scalar.</summary>
    private readonly record struct Analysis(bool Multiline, bool BlockPlainAllowed, bool SingleQuotedAllowed, bool BlockAllowed);

    private sealed class Emitter
    {
        private readonly StringBuilder _output = new();
        private readonly Stack<int> _indents = new();
        private int _indent = -1;
        private int _column;
        private bool _whitespace = true;
        private bool _indention = true;

        public override string ToString() => _output.ToString();

        /// <summary>A block mapping whose values <paramref name="value"/> writes.</summary>
        public void BlockMapping(List<string> keys, Action<string> value)
        {
            IncreaseIndent(flow: false);
            foreach (var key in keys)
            {
                WriteIndent();
                var bytes = Utf8(key);
                var analysis = Analyze(bytes);

                // A simple key ("key: value") is one line of at most 128 bytes; any other is written "? key" then ": value".
                if (!analysis.Multiline && bytes.Length <= 128)
                {
                    Scalar(key, simpleKey: true);
                    WriteIndicator(":", needWhitespace: false, isWhitespace: false, isIndention: false);
                }
                else
                {
                    WriteIndicator("?", needWhitespace: true, isWhitespace: false, isIndention: true);
                    Scalar(key, simpleKey: false);
                    WriteIndent();
                    WriteIndicator(":", needWhitespace: true, isWhitespace: false, isIndention: true);
                }

                value(key);
            }

            _indent = _indents.Pop();
        }

        public void DocumentEnd() => WriteIndent();

        public void Scalar(string text, bool simpleKey)
        {
            var value = Utf8(text);
            var analysis = Analyze(value);

            // yaml.v2's encoder asks for a literal block when the text has a line feed, for double quotes when it would
            // read back as another type ("true", "12"), and for plain otherwise; the emitter then falls back as below.
            var style = text.Contains('\n', StringComparison.Ordinal) ? Style.Literal
                : ResolvesToNonString(text) ? Style.DoubleQuoted
                : Style.Plain;

            if (simpleKey && analysis.Multiline)
            {
                style = Style.DoubleQuoted;
            }

            if (style == Style.Plain && (!analysis.BlockPlainAllowed || (value.Length == 0 && simpleKey)))
            {
                // "a: b", "- x", " lead", "#x", "it's: x" cannot be plain.
                style = Style.SingleQuoted;
            }

            if (style == Style.SingleQuoted && !analysis.SingleQuotedAllowed)
            {
                // Control characters, characters outside the BMP, a space before a line break: only double quotes escape them.
                style = Style.DoubleQuoted;
            }

            if (style == Style.Literal && (!analysis.BlockAllowed || simpleKey))
            {
                style = Style.DoubleQuoted;
            }

            // The scalar's continuation lines are indented one level deeper than its key.
            IncreaseIndent(flow: true);
            switch (style)
            {
                case Style.Plain:
                    WritePlain(value, allowBreaks: !simpleKey);
                    break;
                case Style.SingleQuoted:
                    WriteSingleQuoted(value, allowBreaks: !simpleKey);
                    break;
                case Style.DoubleQuoted:
                    WriteDoubleQuoted(value, allowBreaks: !simpleKey);
                    break;
                default:
                    WriteLiteral(value);
                    break;
            }

            _indent = _indents.Pop();
        }

        private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

        private void IncreaseIndent(bool flow)
        {
            _indents.Push(_indent);
            _indent = _indent < 0 ? (flow ? BestIndent : 0) : _indent + BestIndent;
        }

        private void Put(char c)
        {
            _output.Append(c);
            _column++;
        }

        private void PutBreak()
        {
            _output.Append('\n');
            _column = 0;
        }

        /// <summary>Copies one UTF-8 character; a column is a character, whatever its width.</summary>
        private void Write(byte[] value, ref int i)
        {
            var width = Width(value[i]);
            _output.Append(Encoding.UTF8.GetString(value, i, width));
            _column++;
            i += width;
        }

        private void WriteBreak(byte[] value, ref int i)
        {
            if (value[i] == '\n')
            {
                PutBreak();
                i++;
            }
            else
            {
                Write(value, ref i);
                _column = 0;
            }
        }

        private void WriteIndent()
        {
            var indent = Math.Max(_indent, 0);
            if (!_indention || _column > indent || (_column == indent && !_whitespace))
            {
                PutBreak();
            }

            while (_column < indent)
            {
                Put(' ');
            }

            _whitespace = true;
            _indention = true;
        }

        private void WriteIndicator(string indicator, bool needWhitespace, bool isWhitespace, bool isIndention)
        {
            if (needWhitespace && !_whitespace)
            {
                Put(' ');
            }

            foreach (var c in indicator)
            {
                Put(c);
            }

            _whitespace = isWhitespace;
            _indention = _indention && isIndention;
        }

        /// <summary>
        /// Plain: a space is a fold point once the line is past column 80, unless the previous character was a space or
        /// the next one is ("word word … word" becomes a line break plus the indentation; a long word is never cut).
        /// </summary>
        private void WritePlain(byte[] value, bool allowBreaks)
        {
            if (!_whitespace)
            {
                Put(' ');
            }

            var spaces = false;
            var breaks = false;
            for (var i = 0; i < value.Length;)
            {
                if (value[i] == ' ')
                {
                    if (allowBreaks && !spaces && _column > BestWidth && !IsSpace(value, i + 1))
                    {
                        WriteIndent();
                        i++;
                    }
                    else
                    {
                        Write(value, ref i);
                    }

                    spaces = true;
                }
                else if (IsBreak(value, i))
                {
                    // Unreachable for plain scalars (a line break rules plain out) but kept as libyaml has it.
                    if (!breaks && value[i] == '\n')
                    {
                        PutBreak();
                    }

                    WriteBreak(value, ref i);
                    _indention = true;
                    breaks = true;
                }
                else
                {
                    if (breaks)
                    {
                        WriteIndent();
                    }

                    Write(value, ref i);
                    _indention = false;
                    spaces = false;
                    breaks = false;
                }
            }

            _whitespace = false;
            _indention = false;
        }

        /// <summary>
        /// Single quotes: <c>'</c> is doubled; folding as for plain, except never at the first or last character; a line
        /// break in the text is written as an empty line (a single quoted scalar folds a lone line break into a space).
        /// </summary>
        private void WriteSingleQuoted(byte[] value, bool allowBreaks)
        {
            WriteIndicator("'", needWhitespace: true, isWhitespace: false, isIndention: false);
            var spaces = false;
            var breaks = false;
            for (var i = 0; i < value.Length;)
            {
                if (value[i] == ' ')
                {
                    if (allowBreaks && !spaces && _column > BestWidth && i > 0 && i < value.Length - 1 && !IsSpace(value, i + 1))
                    {
                        WriteIndent();
                        i++;
                    }
                    else
                    {
                        Write(value, ref i);
                    }

                    spaces = true;
                }
                else if (IsBreak(value, i))
                {
                    if (!breaks && value[i] == '\n')
                    {
                        PutBreak();
                    }

                    WriteBreak(value, ref i);
                    _indention = true;
                    breaks = true;
                }
                else
                {
                    if (breaks)
                    {
                        WriteIndent();
                    }

                    if (value[i] == '\'')
                    {
                        Put('\'');
                    }

                    Write(value, ref i);
                    _indention = false;
                    spaces = false;
                    breaks = false;
                }
            }

            WriteIndicator("'", needWhitespace: false, isWhitespace: false, isIndention: false);
            _whitespace = false;
            _indention = false;
        }

        /// <summary>
        /// Double quotes: non-printable characters, line breaks, <c>"</c> and <c>\</c> are escaped (<c>\t</c>, <c>\n</c>,
        /// <c>\x01</c>, <c>\u2028</c>, <c>\U0001F600</c>); a fold keeps a following space by escaping it as <c>\ </c>.
        /// </summary>
        private void WriteDoubleQuoted(byte[] value, bool allowBreaks)
        {
            var spaces = false;
            WriteIndicator("\"", needWhitespace: true, isWhitespace: false, isIndention: false);
            for (var i = 0; i < value.Length;)
            {
                if (!IsPrintable(value, i) || IsBom(value) || IsBreak(value, i) || value[i] == '"' || value[i] == '\\')
                {
                    var width = Width(value[i]);
                    var rune = Rune.DecodeFromUtf8(value.AsSpan(i, width), out var decoded, out _) == System.Buffers.OperationStatus.Done ? decoded.Value : value[i];
                    i += width;
                    Put('\\');
                    switch (rune)
                    {
                        case 0x00: Put('0'); break;
                        case 0x07: Put('a'); break;
                        case 0x08: Put('b'); break;
                        case 0x09: Put('t'); break;
                        case 0x0A: Put('n'); break;
                        case 0x0B: Put('v'); break;
                        case 0x0C: Put('f'); break;
                        case 0x0D: Put('r'); break;
                        case 0x1B: Put('e'); break;
                        case 0x22: Put('"'); break;
                        case 0x5C: Put('\\'); break;
                        case 0x85: Put('N'); break;
                        case 0xA0: Put('_'); break;
                        case 0x2028: Put('L'); break;
                        case 0x2029: Put('P'); break;
                        default:
                            var (prefix, digits) = rune <= 0xFF ? ('x', 2) : rune <= 0xFFFF ? ('u', 4) : ('U', 8);
                            Put(prefix);
                            foreach (var c in rune.ToString("X" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture))
                            {
                                Put(c);
                            }

                            break;
                    }

                    spaces = false;
                }
                else if (value[i] == ' ')
                {
                    if (allowBreaks && !spaces && _column > BestWidth && i > 0 && i < value.Length - 1)
                    {
                        WriteIndent();
                        if (IsSpace(value, i + 1))
                        {
                            Put('\\');
                        }

                        i++;
                    }
                    else
                    {
                        Write(value, ref i);
                    }

                    spaces = true;
                }
                else
                {
                    Write(value, ref i);
                    spaces = false;
                }
            }

            WriteIndicator("\"", needWhitespace: false, isWhitespace: false, isIndention: false);
            _whitespace = false;
            _indention = false;
        }

        /// <summary>
        /// Literal block (<c>|</c>): lines as they are, indented; an indentation digit when the text starts with a space
        /// or line break; <c>-</c> when it does not end with a line break, <c>+</c> when it ends with two (or is one).
        /// </summary>
        private void WriteLiteral(byte[] value)
        {
            WriteIndicator("|", needWhitespace: true, isWhitespace: false, isIndention: false);
            if (IsSpace(value, 0) || IsBreak(value, 0))
            {
                WriteIndicator(((char)('0' + BestIndent)).ToString(), needWhitespace: false, isWhitespace: false, isIndention: false);
            }

            var chomp = '\0';
            if (value.Length == 0)
            {
                chomp = '-';
            }
            else
            {
                var i = value.Length - 1;
                while ((value[i] & 0xC0) == 0x80)
                {
                    i--;
                }

                if (!IsBreak(value, i))
                {
                    chomp = '-';
                }
                else if (i == 0)
                {
                    chomp = '+';
                }
                else
                {
                    i--;
                    while ((value[i] & 0xC0) == 0x80)
                    {
                        i--;
                    }

                    if (IsBreak(value, i))
                    {
                        chomp = '+';
                    }
                }
            }

            if (chomp != '\0')
            {
                WriteIndicator(chomp.ToString(), needWhitespace: false, isWhitespace: false, isIndention: false);
            }

            PutBreak();
            _indention = true;
            _whitespace = true;
            var breaks = true;
            for (var i = 0; i < value.Length;)
            {
                if (IsBreak(value, i))
                {
                    WriteBreak(value, ref i);
                    _indention = true;
                    breaks = true;
                }
                else
                {
                    if (breaks)
                    {
                        WriteIndent();
                    }

                    Write(value, ref i);
                    _indention = false;
                    breaks = false;
                }
            }
        }

        /// <summary>libyaml's scalar analysis, reduced to the block context this shape is written in.</summary>
        private static Analysis Analyze(byte[] value)
        {
            if (value.Length == 0)
            {
                return new Analysis(Multiline: false, BlockPlainAllowed: true, SingleQuotedAllowed: true, BlockAllowed: false);
            }

            var blockIndicators = value.Length >= 3
                && ((value[0] == '-' && value[1] == '-' && value[2] == '-') || (value[0] == '.' && value[1] == '.' && value[2] == '.'));
            bool lineBreaks = false, specialCharacters = false;
            bool leadingSpace = false, leadingBreak = false, trailingSpace = false, trailingBreak = false, breakSpace = false, spaceBreak = false;
            bool precededByWhitespace = true, previousSpace = false, previousBreak = false;

            for (int i = 0, width; i < value.Length; i += width)
            {
                width = Width(value[i]);
                var followedByWhitespace = i + width >= value.Length || IsBlank(value, i + width);
                if (i == 0)
                {
                    switch ((char)value[i])
                    {
                        case '#' or ',' or '[' or ']' or '{' or '}' or '&' or '*' or '!' or '|' or '>' or '\'' or '"' or '%' or '@' or '`':
                            blockIndicators = true;
                            break;
                        case '?' or ':' or '-' when followedByWhitespace:
                            blockIndicators = true;
                            break;
                    }
                }
                else if ((value[i] == ':' && followedByWhitespace) || (value[i] == '#' && precededByWhitespace))
                {
                    blockIndicators = true;
                }

                if (!IsPrintable(value, i))
                {
                    specialCharacters = true;
                }

                if (value[i] == ' ')
                {
                    leadingSpace |= i == 0;
                    trailingSpace |= i + width == value.Length;
                    breakSpace |= previousBreak;
                    previousSpace = true;
                    previousBreak = false;
                }
                else if (IsBreak(value, i))
                {
                    lineBreaks = true;
                    leadingBreak |= i == 0;
                    trailingBreak |= i + width == value.Length;
                    spaceBreak |= previousSpace;
                    previousSpace = false;
                    previousBreak = true;
                }
                else
                {
                    previousSpace = false;
                    previousBreak = false;
                }

                precededByWhitespace = IsBlankZ(value, i);
            }

            var blockPlain = !(leadingSpace || leadingBreak || trailingSpace || trailingBreak || breakSpace || spaceBreak || specialCharacters || lineBreaks || blockIndicators);
            var singleQuoted = !(breakSpace || spaceBreak || specialCharacters);
            var block = !(trailingSpace || spaceBreak || specialCharacters);
            return new Analysis(lineBreaks, blockPlain, singleQuoted, block);
        }

        private static int Width(byte b) => (b & 0x80) == 0 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;

        private static byte At(byte[] b, int i) => i < b.Length ? b[i] : (byte)0;

        private static bool IsSpace(byte[] b, int i) => At(b, i) == ' ';

        private static bool IsBlank(byte[] b, int i) => At(b, i) is (byte)' ' or (byte)'\t';

        private static bool IsBreak(byte[] b, int i) =>
            At(b, i) is (byte)'\r' or (byte)'\n'
            || (At(b, i) == 0xC2 && At(b, i + 1) == 0x85)
            || (At(b, i) == 0xE2 && At(b, i + 1) == 0x80 && At(b, i + 2) is 0xA8 or 0xA9);

        private static bool IsBlankZ(byte[] b, int i) => IsBlank(b, i) || IsBreak(b, i) || At(b, i) == 0;

        // As libyaml checks it, at the start of the text whatever the position (so a leading BOM escapes everything).
        private static bool IsBom(byte[] b) => At(b, 0) == 0xEF && At(b, 1) == 0xBB && At(b, 2) == 0xBF;

        /// <summary>
        /// Printable as YAML allows unescaped: LF, ASCII 0x20–0x7E, and U+00A0–U+FFFD except the BOM and U+FFFE/FFFF; tabs,
        /// other controls, C1 controls, U+D800–U+DFFF and everything beyond the BMP (emoji) are not.
        /// </summary>
        private static bool IsPrintable(byte[] b, int i)
        {
            var c = At(b, i);
            return c == 0x0A
                || (c >= 0x20 && c <= 0x7E)
                || (c == 0xC2 && At(b, i + 1) >= 0xA0)
                || (c > 0xC2 && c < 0xED)
                || (c == 0xED && At(b, i + 1) < 0xA0)
                || c == 0xEE
                || (c == 0xEF && !(At(b, i + 1) == 0xBB && At(b, i + 2) == 0xBF) && !(At(b, i + 1) == 0xBF && At(b, i + 2) is 0xBE or 0xBF));
        }
    }
}
