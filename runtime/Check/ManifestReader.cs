using System.Buffers;
using System.Text.Json;
using PolicyCompiler.Runtime.Conditions;

namespace PolicyCompiler.Runtime.Check;

/// <summary>
/// One Kubernetes object read from a manifest, or why a document could not be read. <see cref="Document"/> counts
/// the non-empty documents of <see cref="Source"/> from 1; <see cref="Line"/> is where the document starts.
/// </summary>
public sealed record ManifestDocument(string Source, int Document, int Line, JsonElement? Object, string? Error)
{
    /// <summary>Where the document is, for messages: <c>file (document 2, line 14)</c>; just the file for a file-wide error (document 0).</summary>
    public string Location => Document == 0 ? Source : $"{Source} (document {Document}, line {Line})";
}

/// <summary>
/// Reads manifests as <c>kubectl apply -f</c> does: multi-document YAML (scalars resolved as <c>sigs.k8s.io/yaml</c>
/// resolves them) or JSON, a <c>kind: List</c> expanded to its items. A malformed document becomes an error entry and
/// the documents around it are still read.
/// </summary>
public static class ManifestReader
{
    public static IReadOnlyList<ManifestDocument> Read(string source, string text)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(text);
        text = text.Replace("\r\n", "\n", StringComparison.Ordinal);
        if (text.Length > 0 && text[0] == '\uFEFF')
        {
            text = text[1..];
        }

        var results = new List<ManifestDocument>();
        var trimmed = text.TrimStart();
        if (trimmed.StartsWith('{') || trimmed.StartsWith('['))
        {
            // JSON is read as JSON: the YAML subset reader is not meant for large flow collections.
            var line = 1 + text.AsSpan(0, text.Length - trimmed.Length).Count('\n');
            try
            {
                using var json = JsonDocument.Parse(text);
                AddObject(results, source, 1, line, json.RootElement.Clone());
            }
            catch (JsonException e)
            {
                results.Add(new ManifestDocument(source, 1, line, null, "invalid JSON: " + e.Message));
            }

            return results;
        }

        var lines = text.Split('\n');
        var number = 0;
        foreach (var (start, end) in SplitDocuments(lines))
        {
            number++;
            // The other documents' lines stay as blank lines so that the parser's line numbers are the file's.
            var blanked = new string[lines.Length];
            Array.Fill(blanked, string.Empty);
            Array.Copy(lines, start, blanked, start, end - start);
            var firstLine = FirstContentLine(lines, start, end) + 1;
            JmesValue value;
            try
            {
                value = MiniYaml.ParseDocument(string.Join('\n', blanked));
            }
            catch (FormatException e)
            {
                results.Add(new ManifestDocument(source, number, firstLine, null, "invalid YAML: " + e.Message));
                continue;
            }

            AddObject(results, source, number, firstLine, ToJson(value));
        }

        return results;
    }

    /// <summary>Line ranges [start, end) of the documents that hold more than comments and blank lines.</summary>
    private static List<(int Start, int End)> SplitDocuments(string[] lines)
    {
        var documents = new List<(int, int)>();
        var start = 0;
        for (var i = 0; i <= lines.Length; i++)
        {
            var boundary = i == lines.Length || IsMarker(lines[i], "---") || IsMarker(lines[i], "...");
            if (!boundary)
            {
                continue;
            }

            if (HasContent(lines, start, i))
            {
                documents.Add((start, i));
            }

            // A "--- value" line opens the next document and carries content; "..." only closes one.
            start = i < lines.Length && IsMarker(lines[i], "...") ? i + 1 : i;
        }

        return documents;
    }

    private static bool IsMarker(string line, string marker) =>
        line.StartsWith(marker, StringComparison.Ordinal) && (line.Length == 3 || line[3] is ' ' or '\t');

    private static bool HasContent(string[] lines, int start, int end)
    {
        for (var i = start; i < end; i++)
        {
            var body = lines[i];
            if (IsMarker(body, "---"))
            {
                body = body[3..];
            }

            body = body.Trim();
            if (body.Length > 0 && body[0] != '#')
            {
                return true;
            }
        }

        return false;
    }

    private static int FirstContentLine(string[] lines, int start, int end)
    {
        for (var i = start; i < end; i++)
        {
            var body = IsMarker(lines[i], "---") ? lines[i][3..].Trim() : lines[i].Trim();
            if (body.Length > 0 && body[0] != '#')
            {
                return i;
            }
        }

        return start;
    }

    private static void AddObject(List<ManifestDocument> results, string source, int number, int line, JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            results.Add(new ManifestDocument(source, number, line, null, $"not a Kubernetes object: the document is a JSON {element.ValueKind.ToString().ToLowerInvariant()}"));
            return;
        }

        var kind = ReadString(element, "kind");
        if (string.IsNullOrEmpty(kind) || string.IsNullOrEmpty(ReadString(element, "apiVersion")))
        {
            results.Add(new ManifestDocument(source, number, line, null, "not a Kubernetes object: apiVersion and kind are required"));
            return;
        }

        // kubectl get -o yaml writes a List; each item is an object of its own.
        if (kind.EndsWith("List", StringComparison.Ordinal) && element.TryGetProperty("items", out var items) && items.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in items.EnumerateArray())
            {
                AddObject(results, source, number, line, item);
            }

            return;
        }

        results.Add(new ManifestDocument(source, number, line, element, null));
    }

    internal static string? ReadString(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static JsonElement ToJson(JmesValue value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            value.WriteTo(writer);
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return document.RootElement.Clone();
    }
}
