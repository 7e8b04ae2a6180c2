using System.Globalization;
using System.Text;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary>
/// The built-in functions of the JMESPath specification, with its type rules: a wrong argument type is an
/// <see cref="JmesErrorKind.InvalidType"/> error. Arity is checked when the expression is compiled, so every method here
/// takes exactly its parameters; expression references (<c>&amp;expr</c>) arrive as compiled lambdas.
/// </summary>
public static class JmesFunctions
{
    public static JmesValue Abs(JmesValue value) => JmesValue.From(Math.Abs(Number("abs", 1, value)));

    public static JmesValue Avg(JmesValue values)
    {
        var numbers = NumberArray("avg", 1, values);
        if (numbers.Length == 0)
        {
            return JmesValue.Null;
        }

        var sum = 0d;
        foreach (var n in numbers)
        {
            sum += n;
        }

        return JmesValue.From(sum / numbers.Length);
    }

    public static JmesValue Ceil(JmesValue value) => JmesValue.From(Math.Ceiling(Number("ceil", 1, value)));

    public static JmesValue Floor(JmesValue value) => JmesValue.From(Math.Floor(Number("floor", 1, value)));

    public static JmesValue Contains(JmesValue subject, JmesValue search)
    {
        switch (subject.Type)
        {
            case JmesType.String:
                return JmesValue.From(search.Type == JmesType.String && subject.GetString().Contains(search.GetString(), StringComparison.Ordinal));
            case JmesType.Array:
                foreach (var item in subject.EnumerateArray())
                {
                    if (JmesValue.DeepEquals(item, search.WithoutMissing()))
                    {
                        return JmesValue.True;
                    }
                }

                return JmesValue.False;
            default:
                throw JmesPathException.Type("contains", 1, "array or string", subject);
        }
    }

    public static JmesValue EndsWith(JmesValue subject, JmesValue suffix) =>
        JmesValue.From(String("ends_with", 1, subject).EndsWith(String("ends_with", 2, suffix), StringComparison.Ordinal));

    public static JmesValue StartsWith(JmesValue subject, JmesValue prefix) =>
        JmesValue.From(String("starts_with", 1, subject).StartsWith(String("starts_with", 2, prefix), StringComparison.Ordinal));

    public static JmesValue Join(JmesValue glue, JmesValue values)
    {
        var separator = String("join", 1, glue);
        return JmesValue.From(string.Join(separator, StringArray("join", 2, values)));
    }

    public static JmesValue Keys(JmesValue value)
    {
        Expect("keys", 1, value, JmesType.Object);
        var result = new JmesValue[value.GetPropertyCount()];
        var i = 0;
        foreach (var property in value.EnumerateObject())
        {
            result[i++] = JmesValue.From(property.Name);
        }

        return JmesValue.FromArray(result);
    }

    public static JmesValue Values(JmesValue value)
    {
        Expect("values", 1, value, JmesType.Object);
        var result = new JmesValue[value.GetPropertyCount()];
        var i = 0;
        foreach (var property in value.EnumerateObject())
        {
            result[i++] = property.Value;
        }

        return JmesValue.FromArray(result);
    }

    public static JmesValue Length(JmesValue value) => value.Type switch
    {
        JmesType.String => JmesValue.From(CodePointCount(value.GetString())),
        JmesType.Array => JmesValue.From(value.GetArrayLength()),
        JmesType.Object => JmesValue.From(value.GetPropertyCount()),
        _ => throw JmesPathException.Type("length", 1, "string, array or object", value),
    };

    public static JmesValue Map(JmesFunc expression, JmesValue values, JmesContext context)
    {
        ArgumentNullException.ThrowIfNull(expression);
        Expect("map", 2, values, JmesType.Array);
        var result = new JmesValue[values.GetArrayLength()];
        var i = 0;
        foreach (var item in values.EnumerateArray())
        {
            result[i++] = expression(item, context).WithoutMissing();
        }

        return JmesValue.FromArray(result);
    }

    public static JmesValue Max(JmesValue values) => Extreme("max", values, max: true);

    public static JmesValue Min(JmesValue values) => Extreme("min", values, max: false);

    public static JmesValue MaxBy(JmesValue values, JmesFunc key, JmesContext context) => ExtremeBy("max_by", values, key, context, max: true);

    public static JmesValue MinBy(JmesValue values, JmesFunc key, JmesContext context) => ExtremeBy("min_by", values, key, context, max: false);

    public static JmesValue Merge(params ReadOnlySpan<JmesValue> objects)
    {
        var result = new JmesObject();
        for (var i = 0; i < objects.Length; i++)
        {
            Expect("merge", i + 1, objects[i], JmesType.Object);
            foreach (var property in objects[i].EnumerateObject())
            {
                result.Set(property.Name, property.Value);
            }
        }

        return JmesValue.FromObject(result);
    }

