using System.Collections.Generic;
using System.Linq;

namespace PolicyCompiler.Generators.Conditions;

/// <summary>
/// The checks that need no data: every function exists in the dialect, is called with a number of arguments it
/// accepts, receives expression references exactly where it takes them, and receives literal arguments of a type it
/// accepts. Also validates literal regular expressions of Kyverno's regex functions. Reports the first error of each
/// call, innermost first, so a message always points at the exact argument.
/// </summary>
internal static class JmesValidator
{
    public static void Validate(JmesNode node, JmesDialect dialect, List<JmesDiagnostic> diagnostics) =>
        Visit(node, dialect, diagnostics, argumentOfExpref: false);

    private static void Visit(JmesNode node, JmesDialect dialect, List<JmesDiagnostic> diagnostics, bool argumentOfExpref)
    {
        switch (node)
        {
            case FunctionCallNode call:
                foreach (var argument in call.Arguments)
                {
                    Visit(argument, dialect, diagnostics, argumentOfExpref: argument is ExpressionReferenceNode);
                }

                CheckCall(call, dialect, diagnostics);
                return;
            case ExpressionReferenceNode reference:
                if (!argumentOfExpref)
                {
                    diagnostics.Add(new JmesDiagnostic(
                        JmesErrorKind.InvalidType,
                        "An expression reference (&expression) can only be an argument of a function that takes one (sort_by, max_by, min_by, map)",
                        reference.Start,
                        reference.Length));
                }

                Visit(reference.Expression, dialect, diagnostics, false);
                return;
        }

        foreach (var child in Children(node))
        {
            Visit(child, dialect, diagnostics, false);
        }
    }

    private static void CheckCall(FunctionCallNode call, JmesDialect dialect, List<JmesDiagnostic> diagnostics)
    {
        if (!FunctionCatalog.TryGet(dialect, call.Name, out var function))
        {
            var hint = dialect == JmesDialect.Standard && FunctionCatalog.TryGet(JmesDialect.Kyverno, call.Name, out _)
                ? " (it is a Kyverno function, not available here)"
                : string.Empty;
            diagnostics.Add(new JmesDiagnostic(
                JmesErrorKind.UnknownFunction,
                $"Unknown function '{call.Name}'{hint}: use a JMESPath{(dialect == JmesDialect.Kyverno ? " or Kyverno" : string.Empty)} function",
                call.Start,
                call.Name.Length));
            return;
        }

        var count = call.Arguments.Count;
        if (count < function.MinArity || (function.MaxArity is { } max && count > max))
        {
            var expected = function.MaxArity is null
                ? $"at least {function.MinArity}"
                : function.MinArity.ToString(System.Globalization.CultureInfo.InvariantCulture);
            diagnostics.Add(new JmesDiagnostic(
                JmesErrorKind.InvalidArity,
                $"{call.Name}() takes {expected} argument{(function.MinArity == 1 && function.MaxArity == 1 ? string.Empty : "s")}, not {count}: {function.Signature}",
                call.Start,
                call.Length));
            return;
        }

        for (var i = 0; i < count; i++)
        {
            var argument = call.Arguments[i];
            var expected = function.ParameterAt(i);
            var actual = StaticType(argument, out var literal);
            var ok = actual switch
            {
                ArgType.Expref => (expected & ArgType.Expref) != 0,
                ArgType.None => (expected & ArgType.Expref) == 0 || expected == ArgType.Expref && argument is ExpressionReferenceNode,
                _ => Accepts(expected, actual, literal),
            };

            if (!ok || (expected == ArgType.Expref && argument is not ExpressionReferenceNode))
            {
                var got = actual == ArgType.Expref ? "an expression reference"
                    : literal is not null ? $"the {literal.TypeName} literal {Abbreviate(literal.ToJson())}"
                    : "an expression";
                diagnostics.Add(new JmesDiagnostic(
                    JmesErrorKind.InvalidType,
                    $"Argument {i + 1} of {call.Name}() must be {FunctionDefinition.Describe(expected)}, not {got}: {function.Signature}",
                    argument.Start,
                    argument.Length));
                return;
            }
        }

        if (dialect == JmesDialect.Kyverno && call.Name is "regex_match" or "regex_replace_all" or "regex_replace_all_literal"
            && call.Arguments[0] is RawStringNode pattern && RegexCheck.Validate(pattern.Value) is { } regexError)
        {
            diagnostics.Add(new JmesDiagnostic(
                JmesErrorKind.InvalidValue,
                $"Invalid regular expression '{pattern.Value}' in {call.Name}(): {regexError}",
                pattern.Start,
                pattern.Length));
        }
    }

    private static string Abbreviate(string text) => text.Length > 40 ? text.Substring(0, 37) + "..." : text;

    /// <summary>The type of an argument known at build time, <see cref="ArgType.None"/> when only the data decides it.</summary>
    private static ArgType StaticType(JmesNode node, out JsonLiteral? literal)
    {
        literal = null;
        switch (node)
        {
            case ExpressionReferenceNode:
                return ArgType.Expref;
            case RawStringNode raw:
                literal = JsonLiteral.String(raw.Value);
                return ArgType.String;
            case InterpolatedStringNode:
                return ArgType.String;
            case LiteralNode lit:
                literal = lit.Value;
                return lit.Value.Kind switch
                {
                    JsonLiteralKind.Null => ArgType.Null,
                    JsonLiteralKind.True or JsonLiteralKind.False => ArgType.Boolean,
                    JsonLiteralKind.Number => ArgType.Number,
                    JsonLiteralKind.String => ArgType.String,
                    JsonLiteralKind.Array => ArgType.Array,
                    _ => ArgType.Object,
                };
            default:
                return ArgType.None;
        }
    }

    private static bool Accepts(ArgType expected, ArgType actual, JsonLiteral? literal)
    {
        if ((expected & actual) != 0)
        {
            return true;
        }

        if (actual == ArgType.Array && literal is not null)
        {
            if ((expected & ArgType.ArrayNumber) != 0 && literal.Items.All(i => i.Kind == JsonLiteralKind.Number))
            {
                return true;
            }

            if ((expected & ArgType.ArrayString) != 0 && literal.Items.All(i => i.Kind == JsonLiteralKind.String))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The direct sub-expressions of a node.</summary>
    public static IEnumerable<JmesNode> Children(JmesNode node) => node switch
    {
        SubexpressionNode n => [n.Left, n.Right],
        IndexNode n => [n.Left],
        SliceNode n => [n.Left],
        ProjectionNode n => [n.Left, n.Right],
        ValueProjectionNode n => [n.Left, n.Right],
        FilterProjectionNode n => [n.Left, n.Condition, n.Right],
        FlattenNode n => [n.Inner],
        ComparatorNode n => [n.Left, n.Right],
        OrNode n => [n.Left, n.Right],
        AndNode n => [n.Left, n.Right],
        NotNode n => [n.Expression],
        PipeNode n => [n.Left, n.Right],
        MultiSelectListNode n => n.Items,
        MultiSelectHashNode n => n.Pairs.Select(p => p.Value),
        FunctionCallNode n => n.Arguments,
        ExpressionReferenceNode n => [n.Expression],
        HoleNode n => [n.Expression],
        InterpolatedStringNode n => n.Parts,
        DynamicFieldNode n => [n.Name],
        JsonTemplateNode n => n.Parts,
        _ => [],
    };
}
