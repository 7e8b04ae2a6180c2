using System.Collections.Generic;
using PolicyCompiler.Generators.Common;

namespace PolicyCompiler.Generators.Conditions;

/// <summary>The outcome of parsing and validating one expression: an AST, or the diagnostics that say why not.</summary>
internal sealed record JmesParseResult(JmesNode? Expression, EquatableArray<JmesDiagnostic> Diagnostics)
{
    public bool Success => Expression is not null && Diagnostics.IsEmpty;
}

/// <summary>
/// Entry point of the JMESPath compiler for a plain expression (an <c>imageExtractors[].jmesPath</c>, a foreach
/// <c>list</c>, a context <c>jmesPath</c>, or a test). For Kyverno values with <c>{{ … }}</c> use
/// <see cref="KyvernoTemplateParser"/> and <see cref="KyvernoEmitter"/>.
/// <code>
/// var parsed = JmesCompiler.Parse("spec.containers[?name == 'x'].image | [0]", JmesDialect.Kyverno);
/// if (!parsed.Success) { /* report parsed.Diagnostics: Kind, Message, Start/Length inside the text */ }
/// var code = JmesCompiler.EmitMethod(parsed.Expression!, JmesDialect.Kyverno, "ExtractImage", text);
/// // code declares: public static JmesValue ExtractImage(JmesValue input, JmesContext context)
/// // the file needs: using PolicyCompiler.Runtime.Conditions;
/// </code>
/// Parsing is pure and deterministic; results are values and can be cached in the incremental pipeline.
/// </summary>
internal static partial class JmesCompiler
{
    /// <summary>Parses and validates the whole of <paramref name="expression"/>.</summary>
    public static JmesParseResult Parse(string expression, JmesDialect dialect) =>
        ParseRange(expression, 0, expression.Length, dialect, allowVariables: false);

    /// <summary>Parses <c>text[start..end)</c>; with <paramref name="allowVariables"/>, nested <c>{{ }}</c> are Kyverno variables.</summary>
    public static JmesParseResult ParseRange(string text, int start, int end, JmesDialect dialect, bool allowVariables)
    {
        JmesNode node;
        try
        {
            node = JmesParser.ParseRange(text, start, end, allowVariables);
        }
        catch (JmesCompileException e)
        {
            return new JmesParseResult(null, new[] { e.Diagnostic }.ToEquatableArray());
        }

        var diagnostics = new List<JmesDiagnostic>();
        JmesValidator.Validate(node, dialect, diagnostics);
        return new JmesParseResult(diagnostics.Count == 0 ? node : null, diagnostics.ToEquatableArray());
    }
}
