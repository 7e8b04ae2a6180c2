using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary>The six JMESPath types.</summary>
public enum JmesType : byte
{
    Null,
    Boolean,
    Number,
    String,
    Array,
    Object,
}

/// <summary>
/// A JMESPath value as the compiled conditions see it: either a view of a <see cref="JsonElement"/> (navigating a
/// document never copies it) or a value the expression constructed (numbers, strings, arrays and objects built by
/// functions, projections and multi-selects). A field that was looked up but does not exist is <see cref="IsMissing"/>:
/// it behaves as <c>null</c> everywhere, and Kyverno's substitution layer uses it to tell an unresolvable variable from
/// one whose value is <c>null</c>.
/// </summary>
public readonly struct JmesValue : IEquatable<JmesValue>
{
    private readonly JsonElement _element;
    private readonly object? _ref;
    private readonly double _number;
    private readonly JmesType _type;
    private readonly byte _flags;

    private const byte JsonFlag = 1;
    private const byte MissingFlag = 2;

    public static readonly JmesValue Null;

    /// <summary>The value of a field that does not exist: <c>null</c> for JMESPath, "not found" for Kyverno.</summary>
    public static readonly JmesValue Missing = new(JmesType.Null, 0, null, MissingFlag);

    public static readonly JmesValue True = new(JmesType.Boolean, 1, null, 0);

    public static readonly JmesValue False = new(JmesType.Boolean, 0, null, 0);

    public static readonly JmesValue EmptyString = new(JmesType.String, 0, string.Empty, 0);

    public static readonly JmesValue EmptyArray = new(JmesType.Array, 0, System.Array.Empty<JmesValue>(), 0);

    private JmesValue(JmesType type, double number, object? reference, byte flags)
    {
        _element = default;
        _type = type;
        _number = number;
        _ref = reference;
        _flags = flags;
    }

    private JmesValue(JsonElement element)
    {
        _element = element;
        _ref = null;
        _number = 0;
        _flags = JsonFlag;
        _type = element.ValueKind switch
        {
            JsonValueKind.Object => JmesType.Object,
            JsonValueKind.Array => JmesType.Array,
            JsonValueKind.String => JmesType.String,
            JsonValueKind.Number => JmesType.Number,
            JsonValueKind.True or JsonValueKind.False => JmesType.Boolean,
            _ => JmesType.Null,
        };
    }

    public JmesType Type => _type;

    public bool IsNull => _type == JmesType.Null;

    /// <summary>True for the result of looking up a field that does not exist (Kyverno's "Unknown key").</summary>
    public bool IsMissing => (_flags & MissingFlag) != 0;

    private bool IsJson => (_flags & JsonFlag) != 0;

    /// <summary>The element this value views, when it came from a document.</summary>
    public bool TryGetJsonElement(out JsonElement element)
    {
        element = _element;
        return IsJson;
    }

    public static JmesValue FromJson(JsonElement element) => new(element);

    public static JmesValue From(bool value) => value ? True : False;

    public static JmesValue From(double value) => new(JmesType.Number, value, null, 0);

    public static JmesValue From(string? value) => value is null ? Null : new(JmesType.String, 0, value, 0);

    /// <summary>An array over <paramref name="items"/>, which the value now owns.</summary>
    public static JmesValue FromArray(JmesValue[] items)
    {
        ArgumentNullException.ThrowIfNull(items);
        return new(JmesType.Array, 0, items, 0);
    }

    public static JmesValue FromObject(JmesObject value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new(JmesType.Object, 0, value, 0);
    }

    /// <summary>Parses JSON text (a literal, or <c>parse_json</c>) into a value that owns its data.</summary>
    public static JmesValue ParseJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 });
        return FromJson(document.RootElement.Clone());
    }

    public bool IsTruthy => _type switch
    {
        JmesType.Null => false,
        JmesType.Boolean => GetBoolean(),
        JmesType.Number => true,
        JmesType.String => IsJson ? !_element.ValueEquals(ReadOnlySpan<byte>.Empty) : ((string)_ref!).Length != 0,
        JmesType.Array => GetArrayLength() != 0,
        _ => GetPropertyCount() != 0,
    };

    public bool GetBoolean()
    {
        Expect(JmesType.Boolean);
        return IsJson ? _element.ValueKind == JsonValueKind.True : _number != 0;
    }

    public double GetNumber()
    {
        Expect(JmesType.Number);
        return IsJson ? _element.GetDouble() : _number;
    }

    public string GetString()
    {
        Expect(JmesType.String);
        return IsJson ? _element.GetString()! : (string)_ref!;
    }

    /// <summary>Compares a string value with <paramref name="text"/> without materialising the string.</summary>
    public bool StringEquals(string text)
    {
        if (_type != JmesType.String)
        {
            return false;
        }

        return IsJson ? _element.ValueEquals(text) : string.Equals((string)_ref!, text, StringComparison.Ordinal);
    }

    /// <summary>As <see cref="StringEquals(string)"/>, with the text also given as UTF-8 so a document string compares without transcoding.</summary>
    public bool StringEquals(ReadOnlySpan<byte> utf8Text, string text)
    {
        if (_type != JmesType.String)
        {
            return false;
        }

        return IsJson ? _element.ValueEquals(utf8Text) : string.Equals((string)_ref!, text, StringComparison.Ordinal);
    }

    public int GetArrayLength()
    {
        Expect(JmesType.Array);
        return IsJson ? _element.GetArrayLength() : ((JmesValue[])_ref!).Length;
    }

    public int GetPropertyCount()
    {
        Expect(JmesType.Object);
        return IsJson ? _element.GetPropertyCount() : ((JmesObject)_ref!).Count;
    }

    /// <summary>The element at <paramref name="index"/> of an array (no negative indices here; see <see cref="Jmes.Index"/>).</summary>
    public JmesValue GetArrayItem(int index)
    {
        Expect(JmesType.Array);
        return IsJson ? new JmesValue(_element[index]) : ((JmesValue[])_ref!)[index];
    }

    /// <summary>JMESPath field access: the member of an object, <see cref="Missing"/> when it has none, null on anything else.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public JmesValue Field(string name)
    {
        if (_type != JmesType.Object)
        {
            return IsMissing ? Missing : Null;
        }

        if (IsJson)
        {
            return _element.TryGetProperty(name, out var property) ? new JmesValue(property) : Missing;
        }

        return ((JmesObject)_ref!).TryGetValue(name, out var value) ? value : Missing;
    }

    /// <summary>Field access with the name also given as UTF-8, which spares the document lookup a transcoding.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public JmesValue Field(ReadOnlySpan<byte> utf8Name, string name)
    {
        if (_type != JmesType.Object)
        {
            return IsMissing ? Missing : Null;
        }

        if (IsJson)
        {
            return _element.TryGetProperty(utf8Name, out var property) ? new JmesValue(property) : Missing;
        }

        return ((JmesObject)_ref!).TryGetValue(name, out var value) ? value : Missing;
    }

    public ArrayEnumerator EnumerateArray()
    {
        Expect(JmesType.Array);
        return IsJson ? new ArrayEnumerator(_element.EnumerateArray()) : new ArrayEnumerator((JmesValue[])_ref!);
    }

    public ObjectEnumerator EnumerateObject()
    {
        Expect(JmesType.Object);
        return IsJson ? new ObjectEnumerator(_element.EnumerateObject()) : new ObjectEnumerator((JmesObject)_ref!);
    }

    /// <summary>The array's items as a fresh array (for functions that sort or index repeatedly).</summary>
    public JmesValue[] ToArray()
    {
        Expect(JmesType.Array);
        if (!IsJson)
        {
            return (JmesValue[])((JmesValue[])_ref!).Clone();
        }

        var result = new JmesValue[_element.GetArrayLength()];
        var i = 0;
        foreach (var item in _element.EnumerateArray())
        {
            result[i++] = new JmesValue(item);
        }

        return result;
    }

    /// <summary>The same value without the <see cref="IsMissing"/> mark.</summary>
    public JmesValue WithoutMissing() => IsMissing ? Null : this;

    public static bool DeepEquals(JmesValue left, JmesValue right)
    {
        if (left._type != right._type)
        {
            return false;
        }

        switch (left._type)
        {
            case JmesType.Null:
                return true;
            case JmesType.Boolean:
                return left.GetBoolean() == right.GetBoolean();
            case JmesType.Number:
                return left.GetNumber() == right.GetNumber();
            case JmesType.String:
                if (left.IsJson && !right.IsJson)
                {
                    return left._element.ValueEquals((string)right._ref!);
                }

                if (right.IsJson && !left.IsJson)
                {
                    return right._element.ValueEquals((string)left._ref!);
                }

                return string.Equals(left.GetString(), right.GetString(), StringComparison.Ordinal);
            case JmesType.Array:
                {
                    if (left.GetArrayLength() != right.GetArrayLength())
                    {
                        return false;
                    }

                    var r = right.EnumerateArray();
                    foreach (var item in left.EnumerateArray())
                    {
                        r.MoveNext();
                        if (!DeepEquals(item, r.Current))
                        {
                            return false;
                        }
                    }

                    return true;
                }

            default:
                {
                    if (left.GetPropertyCount() != right.GetPropertyCount())
                    {
                        return false;
                    }

                    foreach (var property in left.EnumerateObject())
                    {
                        var other = right.Field(property.Name);
                        if (other.IsMissing || !DeepEquals(property.Value, other))
                        {
                            return false;
                        }
                    }

                    return true;
                }
        }
    }

    public bool Equals(JmesValue other) => DeepEquals(this, other);

    public override bool Equals(object? obj) => obj is JmesValue other && DeepEquals(this, other);

    public override int GetHashCode() => _type switch
    {
        JmesType.Number => GetNumber().GetHashCode(),
        JmesType.String => StringComparer.Ordinal.GetHashCode(GetString()),
        JmesType.Boolean => GetBoolean() ? 1 : 2,
        JmesType.Array => 3 + GetArrayLength(),
        JmesType.Object => 5 + GetPropertyCount(),
        _ => 0,
    };

    public static bool operator ==(JmesValue left, JmesValue right) => DeepEquals(left, right);

    public static bool operator !=(JmesValue left, JmesValue right) => !DeepEquals(left, right);

    /// <summary>Compact JSON text, numbers written as Go's <c>encoding/json</c> writes a float64.</summary>
    public string ToJsonString()
    {
        if (_type == JmesType.String && !IsJson)
        {
            var buffer = new ArrayBufferWriter<byte>();
            using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
            {
                writer.WriteStringValue((string)_ref!);
            }

            return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }

        var output = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(output, WriterOptions))
        {
            WriteTo(writer);
        }

        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = false,
    };

    public void WriteTo(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        switch (_type)
        {
            case JmesType.Null:
                writer.WriteNullValue();
                break;
            case JmesType.Boolean:
                writer.WriteBooleanValue(GetBoolean());
                break;
            case JmesType.Number:
                writer.WriteRawValue(GoFormat.FormatJsonNumber(GetNumber()), skipInputValidation: true);
                break;
            case JmesType.String:
                if (IsJson)
                {
                    _element.WriteTo(writer);
                }
                else
                {
                    writer.WriteStringValue((string)_ref!);
                }

                break;
            case JmesType.Array:
                writer.WriteStartArray();
                foreach (var item in EnumerateArray())
                {
                    item.WriteTo(writer);
                }

                writer.WriteEndArray();
                break;
            default:
                writer.WriteStartObject();
                foreach (var property in EnumerateObject())
                {
                    writer.WritePropertyName(property.Name);
                    property.Value.WriteTo(writer);
                }

                writer.WriteEndObject();
                break;
        }
    }

    /// <summary>The JMESPath type name: <c>null</c>, <c>boolean</c>, <c>number</c>, <c>string</c>, <c>array</c>, <c>object</c>.</summary>
    public string TypeName => TypeNameOf(_type);

    public static string TypeNameOf(JmesType type) => type switch
    {
        JmesType.Null => "null",
        JmesType.Boolean => "boolean",
        JmesType.Number => "number",
        JmesType.String => "string",
        JmesType.Array => "array",
        _ => "object",
    };

    public override string ToString() => _type switch
    {
        JmesType.String => GetString(),
        JmesType.Number => GetNumber().ToString(CultureInfo.InvariantCulture),
        _ => ToJsonString(),
    };

    private void Expect(JmesType type)
    {
        if (_type != type)
        {
            throw new InvalidOperationException($"The value is {TypeName}, not {TypeNameOf(type)}.");
        }
    }

    /// <summary>Enumerates an array value, document-backed or constructed, without allocating.</summary>
    public struct ArrayEnumerator
    {
        private JsonElement.ArrayEnumerator _json;
        private readonly JmesValue[]? _items;
        private int _index;

        internal ArrayEnumerator(JsonElement.ArrayEnumerator json)
        {
            _json = json;
            _items = null;
            _index = -1;
        }

        internal ArrayEnumerator(JmesValue[] items)
        {
            _json = default;
            _items = items;
            _index = -1;
        }

        public readonly JmesValue Current => _items is null ? new JmesValue(_json.Current) : _items[_index];

        public bool MoveNext() => _items is null ? _json.MoveNext() : ++_index < _items.Length;

        public readonly ArrayEnumerator GetEnumerator() => this;
    }

    /// <summary>Enumerates an object value's members in document (or insertion) order.</summary>
    public struct ObjectEnumerator
    {
        private JsonElement.ObjectEnumerator _json;
        private readonly JmesObject? _object;
        private int _index;

        internal ObjectEnumerator(JsonElement.ObjectEnumerator json)
        {
            _json = json;
            _object = null;
            _index = -1;
        }

        internal ObjectEnumerator(JmesObject value)
        {
            _json = default;
            _object = value;
            _index = -1;
        }

        public readonly JmesProperty Current => _object is null
            ? new JmesProperty(_json.Current.Name, new JmesValue(_json.Current.Value))
            : _object.GetAt(_index);

        public bool MoveNext() => _object is null ? _json.MoveNext() : ++_index < _object.Count;

        public readonly ObjectEnumerator GetEnumerator() => this;
    }
}

/// <summary>A member of an object value.</summary>
public readonly record struct JmesProperty(string Name, JmesValue Value);
