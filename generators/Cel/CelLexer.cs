using System;
using System.Collections.Generic;
using System.Globalization;

namespace PolicyCompiler.Generators.Cel;

internal enum CelTokenKind
{
    Ident,
    EscapedIdent,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    True,
    False,
    Null,
    In,
    Punct,
    End,
}

/// <summary>One CEL token: its kind, where it starts in the expression and how long it is.</summary>
internal readonly struct CelToken(CelTokenKind kind, int start, int length, string text)
{
    public CelTokenKind Kind { get; } = kind;

    public int Start { get; } = start;

    public int Length { get; } = length;

    /// <summary>The token as written (for punctuation, the operator itself).</summary>
    public string Text { get; } = text;

    public bool Is(string punct) => Kind == CelTokenKind.Punct && Text == punct;
}

/// <summary>A mistake in a CEL expression: a message and the span of the expression it is about.</summary>
internal sealed record CelError(int Start, int Length, string Message);

/// <summary>Thrown inside the lexer and parser to stop at the first mistake; never escapes <see cref="CelSyntax.Check"/>.</summary>
internal sealed class CelSyntaxException(CelError error) : Exception(error.Message)
{
    public CelError Error { get; } = error;
}

/// <summary>
/// The lexical grammar of CEL (cel-spec doc/langdef.md): identifiers, the keywords <c>true false null in</c>, int, uint
/// and double literals, quoted, triple-quoted, raw and bytes strings with their escapes, <c>//</c> comments, and the
/// backtick-quoted field names of newer CEL.
/// </summary>
internal static class CelLexer
{
    // Longest first, so that "<=" is not read as "<" then "=".
    private static readonly string[] s_punctuation = ["&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "+", "-", "*", "/", "%", "?", ":", ".", ",", "(", ")", "[", "]", "{", "}"];

    public static List<CelToken> Tokenize(string text)
    {
        var tokens = new List<CelToken>();
        var i = 0;
        while (true)
        {
            i = SkipBlanks(text, i);
            if (i >= text.Length)
            {
                // Right after the last token, so that "found the end of the expression" points at where more was due.
                var end = tokens.Count == 0 ? 0 : tokens[tokens.Count - 1].Start + tokens[tokens.Count - 1].Length;
                tokens.Add(new CelToken(CelTokenKind.End, end, 0, string.Empty));
                return tokens;
            }

            var token = Next(text, i);
            tokens.Add(token);
            i = token.Start + token.Length;
        }
    }

    private static int SkipBlanks(string text, int i)
    {
        while (i < text.Length)
        {
            var c = text[i];
            if (c is ' ' or '\t' or '\n' or '\r' or '\f')
            {
                i++;
            }
            else if (c == '/' && i + 1 < text.Length && text[i + 1] == '/')
            {
                while (i < text.Length && text[i] is not '\n' and not '\r')
                {
                    i++;
                }
            }
            else
            {
                break;
            }
        }

        return i;
    }

    private static CelToken Next(string text, int i)
    {
        var c = text[i];
        if (IsDigit(c) || (c == '.' && i + 1 < text.Length && IsDigit(text[i + 1])))
        {
            return Number(text, i);
        }

        if (c is '"' or '\'')
        {
            return Quoted(text, i, i, raw: false, bytes: false);
        }

        if (IsIdentStart(c))
        {
            // A string prefix: b (bytes) then r (raw), each optional, right before the quote: b"", r'', br'''...'''.
            var j = i;
            var bytes = text[j] is 'b' or 'B';
            if (bytes)
            {
                j++;
            }

            var raw = j < text.Length && text[j] is 'r' or 'R';
            if (raw)
            {
                j++;
            }

            if (j > i && j < text.Length && text[j] is '"' or '\'')
            {
                return Quoted(text, i, j, raw, bytes);
            }

            var end = i;
            while (end < text.Length && (IsIdentStart(text[end]) || IsDigit(text[end])))
            {
                end++;
            }

            var word = text.Substring(i, end - i);
            var kind = word switch
            {
                "true" => CelTokenKind.True,
                "false" => CelTokenKind.False,
                "null" => CelTokenKind.Null,
                "in" => CelTokenKind.In,
                _ => CelTokenKind.Ident,
            };
            return new CelToken(kind, i, end - i, word);
        }

        if (c == '`')
        {
            var end = i + 1;
            while (end < text.Length && (IsIdentStart(text[end]) || IsDigit(text[end]) || text[end] is '.' or '-' or '/' or ' '))
            {
                end++;
            }

            if (end >= text.Length || text[end] != '`' || end == i + 1)
            {
                throw Error(i, Math.Max(1, end - i), "a backtick-quoted field name holds letters, digits, '_', '.', '-', '/' or spaces and ends with '`'");
            }

            return new CelToken(CelTokenKind.EscapedIdent, i, end + 1 - i, text.Substring(i + 1, end - i - 1));
        }

        foreach (var p in s_punctuation)
        {
            if (string.CompareOrdinal(text, i, p, 0, p.Length) == 0)
            {
                return new CelToken(CelTokenKind.Punct, i, p.Length, p);
            }
        }

        var hint = c switch
        {
            '=' => " (equality is '==')",
            '&' => " (logical and is '&&')",
            '|' => " (logical or is '||')",
            _ => string.Empty,
        };
        // A character outside the BMP is two UTF-16 units; the diagnostic covers both.
        var width = char.IsHighSurrogate(c) && i + 1 < text.Length ? 2 : 1;
        throw Error(i, width, $"unexpected character '{text.Substring(i, width)}'{hint}");
    }

    /// <summary>INT_LIT, UINT_LIT (suffix u/U) and FLOAT_LIT; a double needs digits after its point.</summary>
    private static CelToken Number(string text, int i)
    {
        var j = i;
        // Only a lowercase 0x starts a hexadecimal literal, in langdef and in cel-go's lexer.
        if (text[j] == '0' && j + 1 < text.Length && text[j + 1] == 'x')
        {
            j += 2;
            var digits = j;
            while (j < text.Length && Uri.IsHexDigit(text[j]))
            {
                j++;
            }

            if (j == digits)
            {
                throw Error(i, j - i, "a hexadecimal literal needs digits after '0x'");
            }

            return IntegerToken(text, i, j, hex: true);
        }

        while (j < text.Length && IsDigit(text[j]))
        {
            j++;
        }

        var isDouble = false;
        if (j + 1 < text.Length && text[j] == '.' && IsDigit(text[j + 1]))
        {
            isDouble = true;
            j++;
            while (j < text.Length && IsDigit(text[j]))
            {
                j++;
            }
        }

        if (j < text.Length && text[j] is 'e' or 'E')
        {
            var k = j + 1;
            if (k < text.Length && text[k] is '+' or '-')
            {
                k++;
            }

            if (k < text.Length && IsDigit(text[k]))
            {
                isDouble = true;
                j = k;
                while (j < text.Length && IsDigit(text[j]))
                {
                    j++;
                }
            }
        }

        return isDouble
            ? new CelToken(CelTokenKind.Double, i, j - i, text.Substring(i, j - i))
            : IntegerToken(text, i, j, hex: false);
    }

    private static CelToken IntegerToken(string text, int start, int end, bool hex)
    {
        var unsigned = end < text.Length && text[end] is 'u' or 'U';
        var digits = hex ? text.Substring(start + 2, end - start - 2) : text.Substring(start, end - start);
        if (unsigned)
        {
            end++;
        }

        // The magnitude; whether it fits an int or a uint is decided by the parser, which knows about a leading '-'.
        var fits = ulong.TryParse(digits, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out _);
        if (!fits)
        {
            throw Error(start, end - start, $"{text.Substring(start, end - start)} does not fit in a 64-bit {(unsigned ? "uint" : "int")}");
        }

        return new CelToken(unsigned ? CelTokenKind.Uint : CelTokenKind.Int, start, end - start, text.Substring(start, end - start));
    }

    /// <summary>A string or bytes literal; <paramref name="quote"/> is where its quote starts (after any r/b prefix).</summary>
    private static CelToken Quoted(string text, int start, int quote, bool raw, bool bytes)
    {
        var q = text[quote];
        var triple = quote + 2 < text.Length && text[quote + 1] == q && text[quote + 2] == q;
        var i = quote + (triple ? 3 : 1);
        while (true)
        {
            if (i >= text.Length)
            {
                throw Error(start, text.Length - start, triple ? $"the string has no closing {q}{q}{q}" : $"the string has no closing {q}");
            }

            var c = text[i];
            if (triple && c == q && i + 2 < text.Length && text[i + 1] == q && text[i + 2] == q)
            {
                i += 3;
                break;
            }

            if (!triple && c == q)
            {
                i++;
                break;
            }

            if (!triple && c is '\n' or '\r')
            {
                throw Error(start, i - start, $"the string has no closing {q} on its line (a string on several lines is written with {q}{q}{q})");
            }

            if (c == '\\' && !raw)
            {
                i = Escape(text, i, bytes);
                continue;
            }

            i++;
        }

        return new CelToken(bytes ? CelTokenKind.Bytes : CelTokenKind.String, start, i - start, text.Substring(start, i - start));
    }

    /// <summary>Checks the escape sequence at <paramref name="i"/> (a backslash) and returns the index after it.</summary>
    private static int Escape(string text, int i, bool bytes)
    {
        if (i + 1 >= text.Length)
        {
            throw Error(i, 1, "a '\\' at the end of the expression escapes nothing");
        }

        var c = text[i + 1];
        switch (c)
        {
            case 'a' or 'b' or 'f' or 'n' or 'r' or 't' or 'v' or '\\' or '?' or '"' or '\'' or '`':
                return i + 2;
            case 'x' or 'X':
                return Hex(text, i, 2, bytes);
            case 'u':
                return bytes ? throw Error(i, 2, "\\u escapes are not allowed in bytes literals; write the bytes with \\x or octal escapes") : Hex(text, i, 4, bytes);
            case 'U':
                return bytes ? throw Error(i, 2, "\\U escapes are not allowed in bytes literals; write the bytes with \\x or octal escapes") : Hex(text, i, 8, bytes);
            case >= '0' and <= '3':
                if (i + 3 < text.Length && text[i + 2] is >= '0' and <= '7' && text[i + 3] is >= '0' and <= '7')
                {
                    return i + 4;
                }

                throw Error(i, Math.Min(4, text.Length - i), "an octal escape is a backslash and three octal digits, \\000 to \\377");
            default:
                var width = char.IsHighSurrogate(c) && i + 2 < text.Length ? 3 : 2;
                throw Error(i, width, $"'{text.Substring(i, width)}' is not a CEL escape sequence (valid: \\\\ \\\" \\' \\` \\? \\a \\b \\f \\n \\r \\t \\v \\xHH \\uHHHH \\UHHHHHHHH \\ooo); to write a backslash, use \\\\ or a raw string r'...'");
        }
    }

    private static int Hex(string text, int i, int count, bool bytes)
    {
        var digits = i + 2;
        var n = 0;
        while (n < count && digits + n < text.Length && Uri.IsHexDigit(text[digits + n]))
        {
            n++;
        }

        if (n < count)
        {
            throw Error(i, 2 + n, $"'\\{text[i + 1]}' needs {count.ToString(CultureInfo.InvariantCulture)} hexadecimal digits");
        }

        if (!bytes && count >= 4)
        {
            var value = uint.Parse(text.Substring(digits, count), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
            if (value > 0x10FFFF || value is >= 0xD800 and <= 0xDFFF)
            {
                throw Error(i, 2 + count, $"'{text.Substring(i, 2 + count)}' is not a Unicode code point (surrogates and values above 10FFFF are not)");
            }
        }

        return digits + count;
    }

    private static bool IsDigit(char c) => c is >= '0' and <= '9';

    private static bool IsIdentStart(char c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or '_';

    internal static CelSyntaxException Error(int start, int length, string message) => new(new CelError(start, Math.Max(1, length), message));
}
