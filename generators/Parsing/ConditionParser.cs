using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.RegularExpressions;
using PolicyCompiler.Generators.Common;
using PolicyCompiler.Generators.Conditions;
using PolicyCompiler.Generators.Diagnostics;
using PolicyCompiler.Generators.Model;
using PolicyCompiler.Generators.Yaml;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PolicyCompiler.Generators.Parsing;

/// <summary>
/// Reads Kyverno conditions (<c>- any: [...] / all: [...]</c> of <c>key</c>, <c>operator</c>, <c>value</c>,
/// <c>message</c>) straight into models: every <c>{{ }}</c> is parsed and checked here, and a mistake is reported at
/// its own position inside the YAML string.
/// </summary>
internal static class ConditionParser
{
    private static readonly string[] s_blockFields = ["any", "all"];
    private static readonly string[] s_conditionFields = ["key", "operator", "value", "message"];

    // Names that only the admission request provides; a condition that mentions one may depend on the request.
    private static readonly Regex s_requestNames = new(@"(?<![\w$])(request|images|@)(?![\w])", RegexOptions.CultureInvariant);

    /// <summary>A list of any/all blocks (attestation <c>conditions</c>); null when anything in it is wrong.</summary>
    public static EquatableArray<ConditionBlockModel>? ParseBlockList(YamlFile file, YamlNode node, string path, KyvernoVariableMode mode)
    {
        if (node is not YamlSequenceNode sequence)
        {
            file.Report(DiagnosticDescriptors.WrongType, file.Locate(node), path, "a list", MappingReader.Describe(node), "'- all:' followed by conditions");
            return null;
        }

        var blocks = new List<ConditionBlockModel>();
        var ok = true;
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var blockPath = $"{path}[{i.ToString(CultureInfo.InvariantCulture)}]";
            if (sequence.Children[i] is not YamlMappingNode mapping)
            {
                file.Report(DiagnosticDescriptors.WrongType, file.Locate(sequence.Children[i]), blockPath, "a mapping", MappingReader.Describe(sequence.Children[i]), "'- all:' or '- any:' followed by conditions");
                ok = false;
                continue;
            }

            if (ParseBlock(new MappingReader(file, mapping, blockPath, "AnyAllConditions"), mode) is { } block)
            {
                blocks.Add(block);
            }
            else
            {
                ok = false;
            }
        }

