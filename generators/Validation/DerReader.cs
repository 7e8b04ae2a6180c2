using System;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace PolicyCompiler.Generators.Validation;

internal sealed class DerException(string message) : Exception(message);

/// <summary>A strict reader for the few DER types a SubjectPublicKeyInfo uses: definite, minimal lengths only.</summary>
internal sealed class DerReader(byte[] data, int start, int end)
{
    private int _position = start;

    public DerReader(byte[] data)
        : this(data, 0, data.Length)
    {
    }

    public bool HasMore => _position < end;

    public void EnsureEnd(string where)
    {
        if (_position != end)
        {
            throw new DerException($"unexpected trailing data {where}");
        }
    }

    /// <summary>The next element whatever its tag, as its complete encoding (tag, length and content).</summary>
    public byte[] ReadEncoded(out byte tag)
    {
        var start = _position;
        tag = PeekTag();
        ReadTag(tag, $"element 0x{tag.ToString("x2", CultureInfo.InvariantCulture)}");
        var encoded = new byte[_position - start];
        Array.Copy(data, start, encoded, 0, encoded.Length);
        return encoded;
    }

    public byte PeekTag() => _position < end ? data[_position] : throw new DerException("expected an element but the data ended");

    /// <summary>Reads a constructed element with the given tag (e.g. 0xA0 for [0] EXPLICIT) and returns a reader over its content.</summary>
    public DerReader ReadConstructed(byte tag, string name)
    {
        var (contentStart, contentEnd) = ReadTag(tag, name);
        return new DerReader(data, contentStart, contentEnd);
    }

    public DerReader ReadSequence()
    {
        var (contentStart, contentEnd) = ReadTag(0x30, "SEQUENCE");
        return new DerReader(data, contentStart, contentEnd);
    }

    public string ReadOid()
    {
        var (s, e) = ReadTag(0x06, "OBJECT IDENTIFIER");
        if (e == s)
        {
            throw new DerException("empty OBJECT IDENTIFIER");
        }

        var builder = new StringBuilder();
        BigInteger value = 0;
        var first = true;
        for (var i = s; i < e; i++)
        {
            if (value == 0 && data[i] == 0x80)
            {
                throw new DerException("OBJECT IDENTIFIER is not minimally encoded");
            }

            value = (value << 7) | (data[i] & 0x7F);
            if ((data[i] & 0x80) != 0)
            {
                continue;
            }

            if (first)
            {
                var top = value < 80 ? value / 40 : 2;
                builder.Append(top.ToString(CultureInfo.InvariantCulture)).Append('.').Append((value - (top * 40)).ToString(CultureInfo.InvariantCulture));
                first = false;
            }
            else
            {
                builder.Append('.').Append(value.ToString(CultureInfo.InvariantCulture));
            }

            value = 0;
        }

        if ((data[e - 1] & 0x80) != 0)
        {
            throw new DerException("OBJECT IDENTIFIER is truncated");
        }

        return builder.ToString();
    }

    public byte[] ReadBitString()
    {
        var (s, e) = ReadTag(0x03, "BIT STRING");
        if (e == s || data[s] != 0)
        {
            throw new DerException("the key BIT STRING has unused bits");
        }

        var result = new byte[e - s - 1];
        Array.Copy(data, s + 1, result, 0, result.Length);
        return result;
    }

    /// <summary>A BIT STRING's content whatever its unused-bit count (certificate signatures).</summary>
    public byte[] ReadBitStringRaw()
    {
        var (s, e) = ReadTag(0x03, "BIT STRING");
        var result = new byte[e - s];
        Array.Copy(data, s, result, 0, result.Length);
        return result;
    }

    public void ReadNull()
    {
        var (s, e) = ReadTag(0x05, "NULL");
        if (e != s)
        {
            throw new DerException("NULL with content");
        }
    }

    public BigInteger ReadPositiveInteger()
    {
        var (s, e) = ReadTag(0x02, "INTEGER");
        if (e == s)
        {
            throw new DerException("empty INTEGER");
        }

        if ((data[s] & 0x80) != 0)
        {
            throw new DerException("negative INTEGER where a positive one is required");
        }

        if (e - s > 1 && data[s] == 0 && (data[s + 1] & 0x80) == 0)
        {
            throw new DerException("INTEGER is not minimally encoded");
        }

        var little = new byte[e - s + 1];
        for (var i = 0; i < e - s; i++)
        {
            little[i] = data[e - 1 - i];
        }

        return new BigInteger(little);
    }

    private (int Start, int End) ReadTag(byte tag, string name)
    {
        if (_position >= end)
        {
            throw new DerException($"expected {name} but the data ended");
        }

        if (data[_position] != tag)
        {
            throw new DerException($"expected {name} but found tag 0x{data[_position].ToString("x2", CultureInfo.InvariantCulture)}");
        }

        _position++;
        if (_position >= end)
        {
            throw new DerException($"{name} has no length");
        }

        int length = data[_position++];
        if ((length & 0x80) != 0)
        {
            var count = length & 0x7F;
            if (count == 0 || count > 3)
            {
                throw new DerException($"{name} has an unsupported length encoding");
            }

            length = 0;
            for (var i = 0; i < count; i++)
            {
                if (_position >= end)
                {
                    throw new DerException($"{name} length is truncated");
                }

                length = (length << 8) | data[_position++];
            }

            if (length < 0x80 || (count > 1 && length < (1 << (8 * (count - 1)))))
            {
                throw new DerException($"{name} length is not minimally encoded");
            }
        }

        if (length > end - _position)
        {
            throw new DerException($"{name} is longer than the data");
        }

        var start = _position;
        _position += length;
        return (start, _position);
    }
}
