using System.Text.Json;

namespace PolicyCompiler.Runtime.Sigstore;

/// <summary>
/// JsonDocument checks JSON syntax but not the text inside strings: invalid UTF-8, or a lone surrogate escape such as
/// <c>\uD800</c>, only fails when the string is read, with <see cref="InvalidOperationException"/>. Content kept for
/// later (a predicate that conditions read) is checked whole once, so that it fails where it was fetched, with its
/// reason, rather than in the middle of evaluating a policy.
/// </summary>
internal static class JsonText
{
    private const int MaxDepth = 256;

    /// <summary>True when every string and property name of <paramref name="element"/> can be read as text.</summary>
    public static bool IsReadable(JsonElement element) => IsReadable(element, 0);

    private static bool IsReadable(JsonElement element, int depth)
    {
        if (depth > MaxDepth)
        {
            return false;
        }

        try
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.String:
                    _ = element.GetString();
                    return true;
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray())
                    {
                        if (!IsReadable(item, depth + 1))
                        {
                            return false;
                        }
                    }

                    return true;
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        _ = property.Name;
                        if (!IsReadable(property.Value, depth + 1))
                        {
                            return false;
                        }
                    }

                    return true;
                default:
                    return true;
            }
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
