using System.Collections.Generic;
using System.Text;
using PolicyCompiler.Generators.Common;

namespace PolicyCompiler.Generators.Conditions;

internal enum TokenType
{
    Eof,
    UnquotedIdentifier,
    QuotedIdentifier,
    Star,
    Dot,
    Filter,
    Flatten,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Colon,
    Pipe,
    Or,
    And,
    Not,
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    Number,
    Literal,
    RawString,
    Current,
    Expref,

    /// <summary>A nested Kyverno variable in an expression position; its node is in <see cref="Token.Node"/>.</summary>
    Variable,
}

internal sealed class Token(TokenType type, int start, int end)
{
    public TokenType Type { get; } = type;

    public int Start { get; } = start;

    public int End { get; } = end;

    public string Value { get; set; } = string.Empty;

    public int Number { get; set; }

    /// <summary>The node of a literal, raw string, quoted identifier with variables, or nested variable.</summary>
    public JmesNode? Node { get; set; }
}

/// <summary>
/// Turns expression text into tokens, following the reference implementation's lexer (jmespath.py). With
/// <c>allowVariables</c>, Kyverno's nested <c>{{ … }}</c> are recognised wherever Kyverno would substitute them
/// (expression positions, raw strings, quoted identifiers, JSON literals) and parsed recursively.
/// </summary>
internal sealed class JmesLexer
{
    private readonly string _text;
    private readonly int _end;
    private readonly bool _allowVariables;
    private int _pos;

    public JmesLexer(string text, int start, int end, bool allowVariables)
    {
        _text = text;
        _pos = start;
        _end = end;
        _allowVariables = allowVariables;
    }

    public List<Token> Tokenize()
    {
        var tokens = new List<Token>();
        while (true)
        {
            SkipWhitespace();
            if (_pos >= _end)
            {
                tokens.Add(new Token(TokenType.Eof, _end, _end));
                return tokens;
            }

            tokens.Add(Next());
        }
    }

    private void SkipWhitespace()
    {
        while (_pos < _end && _text[_pos] is ' ' or '\t' or '\n' or '\r')
        {
            _pos++;
        }
    }

    private char Peek(int offset = 0) => _pos + offset < _end ? _text[_pos + offset] : '\0';

    private Token Single(TokenType type)
    {
        var token = new Token(type, _pos, _pos + 1) { Value = _text.Substring(_pos, 1) };
        _pos++;
        return token;
    }

    private Token Double(TokenType type)
    {
        var token = new Token(type, _pos, _pos + 2) { Value = _text.Substring(_pos, 2) };
        _pos += 2;
        return token;
    }

    private Token Next()
    {
        var c = _text[_pos];
        if (_allowVariables && c == '{' && Peek(1) == '{')
        {
            var hole = ReadVariable();
            return new Token(TokenType.Variable, hole.Start, hole.Start + hole.Length) { Node = hole };
        }

        switch (c)
        {
            case '.': return Single(TokenType.Dot);
            case '*': return Single(TokenType.Star);
            case ',': return Single(TokenType.Comma);
            case ':': return Single(TokenType.Colon);
            case '@': return Single(TokenType.Current);
            case '(': return Single(TokenType.LParen);
            case ')': return Single(TokenType.RParen);
            case '{': return Single(TokenType.LBrace);
            case '}': return Single(TokenType.RBrace);
            case ']': return Single(TokenType.RBracket);
            case '[':
                return Peek(1) switch
                {
                    ']' => Double(TokenType.Flatten),
                    '?' => Double(TokenType.Filter),
                    _ => Single(TokenType.LBracket),
                };
            case '&': return Peek(1) == '&' ? Double(TokenType.And) : Single(TokenType.Expref);
            case '|': return Peek(1) == '|' ? Double(TokenType.Or) : Single(TokenType.Pipe);
            case '<': return Peek(1) == '=' ? Double(TokenType.Lte) : Single(TokenType.Lt);
            case '>': return Peek(1) == '=' ? Double(TokenType.Gte) : Single(TokenType.Gt);
            case '!': return Peek(1) == '=' ? Double(TokenType.Ne) : Single(TokenType.Not);
            case '=':
                if (Peek(1) == '=')
                {
                    return Double(TokenType.Eq);
                }

                throw Error(_pos, 1, "Unknown token '=': did you mean '=='?");
            case '"': return ReadQuotedIdentifier();
            case '\'': return ReadRawString();
            case '`': return ReadLiteral();
        }

        if (c == '-' || IsDigit(c))
        {
            return ReadNumber();
        }

        if (IsIdentifierStart(c))
        {
            var start = _pos;
            while (_pos < _end && IsIdentifierPart(_text[_pos]))
            {
                _pos++;
            }

            return new Token(TokenType.UnquotedIdentifier, start, _pos) { Value = _text.Substring(start, _pos - start) };
        }

        throw Error(_pos, 1, $"Unknown character '{c}'");
    }

    private Token ReadNumber()
    {
        var start = _pos;
        if (_text[_pos] == '-')
        {
            _pos++;
            if (!IsDigit(Peek()))
            {
                throw Error(start, 1, "Unknown token '-': a negative number needs digits");
            }
        }

        while (_pos < _end && IsDigit(_text[_pos]))
        {
            _pos++;
        }

        var text = _text.Substring(start, _pos - start);
        if (!int.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var number))
        {
            throw Error(start, _pos - start, $"The number {text} is too large for an index");
        }

