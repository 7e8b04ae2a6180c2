using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PolicyCompiler.Runtime.Admission;

namespace PolicyCompiler.Runtime.Check;

/// <summary>
/// Applies the RFC 6902 patches the mutating pass writes (<c>add</c> and <c>replace</c>), as the API server would
/// before it calls the validating webhook.
/// </summary>
public static class JsonPatch
{
    public static JsonElement Apply(JsonElement document, IEnumerable<JsonPatchOperation> operations)
    {
        ArgumentNullException.ThrowIfNull(operations);
        var root = JsonNode.Parse(document.GetRawText()) ?? throw new FormatException("cannot patch a null document");
        foreach (var operation in operations)
        {
            if (operation.Op is not ("add" or "replace"))
            {
                throw new FormatException($"unsupported patch operation '{operation.Op}'");
            }

            var segments = operation.Path.Split('/');
            if (segments.Length < 2 || segments[0].Length != 0)
            {
                throw new FormatException($"invalid JSON pointer '{operation.Path}'");
            }

            var parent = root;
            for (var i = 1; i < segments.Length - 1; i++)
            {
                parent = Child(parent, Unescape(segments[i]), operation.Path);
            }

            var last = Unescape(segments[^1]);
            var value = operation.Value is { } v ? JsonNode.Parse(v.GetRawText()) : null;
            switch (parent)
            {
                case JsonObject obj:
                    if (operation.Op == "replace" && !obj.ContainsKey(last))
                    {
                        throw new FormatException($"replace of missing member '{operation.Path}'");
                    }

                    obj[last] = value;
                    break;
                case JsonArray array when last == "-" && operation.Op == "add":
                    array.Add(value);
                    break;
                case JsonArray array when int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index < array.Count + (operation.Op == "add" ? 1 : 0):
                    if (operation.Op == "add")
                    {
                        array.Insert(index, value);
                    }
                    else
                    {
                        array[index] = value;
                    }

                    break;
                default:
                    throw new FormatException($"JSON pointer '{operation.Path}' does not name a member of the document");
            }
        }

        using var patched = JsonDocument.Parse(root.ToJsonString());
        return patched.RootElement.Clone();
    }

    /// <summary>Applies the base64 JSONPatch of an admission response.</summary>
    public static JsonElement Apply(JsonElement document, string base64Patch)
    {
        ArgumentNullException.ThrowIfNull(base64Patch);
        var operations = JsonSerializer.Deserialize(Convert.FromBase64String(base64Patch), AdmissionJsonContext.Default.ListJsonPatchOperation)
            ?? throw new FormatException("empty patch");
        return Apply(document, operations);
    }

    private static JsonNode Child(JsonNode node, string segment, string path) => node switch
    {
        JsonObject obj when obj[segment] is { } child => child,
        JsonArray array when int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index < array.Count && array[index] is { } item => item,
        _ => throw new FormatException($"JSON pointer '{path}' does not name a member of the document"),
    };

    private static string Unescape(string segment) =>
        segment.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
}
