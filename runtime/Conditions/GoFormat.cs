using System.Globalization;
using System.Text;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary>
/// Number-to-text conversions exactly as Kyverno's Go code performs them, because their output is visible: a
/// substituted <c>{{ }}</c>, the string form of a number in <c>AnyIn</c>, the second argument of <c>regex_match</c>.
/// </summary>
public static class GoFormat
{
    /// <summary><c>encoding/json</c>'s float64: plain notation, exponent form below 1e-6 and from 1e21.</summary>
    public static string FormatJsonNumber(double value)
    {
        if (double.IsNaN(value) || double.IsInfinity(value))
        {
            return "null";
        }

        var abs = Math.Abs(value);
        if (abs != 0 && (abs < 1e-6 || abs >= 1e21))
        {
            var e = FormatE(value, shortestFloat32: false);
            // encoding/json cleans e-09 up to e-9.
            var n = e.Length;
            if (n >= 4 && e[n - 4] == 'e' && e[n - 3] == '-' && e[n - 2] == '0')
            {
                e = string.Concat(e.AsSpan(0, n - 2), e.AsSpan(n - 1));
            }

            return e;
        }

        return FormatF(value, shortestFloat32: false);
    }

    /// <summary><c>fmt.Sprint(float64)</c> (the <c>%v</c> verb): <c>%g</c> with the shortest digits, e.g. <c>1e+06</c>.</summary>
    public static string FormatV(double value)
    {
        if (double.IsNaN(value))
        {
            return "NaN";
        }

        if (double.IsInfinity(value))
        {
            return value > 0 ? "+Inf" : "-Inf";
        }

        var (_, digits, dp) = Decompose(value, shortestFloat32: false);
        var exp = dp - 1;
        if (digits == "0")
        {
            exp = 0;
        }

        return exp < -4 || exp >= 6 ? FormatE(value, shortestFloat32: false) : FormatF(value, shortestFloat32: false);
    }

    /// <summary><c>strconv.FormatFloat(v, 'f', -1, 32)</c>: what Kyverno's functions use to turn a number argument into text.</summary>
    public static string FormatFloat32(double value) => FormatF(value, shortestFloat32: true);

    /// <summary><c>strconv.FormatBool</c>.</summary>
    public static string FormatBool(bool value) => value ? "true" : "false";

    private static string FormatF(double value, bool shortestFloat32)
    {
        var (negative, digits, dp) = Decompose(value, shortestFloat32);
        var sb = new StringBuilder();
        if (negative)
        {
            sb.Append('-');
        }

        if (dp <= 0)
        {
            sb.Append('0');
            if (digits != "0")
            {
                sb.Append('.').Append('0', -dp).Append(digits);
            }
        }
        else if (dp >= digits.Length)
        {
            sb.Append(digits).Append('0', dp - digits.Length);
        }
        else
        {
            sb.Append(digits, 0, dp).Append('.').Append(digits, dp, digits.Length - dp);
        }

        return sb.ToString();
    }

    private static string FormatE(double value, bool shortestFloat32)
    {
        var (negative, digits, dp) = Decompose(value, shortestFloat32);
        var sb = new StringBuilder();
        if (negative)
        {
            sb.Append('-');
        }

        sb.Append(digits[0]);
        if (digits.Length > 1)
        {
            sb.Append('.').Append(digits, 1, digits.Length - 1);
        }

        var exp = digits == "0" ? 0 : dp - 1;
        sb.Append('e').Append(exp < 0 ? '-' : '+');
        var magnitude = Math.Abs(exp);
        if (magnitude < 10)
        {
            sb.Append('0');
        }

        sb.Append(magnitude.ToString(CultureInfo.InvariantCulture));
        return sb.ToString();
    }

    /// <summary>The shortest round-tripping digits of <paramref name="value"/> and the position of the decimal point.</summary>
    private static (bool Negative, string Digits, int DecimalPoint) Decompose(double value, bool shortestFloat32)
    {
        var text = shortestFloat32
            ? ((float)value).ToString("R", CultureInfo.InvariantCulture)
            : value.ToString("R", CultureInfo.InvariantCulture);
        var negative = text.StartsWith('-');
        if (negative)
        {
            text = text[1..];
        }

        var exponent = 0;
        var e = text.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exponent = int.Parse(text.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            text = text[..e];
        }

        var point = text.IndexOf('.', StringComparison.Ordinal);
        string digits;
        int dp;
        if (point >= 0)
        {
            digits = string.Concat(text.AsSpan(0, point), text.AsSpan(point + 1));
            dp = point;
        }
        else
        {
            digits = text;
            dp = text.Length;
        }

        var leading = 0;
        while (leading < digits.Length - 1 && digits[leading] == '0')
        {
            leading++;
        }

        digits = digits[leading..];
        dp -= leading;
        digits = digits.TrimEnd('0');
        if (digits.Length == 0)
        {
            return (negative && value != 0, "0", 1);
        }

        return (negative, digits, dp + exponent);
    }
}