        return ok ? blocks.ToEquatableArray() : null;
    }

    /// <summary>One <c>any</c>/<c>all</c> mapping; null when anything in it is wrong.</summary>
    public static ConditionBlockModel? ParseBlock(MappingReader reader, KyvernoVariableMode mode)
    {
        var ok = true;
        EquatableArray<ConditionModel>? any = null;
        if (reader.Has("any"))
        {
            var location = reader.KeyLocation("any");
            any = ParseConditions(reader, "any", mode, ref ok);
            if (any is { IsEmpty: true })
            {
                // Kyverno evaluates an empty any list as false: every request would be refused.
                reader.File.Report(DiagnosticDescriptors.EmptyList, location, reader.FieldPath("any"), "An empty 'any' list never holds, so every image would fail. Add conditions or remove 'any'.");
                ok = false;
            }
        }

        var all = ParseConditions(reader, "all", mode, ref ok) ?? EquatableArray<ConditionModel>.Empty;
        if (!reader.Has("any") && !reader.Has("all"))
        {
            reader.File.Report(DiagnosticDescriptors.MissingField, reader.Location, $"'{reader.Path}'", "any' or 'all", "all: [ { key: \"{{ repo.branch }}\", operator: Equals, value: main } ]");
            ok = false;
        }

        reader.RejectUnknown(s_blockFields);
        return ok ? new ConditionBlockModel(any, all) : null;
    }

    private static EquatableArray<ConditionModel>? ParseConditions(MappingReader reader, string field, KyvernoVariableMode mode, ref bool ok)
    {
        if (!reader.Has(field))
        {
            return null;
        }

        var list = reader.TakeRaw(field)!;
        if (MappingReader.IsNull(list))
        {
            return EquatableArray<ConditionModel>.Empty;
        }

        if (list is not YamlSequenceNode sequence)
        {
            reader.File.Report(DiagnosticDescriptors.WrongType, reader.File.Locate(list), reader.FieldPath(field), "a list", MappingReader.Describe(list), $"'{field}:' followed by '- key: ...' conditions");
            ok = false;
            return null;
        }

        var conditions = ParseConditionList(reader.File, sequence, reader.FieldPath(field), mode);
        ok &= conditions is not null;
        return conditions;
    }

    /// <summary>
    /// The <c>preconditions</c> of a rule: one any/all mapping, or (Kyverno's older form) a plain list of conditions
    /// that must all hold. Null when anything is wrong.
    /// </summary>
    public static EquatableArray<ConditionBlockModel>? ParsePreconditions(YamlFile file, YamlNode node, string path) =>
        ParseAnyAll(file, node, path, KyvernoVariableMode.Precondition);

    /// <summary>One any/all mapping or the older plain list (which must all hold), as preconditions and deny conditions are written.</summary>
    public static EquatableArray<ConditionBlockModel>? ParseAnyAll(YamlFile file, YamlNode node, string path, KyvernoVariableMode mode)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                return ParseBlock(new MappingReader(file, mapping, path, "AnyAllConditions"), mode) is { } block
                    ? new[] { block }.ToEquatableArray()
                    : null;
            case YamlSequenceNode sequence:
                return ParseConditionList(file, sequence, path, mode) is { } all
                    ? new[] { new ConditionBlockModel(null, all) }.ToEquatableArray()
                    : null;
            default:
                file.Report(DiagnosticDescriptors.WrongType, file.Locate(node), path, "a mapping", MappingReader.Describe(node), "'any:' or 'all:' followed by conditions");
                return null;
        }
    }

    /// <summary>A list of conditions; null when any of them is wrong (an empty result would read as "nothing to check").</summary>
    private static EquatableArray<ConditionModel>? ParseConditionList(YamlFile file, YamlSequenceNode sequence, string listPath, KyvernoVariableMode mode)
    {
        var conditions = new List<ConditionModel>();
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var node = sequence.Children[i];
            var path = $"{listPath}[{i.ToString(CultureInfo.InvariantCulture)}]";
            if (node is not YamlMappingNode mapping)
            {
                file.Report(DiagnosticDescriptors.WrongType, file.Locate(node), path, "a mapping", MappingReader.Describe(node), "'- key: ...' with operator and value");
                continue;
            }

            if (ParseCondition(new MappingReader(file, mapping, path, "Condition"), mode) is { } condition)
            {
                conditions.Add(condition);
            }
        }

        return conditions.Count == sequence.Children.Count ? conditions.ToEquatableArray() : null;
    }

    private static ConditionModel? ParseCondition(MappingReader reader, KyvernoVariableMode mode)
    {
        var file = reader.File;
        var ok = true;
        var keyNode = reader.Has("key") ? reader.TakeRaw("key") : null;
        var op = reader.TakeString("operator");
        var valueNode = reader.Has("value") ? reader.TakeRaw("value") : null;
        var message = reader.TakeString("message");
        reader.RejectUnknown(s_conditionFields);

        if (keyNode is null)
        {
            file.Report(DiagnosticDescriptors.MissingField, reader.Location, $"'{reader.Path}'", "key", "key: \"{{ repo.branch }}\"");
            ok = false;
        }

        string? canonical = null;
        if (op is null)
        {
            file.Report(DiagnosticDescriptors.MissingField, reader.Location, $"'{reader.Path}'", "operator", "operator: Equals");
            ok = false;
        }
        else if ((canonical = KyvernoOperators.Canonical(op.Value)) is null)
        {
            file.Report(DiagnosticDescriptors.InvalidEnumValue, op.Location, op.Value, reader.FieldPath("operator"), string.Join(", ", KyvernoOperators.Names.Where(n => n is not "Equal" and not "NotEqual")));
            ok = false;
        }

        if (valueNode is null)
        {
            file.Report(DiagnosticDescriptors.MissingField, reader.Location, $"'{reader.Path}'", "value", "value: main");
            ok = false;
        }

        var key = keyNode is null ? null : ReadValue(file, keyNode, reader.FieldPath("key"));
        var value = valueNode is null ? null : ReadValue(file, valueNode, reader.FieldPath("value"));
        KyvernoTemplate? messageTemplate = null;
        if (message is not null && message.Value.Contains("{{"))
        {
            messageTemplate = ReadTemplate(file, message.Value, message.Location, null, reader.FieldPath("message"));
            ok &= messageTemplate is not null;
        }

        if (!ok || key is null || value is null || canonical is null)
        {
            return null;
        }

        var text = $"{Render(keyNode!)} {canonical} {Render(valueNode!)}";
        var readsRequest = ReadsRequest(key) || ReadsRequest(value) || (messageTemplate is not null && ReadsRequest(new KyvernoStringValue(messageTemplate)));
        return new ConditionModel(
            StripSpecPath(reader.Path),
            text,
            new KyvernoCondition(key, canonical, value),
            messageTemplate is null ? message?.Value : null,
            messageTemplate,
            readsRequest);
    }

    /// <summary>A YAML value as the JSON Kyverno's API server stores: YAML 1.1 scalars resolved, strings parsed for variables.</summary>
    private static KyvernoValue? ReadValue(YamlFile file, YamlNode node, string path)
    {
        switch (node)
        {
            case YamlScalarNode scalar when MappingReader.IsNull(scalar):
                return new KyvernoNullValue();
            case YamlScalarNode { Style: ScalarStyle.Plain } scalar when MappingReader.IsBool(scalar.Value!):
                return new KyvernoBooleanValue(MappingReader.IsTrue(scalar.Value!));
            case YamlScalarNode { Style: ScalarStyle.Plain } scalar when MappingReader.IsNumber(scalar.Value!):
                return new KyvernoNumberValue(double.Parse(scalar.Value!, NumberStyles.Float, CultureInfo.InvariantCulture));
            case YamlScalarNode scalar:
                return ReadTemplate(file, scalar.Value ?? string.Empty, file.Locate(scalar), scalar, path) is { } template ? new KyvernoStringValue(template) : null;
            case YamlSequenceNode sequence:
            {
                var items = new List<KyvernoValue>();
                var ok = true;
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    if (ReadValue(file, sequence.Children[i], $"{path}[{i.ToString(CultureInfo.InvariantCulture)}]") is { } item)
                    {
                        items.Add(item);
                    }
                    else
                    {
                        ok = false;
                    }
                }

                return ok ? new KyvernoListValue(items.ToEquatableArray()) : null;
            }

            case YamlMappingNode mapping:
            {
                var entries = new List<KyvernoMapEntry>();
                var ok = true;
                foreach (var pair in mapping.Children)
                {
                    // Kyverno's substitution walks map keys as well as values, so a key is read as a template too.
                    var keyScalar = pair.Key as YamlScalarNode;
                    var name = keyScalar?.Value ?? string.Empty;
                    var key = ReadTemplate(file, name, file.Locate(pair.Key), keyScalar, $"{path}.{name}");
                    var item = ReadValue(file, pair.Value, $"{path}.{name}");
                    if (key is not null && item is not null)
                    {
                        entries.Add(new KyvernoMapEntry(key, item));
                    }
                    else
                    {
                        ok = false;
                    }
                }

                return ok ? new KyvernoMapValue(entries.ToEquatableArray()) : null;
            }

            default:
                file.Report(DiagnosticDescriptors.WrongType, file.Locate(node), path, "a value", MappingReader.Describe(node), "a string, number, boolean, list or mapping");
                return null;
        }
    }

    private static KyvernoTemplate? ReadTemplate(YamlFile file, string text, LocationInfo location, YamlScalarNode? scalar, string path)
    {
        var result = KyvernoTemplateParser.Parse(text);
        if (result.Success)
        {
            return result.Template;
        }

        foreach (var diagnostic in result.Diagnostics)
        {
            file.Report(DiagnosticDescriptors.InvalidExpression, LocateInside(file, location, scalar, text, diagnostic.Start, diagnostic.Length), path, diagnostic.Message);
        }

        return null;
    }

    /// <summary>A YAML value (string with variables, number, boolean, list or map) as Kyverno substitutes it; null after reporting its mistakes.</summary>
    public static KyvernoValue? ParseValue(YamlFile file, YamlNode node, string path) => ReadValue(file, node, path);

    /// <summary>Parses a message with <c>{{ }}</c> variables written in YAML; null after reporting its mistakes.</summary>
    public static KyvernoTemplate? ParseTemplate(YamlFile file, Located<string> text, string path) =>
        ReadTemplate(file, text.Value, text.Location, null, path);

    /// <summary>Whether a template's variables may read the admission request (then its result is never cached).</summary>
    public static bool ReadsRequest(KyvernoTemplate template) => ReadsRequest(new KyvernoStringValue(template));

    /// <summary>Parses a bare JMESPath expression (no <c>{{ }}</c>) written in YAML; null after reporting its mistakes.</summary>
    public static JmesNode? ParseExpression(YamlFile file, Located<string> text, string path, bool allowVariables = false)
    {
        var result = JmesCompiler.ParseRange(text.Value, 0, text.Value.Length, JmesDialect.Kyverno, allowVariables);
        if (result.Success)
        {
            return result.Expression;
        }

        foreach (var diagnostic in result.Diagnostics)
        {
            file.Report(DiagnosticDescriptors.InvalidExpression, LocateInside(file, text.Location, null, text.Value, diagnostic.Start, diagnostic.Length), path, diagnostic.Message);
        }

        return null;
    }

    /// <summary>
    /// The position of <paramref name="start"/> (an offset in the decoded string) in the file, when the scalar's text
    /// in the file is the decoded string itself (plain, or quoted without escapes) or its lines (a literal block,
    /// <c>|</c>); otherwise the whole scalar.
    /// </summary>
    internal static LocationInfo LocateInside(YamlFile file, LocationInfo location, YamlScalarNode? scalar, string text, int start, int length)
    {
        var spanStart = location.Span.Start;
        var spanLength = location.Span.Length;
        var quoted = scalar is { Style: ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted } || (scalar is null && spanLength >= 2 && file.Text[spanStart] is '"' or '\'');
        var contentStart = quoted ? spanStart + 1 : spanStart;
        var contentLength = quoted ? spanLength - 2 : spanLength;
        var plainOrQuoted = scalar is null || scalar.Style is ScalarStyle.Plain or ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted;
        if (plainOrQuoted && contentLength == text.Length && contentStart + contentLength <= file.Text.Length
            && string.CompareOrdinal(file.Text, contentStart, text, 0, text.Length) == 0)
        {
            var from = contentStart + Math.Min(start, text.Length);
            return file.LocateOffset(from, Math.Max(1, Math.Min(length, text.Length - start)));
        }

        if (scalar is null or { Style: ScalarStyle.Literal } && spanLength > 0 && file.Text[spanStart] == '|'
            && LocateInLiteralBlock(file, spanStart, text, start) is { } offset)
        {
            return file.LocateOffset(offset, Math.Max(1, Math.Min(length, text.Length - start)));
        }

        return location;
    }

    /// <summary>
    /// The file offset of <paramref name="start"/> in a literal block scalar whose header ('|') is at
    /// <paramref name="header"/>: line k of the value is the k-th line after the header, less the block's indentation.
    /// Null when a line of the file does not hold the value's line (an indentation indicator, tabs), so that a caller
    /// never points at the wrong character.
    /// </summary>
    private static int? LocateInLiteralBlock(YamlFile file, int header, string text, int start)
    {
        var lines = text.Split('\n');
        var lineStarts = new List<int>();
        var i = file.Text.IndexOf('\n', header);
        while (i >= 0 && lineStarts.Count < lines.Length)
        {
            lineStarts.Add(i + 1);
            i = file.Text.IndexOf('\n', i + 1);
        }

        var indent = -1;
        for (var k = 0; k < lines.Length && k < lineStarts.Count && indent < 0; k++)
        {
            if (lines[k].Length > 0)
            {
                var at = lineStarts[k];
                var n = 0;
                while (at + n < file.Text.Length && file.Text[at + n] == ' ')
                {
                    n++;
                }

                indent = n;
            }
        }

        var line = text.Substring(0, Math.Min(start, text.Length)).Count(c => c == '\n');
        var column = start - (line == 0 ? 0 : text.LastIndexOf('\n', start - 1) + 1);
        if (indent < 0 || line >= lineStarts.Count)
        {
            return null;
        }

        var lineStart = lineStarts[line] + indent;
        var content = lines[line];
        if (lineStart + content.Length > file.Text.Length || string.CompareOrdinal(file.Text, lineStart, content, 0, content.Length) != 0)
        {
            return null;
        }

        return lineStart + column;
    }

    private static bool ReadsRequest(KyvernoValue value) => value switch
    {
        KyvernoStringValue s => s.Template.Parts.Any(p => p.IsVariable && s_requestNames.IsMatch(p.VariableText!)),
        KyvernoListValue l => l.Items.Any(ReadsRequest),
        KyvernoMapValue m => m.Entries.Any(e => ReadsRequest(new KyvernoStringValue(e.Key)) || ReadsRequest(e.Value)),
        _ => false,
    };

    /// <summary>The value as written, on one line, for messages.</summary>
    private static string Render(YamlNode node)
    {
        var text = node switch
        {
            YamlScalarNode s => s.Value ?? string.Empty,
            YamlSequenceNode l => "[" + string.Join(", ", l.Children.Select(Render)) + "]",
            YamlMappingNode m => "{" + string.Join(", ", m.Children.Select(p => Render(p.Key) + ": " + Render(p.Value))) + "}",
            _ => string.Empty,
        };
        text = text.Replace("\r", " ").Replace("\n", " ");
        return text.Length <= 120 ? text : text.Substring(0, 117) + "...";
    }

    /// <summary>A condition is named from its list (<c>conditions[0].all[1]</c>, <c>preconditions.any[0]</c>), not from the policy root.</summary>
    private static string StripSpecPath(string path)
    {
        var i = path.LastIndexOf("preconditions", StringComparison.Ordinal);
        if (i < 0)
        {
            i = path.LastIndexOf("conditions[", StringComparison.Ordinal);
        }

        return i >= 0 ? path.Substring(i) : path;
    }
}
