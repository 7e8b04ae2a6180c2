using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary>Kyverno's condition operators (<c>Equal</c>/<c>NotEqual</c> are compiled to <c>Equals</c>/<c>NotEquals</c>).</summary>
public enum KyvernoOperator
{
    Equals,
    NotEquals,
    In,
    AnyIn,
    AllIn,
    NotIn,
    AnyNotIn,
    AllNotIn,
    GreaterThan,
    GreaterThanOrEquals,
    LessThan,
    LessThanOrEquals,
    DurationGreaterThan,
    DurationGreaterThanOrEquals,
    DurationLessThan,
    DurationLessThanOrEquals,
}

/// <summary>
/// Kyverno's condition operators with its coercions (pkg/engine/variables/operator): durations (<c>168h</c>) compare with
/// durations and numbers of seconds, quantities (<c>1Gi</c>) with quantities, numbers with numeric strings, semantic
/// versions with versions; string values are wildcard patterns (<c>*</c>, <c>?</c>); the set operators compare the text
/// of values (Go's <c>fmt.Sprint</c>) with wildcards both ways and accept JSON arrays and ranges (<c>8000-9000</c>)
/// written as strings. A key and value of incompatible types make the condition false, never an error.
/// </summary>
public static partial class KyvernoConditions
{
    public static bool Evaluate(KyvernoOperator op, JmesValue key, JmesValue value)
    {
        key = key.WithoutMissing();
        value = value.WithoutMissing();
        return op switch
        {
            KyvernoOperator.Equals => AreEqual(key, value),
            KyvernoOperator.NotEquals => !AreEqual(key, value),
            KyvernoOperator.In => In(key, value),
            KyvernoOperator.NotIn => NotIn(key, value),
            KyvernoOperator.AnyIn => AnyIn(key, value, negate: false),
            KyvernoOperator.AnyNotIn => AnyIn(key, value, negate: true),
            KyvernoOperator.AllIn => AllIn(key, value, negate: false),
            KyvernoOperator.AllNotIn => AllIn(key, value, negate: true),
            KyvernoOperator.GreaterThan or KyvernoOperator.GreaterThanOrEquals or KyvernoOperator.LessThan or KyvernoOperator.LessThanOrEquals => Numeric(op, key, value),
            _ => DurationOperator(op, key, value),
        };
    }

    // ---- Equals ---------------------------------------------------------------------------------------------------

    private static bool AreEqual(JmesValue key, JmesValue value)
    {
        switch (key.Type)
        {
            case JmesType.Boolean:
                return value.Type == JmesType.Boolean && key.GetBoolean() == value.GetBoolean();
            case JmesType.Number:
                return value.Type switch
                {
                    JmesType.Number => key.GetNumber() == value.GetNumber(),
                    JmesType.String => TryParseGoFloat(value.GetString(), out var f) && f == key.GetNumber(),
                    _ => false,
                };
            case JmesType.String:
                {
                    var k = key.GetString();
                    if (TryDurations(key, value, out var kd, out var vd))
                    {
                        return GoDuration.Seconds(kd) == GoDuration.Seconds(vd);
                    }

                    if (Quantity.TryParse(k, out var kq) && value.Type == JmesType.String)
                    {
                        return Quantity.TryParse(value.GetString(), out var vq) && kq == vq;
                    }

                    return value.Type == JmesType.String && Wildcard.Match(value.GetString(), k);
                }

            case JmesType.Array:
            case JmesType.Object:
                return value.Type == key.Type && JmesValue.DeepEquals(key, value);
            default:
                return false;
        }
    }

    // ---- GreaterThan, LessThan, … ------------------------------------------------------------------------------

    private static bool Numeric(KyvernoOperator op, JmesValue key, JmesValue value) => key.Type switch
    {
        JmesType.Number => NumericFromNumber(op, key.GetNumber(), value),
        JmesType.String => NumericFromString(op, key, value),
        _ => false,
    };

