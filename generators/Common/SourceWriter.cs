using System;
using System.Text;

namespace PolicyCompiler.Generators.Common;

/// <summary>Writes C# with tracked indentation and LF line endings, so generated files are identical on every machine.</summary>
internal sealed class SourceWriter
{
    private const string IndentUnit = "    ";
    private readonly StringBuilder _builder = new();
    private int _indent;
    private bool _atLineStart = true;

    public int Indentation
    {
        get => _indent;
        set => _indent = value < 0 ? throw new ArgumentOutOfRangeException(nameof(value)) : value;
    }

    public SourceWriter WriteLine(string line = "")
    {
        Append(line);
        _builder.Append('\n');
        _atLineStart = true;
        return this;
    }

    /// <summary>Writes <paramref name="text"/> without ending the line; the line is indented on its first write.</summary>
    public SourceWriter Append(string text)
    {
        if (text.Length == 0)
        {
            return this;
        }

        if (_atLineStart)
        {
            for (var i = 0; i < _indent; i++)
            {
                _builder.Append(IndentUnit);
            }

            _atLineStart = false;
        }

        _builder.Append(text);
        return this;
    }

    /// <summary>
    /// Copies text written by another emitter at this writer's indentation, keeping the house layout: one blank line
    /// between members, none at the start or the end.
    /// </summary>
    public SourceWriter WriteBlock(string text)
    {
        var previousBlank = true;
        var pendingBlank = false;
        foreach (var line in text.Split('\n'))
        {
            var content = line.TrimEnd('\r');
            if (content.Trim().Length == 0)
            {
                pendingBlank = !previousBlank;
                continue;
            }

            if (pendingBlank)
            {
                WriteLine();
                pendingBlank = false;
            }

            WriteLine(content);
            previousBlank = false;
        }

        return this;
    }

    public SourceWriter OpenBrace()
    {
        WriteLine("{");
        _indent++;
        return this;
    }

    public SourceWriter CloseBrace(string suffix = "")
    {
        _indent--;
        return WriteLine("}" + suffix);
    }

    public override string ToString() => _builder.ToString();
}

/// <summary>C# literal spelling of model values.</summary>
internal static class CSharp
{
    public static string Literal(string? value)
    {
        if (value is null)
        {
            return "null";
        }

        var builder = new StringBuilder(value.Length + 2);
        builder.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': builder.Append("\\\""); break;
                case '\\': builder.Append("\\\\"); break;
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                case '\0': builder.Append("\\0"); break;
                default:
                    if (char.IsControl(c) || c == '\u2028' || c == '\u2029')
                    {
                        builder.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        builder.Append(c);
                    }

                    break;
            }
        }

        builder.Append('"');
        return builder.ToString();
    }

    public static string Literal(bool value) => value ? "true" : "false";

    public static string Literal(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Text for a <c>//</c> or <c>///</c> comment: no character that C# reads as a line break may smuggle the rest
    /// into code. The emitter writes no block comments, so <c>*/</c> is left alone (image patterns contain it).
    /// </summary>
    public static string CommentSafe(string text) =>
        text.Replace("\r", " ").Replace("\n", " ").Replace("\u0085", " ").Replace("\u2028", " ").Replace("\u2029", " ");

    /// <summary>A PascalCase identifier from a Kubernetes name (<c>check-image</c> → <c>CheckImage</c>).</summary>
    public static string Identifier(string name)
    {
        var builder = new StringBuilder(name.Length);
        var upper = true;
        foreach (var c in name)
        {
            if (char.IsLetterOrDigit(c) && c < 128)
            {
                builder.Append(upper ? char.ToUpperInvariant(c) : c);
                upper = false;
            }
            else
            {
                upper = true;
            }
        }

        if (builder.Length == 0 || char.IsDigit(builder[0]))
        {
            builder.Insert(0, '_');
        }

        return builder.ToString();
    }
}
