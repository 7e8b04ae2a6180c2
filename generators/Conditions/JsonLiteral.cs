using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using PolicyCompiler.Generators.Common;

namespace PolicyCompiler.Generators.Conditions;

internal enum JsonLiteralKind
{
    Null,
    True,
    False,
    Number,
    String,
    Array,
    Object,
}

/// <summary>
/// A JSON value known at build time (a JMESPath literal <c>`…`</c>): parsed by the generator so a malformed literal is a
/// diagnostic and a literal argument of the wrong type is caught before the policy ships.
/// </summary>
internal sealed record JsonLiteral(
    JsonLiteralKind Kind,
    double Number,
    string? Text,
    EquatableArray<JsonLiteral> Items,
    EquatableArray<JsonMember> Members)
{
    public static readonly JsonLiteral Null = new(JsonLiteralKind.Null, 0, null, EquatableArray<JsonLiteral>.Empty, EquatableArray<JsonMember>.Empty);

    public static JsonLiteral String(string value) => new(JsonLiteralKind.String, 0, value, EquatableArray<JsonLiteral>.Empty, EquatableArray<JsonMember>.Empty);

    /// <summary>The JMESPath type name of the literal.</summary>
    public string TypeName => Kind switch
    {
        JsonLiteralKind.Null => "null",
        JsonLiteralKind.True or JsonLiteralKind.False => "boolean",
        JsonLiteralKind.Number => "number",
        JsonLiteralKind.String => "string",
        JsonLiteralKind.Array => "array",
        _ => "object",
    };

    /// <summary>Compact JSON text of the value.</summary>
    public string ToJson()
    {
        var sb = new StringBuilder();
        Write(sb);
        return sb.ToString();
    }

    private void Write(StringBuilder sb)
    {
        switch (Kind)
        {
            case JsonLiteralKind.Null:
                sb.Append("null");
                break;
            case JsonLiteralKind.True:
                sb.Append("true");
                break;
            case JsonLiteralKind.False:
                sb.Append("false");
                break;
            case JsonLiteralKind.Number:
                sb.Append(Number.ToString("R", CultureInfo.InvariantCulture));
                break;
            case JsonLiteralKind.String:
                WriteString(sb, Text!);
                break;
            case JsonLiteralKind.Array:
                sb.Append('[');
                for (var i = 0; i < Items.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(',');
                    }

                    Items[i].Write(sb);
                }

                sb.Append(']');
                break;
            default:
                sb.Append('{');
                for (var i = 0; i < Members.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(',');
                    }

                    WriteString(sb, Members[i].Name);
                    sb.Append(':');
                    Members[i].Value.Write(sb);
                }

                sb.Append('}');
                break;
        }
    }

    internal static void WriteString(StringBuilder sb, string value)
    {
        sb.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"':
                    sb.Append("\\\"");
                    break;
                case '\\':
                    sb.Append("\\\\");
                    break;
                case '\n':
                    sb.Append("\\n");
                    break;
                case '\r':
                    sb.Append("\\r");
                    break;
                case '\t':
                    sb.Append("\\t");
                    break;
                default:
                    if (c < 0x20)
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        sb.Append('"');
    }

    /// <summary>Parses a complete JSON text (surrounding whitespace allowed); returns null with an error offset on failure.</summary>
    public static JsonLiteral? TryParse(string text, out int errorOffset)
    {
        var reader = new Reader(text);
        try
        {
            reader.SkipWhitespace();
            var value = reader.ReadValue(0);
            reader.SkipWhitespace();
            if (reader.Position != text.Length)
            {
                throw new FormatException();
            }

            errorOffset = -1;
            return value;
        }
        catch (FormatException)
        {
            errorOffset = reader.Position;
            return null;
        }
    }

    /// <summary>Decodes the body of a JSON string (the text between the quotes), or returns null if it is not valid JSON.</summary>
    public static string? TryDecodeString(string quoted)
    {
        var parsed = TryParse(quoted, out _);
        return parsed is { Kind: JsonLiteralKind.String } ? parsed.Text : null;
    }

    private sealed class Reader(string text)
    {
        public int Position { get; private set; }

        public void SkipWhitespace()
        {
            while (Position < text.Length && text[Position] is ' ' or '\t' or '\n' or '\r')
            {
                Position++;
            }
        }

        public JsonLiteral ReadValue(int depth)
        {
            if (depth > 128 || Position >= text.Length)
            {
                throw new FormatException();
            }

            switch (text[Position])
            {
                case '{':
                    return ReadObject(depth);
                case '[':
                    return ReadArray(depth);
                case '"':
                    return String(ReadString());
                case 't':
                    Expect("true");
                    return new JsonLiteral(JsonLiteralKind.True, 0, null, EquatableArray<JsonLiteral>.Empty, EquatableArray<JsonMember>.Empty);
                case 'f':
                    Expect("false");
                    return new JsonLiteral(JsonLiteralKind.False, 0, null, EquatableArray<JsonLiteral>.Empty, EquatableArray<JsonMember>.Empty);
                case 'n':
                    Expect("null");
                    return Null;
                default:
                    return ReadNumber();
            }
        }

        private void Expect(string word)
        {
            if (string.CompareOrdinal(text, Position, word, 0, word.Length) != 0)
            {
                throw new FormatException();
            }

            Position += word.Length;
        }

        private JsonLiteral ReadObject(int depth)
        {
            Position++;
            var members = new List<JsonMember>();
            SkipWhitespace();
            if (Peek() == '}')
            {
                Position++;
                return Object(members);
            }

            while (true)
            {
                SkipWhitespace();
                if (Peek() != '"')
                {
                    throw new FormatException();
                }

                var name = ReadString();
                SkipWhitespace();
                if (Peek() != ':')
                {
                    throw new FormatException();
                }

                Position++;
                SkipWhitespace();
                var value = ReadValue(depth + 1);
                var existing = members.FindIndex(m => m.Name == name);
                if (existing >= 0)
                {
                    members[existing] = new JsonMember(name, value);
                }
                else
                {
                    members.Add(new JsonMember(name, value));
                }

                SkipWhitespace();
                var c = Peek();
                Position++;
                if (c == '}')
                {
                    return Object(members);
                }

                if (c != ',')
                {
                    Position--;
                    throw new FormatException();
                }
            }
        }

        private static JsonLiteral Object(List<JsonMember> members) =>
            new(JsonLiteralKind.Object, 0, null, EquatableArray<JsonLiteral>.Empty, members.ToEquatableArray());

        private JsonLiteral ReadArray(int depth)
        {
            Position++;
            var items = new List<JsonLiteral>();
            SkipWhitespace();
            if (Peek() == ']')
            {
                Position++;
                return Array(items);
            }

            while (true)
            {
                SkipWhitespace();
                items.Add(ReadValue(depth + 1));
                SkipWhitespace();
                var c = Peek();
                Position++;
                if (c == ']')
                {
                    return Array(items);
                }

                if (c != ',')
                {
                    Position--;
                    throw new FormatException();
                }
            }
        }

        private static JsonLiteral Array(List<JsonLiteral> items) =>
            new(JsonLiteralKind.Array, 0, null, items.ToEquatableArray(), EquatableArray<JsonMember>.Empty);

        private char Peek() => Position < text.Length ? text[Position] : '\0';

        private string ReadString()
        {
            Position++;
            var sb = new StringBuilder();
            while (true)
            {
                if (Position >= text.Length)
                {
                    throw new FormatException();
                }

                var c = text[Position++];
                if (c == '"')
                {
                    return sb.ToString();
                }

                if (c < 0x20)
                {
                    Position--;
                    throw new FormatException();
                }

                if (c != '\\')
                {
                    sb.Append(c);
                    continue;
                }

                if (Position >= text.Length)
                {
                    throw new FormatException();
                }

                var e = text[Position++];
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        if (Position + 4 > text.Length
                            || !int.TryParse(text.Substring(Position, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
                        {
                            throw new FormatException();
                        }

                        Position += 4;
                        sb.Append((char)code);
                        break;
                    default:
                        Position--;
                        throw new FormatException();
                }
            }
        }

        private JsonLiteral ReadNumber()
        {
            var start = Position;
            if (Peek() == '-')
            {
                Position++;
            }

            if (!IsDigit(Peek()))
            {
                throw new FormatException();
            }

            if (Peek() == '0')
            {
                Position++;
            }
            else
            {
                while (IsDigit(Peek()))
                {
                    Position++;
                }
            }

            if (Peek() == '.')
            {
                Position++;
                if (!IsDigit(Peek()))
                {
                    throw new FormatException();
                }

                while (IsDigit(Peek()))
                {
                    Position++;
                }
            }

            if (Peek() is 'e' or 'E')
            {
                Position++;
                if (Peek() is '+' or '-')
                {
                    Position++;
                }

                if (!IsDigit(Peek()))
                {
                    throw new FormatException();
                }

                while (IsDigit(Peek()))
                {
                    Position++;
                }
            }

            var number = double.Parse(text.Substring(start, Position - start), NumberStyles.Float, CultureInfo.InvariantCulture);
            return new JsonLiteral(JsonLiteralKind.Number, number, null, EquatableArray<JsonLiteral>.Empty, EquatableArray<JsonMember>.Empty);
        }

        private static bool IsDigit(char c) => c >= '0' && c <= '9';
    }
}

internal sealed record JsonMember(string Name, JsonLiteral Value);
