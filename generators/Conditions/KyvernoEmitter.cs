using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using PolicyCompiler.Generators.Common;

namespace PolicyCompiler.Generators.Conditions;

/// <summary>
/// What an unresolvable variable means where a value is evaluated, as in Kyverno:
/// <see cref="Strict"/> for attestation conditions, <c>validate.deny</c> conditions and messages (the evaluation fails:
/// Kyverno's "failed to substitute variables"); <see cref="Precondition"/> for preconditions (the variable becomes the
/// empty string, Kyverno's <c>PreconditionsVariableResolver</c>).
/// </summary>
internal enum KyvernoVariableMode
{
    Strict,
    Precondition,
}

/// <summary>A condition value as written in YAML: a string (possibly with variables), number, boolean, null, list or map.</summary>
internal abstract record KyvernoValue;

internal sealed record KyvernoStringValue(KyvernoTemplate Template) : KyvernoValue;

internal sealed record KyvernoNumberValue(double Value) : KyvernoValue;

internal sealed record KyvernoBooleanValue(bool Value) : KyvernoValue;

internal sealed record KyvernoNullValue : KyvernoValue;

internal sealed record KyvernoListValue(EquatableArray<KyvernoValue> Items) : KyvernoValue;

internal sealed record KyvernoMapValue(EquatableArray<KyvernoMapEntry> Entries) : KyvernoValue;

/// <summary>
/// One member of a map value. Kyverno substitutes variables in map keys as in strings (its JSON traversal visits keys
/// too), so the key is a template: a key that is exactly one variable takes the variable's string value.
/// </summary>
internal sealed record KyvernoMapEntry(KyvernoTemplate Key, KyvernoValue Value);

/// <summary>One Kyverno condition: <c>key</c>, <c>operator</c> (canonical name, see <see cref="KyvernoOperators"/>), <c>value</c>.</summary>
internal sealed record KyvernoCondition(KyvernoValue Key, string Operator, KyvernoValue Value);

/// <summary>Kyverno's condition operators, by the names a policy writes.</summary>
internal static class KyvernoOperators
{
    /// <summary>Every operator Kyverno accepts; <c>Equal</c>/<c>NotEqual</c> are old spellings of <c>Equals</c>/<c>NotEquals</c>.</summary>
    public static readonly string[] Names =
    [
        "Equals", "NotEquals", "Equal", "NotEqual", "In", "AnyIn", "AllIn", "NotIn", "AnyNotIn", "AllNotIn",
        "GreaterThan", "GreaterThanOrEquals", "LessThan", "LessThanOrEquals",
        "DurationGreaterThan", "DurationGreaterThanOrEquals", "DurationLessThan", "DurationLessThanOrEquals",
    ];

    /// <summary>Deprecated operators and what to write instead (for a warning).</summary>
    public static string? Replacement(string name) => name switch
    {
        "In" => "AnyIn or AllIn",
        "NotIn" => "AnyNotIn or AllNotIn",
        "DurationGreaterThan" => "GreaterThan",
        "DurationGreaterThanOrEquals" => "GreaterThanOrEquals",
        "DurationLessThan" => "LessThan",
        "DurationLessThanOrEquals" => "LessThanOrEquals",
        _ => null,
    };

    /// <summary>The canonical operator for a name as written (Kyverno matches case-insensitively), or null.</summary>
    public static string? Canonical(string written)
    {
        foreach (var name in Names)
        {
            if (string.Equals(name, written, StringComparison.OrdinalIgnoreCase))
            {
                return name switch
                {
                    "Equal" => "Equals",
                    "NotEqual" => "NotEquals",
                    _ => name,
                };
            }
        }

        return null;
    }
}

