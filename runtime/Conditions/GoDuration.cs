using System.Globalization;
using System.Text;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary>Go's <c>time.Duration</c>: nanoseconds in an <see cref="long"/>, with Go's parsing and printing (<c>1h2m3.5s</c>).</summary>
public static class GoDuration
{
    private const long Nanosecond = 1;
    private const long Microsecond = 1000 * Nanosecond;
    private const long Millisecond = 1000 * Microsecond;
    private const long Second = 1000 * Millisecond;
    private const long Minute = 60 * Second;
    private const long Hour = 60 * Minute;

    /// <summary><c>time.ParseDuration</c>: <c>[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+</c> with units ns, us, µs, ms, s, m, h.</summary>
    public static bool TryParse(string text, out long nanoseconds)
    {
        ArgumentNullException.ThrowIfNull(text);
        nanoseconds = 0;
        var s = text.AsSpan();
        var negative = false;
        if (s.Length > 0 && (s[0] == '-' || s[0] == '+'))
        {
            negative = s[0] == '-';
            s = s[1..];
        }

        if (s.SequenceEqual("0"))
        {
            return true;
        }

        if (s.IsEmpty)
        {
            return false;
        }

        ulong total = 0;
        while (!s.IsEmpty)
        {
            if (!(s[0] == '.' || char.IsAsciiDigit(s[0])))
            {
                return false;
            }

            ulong whole = 0;
            var i = 0;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                if (whole > (ulong.MaxValue - 9) / 10 || whole > (1UL << 63) / 10)
                {
                    return false;
                }

                whole = (whole * 10) + (ulong)(s[i] - '0');
                i++;
            }

            var pre = i > 0;
            s = s[i..];
            ulong fraction = 0;
            var scale = 1d;
            var post = false;
            if (!s.IsEmpty && s[0] == '.')
            {
                s = s[1..];
                i = 0;
                var overflow = false;
                while (i < s.Length && char.IsAsciiDigit(s[i]))
                {
                    if (!overflow)
                    {
                        if (fraction > ((1UL << 63) - 1) / 10)
                        {
                            overflow = true;
                        }
                        else
                        {
                            fraction = (fraction * 10) + (ulong)(s[i] - '0');
                            scale *= 10;
                        }
                    }

                    i++;
                }

                post = i > 0;
                s = s[i..];
            }

            if (!pre && !post)
            {
                return false;
            }

            i = 0;
            while (i < s.Length && s[i] != '.' && !char.IsAsciiDigit(s[i]))
            {
                i++;
            }

            if (i == 0)
            {
                return false;
            }

            ulong unit = s[..i] switch
            {
                "ns" => Nanosecond,
                "us" or "\u00b5s" or "\u03bcs" => Microsecond,
                "ms" => Millisecond,
                "s" => Second,
                "m" => Minute,
                "h" => Hour,
                _ => 0,
            };
            if (unit == 0)
            {
                return false;
            }

            s = s[i..];
            if (whole > (1UL << 63) / unit)
            {
                return false;
            }

            whole *= unit;
            if (fraction > 0)
            {
                whole += (ulong)(fraction * (unit / scale));
                if (whole > 1UL << 63)
                {
                    return false;
                }
            }

            total += whole;
            if (total > 1UL << 63)
            {
                return false;
            }
        }

        if (negative)
        {
            nanoseconds = -(long)total;
            return true;
        }

        if (total > long.MaxValue)
        {
            return false;
        }

        nanoseconds = (long)total;
        return true;
    }

    /// <summary><c>Duration.String()</c>: <c>72h3m0.5s</c>, <c>1.5ms</c>, <c>0s</c>.</summary>
    public static string Format(long nanoseconds)
    {
        var negative = nanoseconds < 0;
        var u = negative ? (ulong)(-(nanoseconds + 1)) + 1 : (ulong)nanoseconds;
        var sb = new StringBuilder();
        if (u < (ulong)Second)
        {
            if (u == 0)
            {
                return "0s";
            }

            string unit;
            int precision;
            if (u < (ulong)Microsecond)
            {
                unit = "ns";
                precision = 0;
            }
            else if (u < (ulong)Millisecond)
            {
                unit = "\u00b5s";
                precision = 3;
            }
            else
            {
                unit = "ms";
                precision = 6;
            }

            var (integer, fraction) = Split(u, precision);
            sb.Append(integer.ToString(CultureInfo.InvariantCulture)).Append(fraction).Append(unit);
        }
        else
        {
            var (seconds, fraction) = Split(u, 9);
            var minutes = seconds / 60;
            var hours = minutes / 60;
            if (hours > 0)
            {
                sb.Append(hours.ToString(CultureInfo.InvariantCulture)).Append('h');
            }

            if (minutes > 0)
            {
                sb.Append((minutes % 60).ToString(CultureInfo.InvariantCulture)).Append('m');
            }

            sb.Append((seconds % 60).ToString(CultureInfo.InvariantCulture)).Append(fraction).Append('s');
        }

        return negative ? "-" + sb : sb.ToString();
    }

    /// <summary>Seconds as a double, as Go's <c>Duration.Seconds()</c>.</summary>
    public static double Seconds(long nanoseconds) => nanoseconds / (double)Second;

    /// <summary>Go's <c>time.Duration(f)</c> of a float64 number of seconds: truncated to whole seconds, then multiplied.</summary>
    public static long FromWholeSeconds(double seconds) => unchecked((long)seconds * Second);

    /// <summary>Go's <c>time.Duration(seconds * float64(time.Second))</c>.</summary>
    public static long FromSeconds(double seconds) => unchecked((long)(seconds * Second));

    private static (ulong Integer, string Fraction) Split(ulong value, int precision)
    {
        var digits = new char[precision];
        var print = false;
        for (var i = 0; i < precision; i++)
        {
            var digit = value % 10;
            print = print || digit != 0;
            if (print)
            {
                digits[precision - 1 - i] = (char)('0' + digit);
            }
            else
            {
                digits[precision - 1 - i] = '\0';
            }

            value /= 10;
        }

        if (!print)
        {
            return (value, string.Empty);
        }

        var sb = new StringBuilder(".");
        for (var i = 0; i < precision; i++)
        {
            if (digits[i] == '\0')
            {
                break;
            }

            sb.Append(digits[i]);
        }

        return (value, sb.ToString());
    }
}