    private static bool NumericFromNumber(KyvernoOperator op, double key, JmesValue value)
    {
        switch (value.Type)
        {
            case JmesType.Number:
                return Compare(op, key, value.GetNumber());
            case JmesType.String:
                if (TryDurations(JmesValue.From(key), value, out var kd, out var vd))
                {
                    return Compare(op, GoDuration.Seconds(kd), GoDuration.Seconds(vd));
                }

                var text = value.GetString();
                if (TryParseGoFloat(text, out var f))
                {
                    return Compare(op, key, f);
                }

                return TryParseGoInt(text, out var i) && Compare(op, key, i);
            default:
                return false;
        }
    }

    private static bool NumericFromString(KyvernoOperator op, JmesValue key, JmesValue value)
    {
        if (TryDurations(key, value, out var kd, out var vd))
        {
            return Compare(op, GoDuration.Seconds(kd), GoDuration.Seconds(vd));
        }

        var k = key.GetString();
        if (Quantity.TryParse(k, out var kq) && value.Type == JmesType.String && Quantity.TryParse(value.GetString(), out var vq))
        {
            return Compare(op, kq.CompareTo(vq), 0);
        }

        if (TryParseGoFloat(k, out var f))
        {
            return NumericFromNumber(op, f, value);
        }

        if (TryParseGoInt(k, out var i))
        {
            return NumericFromNumber(op, i, value);
        }

        if (Semver.TryParse(k, out var kv))
        {
            return value.Type == JmesType.String && Semver.TryParse(value.GetString(), out var vv) && Compare(op, kv.CompareTo(vv), 0);
        }

        return false;
    }

    private static bool Compare(KyvernoOperator op, double key, double value) => op switch
    {
        KyvernoOperator.GreaterThan or KyvernoOperator.DurationGreaterThan => key > value,
        KyvernoOperator.GreaterThanOrEquals or KyvernoOperator.DurationGreaterThanOrEquals => key >= value,
        KyvernoOperator.LessThan or KyvernoOperator.DurationLessThan => key < value,
        KyvernoOperator.LessThanOrEquals or KyvernoOperator.DurationLessThanOrEquals => key <= value,
        _ => false,
    };

    /// <summary>
    /// Kyverno's <c>parseDuration</c>: at least one side is a duration string (other than <c>"0"</c>); the other is a
    /// duration string or a number of seconds (truncated to whole seconds, as Go's conversion does).
    /// </summary>
    private static bool TryDurations(JmesValue key, JmesValue value, out long keyDuration, out long valueDuration)
    {
        var keyIs = TryDurationString(key, out keyDuration);
        var valueIs = TryDurationString(value, out valueDuration);
        if (!keyIs && !valueIs)
        {
            return false;
        }

        if (!keyIs)
        {
            if (key.Type != JmesType.Number)
            {
                return false;
            }

            keyDuration = GoDuration.FromWholeSeconds(key.GetNumber());
        }

        if (!valueIs)
        {
            if (value.Type != JmesType.Number)
            {
                return false;
            }

            valueDuration = GoDuration.FromWholeSeconds(value.GetNumber());
        }

        return true;
    }

    private static bool TryDurationString(JmesValue value, out long duration)
    {
        duration = 0;
        return value.Type == JmesType.String && value.GetString() is var s && s != "0" && GoDuration.TryParse(s, out duration);
    }

    // ---- Deprecated Duration* operators ---------------------------------------------------------------------------

    private static bool DurationOperator(KyvernoOperator op, JmesValue key, JmesValue value)
    {
        long k;
        switch (key.Type)
        {
            case JmesType.Number:
                k = GoDuration.FromWholeSeconds(key.GetNumber());
                break;
            case JmesType.String:
                if (!GoDuration.TryParse(key.GetString(), out k))
                {
                    return false;
                }

                break;
            default:
                return false;
        }

        long v;
        switch (value.Type)
        {
            case JmesType.Number:
                v = GoDuration.FromWholeSeconds(value.GetNumber());
                break;
            case JmesType.String:
                if (!GoDuration.TryParse(value.GetString(), out v))
                {
                    return false;
                }

                break;
            default:
                return false;
        }

        return Compare(op, k, v);
    }

