using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using PolicyCompiler.Generators.Diagnostics;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PolicyCompiler.Generators.Yaml;

/// <summary>
/// Reads the fields of one YAML mapping strictly, as the Kubernetes API server's structural schema would:
/// every field is either taken by the parser, declared not yet supported, or reported as unknown.
/// Scalars are typed the way Kubernetes' YAML decoder types them (YAML 1.1 booleans, plain numbers).
/// </summary>
internal sealed class MappingReader
{
    private static readonly HashSet<string> s_yaml11True = new(StringComparer.Ordinal) { "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON" };
    private static readonly HashSet<string> s_yaml11False = new(StringComparer.Ordinal) { "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF" };
    private static readonly HashSet<string> s_null = new(StringComparer.Ordinal) { "", "~", "null", "Null", "NULL" };

    private readonly YamlFile _file;
    private readonly YamlMappingNode _node;
    private readonly Dictionary<string, (YamlScalarNode Key, YamlNode Value)> _fields = new(StringComparer.Ordinal);
    private readonly HashSet<string> _taken = new(StringComparer.Ordinal);

    public MappingReader(YamlFile file, YamlMappingNode node, string path, string typeName)
    {
        _file = file;
        _node = node;
        Path = path;
        TypeName = typeName;
        foreach (var pair in node.Children)
        {
            if (pair.Key is not YamlScalarNode key || key.Value is null)
            {
                file.Report(DiagnosticDescriptors.WrongType, file.Locate(pair.Key), path, "a mapping with string keys", "a non-string key", "plain field names");
                continue;
            }

            if (_fields.ContainsKey(key.Value))
            {
                file.Report(DiagnosticDescriptors.InvalidYaml, file.Locate(key), $"'{key.Value}' appears twice in {Describe(path)}");
                continue;
            }

            _fields[key.Value] = (key, pair.Value);
        }
    }

    public string Path { get; }

    public string TypeName { get; }

    public Common.LocationInfo Location => _file.Locate(_node);

    public YamlFile File => _file;

    public bool Has(string field) => _fields.ContainsKey(field);

