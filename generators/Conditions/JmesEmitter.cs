using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using PolicyCompiler.Generators.Common;

namespace PolicyCompiler.Generators.Conditions;

/// <summary>How a nested Kyverno variable that cannot be resolved is treated (see <see cref="KyvernoVariableMode"/>).</summary>
internal enum HoleMode
{
    Strict,
    EmptyString,
}

/// <summary>
/// Turns a validated AST into C#: one expression over <c>JmesValue</c> made of field accesses, calls into
/// <c>Jmes</c>/<c>JmesFunctions</c>/<c>KyvernoFunctions</c>, pattern-variable bindings (<c>x is var t &amp;&amp; …</c>)
/// for sub-expressions, and static lambdas for projection right-hand sides and <c>&amp;expr</c>. Array and object
/// literals become static readonly fields parsed once. The emitter never reports errors: the validator has run.
/// The generated code needs <c>using PolicyCompiler.Runtime.Conditions;</c>.
/// </summary>
internal sealed class JmesEmitter
{
    private readonly string _memberPrefix;
    private readonly HoleMode _holeMode;
    private readonly List<string> _fields = [];
    private readonly List<string> _statements = [];
    private readonly Dictionary<string, string> _literalFields = new(StringComparer.Ordinal);
    private bool _lambdasCapture;
    private int _counter;

    /// <param name="memberPrefix">Prefix of the static fields this emitter declares (unique per method in a class).</param>
    /// <param name="holeMode">What an unresolvable nested variable becomes.</param>
    public JmesEmitter(string memberPrefix, HoleMode holeMode = HoleMode.Strict)
    {
        _memberPrefix = memberPrefix;
        _holeMode = holeMode;
    }

    /// <summary>Static field declarations the emitted code needs (literal arrays and objects).</summary>
    public IReadOnlyList<string> Fields => _fields;

    /// <summary>Statements that must run before the emitted expression (evaluation of nested variables).</summary>
    public IReadOnlyList<string> Statements => _statements;

    /// <summary>
    /// The C# expression evaluating <paramref name="node"/> with <paramref name="current"/> (an identifier of type
    /// <c>JmesValue</c>) as the current node, <paramref name="root"/> as the data nested variables see, and
    /// <paramref name="context"/> (a <c>JmesContext</c>).
    /// </summary>
    public string EmitExpression(JmesNode node, string current, string root, string context)
    {
        _root = root;
        _rootContext = context;
        if (ContainsHole(node))
        {
            _lambdasCapture = true;
        }

        return Emit(node, current, context);
    }

    /// <summary>
    /// A complete method <c>static JmesValue Name(JmesValue input, JmesContext context)</c> evaluating
    /// <paramref name="node"/> against <c>input</c>, preceded by the fields it needs.
    /// </summary>
    public static string EmitMethod(JmesNode node, JmesDialect dialect, string methodName, string expressionText, string accessibility = "public", HoleMode holeMode = HoleMode.Strict)
    {
        var emitter = new JmesEmitter("__" + methodName + "_", holeMode).WithDialect(dialect);
        var expression = emitter.EmitExpression(node, "input", "input", "context");
        return emitter.WriteMethod(
            expression,
            $"/// <summary>JMESPath <c>{XmlEscape(CSharp.CommentSafe(expressionText))}</c>.</summary>",
            $"{accessibility} static JmesValue {methodName}(JmesValue input, JmesContext context)");
    }

    /// <summary>
    /// A method <c>static JmesValue Name(JmesValue input, JmesValue root, JmesContext context)</c> for a context entry's
    /// <c>jmesPath</c> with nested variables: the expression runs over <c>input</c>, its variables over <c>root</c>
    /// (strictly: one that does not resolve throws, as Kyverno's substitution fails).
    /// </summary>
    public static string EmitContextMethod(JmesNode node, JmesDialect dialect, string methodName, string expressionText, string accessibility = "public")
    {
        var emitter = new JmesEmitter("__" + methodName + "_", HoleMode.Strict).WithDialect(dialect);
        var expression = emitter.EmitExpression(node, "input", "root", "context");
        return emitter.WriteMethod(
            expression,
            $"/// <summary>JMESPath <c>{XmlEscape(CSharp.CommentSafe(expressionText))}</c>, its variables read from the rule's context.</summary>",
            $"{accessibility} static JmesValue {methodName}(JmesValue input, JmesValue root, JmesContext context)");
    }