    // ---- In, NotIn (deprecated) -------------------------------------------------------------------------------

    private static bool In(JmesValue key, JmesValue value) => key.Type switch
    {
        JmesType.String => KeyInValue(key.GetString(), value) ?? false,
        JmesType.Number => KeyInValue(KyvernoVariables.Sprint(key), value) ?? false,
        JmesType.Array => SetInValue(key, value, notIn: false) ?? false,
        _ => false,
    };

    private static bool NotIn(JmesValue key, JmesValue value) => key.Type switch
    {
        JmesType.String => !(KeyInValue(key.GetString(), value) ?? true),
        JmesType.Number => !(KeyInValue(KyvernoVariables.Sprint(key), value) ?? true),
        JmesType.Array => SetInValue(key, value, notIn: true) ?? false,
        _ => false,
    };

    /// <summary>The deprecated <c>In</c>'s membership test; null when the value has a type it cannot use.</summary>
    private static bool? KeyInValue(string key, JmesValue value)
    {
        switch (value.Type)
        {
            case JmesType.Array:
                foreach (var item in value.EnumerateArray())
                {
                    if (Wildcard.Match(key, KyvernoVariables.Sprint(item)))
                    {
                        return true;
                    }
                }

                return false;
            case JmesType.String:
                var text = value.GetString();
                if (Wildcard.Match(text, key))
                {
                    return true;
                }

                return TryStringArray(text, out var array) ? array.Contains(key, StringComparer.Ordinal) : null;
            default:
                return null;
        }
    }

    private static bool? SetInValue(JmesValue key, JmesValue value, bool notIn)
    {
        var keys = new List<string>();
        foreach (var item in key.EnumerateArray())
        {
            if (item.Type != JmesType.String)
            {
                return null;
            }

            keys.Add(item.GetString());
        }

        List<string> values;
        switch (value.Type)
        {
            case JmesType.Array:
                values = [];
                foreach (var item in value.EnumerateArray())
                {
                    if (item.Type != JmesType.String)
                    {
                        return null;
                    }

                    values.Add(item.GetString());
                }

                break;
            case JmesType.String:
                var text = value.GetString();
                if (keys.Count == 1 && keys[0] == text)
                {
                    return !notIn;
                }

                if (!TryStringArray(text, out var array))
                {
                    return null;
                }

                values = array;
                break;
            default:
                return null;
        }

        var set = new HashSet<string>(values, StringComparer.Ordinal);
        var allIn = keys.All(set.Contains);
        return notIn ? !allIn : allIn;
    }

    // ---- AnyIn, AnyNotIn, AllIn, AllNotIn ----------------------------------------------------------------------

    private static bool AnyIn(JmesValue key, JmesValue value, bool negate)
    {
        var keys = KeyTexts(key, out var scalar);
        if (keys is null)
        {
            return false;
        }

        var values = ValueTexts(value, keys, out var range);
        if (values is null && range is null)
        {
            return false;
        }

        if (range is not null)
        {
            // A range value: AnyIn holds if some key lies in it, AnyNotIn if some key lies outside it.
            return keys.Any(k => InRange(k, range) != negate);
        }

        var matched = keys.Count(k => values!.Any(v => Matches(k, v)));
        if (scalar)
        {
            return negate ? matched == 0 : matched > 0;
        }

        return negate ? matched < keys.Count : matched > 0;
    }

    private static bool AllIn(JmesValue key, JmesValue value, bool negate)
    {
        var keys = KeyTexts(key, out _);
        if (keys is null)
        {
            return false;
        }

        var values = ValueTexts(value, keys, out var range);
        if (values is null && range is null)
        {
            return false;
        }

        var matched = range is not null
            ? keys.Count(k => InRange(k, range))
            : keys.Count(k => values!.Any(v => Matches(k, v)));
        return negate ? matched == 0 : matched == keys.Count;
    }

