using System.Collections.Generic;
using System.Text;
using PolicyCompiler.Generators.Common;

namespace PolicyCompiler.Generators.Conditions;

/// <summary>A piece of a Kyverno string value: literal text, or a <c>{{ expression }}</c> variable.</summary>
internal sealed record TemplatePart(string? Literal, JmesNode? Expression, string? VariableText, int Start, int Length)
{
    public bool IsVariable => Expression is not null;
}

/// <summary>
/// A Kyverno string value with its variables parsed. Kyverno's rules, which the emitter reproduces:
/// a value that is exactly one <c>{{ }}</c> keeps the variable's JSON type; otherwise every variable becomes text
/// (a string as it is, anything else as its JSON) inside the string; <c>\{{ … }}</c> is the literal text
/// <c>{{ … }}</c>; variables nested in a variable's expression are substituted first.
/// </summary>
internal sealed record KyvernoTemplate(string Text, EquatableArray<TemplatePart> Parts)
{
    /// <summary>The whole value is one variable: its result keeps its type.</summary>
    public bool IsSingleVariable => Parts.Count == 1 && Parts[0].IsVariable;

    public bool HasVariables
    {
        get
        {
            foreach (var part in Parts)
            {
                if (part.IsVariable)
                {
                    return true;
                }
            }

            return false;
        }
    }
}

internal sealed record KyvernoTemplateResult(KyvernoTemplate? Template, EquatableArray<JmesDiagnostic> Diagnostics)
{
    public bool Success => Template is not null && Diagnostics.IsEmpty;
}

/// <summary>
/// Finds and parses the <c>{{ … }}</c> variables of a Kyverno string value. Entry point for every Kyverno value that
/// may hold variables (condition keys and values, messages, attestation conditions, preconditions):
/// <code>
/// var result = KyvernoTemplateParser.Parse(yamlString);          // offsets in diagnostics are inside yamlString
/// if (!result.Success) { /* report result.Diagnostics */ }
/// </code>
/// </summary>
internal static class KyvernoTemplateParser
{
    public static KyvernoTemplateResult Parse(string text, JmesDialect dialect = JmesDialect.Kyverno)
    {
        var parts = new List<TemplatePart>();
        var diagnostics = new List<JmesDiagnostic>();
        var literal = new StringBuilder();
        var literalStart = 0;
        var i = 0;

        void Flush(int at)
        {
            if (literal.Length > 0)
            {
                parts.Add(new TemplatePart(literal.ToString(), null, null, literalStart, at - literalStart));
                literal.Clear();
            }

            literalStart = at;
        }

        while (i < text.Length)
        {
            if (text[i] == '\\' && i + 2 < text.Length && text[i + 1] == '{' && text[i + 2] == '{')
            {
                // An escaped variable is text without its backslash, never evaluated.
                var escapedEnd = FindVariableEnd(text, i + 1, text.Length);
                var end = escapedEnd < 0 ? i + 3 : escapedEnd;
                literal.Append(text, i + 1, end - i - 1);
                i = end;
                continue;
            }

            if (text[i] == '{' && i + 1 < text.Length && text[i + 1] == '{')
            {
                var end = FindVariableEnd(text, i, text.Length);
                if (end < 0)
                {
                    diagnostics.Add(new JmesDiagnostic(JmesErrorKind.Syntax, "Unterminated variable: add the closing }} (or write \\{{ for literal braces)", i, text.Length - i));
                    break;
                }

                Flush(i);
                var parsed = JmesCompiler.ParseRange(text, i + 2, end - 2, dialect, allowVariables: true);
                if (parsed.Success)
                {
                    parts.Add(new TemplatePart(null, parsed.Expression, text.Substring(i, end - i), i, end - i));
                }
                else
                {
                    foreach (var d in parsed.Diagnostics)
                    {
                        diagnostics.Add(d.Message.StartsWith("Empty ", System.StringComparison.Ordinal)
                            ? d with { Message = "Empty variable {{ }}: write a JMESPath expression inside the braces", Start = i, Length = end - i }
                            : d);
                    }
                }

                i = end;
                literalStart = i;
                continue;
            }

            if (literal.Length == 0)
            {
                literalStart = i;
            }

            literal.Append(text[i]);
            i++;
        }

        Flush(text.Length);
        return diagnostics.Count > 0
            ? new KyvernoTemplateResult(null, diagnostics.ToEquatableArray())
            : new KyvernoTemplateResult(new KyvernoTemplate(text, parts.ToEquatableArray()), EquatableArray<JmesDiagnostic>.Empty);
    }

    /// <summary>
    /// The offset just past the <c>}}</c> closing the variable that opens at <paramref name="start"/>, or -1. Nested
    /// variables and single braces (multi-select hashes, JSON objects) are balanced on the way.
    /// </summary>
    public static int FindVariableEnd(string text, int start, int limit)
    {
        var i = start + 2;
        var braces = 0;
        var quote = '\0';
        while (i < limit)
        {
            var c = text[i];
            if (c == '{' && i + 1 < limit && text[i + 1] == '{' && braces == 0)
            {
                var nested = FindVariableEnd(text, i, limit);
                if (nested < 0)
                {
                    return -1;
                }

                i = nested;
                continue;
            }

            if (quote != '\0')
            {
                // Inside a raw string, quoted identifier or JSON literal only nested variables count.
                if (c == '\\')
                {
                    i += 2;
                    continue;
                }

                if (c == quote)
                {
                    quote = '\0';
                }
            }
            else if (c is '\'' or '"' or '`')
            {
                quote = c;
            }
            else if (c == '{')
            {
                braces++;
            }
            else if (c == '}')
            {
                if (braces > 0)
                {
                    braces--;
                }
                else if (i + 1 < limit && text[i + 1] == '}')
                {
                    return i + 2;
                }
            }

            i++;
        }

        return -1;
    }
}
