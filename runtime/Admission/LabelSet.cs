using System.Collections.Frozen;
using System.Text.Json;

namespace PolicyCompiler.Runtime.Admission;

/// <summary>
/// Labels or annotations as compiled selectors read them. Exact keys are one lookup; Kyverno's wildcard keys and values
/// scan the set.
/// </summary>
public sealed class LabelSet
{
    public static readonly LabelSet Empty = new(FrozenDictionary<string, string>.Empty);

    private readonly FrozenDictionary<string, string> _values;

    public LabelSet(IEnumerable<KeyValuePair<string, string>> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        _values = values.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private LabelSet(FrozenDictionary<string, string> values) => _values = values;

    public int Count => _values.Count;

    public IReadOnlyDictionary<string, string> Values => _values;

    /// <summary>Reads a <c>metadata.labels</c>-shaped object; values that are not strings are ignored (the API server never sends them).</summary>
    public static LabelSet FromJson(JsonElement map)
    {
        if (map.ValueKind != JsonValueKind.Object)
        {
            return Empty;
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in map.EnumerateObject())
        {
            if (property.Value.ValueKind == JsonValueKind.String)
            {
                values[property.Name] = property.Value.GetString()!;
            }
        }

        return values.Count == 0 ? Empty : new LabelSet(values);
    }

    public bool Has(string key) => _values.ContainsKey(key);

    public bool Is(string key, string value) => _values.TryGetValue(key, out var actual) && string.Equals(actual, value, StringComparison.Ordinal);

    /// <summary>The Kubernetes <c>In</c> operator; <c>NotIn</c> is its negation (a missing key is not in any set).</summary>
    public bool In(string key, params ReadOnlySpan<string> values)
    {
        if (!_values.TryGetValue(key, out var actual))
        {
            return false;
        }

        foreach (var value in values)
        {
            if (string.Equals(actual, value, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Some entry has a key <paramref name="keyPattern"/> matches and a value <paramref name="valuePattern"/> matches.</summary>
    public bool Matches(string keyPattern, string valuePattern)
    {
        foreach (var (key, value) in _values)
        {
            if (Wildcard.Match(keyPattern, key) && Wildcard.Match(valuePattern, value))
            {
                return true;
            }
        }

        return false;
    }
}
