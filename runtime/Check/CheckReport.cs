using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using PolicyCompiler.Runtime.Engine;

namespace PolicyCompiler.Runtime.Check;

/// <summary>What <c>policy-compiler check</c> found: a verdict per object and the inputs it could not read.</summary>
public sealed class CheckReport(IReadOnlyList<ResourceReport> resources, IReadOnlyList<ManifestDocument> errors)
{
    public const int ExitAllowed = 0;
    public const int ExitDenied = 1;
    public const int ExitInputError = 2;

    public IReadOnlyList<ResourceReport> Resources { get; } = resources;

    /// <summary>Unreadable files and documents (<see cref="ManifestDocument.Error"/> set).</summary>
    public IReadOnlyList<ManifestDocument> Errors { get; } = errors;

    /// <summary>
    /// 2 when some input could not be read (the check is incomplete, whatever the rest says), else 1 when an object
    /// would be denied, else 0; warnings never fail a pipeline, as Audit never blocks an admission.
    /// </summary>
    public int ExitCode =>
        Errors.Count > 0 ? ExitInputError : Resources.Any(r => r.Result == RuleOutcomeStatus.Fail) ? ExitDenied : ExitAllowed;

    public int Count(RuleOutcomeStatus status) => Resources.Count(r => r.Result == status);

    public string Summary()
    {
        var text = $"{Resources.Count} resource{(Resources.Count == 1 ? string.Empty : "s")}: {Count(RuleOutcomeStatus.Pass)} passed, {Count(RuleOutcomeStatus.Fail)} failed, {Count(RuleOutcomeStatus.Warn)} warned, {Count(RuleOutcomeStatus.Skip)} skipped (no rule applies)";
        return Errors.Count == 0 ? text : text + $"; {Errors.Count} input error{(Errors.Count == 1 ? string.Empty : "s")}";
    }

    public static string Name(RuleOutcomeStatus status) => status switch
    {
        RuleOutcomeStatus.Pass => "pass",
        RuleOutcomeStatus.Fail => "fail",
        RuleOutcomeStatus.Warn => "warn",
        _ => "skip",
    };

    /// <summary>
    /// One row per (resource, policy, rule, image) that was judged, columns aligned, then the summary. Skipped rules
    /// and objects no rule applies to are left out (every Pod matches every Pod policy, most of them for images they
    /// do not name; a repository holds many ConfigMaps) and counted in the summary; the JSON report lists them.
    /// </summary>
    public void WriteTable(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var rows = new List<string[]> { new[] { "RESOURCE", "POLICY", "RULE", "IMAGE", "RESULT", "MESSAGE" } };
        foreach (var resource in Resources.Where(r => r.Result != RuleOutcomeStatus.Skip))
        {
            foreach (var row in resource.Rows.Where(r => r.Status != RuleOutcomeStatus.Skip))
            {
                rows.Add([resource.Resource, row.Policy, row.Rule, row.Image ?? "-", Name(row.Status), OneLine(row.Message)]);
            }
        }

        if (rows.Count > 1)
        {
            var widths = new int[rows[0].Length - 1];
            foreach (var row in rows)
            {
                for (var i = 0; i < widths.Length; i++)
                {
                    widths[i] = Math.Max(widths[i], row[i].Length);
                }
            }

            var line = new StringBuilder();
            foreach (var row in rows)
            {
                line.Clear();
                for (var i = 0; i < widths.Length; i++)
                {
                    line.Append(row[i].PadRight(widths[i])).Append("  ");
                }

                output.WriteLine(line.Append(row[^1]).ToString().TrimEnd());
            }
        }

        output.WriteLine(Summary());
    }

    /// <summary>
    /// <c>{"summary": {...}, "resources": [{resource, source, document, line, result, message, warnings, rules:
    /// [{policy, rule, image, result, message}]}], "errors": [{source, document, line, message}]}</c>; every object,
    /// including those no rule applies to.
    /// </summary>
    public void WriteJson(Stream output)
    {
        ArgumentNullException.ThrowIfNull(output);
        using var json = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        json.WriteStartObject();
        json.WriteStartObject("summary");
        json.WriteNumber("resources", Resources.Count);
        json.WriteNumber("pass", Count(RuleOutcomeStatus.Pass));
        json.WriteNumber("fail", Count(RuleOutcomeStatus.Fail));
        json.WriteNumber("warn", Count(RuleOutcomeStatus.Warn));
        json.WriteNumber("skip", Count(RuleOutcomeStatus.Skip));
        json.WriteNumber("errors", Errors.Count);
        json.WriteNumber("exitCode", ExitCode);
        json.WriteEndObject();

        json.WriteStartArray("resources");
        foreach (var resource in Resources)
        {
            json.WriteStartObject();
            json.WriteString("resource", resource.Resource);
            WriteLocation(json, resource.Source);
            json.WriteString("result", Name(resource.Result));
            WriteNullableString(json, "message", resource.Message);
            json.WriteStartArray("warnings");
            foreach (var warning in resource.Warnings)
            {
                json.WriteStringValue(warning);
            }

            json.WriteEndArray();
            json.WriteStartArray("rules");
            foreach (var row in resource.Rows)
            {
                json.WriteStartObject();
                json.WriteString("policy", row.Policy);
                json.WriteString("rule", row.Rule);
                WriteNullableString(json, "image", row.Image);
                json.WriteString("result", Name(row.Status));
                json.WriteString("message", row.Message);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteStartArray("errors");
        foreach (var error in Errors)
        {
            json.WriteStartObject();
            WriteLocation(json, error);
            json.WriteString("message", error.Error);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteLocation(Utf8JsonWriter json, ManifestDocument source)
    {
        json.WriteString("source", source.Source);
        json.WriteNumber("document", source.Document);
        json.WriteNumber("line", source.Line);
    }

    private static void WriteNullableString(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }

    private static string OneLine(string message) =>
        message.Replace("\r", string.Empty, StringComparison.Ordinal).Replace('\n', ' ');
}