    /// <summary>The mapping's keys in document order (for maps whose keys are data, like additionalExtensions).</summary>
    public IReadOnlyList<string> FieldNames => [.. _node.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value ?? string.Empty).Where(_fields.ContainsKey)];

    public Common.LocationInfo KeyLocation(string field) => _file.Locate(_fields[field].Key);

    public Common.LocationInfo? KeyLocationOrNull(string field) => _fields.TryGetValue(field, out var entry) ? _file.Locate(entry.Key) : null;

    public string FieldPath(string field) => Path.Length == 0 ? field : Path + "." + field;

    /// <summary>Marks the field as read and returns its value node, or null when absent or explicitly null.</summary>
    public YamlNode? Take(string field)
    {
        if (!_fields.TryGetValue(field, out var entry))
        {
            return null;
        }

        _taken.Add(field);
        return IsNull(entry.Value) ? null : entry.Value;
    }

    /// <summary>Marks the field as read and returns its value node as written, null scalars included; null when absent.</summary>
    public YamlNode? TakeRaw(string field)
    {
        if (!_fields.TryGetValue(field, out var entry))
        {
            return null;
        }

        _taken.Add(field);
        return entry.Value;
    }

    public Located<string>? TakeString(string field)
    {
        var node = Take(field);
        if (node is null)
        {
            return null;
        }

        if (node is not YamlScalarNode scalar)
        {
            ReportType(field, node, "a string", "a quoted string");
            return null;
        }

        if (scalar.Style == ScalarStyle.Plain && (IsBool(scalar.Value!) || IsNumber(scalar.Value!)))
        {
            ReportType(field, node, "a string", $"\"{scalar.Value}\" (quoted)");
            return null;
        }

        return new Located<string>(scalar.Value ?? string.Empty, _file.Locate(scalar));
    }

    public Located<bool>? TakeBool(string field)
    {
        var node = Take(field);
        if (node is null)
        {
            return null;
        }

        if (node is YamlScalarNode { Style: ScalarStyle.Plain } scalar)
        {
            if (s_yaml11True.Contains(scalar.Value!))
            {
                return new Located<bool>(true, _file.Locate(scalar));
            }

            if (s_yaml11False.Contains(scalar.Value!))
            {
                return new Located<bool>(false, _file.Locate(scalar));
            }
        }

        ReportType(field, node, "a boolean", "true or false (unquoted)");
        return null;
    }

    public Located<int>? TakeInt(string field)
    {
        var node = Take(field);
        if (node is null)
        {
            return null;
        }

        if (node is YamlScalarNode { Style: ScalarStyle.Plain } scalar
            && int.TryParse(scalar.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            return new Located<int>(value, _file.Locate(scalar));
        }

        ReportType(field, node, "an integer", "a whole number (unquoted)");
        return null;
    }

    public MappingReader? TakeMapping(string field, string typeName)
    {
        var node = Take(field);
        if (node is null)
        {
            return null;
        }

        if (node is YamlMappingNode mapping)
        {
            return new MappingReader(_file, mapping, FieldPath(field), typeName);
        }

        ReportType(field, node, "a mapping", $"'{field}:' followed by indented fields");
        return null;
    }

    public List<(YamlNode Node, string Path)>? TakeSequence(string field)
    {
        var node = Take(field);
        if (node is null)
        {
            return null;
        }

        if (node is YamlSequenceNode sequence)
        {
            return sequence.Children.Select((child, i) => (child, $"{FieldPath(field)}[{i.ToString(CultureInfo.InvariantCulture)}]")).ToList();
        }

        ReportType(field, node, "a list", $"'{field}:' followed by '- ' items");
        return null;
    }

    /// <summary>
    /// A list of mappings, each as a reader of <paramref name="typeName"/> with its position in the list; items of other
    /// types are reported (with <paramref name="example"/> of what to write) and skipped. Null when the field is absent.
    /// </summary>
    public List<(MappingReader Item, int Index)>? TakeMappingList(string field, string typeName, string example)
    {
        var items = TakeSequence(field);
        if (items is null)
        {
            return null;
        }

        var result = new List<(MappingReader, int)>(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            var (node, path) = items[i];
            if (node is YamlMappingNode mapping)
            {
                result.Add((new MappingReader(_file, mapping, path, typeName), i));
            }
            else
            {
                _file.Report(DiagnosticDescriptors.WrongType, _file.Locate(node), path, "a mapping", Describe(node), example);
            }
        }

        return result;
    }

    /// <summary>A list of strings; items of other types are reported and skipped.</summary>
    public List<Located<string>>? TakeStringList(string field)
    {
        var items = TakeSequence(field);
        if (items is null)
        {
            return null;
        }

        var result = new List<Located<string>>(items.Count);
        foreach (var (node, path) in items)
        {
            if (node is YamlScalarNode scalar && !(scalar.Style == ScalarStyle.Plain && (IsBool(scalar.Value!) || IsNull(scalar))))
            {
                result.Add(new Located<string>(scalar.Value ?? string.Empty, _file.Locate(scalar)));
            }
            else
            {
                _file.Report(DiagnosticDescriptors.WrongType, _file.Locate(node), path, "a string", Describe(node), "a quoted string");
            }
        }

        return result;
    }

    /// <summary>A mapping of string to string (labels, annotations).</summary>
    public Dictionary<string, Located<string>>? TakeStringMap(string field)
    {
        var node = Take(field);
        if (node is null)
        {
            return null;
        }

        if (node is not YamlMappingNode mapping)
        {
            ReportType(field, node, "a mapping of strings", "key: \"value\" pairs");
            return null;
        }

        var result = new Dictionary<string, Located<string>>(StringComparer.Ordinal);
        foreach (var pair in mapping.Children)
        {
            if (pair.Key is YamlScalarNode key && pair.Value is YamlScalarNode value && !(value.Style == ScalarStyle.Plain && (IsBool(value.Value!) || IsNumber(value.Value!))))
            {
                result[key.Value ?? string.Empty] = new Located<string>(value.Value ?? string.Empty, _file.Locate(value));
            }
            else
            {
                _file.Report(DiagnosticDescriptors.WrongType, _file.Locate(pair.Value), $"{FieldPath(field)}.{(pair.Key as YamlScalarNode)?.Value}", "a string", Describe(pair.Value), "a quoted string");
            }
        }

        return result;
    }

    /// <summary>Accepts a Kyverno field that we parse only to the extent of knowing it is there, and rejects it for now.</summary>
    public void NotSupported(string field, string reason)
    {
        if (_fields.TryGetValue(field, out var entry))
        {
            _taken.Add(field);
            _file.Report(DiagnosticDescriptors.NotSupported, _file.Locate(entry.Key), FieldPath(field), reason);
        }
    }

    /// <summary>Marks fields that are valid and have no effect on image verification.</summary>
    public void Ignore(params string[] fields)
    {
        foreach (var field in fields)
        {
            _taken.Add(field);
        }
    }

    /// <summary>Reports every field that no one took.</summary>
    public void RejectUnknown(IReadOnlyList<string> validFields)
    {
        foreach (var pair in _fields)
        {
            if (!_taken.Contains(pair.Key))
            {
                _file.Report(DiagnosticDescriptors.UnknownField, _file.Locate(pair.Value.Key), pair.Key, Describe(Path, TypeName), string.Join(", ", validFields));
            }
        }
    }

    private void ReportType(string field, YamlNode node, string expected, string suggestion) =>
        _file.Report(DiagnosticDescriptors.WrongType, _file.Locate(node), FieldPath(field), expected, Describe(node), suggestion);

    public static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        YamlScalarNode { Style: ScalarStyle.Plain } s when IsBool(s.Value!) => $"the boolean {s.Value}",
        YamlScalarNode { Style: ScalarStyle.Plain } s when IsNumber(s.Value!) => $"the number {s.Value}",
        YamlScalarNode s when IsNull(s) => "null",
        YamlScalarNode s => $"the string \"{Truncate(s.Value ?? string.Empty)}\"",
        _ => "an unsupported YAML node",
    };

    private static string Describe(string path) => path.Length == 0 ? "the document" : $"'{path}'";

    private static string Describe(string path, string typeName) => path.Length == 0 ? typeName : $"{typeName} ('{path}')";

    private static string Truncate(string value) => value.Length <= 40 ? value : value.Substring(0, 37) + "...";

    public static bool IsNull(YamlNode node) => node is YamlScalarNode { Style: ScalarStyle.Plain } s && s_null.Contains(s.Value ?? string.Empty);

    public static bool IsTrue(string value) => s_yaml11True.Contains(value);

    public static bool IsBool(string value) => s_yaml11True.Contains(value) || s_yaml11False.Contains(value);

    public static bool IsNumber(string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
        && value.Length > 0 && (char.IsDigit(value[0]) || value[0] is '-' or '+' or '.');
}