    public static JmesValue NotNull(params ReadOnlySpan<JmesValue> values)
    {
        foreach (var value in values)
        {
            if (!value.IsNull)
            {
                return value;
            }
        }

        return JmesValue.Null;
    }

    public static JmesValue Reverse(JmesValue value)
    {
        switch (value.Type)
        {
            case JmesType.String:
                {
                    var runes = value.GetString().EnumerateRunes().ToArray();
                    Array.Reverse(runes);
                    var sb = new StringBuilder();
                    foreach (var rune in runes)
                    {
                        sb.Append(rune.ToString());
                    }

                    return JmesValue.From(sb.ToString());
                }

            case JmesType.Array:
                {
                    var items = value.ToArray();
                    Array.Reverse(items);
                    return JmesValue.FromArray(items);
                }

            default:
                throw JmesPathException.Type("reverse", 1, "string or array", value);
        }
    }

    public static JmesValue Sort(JmesValue values)
    {
        Expect("sort", 1, values, JmesType.Array);
        var items = values.ToArray();
        if (items.Length == 0)
        {
            return JmesValue.FromArray(items);
        }

        var type = items[0].Type;
        if (type is not (JmesType.Number or JmesType.String))
        {
            throw new JmesPathException(JmesErrorKind.InvalidType, "invalid type for argument 1 of sort(): expected array[number] or array[string]");
        }

        foreach (var item in items)
        {
            if (item.Type != type)
            {
                throw new JmesPathException(JmesErrorKind.InvalidType, "invalid type for argument 1 of sort(): expected array[number] or array[string]");
            }
        }

        StableSort(items, static (a, b) => CompareSortable(a, b));
        return JmesValue.FromArray(items);
    }

    public static JmesValue SortBy(JmesValue values, JmesFunc key, JmesContext context)
    {
        ArgumentNullException.ThrowIfNull(key);
        Expect("sort_by", 1, values, JmesType.Array);
        var items = values.ToArray();
        if (items.Length == 0)
        {
            return JmesValue.FromArray(items);
        }

        var keys = new JmesValue[items.Length];
        JmesType? type = null;
        for (var i = 0; i < items.Length; i++)
        {
            keys[i] = key(items[i], context);
            if (keys[i].Type is not (JmesType.Number or JmesType.String) || (type is { } t && t != keys[i].Type))
            {
                throw new JmesPathException(JmesErrorKind.InvalidType, $"invalid type for the key of sort_by(): expected number or string, got {keys[i].TypeName}");
            }

            type = keys[i].Type;
        }

        var order = new int[items.Length];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        StableSort(order, (a, b) => CompareSortable(keys[a], keys[b]));
        var result = new JmesValue[items.Length];
        for (var i = 0; i < order.Length; i++)
        {
            result[i] = items[order[i]];
        }

        return JmesValue.FromArray(result);
    }

    public static JmesValue Sum(JmesValue values)
    {
        var sum = 0d;
        foreach (var n in NumberArray("sum", 1, values))
        {
            sum += n;
        }

        return JmesValue.From(sum);
    }

    public static JmesValue ToArray(JmesValue value) =>
        value.Type == JmesType.Array ? value : JmesValue.FromArray([value.WithoutMissing()]);

    public static JmesValue ToString(JmesValue value) =>
        value.Type == JmesType.String ? value : JmesValue.From(value.ToJsonString());

    public static JmesValue ToNumber(JmesValue value)
    {
        switch (value.Type)
        {
            case JmesType.Number:
                return value;
            case JmesType.String:
                var text = value.GetString();
                return IsJsonNumber(text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
                    ? JmesValue.From(number)
                    : JmesValue.Null;
            default:
                return JmesValue.Null;
        }
    }

    public static JmesValue Type(JmesValue value) => JmesValue.From(value.TypeName);

    /// <summary>Orders two numbers or two strings (strings by code point, as the specification says).</summary>
    public static int CompareSortable(JmesValue a, JmesValue b) =>
        a.Type == JmesType.Number ? a.GetNumber().CompareTo(b.GetNumber()) : CompareCodePoints(a.GetString(), b.GetString());

    public static int CompareCodePoints(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var ea = a.EnumerateRunes();
        var eb = b.EnumerateRunes();
        while (true)
        {
            var hasA = ea.MoveNext();
            var hasB = eb.MoveNext();
            if (!hasA || !hasB)
            {
                return hasA ? 1 : hasB ? -1 : 0;
            }

            var c = ea.Current.Value.CompareTo(eb.Current.Value);
            if (c != 0)
            {
                return c;
            }
        }
    }

    internal static int CodePointCount(string text)
    {
        var count = 0;
        foreach (var _ in text.EnumerateRunes())
        {
            count++;
        }

        return count;
    }

    private static bool IsJsonNumber(string text)
    {
        // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
        var i = 0;
        if (i < text.Length && text[i] == '-')
        {
            i++;
        }

        if (i >= text.Length || !char.IsAsciiDigit(text[i]))
        {
            return false;
        }

        if (text[i] == '0')
        {
            i++;
        }
        else
        {
            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                i++;
            }
        }

        if (i < text.Length && text[i] == '.')
        {
            i++;
            if (i >= text.Length || !char.IsAsciiDigit(text[i]))
            {
                return false;
            }

            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                i++;
            }
        }

