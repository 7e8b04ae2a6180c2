namespace PolicyCompiler.Runtime.Conditions;

/// <summary>
/// An object built by an expression (multi-select hash, <c>merge</c>, <c>items</c>, Kyverno functions): members in
/// insertion order; setting an existing name replaces its value in place, as JSON objects and Go maps do.
/// </summary>
public sealed class JmesObject
{
    private const int IndexThreshold = 8;

    private string[] _names;
    private JmesValue[] _values;
    private Dictionary<string, int>? _index;

    public JmesObject(int capacity = 4)
    {
        _names = new string[Math.Max(capacity, 1)];
        _values = new JmesValue[_names.Length];
    }

    public int Count { get; private set; }

    public JmesValue this[string name]
    {
        get => TryGetValue(name, out var value) ? value : JmesValue.Missing;
        set => Set(name, value);
    }

    public JmesProperty GetAt(int index) => new(_names[index], _values[index]);

    public bool TryGetValue(string name, out JmesValue value)
    {
        var i = IndexOf(name);
        if (i < 0)
        {
            value = default;
            return false;
        }

        value = _values[i];
        return true;
    }

    /// <summary>Adds or replaces a member and returns this object, so construction reads as one expression.</summary>
    public JmesObject Set(string name, JmesValue value)
    {
        ArgumentNullException.ThrowIfNull(name);
        var i = IndexOf(name);
        if (i >= 0)
        {
            _values[i] = value.WithoutMissing();
            return this;
        }

        if (Count == _names.Length)
        {
            Array.Resize(ref _names, Count * 2);
            Array.Resize(ref _values, Count * 2);
        }

        _names[Count] = name;
        _values[Count] = value.WithoutMissing();
        _index?.Add(name, Count);
        Count++;
        if (_index is null && Count > IndexThreshold)
        {
            _index = new Dictionary<string, int>(Count * 2, StringComparer.Ordinal);
            for (var j = 0; j < Count; j++)
            {
                _index[_names[j]] = j;
            }
        }

        return this;
    }

    private int IndexOf(string name)
    {
        if (_index is not null)
        {
            return _index.TryGetValue(name, out var i) ? i : -1;
        }

        for (var i = 0; i < Count; i++)
        {
            if (string.Equals(_names[i], name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }
}
