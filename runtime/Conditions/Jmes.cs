using System.Buffers;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary>
/// The operations compiled JMESPath expressions are made of. The generator turns each expression into straight-line
/// C# calling these (field access is <see cref="JmesValue.Field(string)"/>); there is no expression tree at run time.
/// Projection right-hand sides are static lambdas, so evaluating an expression allocates only the values it builds.
/// </summary>
public static class Jmes
{
    /// <summary><c>left[*].rhs</c>, <c>left[].rhs</c> after flattening, <c>left[a:b].rhs</c> after slicing: apply to every element, drop nulls.</summary>
    public static JmesValue Project(JmesValue source, JmesFunc? rhs, JmesContext context)
    {
        if (source.Type != JmesType.Array)
        {
            return JmesValue.Null;
        }

        if (rhs is null)
        {
            return DropNulls(source);
        }

        var builder = new ValueBuilder(source.GetArrayLength());
        foreach (var item in source.EnumerateArray())
        {
            var result = rhs(item, context);
            if (!result.IsNull)
            {
                builder.Add(result);
            }
        }

        return builder.ToValue();
    }

    /// <summary><c>left.*.rhs</c>: a projection over the values of an object.</summary>
    public static JmesValue ProjectValues(JmesValue source, JmesFunc? rhs, JmesContext context)
    {
        if (source.Type != JmesType.Object)
        {
            return JmesValue.Null;
        }

        var builder = new ValueBuilder(source.GetPropertyCount());
        foreach (var property in source.EnumerateObject())
        {
            var result = rhs is null ? property.Value : rhs(property.Value, context);
            if (!result.IsNull)
            {
                builder.Add(result);
            }
        }

        return builder.ToValue();
    }

    /// <summary><c>left[?condition].rhs</c>.</summary>
    public static JmesValue Filter(JmesValue source, JmesFunc condition, JmesFunc? rhs, JmesContext context)
    {
        ArgumentNullException.ThrowIfNull(condition);
        if (source.Type != JmesType.Array)
        {
            return JmesValue.Null;
        }

        var builder = new ValueBuilder(source.GetArrayLength());
        foreach (var item in source.EnumerateArray())
        {
            if (!condition(item, context).IsTruthy)
            {
                continue;
            }

            var result = rhs is null ? item : rhs(item, context);
            if (!result.IsNull)
            {
                builder.Add(result);
            }
        }

        return builder.ToValue();
    }

    /// <summary><c>left[]</c>: one level of nested arrays merged into the outer one; null unless an array.</summary>
    public static JmesValue Flatten(JmesValue source)
    {
        if (source.Type != JmesType.Array)
        {
            return JmesValue.Null;
        }

        var builder = new ValueBuilder(source.GetArrayLength());
        foreach (var item in source.EnumerateArray())
        {
            if (item.Type == JmesType.Array)
            {
                foreach (var inner in item.EnumerateArray())
                {
                    builder.Add(inner);
                }
            }
            else
            {
                builder.Add(item);
            }
        }

        return builder.ToValue();
    }

    /// <summary><c>left[n]</c>, negative indices counting from the end; null when out of range or not an array.</summary>
    public static JmesValue Index(JmesValue source, int index)
    {
        if (source.Type != JmesType.Array)
        {
            return JmesValue.Null;
        }

        var length = source.GetArrayLength();
        if (index < 0)
        {
            index += length;
        }

        return index < 0 || index >= length ? JmesValue.Null : source.GetArrayItem(index);
    }

    /// <summary><c>left[start:stop:step]</c> with Python's slice rules; strings slice by code point. Step 0 is rejected at build time.</summary>
    public static JmesValue Slice(JmesValue source, int? start, int? stop, int step)
    {
        if (step == 0)
        {
            throw new JmesPathException(JmesErrorKind.InvalidValue, "slice step cannot be 0");
        }

        if (source.Type == JmesType.String)
        {
            var runes = source.GetString().EnumerateRunes().ToArray();
            var sb = new System.Text.StringBuilder();
            foreach (var i in SliceIndices(runes.Length, start, stop, step))
            {
                sb.Append(runes[i].ToString());
            }

            return JmesValue.From(sb.ToString());
        }

        if (source.Type != JmesType.Array)
        {
            return JmesValue.Null;
        }

        var items = source.ToArray();
        var builder = new ValueBuilder(items.Length);
        foreach (var i in SliceIndices(items.Length, start, stop, step))
        {
            builder.Add(items[i]);
        }

        return builder.ToValue();
    }

