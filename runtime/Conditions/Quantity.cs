using System.Globalization;
using System.Numerics;
using System.Text;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary>How a Kubernetes quantity prints: <c>12Ki</c> (binary), <c>12k</c> (decimal SI), <c>12e3</c> (exponent).</summary>
public enum QuantityFormat
{
    DecimalExponent,
    BinarySI,
    DecimalSI,
}

/// <summary>
/// A Kubernetes resource quantity (<c>k8s.io/apimachinery/pkg/api/resource.Quantity</c>): parsed, compared, added and
/// printed in its canonical form as Kyverno's arithmetic and operators do (<c>add('12Ki', '13')</c> is <c>12301</c>).
/// The value is exact: <see cref="Unscaled"/> × 10^-<see cref="Scale"/>.
/// </summary>
public readonly struct Quantity : IComparable<Quantity>, IEquatable<Quantity>
{
    public Quantity(BigInteger unscaled, int scale, QuantityFormat format)
    {
        Unscaled = unscaled;
        Scale = scale;
        Format = format;
    }

    public BigInteger Unscaled { get; }

    public int Scale { get; }

    public QuantityFormat Format { get; }

    public bool IsZero => Unscaled.IsZero;

    public static Quantity FromInt64(long value, QuantityFormat format) => new(value, 0, format);

    /// <summary><c>resource.ParseQuantity</c>.</summary>
    public static bool TryParse(string text, out Quantity quantity)
    {
        ArgumentNullException.ThrowIfNull(text);
        quantity = default;
        if (text.Length == 0)
        {
            return false;
        }

        if (text == "0")
        {
            quantity = new Quantity(BigInteger.Zero, 0, QuantityFormat.DecimalSI);
            return true;
        }

        if (!TrySplit(text, out var positive, out var numerator, out var denominator, out var suffix))
        {
            return false;
        }

        if (!TryInterpretSuffix(suffix, out var base2, out var exponent, out var format))
        {
            return false;
        }

        var digits = numerator + denominator;
        var unscaled = BigInteger.Parse(digits.Length == 0 ? "0" : digits, NumberStyles.None, CultureInfo.InvariantCulture);
        var scale = denominator.Length;
        if (base2)
        {
            unscaled *= BigInteger.Pow(2, exponent);
        }
        else
        {
            scale -= exponent;
        }

        // Values finer than a nano are rounded up to a nano (away from zero), as Kubernetes does.
        if (scale > 9)
        {
            var divisor = BigInteger.Pow(10, scale - 9);
            var quotient = BigInteger.DivRem(unscaled, divisor, out var remainder);
            unscaled = remainder.IsZero ? quotient : quotient + 1;
            scale = 9;
        }

        if (format == QuantityFormat.BinarySI && Compare(unscaled, scale, BigInteger.One, 0) < 0 && !unscaled.IsZero)
        {
            format = QuantityFormat.DecimalSI;
        }

        quantity = new Quantity(positive ? unscaled : -unscaled, scale, format);
        return true;
    }

    private static bool TrySplit(string text, out bool positive, out string numerator, out string denominator, out string suffix)
    {
        positive = true;
        numerator = denominator = suffix = string.Empty;
        var pos = 0;
        var end = text.Length;
        if (text[0] == '-')
        {
            positive = false;
            pos++;
        }
        else if (text[0] == '+')
        {
            pos++;
        }

        while (pos < end && text[pos] == '0')
        {
            pos++;
        }

        if (pos >= end)
        {
            numerator = "0";
            return true;
        }

        var start = pos;
        while (pos < end && char.IsAsciiDigit(text[pos]))
        {
            pos++;
        }

        numerator = text[start..pos];
        if (numerator.Length == 0)
        {
            numerator = "0";
        }

        if (pos < end && text[pos] == '.')
        {
            pos++;
            start = pos;
            while (pos < end && char.IsAsciiDigit(text[pos]))
            {
                pos++;
            }

            denominator = text[start..pos];
        }

        var suffixStart = pos;
        while (pos < end && "eEinumkKMGTP".Contains(text[pos], StringComparison.Ordinal))
        {
            pos++;
        }

        if (pos < end && text[pos] is '-' or '+')
        {
            pos++;
        }

        while (pos < end && char.IsAsciiDigit(text[pos]))
        {
            pos++;
        }

        if (pos != end)
        {
            return false;
        }

        suffix = text[suffixStart..end];
        return true;
    }

    private static bool TryInterpretSuffix(string suffix, out bool base2, out int exponent, out QuantityFormat format)
    {
        base2 = false;
        format = QuantityFormat.DecimalSI;
        exponent = suffix switch
        {
            "" => 0,
            "n" => -9,
            "u" => -6,
            "m" => -3,
            "k" => 3,
            "M" => 6,
            "G" => 9,
            "T" => 12,
            "P" => 15,
            "E" => 18,
            _ => int.MinValue,
        };
        if (exponent != int.MinValue)
        {
            return true;
        }

        exponent = suffix switch
        {
            "Ki" => 10,
            "Mi" => 20,
            "Gi" => 30,
            "Ti" => 40,
            "Pi" => 50,
            "Ei" => 60,
            _ => int.MinValue,
        };
        if (exponent != int.MinValue)
        {
            base2 = true;
            format = QuantityFormat.BinarySI;
            return true;
        }

        if (suffix.Length > 1 && suffix[0] is 'e' or 'E'
            && int.TryParse(suffix.AsSpan(1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out exponent))
        {
            format = QuantityFormat.DecimalExponent;
            return true;
        }

        return false;
    }

    public static Quantity operator +(Quantity left, Quantity right) => Combine(left, right, negateRight: false);

    public static Quantity operator -(Quantity left, Quantity right) => Combine(left, right, negateRight: true);

    private static Quantity Combine(Quantity left, Quantity right, bool negateRight)
    {
        var scale = Math.Max(left.Scale, right.Scale);
        var a = left.Unscaled * BigInteger.Pow(10, scale - left.Scale);
        var b = right.Unscaled * BigInteger.Pow(10, scale - right.Scale);
        var format = left.IsZero ? right.Format : left.Format;
        return new Quantity(negateRight ? a - b : a + b, scale, format);
    }

    /// <summary>The product with a quantity parsed from a number's text, as Kyverno multiplies by a scalar.</summary>
    public Quantity Multiply(Quantity factor) => new(Unscaled * factor.Unscaled, Scale + factor.Scale, Format);

    /// <summary>Division rounded toward zero at the larger of the two scales (inf.Dec's QuoRound with RoundDown).</summary>
    public Quantity DivideRoundDown(Quantity divisor)
    {
        var scale = Math.Max(Scale, divisor.Scale);
        // result × 10^-scale = (u1 × 10^-s1) / (u2 × 10^-s2)  ⇒  result = u1 × 10^(s2 + scale - s1) / u2.
        var exponent = divisor.Scale + scale - Scale;
        var numerator = exponent >= 0 ? Unscaled * BigInteger.Pow(10, exponent) : Unscaled;
        var denominator = exponent >= 0 ? divisor.Unscaled : divisor.Unscaled * BigInteger.Pow(10, -exponent);
        return new Quantity(BigInteger.Divide(numerator, denominator), scale, Format);
    }

    public double ToDouble() => Scale >= 0
        ? (double)Unscaled / Math.Pow(10, Scale)
        : (double)(Unscaled * BigInteger.Pow(10, -Scale));

    /// <summary>The value as an integer when it has no fraction.</summary>
    public bool TryGetInteger(out BigInteger value)
    {
        if (Scale <= 0)
        {
            value = Unscaled * BigInteger.Pow(10, -Scale);
            return true;
        }

        var divisor = BigInteger.Pow(10, Scale);
        value = BigInteger.DivRem(Unscaled, divisor, out var remainder);
        return remainder.IsZero;
    }

    public int CompareTo(Quantity other) => Compare(Unscaled, Scale, other.Unscaled, other.Scale);

    private static int Compare(BigInteger u1, int s1, BigInteger u2, int s2)
    {
        var scale = Math.Max(s1, s2);
        return (u1 * BigInteger.Pow(10, scale - s1)).CompareTo(u2 * BigInteger.Pow(10, scale - s2));
    }

    public bool Equals(Quantity other) => CompareTo(other) == 0;

    public override bool Equals(object? obj) => obj is Quantity other && Equals(other);

    public override int GetHashCode() => ToDouble().GetHashCode();

    public static bool operator ==(Quantity left, Quantity right) => left.Equals(right);

    public static bool operator !=(Quantity left, Quantity right) => !left.Equals(right);

    public static bool operator <(Quantity left, Quantity right) => left.CompareTo(right) < 0;

    public static bool operator >(Quantity left, Quantity right) => left.CompareTo(right) > 0;

    public static bool operator <=(Quantity left, Quantity right) => left.CompareTo(right) <= 0;

    public static bool operator >=(Quantity left, Quantity right) => left.CompareTo(right) >= 0;

    /// <summary>The canonical form Kubernetes prints (<c>Quantity.String()</c>).</summary>
    public override string ToString()
    {
        if (IsZero)
        {
            return "0";
        }

        var format = Format;
        if (format == QuantityFormat.BinarySI)
        {
            var abs = BigInteger.Abs(Unscaled);
            var bound = new Quantity(1024, 0, format);
            if (new Quantity(abs, Scale, format).CompareTo(bound) < 0)
            {
                format = QuantityFormat.DecimalSI;
            }
            else if (!TryGetInteger(out _))
            {
                format = QuantityFormat.DecimalSI;
            }
        }

        if (format == QuantityFormat.BinarySI)
        {
            TryGetInteger(out var integer);
            var exponent = 0;
            while (exponent < 6 && !integer.IsZero && BigInteger.Remainder(integer, 1024).IsZero)
            {
                integer /= 1024;
                exponent++;
            }

            var binarySuffix = exponent switch
            {
                1 => "Ki",
                2 => "Mi",
                3 => "Gi",
                4 => "Ti",
                5 => "Pi",
                6 => "Ei",
                _ => string.Empty,
            };
            return integer.ToString(CultureInfo.InvariantCulture) + binarySuffix;
        }

        // Decimal: strip factors of ten into the exponent, then move it to a multiple of three.
        var mantissa = Unscaled;
        var exp = -Scale;
        while (!mantissa.IsZero && BigInteger.Remainder(mantissa, 10).IsZero)
        {
            mantissa /= 10;
            exp++;
        }

        while (exp % 3 != 0)
        {
            mantissa *= 10;
            exp--;
        }

        var number = mantissa.ToString(CultureInfo.InvariantCulture);
        if (format == QuantityFormat.DecimalSI)
        {
            var si = exp switch
            {
                -9 => "n",
                -6 => "u",
                -3 => "m",
                0 => string.Empty,
                3 => "k",
                6 => "M",
                9 => "G",
                12 => "T",
                15 => "P",
                18 => "E",
                _ => null,
            };
            if (si is not null)
            {
                return number + si;
            }
        }

        return exp == 0 ? number : new StringBuilder(number).Append('e').Append(exp.ToString(CultureInfo.InvariantCulture)).ToString();
    }
}