    /// <summary>The fields the expression needs, then the method with its statements and <c>return</c>.</summary>
    private string WriteMethod(string expression, string summary, string signature)
    {
        var writer = new SourceWriter();
        foreach (var field in Fields)
        {
            writer.WriteLine(field);
        }

        if (Fields.Count > 0)
        {
            writer.WriteLine();
        }

        writer.WriteLine(summary);
        writer.WriteLine(signature);
        writer.OpenBrace();
        foreach (var statement in Statements)
        {
            writer.WriteLine(statement);
        }

        writer.WriteLine($"return {expression};");
        writer.CloseBrace();
        return writer.ToString();
    }

    private string _root = "input";
    private string _rootContext = "context";

    private string Next(string prefix) => prefix + (++_counter).ToString(CultureInfo.InvariantCulture);

    private string Lambda(JmesNode body)
    {
        var v = Next("v");
        var c = Next("c");
        var code = Emit(body, v, c);
        return $"{(_lambdasCapture ? string.Empty : "static ")}(JmesValue {v}, JmesContext {c}) => {code}";
    }

    private string Emit(JmesNode node, string current, string context)
    {
        switch (node)
        {
            case IdentityNode:
            case CurrentNode:
                return current;
            case FieldNode field:
                return current + FieldAccess(field.Name);
            case DynamicFieldNode dynamic:
                return $"{current}.Field({EmitText(dynamic.Name, current, context)})";
            case SubexpressionNode sub:
                {
                    var left = Emit(sub.Left, current, context);
                    switch (sub.Right)
                    {
                        case FieldNode f:
                            return left + FieldAccess(f.Name);
                        case DynamicFieldNode d:
                            return $"{left}.Field({EmitText(d.Name, current, context)})";
                        default:
                            var t = Next("t");
                            return $"({left} is var {t} && !{t}.IsNull ? {Emit(sub.Right, t, context)} : {t})";
                    }
                }

            case IndexNode index:
                return $"Jmes.Index({Emit(index.Left, current, context)}, {index.Index.ToString(CultureInfo.InvariantCulture)})";
            case SliceNode slice:
                return $"Jmes.Slice({Emit(slice.Left, current, context)}, {Nullable(slice.From)}, {Nullable(slice.To)}, {slice.Step.ToString(CultureInfo.InvariantCulture)})";
            case FlattenNode flatten:
                return $"Jmes.Flatten({Emit(flatten.Inner, current, context)})";
            case ProjectionNode projection:
                return $"Jmes.Project({Emit(projection.Left, current, context)}, {Rhs(projection.Right)}, {context})";
            case ValueProjectionNode projection:
                return $"Jmes.ProjectValues({Emit(projection.Left, current, context)}, {Rhs(projection.Right)}, {context})";
            case FilterProjectionNode filter:
                return $"Jmes.Filter({Emit(filter.Left, current, context)}, {Lambda(filter.Condition)}, {Rhs(filter.Right)}, {context})";
            case ComparatorNode comparator:
                return EmitComparator(comparator, current, context);
            case OrNode or:
                {
                    var t = Next("t");
                    return $"({Emit(or.Left, current, context)} is var {t} && {t}.IsTruthy ? {t} : {Emit(or.Right, current, context)})";
                }

            case AndNode and:
                {
                    var t = Next("t");
                    return $"({Emit(and.Left, current, context)} is var {t} && !{t}.IsTruthy ? {t} : {Emit(and.Right, current, context)})";
                }

            case NotNode not:
                return $"Jmes.Not({Emit(not.Expression, current, context)})";
            case PipeNode pipe:
                {
                    var left = Emit(pipe.Left, current, context);
                    if (pipe.Right is FieldNode f)
                    {
                        return left + FieldAccess(f.Name);
                    }

                    var t = Next("t");
                    return $"({left} is var {t} ? {Emit(pipe.Right, t, context)} : default)";
                }

            case MultiSelectListNode list:
                {
                    var items = string.Join(", ", list.Items.Select(i => Emit(i, current, context)));
                    return $"({current}.IsNull ? {current} : Jmes.List({items}))";
                }

            case MultiSelectHashNode hash:
                {
                    var sb = new StringBuilder();
                    sb.Append('(').Append(current).Append(".IsNull ? ").Append(current).Append(" : JmesValue.FromObject(new JmesObject(")
                      .Append(hash.Pairs.Count.ToString(CultureInfo.InvariantCulture)).Append(')');
                    foreach (var pair in hash.Pairs)
                    {
                        sb.Append(".Set(").Append(StringLiteral(pair.Key)).Append(", ").Append(Emit(pair.Value, current, context)).Append(')');
                    }

                    return sb.Append("))").ToString();
                }

            case LiteralNode literal:
                return EmitLiteral(literal.Value);
            case RawStringNode raw:
                return $"JmesValue.From({StringLiteral(raw.Value)})";
            case InterpolatedStringNode interpolated:
                return $"JmesValue.From({EmitText(interpolated, current, context)})";
            case JsonTemplateNode template:
                return $"KyvernoVariables.ParseJsonTemplate({EmitText(template, current, context)})";
            case HoleNode hole:
                return Hoist(hole);
            case FunctionCallNode call:
                return EmitCall(call, current, context);
            case ExpressionReferenceNode reference:
                return Lambda(reference.Expression);
            default:
                throw new InvalidOperationException($"Unexpected node {node.GetType().Name}");
        }
    }

