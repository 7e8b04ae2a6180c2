using System.Text;
using System.Text.Json;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>
/// Merges this review's verdicts into the <c>kyverno.io/verify-images</c> annotations already on the object. With
/// several mutating webhooks (the shared one and one per policy with <c>matchConditions</c>) each sees the object as the
/// earlier ones patched it; writing only its own verdicts would erase theirs.
/// </summary>
/// <remarks>
/// Kyverno writes a fresh value on every call and reads the existing one only to skip verifying an image it says is
/// verified (<c>pkg/engine/internal/imageverifier.go</c>, <c>isImageVerified</c>), which lets anyone who writes the object
/// skip verification. Here the existing value is never a reason to skip anything (the mutating and validating passes
/// verify every image); it is carried forward as a record only. An unreadable value is dropped, as Kyverno ignores one it
/// cannot parse, and the caller says so in a warning.
/// </remarks>
public static class VerdictAnnotations
{
    /// <summary>The annotation's value to write, and why the existing value was dropped (null when it was read or absent).</summary>
    public readonly record struct Merged(string Value, string? Problem);

    /// <summary>
    /// The image → verdict map: the existing entries, with this review's verdict for each image it judged replacing
    /// the existing one (a later webhook's verdict is the newer).
    /// </summary>
    public static Merged MergeImageVerdicts(string? existing, IReadOnlyDictionary<string, string> verdicts)
    {
        ArgumentNullException.ThrowIfNull(verdicts);
        var merged = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var problem = existing is null ? null : Guarded(() => ReadImageVerdicts(existing, merged));
        if (problem is not null)
        {
            merged.Clear();
        }

        foreach (var (image, status) in verdicts)
        {
            merged[image] = status;
        }

        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (image, status) in merged)
            {
                writer.WriteString(image, status);
            }

            writer.WriteEndObject();
        }

        return new Merged(Encoding.UTF8.GetString(buffer.ToArray()), problem);
    }

    /// <summary>
    /// The per-policy form: the existing policies' entries, except those of a policy this webhook judges
    /// (<paramref name="judgedHere"/>, keyed <c>namespace/name</c>), which this review's verdicts replace whole. Such an
    /// entry is either this webhook's own from an earlier version of the object or one nobody verified; entries of
    /// policies served by other webhooks (or by Kyverno itself) are theirs to keep.
    /// </summary>
    public static Merged MergeScopedVerdicts(string? existing, IEnumerable<AdmissionEngine.ScopedVerdict> verdicts, Func<string, bool> judgedHere)
    {
        ArgumentNullException.ThrowIfNull(verdicts);
        ArgumentNullException.ThrowIfNull(judgedHere);
        var policies = new ScopedMap(StringComparer.Ordinal);
        var problem = existing is null ? null : Guarded(() => ReadScopedVerdicts(existing, policies));
        if (problem is not null)
        {
            policies.Clear();
        }

        foreach (var key in policies.Keys.Where(judgedHere).ToList())
        {
            policies.Remove(key);
        }

        foreach (var verdict in verdicts)
        {
            var policyKey = PolicyKey(verdict.PolicyNamespace, verdict.Policy);
            if (!policies.TryGetValue(policyKey, out var rules))
            {
                rules = new SortedDictionary<string, SortedDictionary<string, string>>(StringComparer.Ordinal);
                policies[policyKey] = rules;
            }

            if (!rules.TryGetValue(verdict.Rule, out var images))
            {
                images = new SortedDictionary<string, string>(StringComparer.Ordinal);
                rules[verdict.Rule] = images;
            }

            images[verdict.Image] = verdict.Status;
        }

        return new Merged(WriteScoped(policies), problem);
    }

    /// <summary>How the per-policy annotation names a policy: <c>namespace/name</c>, <c>/name</c> for a ClusterPolicy.</summary>
    public static string PolicyKey(string? policyNamespace, string policy) => (policyNamespace ?? string.Empty) + "/" + policy;

    // Every level in ordinal order, as Go's encoder sorts map keys, so the same verdicts always give the same bytes.
    private sealed class ScopedMap(StringComparer comparer)
        : SortedDictionary<string, SortedDictionary<string, SortedDictionary<string, string>>>(comparer);

    private static string WriteScoped(ScopedMap policies)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("version", 1);
            writer.WriteStartObject("policies");
            foreach (var (policy, rules) in policies)
            {
                writer.WriteStartObject(policy);
                foreach (var (rule, images) in rules)
                {
                    writer.WriteStartObject(rule);
                    foreach (var (image, status) in images)
                    {
                        writer.WriteString(image, status);
                    }

                    writer.WriteEndObject();
                }

                writer.WriteEndObject();
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string? ReadImageVerdicts(string existing, SortedDictionary<string, string> into)
    {
        using var document = TryParse(existing, out var problem);
        if (document is null)
        {
            return problem;
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            return "not a JSON object";
        }

        foreach (var entry in document.RootElement.EnumerateObject())
        {
            // Kyverno before 1.11 wrote true/false where it now writes "pass"/"fail".
            var status = entry.Value.ValueKind switch
            {
                JsonValueKind.String => entry.Value.GetString(),
                JsonValueKind.True => "pass",
                JsonValueKind.False => "fail",
                _ => null,
            };
            if (status is null)
            {
                return $"the verdict of \"{entry.Name}\" is not a string";
            }

            into[entry.Name] = status;
        }

        return null;
    }

    private static string? ReadScopedVerdicts(string existing, ScopedMap into)
    {
        using var document = TryParse(existing, out var problem);
        if (document is null)
        {
            return problem;
        }

        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            return "not a JSON object";
        }

        // Another version's layout cannot be read as this one's: its entries are dropped rather than misread.
        if (!root.TryGetProperty("version", out var version) || version.ValueKind != JsonValueKind.Number || !version.TryGetInt32(out var number) || number != 1)
        {
            return "not version 1";
        }

        if (!root.TryGetProperty("policies", out var policies) || policies.ValueKind != JsonValueKind.Object)
        {
            return "no \"policies\" object";
        }

        foreach (var policy in policies.EnumerateObject())
        {
            if (policy.Value.ValueKind != JsonValueKind.Object)
            {
                return $"policy \"{policy.Name}\" is not an object";
            }

            var rules = new SortedDictionary<string, SortedDictionary<string, string>>(StringComparer.Ordinal);
            foreach (var rule in policy.Value.EnumerateObject())
            {
                if (rule.Value.ValueKind != JsonValueKind.Object)
                {
                    return $"rule \"{policy.Name}/{rule.Name}\" is not an object";
                }

                var images = new SortedDictionary<string, string>(StringComparer.Ordinal);
                foreach (var image in rule.Value.EnumerateObject())
                {
                    if (image.Value.ValueKind != JsonValueKind.String)
                    {
                        return $"the verdict of \"{image.Name}\" under \"{policy.Name}/{rule.Name}\" is not a string";
                    }

                    images[image.Name] = image.Value.GetString()!;
                }

                rules[rule.Name] = images;
            }

            into[policy.Name] = rules;
        }

        return null;
    }

    private static string? Guarded(Func<string?> read)
    {
        try
        {
            return read();
        }
        catch (InvalidOperationException)
        {
            // A name or verdict written with a lone surrogate escape (\uD800) parses as JSON but cannot be read as text.
            return "a name or verdict is not valid Unicode";
        }
    }

    private static JsonDocument? TryParse(string text, out string? problem)
    {
        try
        {
            problem = null;
            return JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            // The parser's message names the offending position; the value itself is the user's and is not echoed.
            problem = "not JSON: " + e.Message;
            return null;
        }
    }
}