        return new Token(TokenType.Number, start, _pos) { Value = text, Number = number };
    }

    /// <summary>Reads up to the closing <paramref name="delimiter"/>, splitting out nested variables; returns the raw segments.</summary>
    private List<(string? Text, HoleNode? Hole, int Start)> ReadDelimited(char delimiter, string what)
    {
        var start = _pos;
        _pos++;
        var parts = new List<(string?, HoleNode?, int)>();
        var segment = new StringBuilder();
        var segmentStart = _pos;
        while (true)
        {
            if (_pos >= _end)
            {
                throw Error(start, _end - start, $"Unterminated {what}: add the closing {delimiter}");
            }

            var c = _text[_pos];
            if (c == delimiter)
            {
                _pos++;
                break;
            }

            if (c == '\\' && _pos + 1 < _end)
            {
                segment.Append(c).Append(_text[_pos + 1]);
                _pos += 2;
                continue;
            }

            if (_allowVariables && c == '{' && Peek(1) == '{')
            {
                parts.Add((segment.ToString(), null, segmentStart));
                segment.Clear();
                var hole = ReadVariable();
                parts.Add((null, hole, hole.Start));
                segmentStart = _pos;
                continue;
            }

            segment.Append(c);
            _pos++;
        }

        parts.Add((segment.ToString(), null, segmentStart));
        return parts;
    }

    private Token ReadRawString()
    {
        var start = _pos;
        var parts = ReadDelimited('\'', "raw string");
        var token = new Token(TokenType.RawString, start, _pos);
        if (parts.Count == 1)
        {
            token.Value = parts[0].Text!.Replace("\\'", "'");
            token.Node = new RawStringNode(token.Value, start, _pos - start);
            return token;
        }

        var nodes = new List<JmesNode>();
        foreach (var (text, hole, partStart) in parts)
        {
            if (hole is not null)
            {
                nodes.Add(hole);
            }
            else if (text!.Length > 0)
            {
                nodes.Add(new RawStringNode(text.Replace("\\'", "'"), partStart, text.Length));
            }
        }

        token.Node = new InterpolatedStringNode(nodes.ToEquatableArray(), start, _pos - start);
        return token;
    }

    private Token ReadQuotedIdentifier()
    {
        var start = _pos;
        var parts = ReadDelimited('"', "quoted identifier");
        var token = new Token(TokenType.QuotedIdentifier, start, _pos);
        if (parts.Count == 1)
        {
            var decoded = JsonLiteral.TryDecodeString("\"" + parts[0].Text + "\"")
                ?? throw Error(start, _pos - start, "Invalid quoted identifier: it must be a JSON string");
            token.Value = decoded;
            return token;
        }

        var nodes = new List<JmesNode>();
        foreach (var (text, hole, partStart) in parts)
        {
            if (hole is not null)
            {
                nodes.Add(hole);
            }
            else if (text!.Length > 0)
            {
                var decoded = JsonLiteral.TryDecodeString("\"" + text + "\"")
                    ?? throw Error(partStart, text.Length, "Invalid quoted identifier: it must be a JSON string");
                nodes.Add(new RawStringNode(decoded, partStart, text.Length));
            }
        }

        token.Node = new DynamicFieldNode(new InterpolatedStringNode(nodes.ToEquatableArray(), start, _pos - start), start, _pos - start);
        return token;
    }

    private Token ReadLiteral()
    {
        var start = _pos;
        var parts = ReadDelimited('`', "JSON literal");
        var token = new Token(TokenType.Literal, start, _pos);
        if (parts.Count == 1)
        {
            var body = parts[0].Text!.Replace("\\`", "`");
            var value = JsonLiteral.TryParse(body, out _)
                ?? JsonLiteral.TryParse("\"" + body.TrimStart() + "\"", out _)
                ?? throw Error(start, _pos - start, $"Invalid JSON literal `{body}`: write valid JSON between the backticks (strings in double quotes)");
            token.Node = new LiteralNode(value, start, _pos - start);
            return token;
        }

        // `{{ variable }}` alone stands for the variable's value (Kyverno substitutes its JSON text).
        var nonEmpty = parts.FindAll(p => p.Hole is not null || p.Text!.Trim().Length > 0);
        if (nonEmpty.Count == 1 && nonEmpty[0].Hole is not null)
        {
            token.Node = nonEmpty[0].Hole;
            return token;
        }

        var nodes = new List<JmesNode>();
        foreach (var (text, hole, partStart) in parts)
        {
            if (hole is not null)
            {
                nodes.Add(hole);
            }
            else if (text!.Length > 0)
            {
                nodes.Add(new RawStringNode(text.Replace("\\`", "`"), partStart, text.Length));
            }
        }

        token.Node = new JsonTemplateNode(nodes.ToEquatableArray(), start, _pos - start);
        return token;
    }

    /// <summary>Reads a nested <c>{{ … }}</c> starting at the current position and parses its inside.</summary>
    private HoleNode ReadVariable()
    {
        var start = _pos;
        var end = KyvernoTemplateParser.FindVariableEnd(_text, start, _end);
        if (end < 0)
        {
            throw Error(start, _end - start, "Unterminated variable: add the closing }}");
        }

        _pos = end;
        var inner = JmesParser.ParseRange(_text, start + 2, end - 2, allowVariables: true, what: "variable");
        return new HoleNode(inner, _text.Substring(start, end - start), start, end - start);
    }

    private static bool IsDigit(char c) => c >= '0' && c <= '9';

    private static bool IsIdentifierStart(char c) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';

    private static bool IsIdentifierPart(char c) => IsIdentifierStart(c) || IsDigit(c);

    private static JmesCompileException Error(int start, int length, string message) =>
        new(new JmesDiagnostic(JmesErrorKind.Syntax, message, start, System.Math.Max(length, 1)));
}