    private string Rhs(JmesNode right) => right is IdentityNode ? "null" : Lambda(right);

    private static string Nullable(int? value) => value is { } v ? v.ToString(CultureInfo.InvariantCulture) : "null";

    private string EmitComparator(ComparatorNode comparator, string current, string context)
    {
        if (comparator.Kind is ComparatorKind.Equal or ComparatorKind.NotEqual)
        {
            // The common filter shape `name == 'text'` compares without materialising the string.
            var (other, text) = comparator.Right is RawStringNode r ? (comparator.Left, r.Value)
                : comparator.Left is RawStringNode l ? (comparator.Right, l.Value)
                : comparator.Right is LiteralNode { Value.Kind: JsonLiteralKind.String } lr ? (comparator.Left, lr.Value.Text)
                : (null, null);
            if (other is not null)
            {
                var literal = StringLiteral(text!);
                var arguments = text!.Any(char.IsSurrogate) ? literal : $"{literal}u8, {literal}";
                var test = $"{Emit(other, current, context)}.StringEquals({arguments})";
                return comparator.Kind == ComparatorKind.Equal ? $"JmesValue.From({test})" : $"JmesValue.From(!{test})";
            }
        }

        var method = comparator.Kind switch
        {
            ComparatorKind.Equal => "Equal",
            ComparatorKind.NotEqual => "NotEqual",
            ComparatorKind.LessThan => "LessThan",
            ComparatorKind.LessThanOrEqual => "LessThanOrEqual",
            ComparatorKind.GreaterThan => "GreaterThan",
            _ => "GreaterThanOrEqual",
        };
        return $"Jmes.{method}({Emit(comparator.Left, current, context)}, {Emit(comparator.Right, current, context)})";
    }

    private string EmitCall(FunctionCallNode call, string current, string context)
    {
        if (!FunctionCatalog.TryGet(JmesDialect.Kyverno, call.Name, out var function))
        {
            throw new InvalidOperationException($"Unknown function {call.Name} reached the emitter");
        }

        // The standard dialect's sum is the built-in one; the Kyverno table replaces it.
        if (_standardSum && call.Name == "sum")
        {
            FunctionCatalog.TryGet(JmesDialect.Standard, "sum", out function);
        }

        var arguments = call.Arguments.Select(a => Emit(a, current, context)).ToList();
        if (function.NeedsContext)
        {
            arguments.Add(context);
        }

        return $"{function.Method}({string.Join(", ", arguments)})";
    }