    private static IEnumerable<int> SliceIndices(int length, int? start, int? stop, int step)
    {
        int Adjust(int value, bool stepNegative)
        {
            if (value < 0)
            {
                value += length;
                if (value < 0)
                {
                    value = stepNegative ? -1 : 0;
                }
            }
            else if (value >= length)
            {
                value = stepNegative ? length - 1 : length;
            }

            return value;
        }

        var negative = step < 0;
        var from = start is { } s ? Adjust(s, negative) : negative ? length - 1 : 0;
        var to = stop is { } e ? Adjust(e, negative) : negative ? -1 : length;
        if (negative)
        {
            for (var i = from; i > to; i += step)
            {
                yield return i;
            }
        }
        else
        {
            for (var i = from; i < to; i += step)
            {
                yield return i;
            }
        }
    }

    /// <summary><c>left == right</c>: deep equality; numbers by value.</summary>
    public static JmesValue Equal(JmesValue left, JmesValue right) => JmesValue.From(JmesValue.DeepEquals(left, right));

    /// <summary><c>left != right</c>.</summary>
    public static JmesValue NotEqual(JmesValue left, JmesValue right) => JmesValue.From(!JmesValue.DeepEquals(left, right));

    /// <summary><c>left &lt; right</c>: numbers only; anything else is null.</summary>
    public static JmesValue LessThan(JmesValue left, JmesValue right) =>
        BothNumbers(left, right) ? JmesValue.From(left.GetNumber() < right.GetNumber()) : JmesValue.Null;

    public static JmesValue LessThanOrEqual(JmesValue left, JmesValue right) =>
        BothNumbers(left, right) ? JmesValue.From(left.GetNumber() <= right.GetNumber()) : JmesValue.Null;

    public static JmesValue GreaterThan(JmesValue left, JmesValue right) =>
        BothNumbers(left, right) ? JmesValue.From(left.GetNumber() > right.GetNumber()) : JmesValue.Null;

    public static JmesValue GreaterThanOrEqual(JmesValue left, JmesValue right) =>
        BothNumbers(left, right) ? JmesValue.From(left.GetNumber() >= right.GetNumber()) : JmesValue.Null;

    /// <summary><c>!value</c>.</summary>
    public static JmesValue Not(JmesValue value) => value.IsTruthy ? JmesValue.False : JmesValue.True;

    /// <summary><c>[a, b, …]</c> evaluated against a null current node is null.</summary>
    public static JmesValue List(params ReadOnlySpan<JmesValue> items)
    {
        var array = new JmesValue[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            array[i] = items[i].WithoutMissing();
        }

        return JmesValue.FromArray(array);
    }

    private static bool BothNumbers(JmesValue left, JmesValue right) =>
        left.Type == JmesType.Number && right.Type == JmesType.Number;

    private static JmesValue DropNulls(JmesValue source)
    {
        var builder = new ValueBuilder(source.GetArrayLength());
        foreach (var item in source.EnumerateArray())
        {
            if (!item.IsNull)
            {
                builder.Add(item);
            }
        }

        return builder.ToValue();
    }

    /// <summary>Collects values in a pooled buffer and hands out one exactly-sized array.</summary>
    internal ref struct ValueBuilder
    {
        private JmesValue[] _buffer;
        private int _count;

        public ValueBuilder(int capacity)
        {
            _buffer = ArrayPool<JmesValue>.Shared.Rent(Math.Max(capacity, 4));
            _count = 0;
        }

        public void Add(JmesValue value)
        {
            if (_count == _buffer.Length)
            {
                var bigger = ArrayPool<JmesValue>.Shared.Rent(_count * 2);
                _buffer.AsSpan(0, _count).CopyTo(bigger);
                ArrayPool<JmesValue>.Shared.Return(_buffer, clearArray: true);
                _buffer = bigger;
            }

            _buffer[_count++] = value.WithoutMissing();
        }

        public JmesValue ToValue()
        {
            var result = _count == 0 ? [] : _buffer.AsSpan(0, _count).ToArray();
            ArrayPool<JmesValue>.Shared.Return(_buffer, clearArray: true);
            _buffer = [];
            return JmesValue.FromArray(result);
        }
    }
}