/// <summary>
/// Emits C# for Kyverno values and conditions. Each method is self-contained and takes the data root (the attestation
/// predicate, or the admission context document with <c>request</c>, <c>images</c>, <c>element</c>, …) and a context:
/// <code>
/// var writer = new SourceWriter();
/// KyvernoEmitter.EmitValueMethod(writer, "Key0", keyValue, KyvernoVariableMode.Strict);      // JmesValue Key0(JmesValue root, JmesContext context)
/// KyvernoEmitter.EmitConditionMethod(writer, "Condition0", condition, KyvernoVariableMode.Strict); // bool Condition0(JmesValue root, JmesContext context)
/// // AnyAllConditions: KyvernoEmitter.AnyAll(["Condition0(root, context)", …], ["…"])
/// </code>
/// Generated files need <c>using PolicyCompiler.Runtime.Conditions;</c>. A failed strict evaluation throws
/// <c>JmesPathException</c>; callers turn it into the rule's error result, as Kyverno does.
/// </summary>
internal static class KyvernoEmitter
{
    /// <summary>Writes <c>static bool {name}(JmesValue root, JmesContext context)</c> and its helpers.</summary>
    public static void EmitConditionMethod(SourceWriter writer, string name, KyvernoCondition condition, KyvernoVariableMode mode, string accessibility = "public")
    {
        EmitValueMethod(writer, name + "_Key", condition.Key, mode, "private");
        EmitValueMethod(writer, name + "_Value", condition.Value, mode, "private");
        var op = KyvernoOperators.Canonical(condition.Operator)
            ?? throw new InvalidOperationException($"Unknown operator {condition.Operator} reached the emitter");
        writer.WriteLine($"/// <summary>Condition: key {op} value.</summary>");
        writer.WriteLine($"{accessibility} static bool {name}(JmesValue root, JmesContext context) =>");
        writer.Indentation++;
        writer.WriteLine($"KyvernoConditions.Evaluate(KyvernoOperator.{op}, {name}_Key(root, context), {name}_Value(root, context));");
        writer.Indentation--;
        writer.WriteLine();
    }

    /// <summary>Kyverno's <c>any</c>/<c>all</c> blocks over emitted condition calls: all of <c>all</c>, and one of <c>any</c> when present.</summary>
    public static string AnyAll(IReadOnlyList<string> any, IReadOnlyList<string> all)
    {
        var parts = new List<string>();
        if (all.Count > 0)
        {
            parts.Add(all.Count == 1 ? all[0] : "(" + string.Join(" && ", all) + ")");
        }

        if (any.Count > 0)
        {
            parts.Add(any.Count == 1 ? any[0] : "(" + string.Join(" || ", any) + ")");
        }

        return parts.Count == 0 ? "true" : string.Join(" && ", parts);
    }

    /// <summary>Writes <c>static JmesValue {name}(JmesValue root, JmesContext context)</c> producing the value with variables substituted.</summary>
    public static void EmitValueMethod(SourceWriter writer, string name, KyvernoValue value, KyvernoVariableMode mode, string accessibility = "public")
    {
        var helpers = new List<(string Name, TemplatePart Part)>();
        var expression = EmitValue(value, name, helpers, mode);
        foreach (var (helperName, part) in helpers)
        {
            EmitVariableMethod(writer, helperName, part, mode);
        }

        writer.WriteLine($"{accessibility} static JmesValue {name}(JmesValue root, JmesContext context) =>");
        writer.Indentation++;
        writer.WriteLine(expression + ";");
        writer.Indentation--;
        writer.WriteLine();
    }

    /// <summary>Writes <c>static JmesValue {name}(JmesValue root, JmesContext context)</c> for a template alone.</summary>
    public static void EmitTemplateMethod(SourceWriter writer, string name, KyvernoTemplate template, KyvernoVariableMode mode, string accessibility = "public") =>
        EmitValueMethod(writer, name, new KyvernoStringValue(template), mode, accessibility);