    private bool _standardSum;

    /// <summary>Compile calls against the standard dialect (the built-in <c>sum</c>).</summary>
    public JmesEmitter WithDialect(JmesDialect dialect)
    {
        _standardSum = dialect == JmesDialect.Standard;
        return this;
    }

    private string EmitLiteral(JsonLiteral value)
    {
        switch (value.Kind)
        {
            case JsonLiteralKind.Null:
                return "JmesValue.Null";
            case JsonLiteralKind.True:
                return "JmesValue.True";
            case JsonLiteralKind.False:
                return "JmesValue.False";
            case JsonLiteralKind.Number:
                return $"JmesValue.From({DoubleLiteral(value.Number)})";
            case JsonLiteralKind.String:
                return $"JmesValue.From({StringLiteral(value.Text!)})";
            default:
                var json = value.ToJson();
                if (!_literalFields.TryGetValue(json, out var name))
                {
                    name = _memberPrefix + "Literal" + _literalFields.Count.ToString(CultureInfo.InvariantCulture);
                    _literalFields[json] = name;
                    _fields.Add($"private static readonly JmesValue {name} = JmesValue.ParseJson({StringLiteral(json)});");
                }

                return name;
        }
    }

    /// <summary>A C# <c>string</c> expression for a name or text part: literal parts and nested variables as text.</summary>
    private string EmitText(JmesNode node, string current, string context)
    {
        switch (node)
        {
            case RawStringNode raw:
                return StringLiteral(raw.Value);
            case HoleNode hole:
                return $"KyvernoVariables.ToText({Hoist(hole)})";
            case InterpolatedStringNode interpolated:
                return interpolated.Parts.Count == 1
                    ? EmitText(interpolated.Parts[0], current, context)
                    : $"string.Concat({string.Join(", ", interpolated.Parts.Select(p => EmitText(p, current, context)))})";
            case JsonTemplateNode template:
                return $"string.Concat({string.Join(", ", template.Parts.Select(p => EmitText(p, current, context)))})";
            default:
                return $"KyvernoVariables.ToText({Emit(node, current, context)})";
        }
    }

    /// <summary>Evaluates a nested variable once, before the expression, against the root of the data.</summary>
    private string Hoist(HoleNode hole)
    {
        var inner = Emit(hole.Expression, _root, _rootContext);
        var name = Next("h");
        var variable = StringLiteral(hole.Text);
        if (_holeMode == HoleMode.Strict)
        {
            _statements.Add($"var {name} = KyvernoVariables.Require({inner}, {variable});");
        }
        else
        {
            _statements.Add($"JmesValue {name};");
            _statements.Add($"try {{ {name} = KyvernoVariables.Require({inner}, {variable}); }} catch (JmesPathException) {{ {name} = JmesValue.EmptyString; }}");
        }

        return name;
    }

    private static bool ContainsHole(JmesNode node) =>
        node is HoleNode || JmesValidator.Children(node).Any(ContainsHole);

    private static string FieldAccess(string name)
    {
        var literal = StringLiteral(name);
        return IsAsciiPrintable(name) ? $".Field({literal}u8, {literal})" : $".Field({literal})";
    }

    private static bool IsAsciiPrintable(string text) => text.All(c => c >= 0x20 && c < 0x7F);

    /// <summary>A C# string literal that survives any text: controls, surrogates and line separators escaped.</summary>
    internal static string StringLiteral(string value)
    {
        var sb = new StringBuilder(value.Length + 2);
        sb.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20 || c == 0x7F || char.IsSurrogate(c) || c == '\u0085' || c == '\u2028' || c == '\u2029')
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

        return sb.Append('"').ToString();
    }

    internal static string DoubleLiteral(double value)
    {
        if (double.IsPositiveInfinity(value))
        {
            return "double.PositiveInfinity";
        }

        if (double.IsNegativeInfinity(value))
        {
            return "double.NegativeInfinity";
        }

        var text = value.ToString("R", CultureInfo.InvariantCulture);
        return text == "-0" ? "-0d" : text + "d";
    }

    internal static string XmlEscape(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
