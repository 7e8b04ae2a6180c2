using System.Globalization;
using System.Text.Json.Nodes;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Applies an RFC 6902 patch the way the API server applies a webhook's patch, for the operations an
/// image-verification webhook writes (add, replace, remove). Throws when the patch does not apply: a patch
/// the API server would reject is a product bug the tests must see.
/// </summary>
public static class JsonPatch
{
    public static JsonNode Apply(JsonNode document, JsonArray patch)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(patch);
        var result = document.DeepClone();
        foreach (var operation in patch)
        {
            var op = operation?["op"]?.GetValue<string>() ?? throw new InvalidOperationException($"patch operation without op: {operation?.ToJsonString()}");
            var path = operation["path"]?.GetValue<string>() ?? throw new InvalidOperationException($"patch operation without path: {operation.ToJsonString()}");
            var (parent, last) = Resolve(result, path);
            switch (op)
            {
                case "add":
                    Add(parent, last, operation["value"]?.DeepClone(), path);
                    break;
                case "replace":
                    Remove(parent, last, path);
                    Add(parent, last, operation["value"]?.DeepClone(), path);
                    break;
                case "remove":
                    Remove(parent, last, path);
                    break;
                default:
                    throw new InvalidOperationException($"unsupported patch operation {op} at {path}");
            }
        }

        return result;
    }

    private static (JsonNode Parent, string Last) Resolve(JsonNode root, string path)
    {
        if (path.Length == 0 || path[0] != '/')
        {
            throw new InvalidOperationException($"not a JSON pointer to a member: '{path}'");
        }

        var segments = path[1..].Split('/').Select(s => s.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).ToArray();
        var node = root;
        foreach (var segment in segments[..^1])
        {
            node = node switch
            {
                JsonObject obj when obj.TryGetPropertyValue(segment, out var child) && child is not null => child,
                JsonArray array when int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index < array.Count && array[index] is { } item => item,
                _ => throw new InvalidOperationException($"patch path {path}: '{segment}' does not exist"),
            };
        }

        return (node, segments[^1]);
    }

    private static void Add(JsonNode parent, string last, JsonNode? value, string path)
    {
        switch (parent)
        {
            case JsonObject obj:
                obj[last] = value;
                break;
            case JsonArray array when last == "-":
                array.Add(value);
                break;
            case JsonArray array when int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index <= array.Count:
                array.Insert(index, value);
                break;
            default:
                throw new InvalidOperationException($"patch path {path} cannot be added to");
        }
    }

    private static void Remove(JsonNode parent, string last, string path)
    {
        var removed = parent switch
        {
            JsonObject obj => obj.Remove(last),
            JsonArray array when int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index < array.Count => RemoveAt(array, index),
            _ => false,
        };
        if (!removed)
        {
            throw new InvalidOperationException($"patch path {path} does not exist");
        }
    }

    private static bool RemoveAt(JsonArray array, int index)
    {
        array.RemoveAt(index);
        return true;
    }
}