    private static bool Matches(string key, string value) => Wildcard.Match(key, value) || Wildcard.Match(value, key);

    /// <summary>The key as texts (a scalar is one text), or null for a type the operators do not accept.</summary>
    private static List<string>? KeyTexts(JmesValue key, out bool scalar)
    {
        scalar = true;
        switch (key.Type)
        {
            case JmesType.String:
                return [key.GetString()];
            case JmesType.Number:
            case JmesType.Boolean:
                return [KyvernoVariables.Sprint(key)];
            case JmesType.Array:
                scalar = false;
                var keys = new List<string>();
                foreach (var item in key.EnumerateArray())
                {
                    keys.Add(KyvernoVariables.Sprint(item));
                }

                return keys;
            default:
                return null;
        }
    }

    /// <summary>
    /// The value as texts: an array's items, a JSON array of strings written as a string, or the string itself; a string
    /// that is a range (<c>1-10</c>) comes back in <paramref name="range"/>. Null for a value the operators cannot use.
    /// </summary>
    private static List<string>? ValueTexts(JmesValue value, List<string> keys, out string? range)
    {
        range = null;
        switch (value.Type)
        {
            case JmesType.Array:
                var values = new List<string>();
                foreach (var item in value.EnumerateArray())
                {
                    values.Add(KyvernoVariables.Sprint(item));
                }

                return values;
            case JmesType.String:
                var text = value.GetString();
                if (keys.Count == 1 && (keys[0] == text || Wildcard.Match(text, keys[0])))
                {
                    return [text];
                }

                if (InRangePattern().IsMatch(text))
                {
                    range = text;
                    return null;
                }

                if (IsValidJson(text))
                {
                    return TryStringArray(text, out var array) ? array : null;
                }

                return [text];
            default:
                return null;
        }
    }

    /// <summary>Kyverno's range pattern <c>low-high</c> (inclusive), with numbers or quantities as bounds.</summary>
    private static bool InRange(string key, string range)
    {
        var dash = range.IndexOf('-', 1);
        if (!TryNumeric(key, out var k) || !TryNumeric(range[..dash], out var low) || !TryNumeric(range[(dash + 1)..], out var high))
        {
            return false;
        }

        return k >= low && k <= high;
    }

    private static bool TryNumeric(string text, out Quantity quantity) => Quantity.TryParse(text, out quantity);

    [GeneratedRegex(@"^(\d+(\.\d+)?)([^-]*)-(\d+(\.\d+)?)([^-]*)$", RegexOptions.CultureInvariant)]
    private static partial Regex InRangePattern();

    private static bool IsValidJson(string text)
    {
        try
        {
            using var _ = JsonDocument.Parse(text);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static bool TryStringArray(string text, out List<string> values)
    {
        values = [];
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                return false;
            }

            foreach (var item in document.RootElement.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String)
                {
                    return false;
                }

                values.Add(item.GetString()!);
            }

            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    // ---- Go's strconv ----------------------------------------------------------------------------------------------

    /// <summary><c>strconv.ParseFloat(s, 64)</c>: decimal or exponent notation, <c>Inf</c>/<c>NaN</c>; no surrounding space.</summary>
    public static bool TryParseGoFloat(string text, out double value)
    {
        ArgumentNullException.ThrowIfNull(text);
        value = 0;
        if (text.Length == 0 || char.IsWhiteSpace(text[0]) || char.IsWhiteSpace(text[^1]))
        {
            return false;
        }

        var lower = text.ToLowerInvariant();
        switch (lower)
        {
            case "inf" or "+inf" or "infinity" or "+infinity":
                value = double.PositiveInfinity;
                return true;
            case "-inf" or "-infinity":
                value = double.NegativeInfinity;
                return true;
            case "nan":
                value = double.NaN;
                return true;
        }

        return double.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out value);
    }

    /// <summary><c>strconv.ParseInt(s, 10, 64)</c>.</summary>
    public static bool TryParseGoInt(string text, out double value)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ok = long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l);
        value = l;
        return ok;
    }
}