    private static string EmitValue(KyvernoValue value, string prefix, List<(string, TemplatePart)> helpers, KyvernoVariableMode mode)
    {
        switch (value)
        {
            case KyvernoStringValue s:
                return EmitTemplate(s.Template, prefix, helpers, mode);
            case KyvernoNumberValue n:
                return $"JmesValue.From({JmesEmitter.DoubleLiteral(n.Value)})";
            case KyvernoBooleanValue b:
                return b.Value ? "JmesValue.True" : "JmesValue.False";
            case KyvernoNullValue:
                return "JmesValue.Null";
            case KyvernoListValue list:
                return list.Items.Count == 0
                    ? "JmesValue.FromArray([])"
                    : $"JmesValue.FromArray([{string.Join(", ", list.Items.Select(i => EmitValue(i, prefix, helpers, mode)))}])";
            case KyvernoMapValue map:
                return "JmesValue.FromObject(new JmesObject(" + map.Entries.Count.ToString(CultureInfo.InvariantCulture) + ")"
                    + string.Concat(map.Entries.Select(e => $".Set({EmitKey(e.Key, prefix, helpers, mode)}, {EmitValue(e.Value, prefix, helpers, mode)})"))
                    + ")";
            default:
                throw new InvalidOperationException("Unknown value");
        }
    }

    private static string EmitTemplate(KyvernoTemplate template, string prefix, List<(string, TemplatePart)> helpers, KyvernoVariableMode mode)
    {
        if (!template.HasVariables)
        {
            return $"JmesValue.From({JmesEmitter.StringLiteral(Literal(template))})";
        }

        if (template.IsSingleVariable)
        {
            return Variable(template.Parts[0], prefix, helpers, mode);
        }

        return $"JmesValue.From({Concat(template, prefix, helpers, mode)})";
    }

    /// <summary>
    /// A C# string for a map key: literal text, the text of its variables, or (a key that is one variable) the
    /// variable's string value through <c>KyvernoVariables.Key</c>, which applies Kyverno's rules for other types.
    /// </summary>
    private static string EmitKey(KyvernoTemplate key, string prefix, List<(string, TemplatePart)> helpers, KyvernoVariableMode mode)
    {
        if (!key.HasVariables)
        {
            return JmesEmitter.StringLiteral(Literal(key));
        }

        if (key.IsSingleVariable)
        {
            return $"KyvernoVariables.Key({Variable(key.Parts[0], prefix, helpers, mode)}, {JmesEmitter.StringLiteral(key.Text)})";
        }

        return Concat(key, prefix, helpers, mode);
    }

    private static string Literal(KyvernoTemplate template) => string.Concat(template.Parts.Select(p => p.Literal));

    private static string Concat(KyvernoTemplate template, string prefix, List<(string, TemplatePart)> helpers, KyvernoVariableMode mode)
    {
        var pieces = template.Parts.Select(p => p.IsVariable
            ? $"KyvernoVariables.ToText({Variable(p, prefix, helpers, mode)})"
            : JmesEmitter.StringLiteral(p.Literal!));
        return $"string.Concat({string.Join(", ", pieces)})";
    }

    private static string Variable(TemplatePart part, string prefix, List<(string, TemplatePart)> helpers, KyvernoVariableMode mode)
    {
        var helper = prefix + "_Var" + helpers.Count.ToString(CultureInfo.InvariantCulture);
        helpers.Add((helper, part));
        var resolver = mode == KyvernoVariableMode.Strict ? "KyvernoVariables.Strict" : "KyvernoVariables.OrEmpty";
        return $"{resolver}({helper}, root, context, {JmesEmitter.StringLiteral(part.VariableText!)})";
    }

    private static void EmitVariableMethod(SourceWriter writer, string name, TemplatePart part, KyvernoVariableMode mode)
    {
        var holeMode = mode == KyvernoVariableMode.Strict ? HoleMode.Strict : HoleMode.EmptyString;
        var emitter = new JmesEmitter("__" + name + "_", holeMode).WithDialect(JmesDialect.Kyverno);
        var expression = emitter.EmitExpression(part.Expression!, "root", "root", "context");
        foreach (var field in emitter.Fields)
        {
            writer.WriteLine(field);
        }

        writer.WriteLine($"/// <summary>Variable <c>{JmesEmitter.XmlEscape(CSharp.CommentSafe(part.VariableText!))}</c>.</summary>");
        writer.WriteLine($"private static JmesValue {name}(JmesValue root, JmesContext context)");
        writer.OpenBrace();
        foreach (var statement in emitter.Statements)
        {
            writer.WriteLine(statement);
        }

        writer.WriteLine($"return {expression};");
        writer.CloseBrace();
        writer.WriteLine();
    }
}