        if (i < text.Length && text[i] is 'e' or 'E')
        {
            i++;
            if (i < text.Length && text[i] is '+' or '-')
            {
                i++;
            }

            if (i >= text.Length || !char.IsAsciiDigit(text[i]))
            {
                return false;
            }

            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                i++;
            }
        }

        return i == text.Length;
    }

    private static JmesValue Extreme(string function, JmesValue values, bool max)
    {
        Expect(function, 1, values, JmesType.Array);
        JmesValue? best = null;
        JmesType? type = null;
        foreach (var item in values.EnumerateArray())
        {
            if (item.Type is not (JmesType.Number or JmesType.String) || (type is { } t && t != item.Type))
            {
                throw new JmesPathException(JmesErrorKind.InvalidType, $"invalid type for argument 1 of {function}(): expected array[number] or array[string]");
            }

            type = item.Type;
            if (best is null || (max ? CompareSortable(item, best.Value) > 0 : CompareSortable(item, best.Value) < 0))
            {
                best = item;
            }
        }

        return best ?? JmesValue.Null;
    }

    private static JmesValue ExtremeBy(string function, JmesValue values, JmesFunc key, JmesContext context, bool max)
    {
        ArgumentNullException.ThrowIfNull(key);
        Expect(function, 1, values, JmesType.Array);
        JmesValue? best = null;
        JmesValue bestKey = default;
        JmesType? type = null;
        foreach (var item in values.EnumerateArray())
        {
            var k = key(item, context);
            if (k.Type is not (JmesType.Number or JmesType.String) || (type is { } t && t != k.Type))
            {
                throw new JmesPathException(JmesErrorKind.InvalidType, $"invalid type for the key of {function}(): expected number or string, got {k.TypeName}");
            }

            type = k.Type;
            if (best is null || (max ? CompareSortable(k, bestKey) > 0 : CompareSortable(k, bestKey) < 0))
            {
                best = item;
                bestKey = k;
            }
        }

        return best ?? JmesValue.Null;
    }

    private static void StableSort<T>(T[] items, Comparison<T> comparison)
    {
        // Insertion into a merge sort keeps equal keys in their original order, as sort_by requires.
        if (items.Length < 2)
        {
            return;
        }

        var temp = new T[items.Length];
        MergeSort(items, temp, 0, items.Length, comparison);
    }

    private static void MergeSort<T>(T[] items, T[] temp, int start, int end, Comparison<T> comparison)
    {
        if (end - start < 2)
        {
            return;
        }

        var middle = (start + end) / 2;
        MergeSort(items, temp, start, middle, comparison);
        MergeSort(items, temp, middle, end, comparison);
        int i = start, j = middle, k = start;
        while (i < middle && j < end)
        {
            temp[k++] = comparison(items[j], items[i]) < 0 ? items[j++] : items[i++];
        }

        while (i < middle)
        {
            temp[k++] = items[i++];
        }

        while (j < end)
        {
            temp[k++] = items[j++];
        }

        Array.Copy(temp, start, items, start, end - start);
    }

    internal static double Number(string function, int position, JmesValue value)
    {
        Expect(function, position, value, JmesType.Number);
        return value.GetNumber();
    }

    internal static string String(string function, int position, JmesValue value)
    {
        Expect(function, position, value, JmesType.String);
        return value.GetString();
    }

    internal static void Expect(string function, int position, JmesValue value, JmesType type)
    {
        if (value.Type != type)
        {
            throw JmesPathException.Type(function, position, JmesValue.TypeNameOf(type), value);
        }
    }

    private static double[] NumberArray(string function, int position, JmesValue values)
    {
        if (values.Type != JmesType.Array)
        {
            throw JmesPathException.Type(function, position, "array[number]", values);
        }

        var result = new double[values.GetArrayLength()];
        var i = 0;
        foreach (var item in values.EnumerateArray())
        {
            if (item.Type != JmesType.Number)
            {
                throw JmesPathException.Type(function, position, "array[number]", values);
            }

            result[i++] = item.GetNumber();
        }

        return result;
    }

    private static string[] StringArray(string function, int position, JmesValue values)
    {
        if (values.Type != JmesType.Array)
        {
            throw JmesPathException.Type(function, position, "array[string]", values);
        }

        var result = new string[values.GetArrayLength()];
        var i = 0;
        foreach (var item in values.EnumerateArray())
        {
            if (item.Type != JmesType.String)
            {
                throw JmesPathException.Type(function, position, "array[string]", values);
            }

            result[i++] = item.GetString();
        }

        return result;
    }
}
