using System.Globalization;
using System.Text;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary>
/// Go's <c>time.Parse</c> with Go layouts (the reference time <c>Mon Jan 2 15:04:05 MST 2006</c>, e.g.
/// <c>2006-01-02T15:04:05Z07:00</c>) and RFC 3339 formatting, for Kyverno's time functions.
/// </summary>
public static class GoTime
{
    public const string Rfc3339 = "2006-01-02T15:04:05Z07:00";

    private static readonly string[] LongMonths = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    private static readonly string[] LongDays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

    private enum Std
    {
        None,
        LongMonth,
        Month,
        NumMonth,
        ZeroMonth,
        LongWeekDay,
        WeekDay,
        Day,
        UnderDay,
        ZeroDay,
        ZeroYearDay,
        UnderYearDay,
        Hour,
        Hour12,
        ZeroHour12,
        Minute,
        ZeroMinute,
        Second,
        ZeroSecond,
        LongYear,
        Year,
        PM,
        pm,
        TZ,
        ISO8601TZ,
        ISO8601SecondsTZ,
        ISO8601ShortTZ,
        ISO8601ColonTZ,
        ISO8601ColonSecondsTZ,
        NumTZ,
        NumSecondsTz,
        NumShortTZ,
        NumColonTZ,
        NumColonSecondsTZ,
        FracSecond0,
        FracSecond9,
    }

    /// <summary>Formats as RFC 3339 without fractional seconds: <c>Z</c> for a zero offset, <c>±hh:mm</c> otherwise.</summary>
    public static string FormatRfc3339(DateTimeOffset time)
    {
        var sb = new StringBuilder(time.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture));
        var offset = time.Offset;
        if (offset == TimeSpan.Zero)
        {
            return sb.Append('Z').ToString();
        }

        sb.Append(offset < TimeSpan.Zero ? '-' : '+');
        offset = offset.Duration();
        return sb.Append(offset.Hours.ToString("00", CultureInfo.InvariantCulture)).Append(':').Append(offset.Minutes.ToString("00", CultureInfo.InvariantCulture)).ToString();
    }

    public static bool TryParseRfc3339(string value, out DateTimeOffset time, out string? error) => TryParse(Rfc3339, value, out time, out error);

    /// <summary><c>time.Parse(layout, value)</c>; a value without zone information is UTC.</summary>
    public static bool TryParse(string layout, string value, out DateTimeOffset time, out string? error)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(value);
        time = default;
        error = null;
        int year = 1, month = -1, day = -1, yday = -1, hour = 0, minute = 0, second = 0;
        long nanos = 0;
        var pmSet = false;
        var amSet = false;
        int? offsetSeconds = null;
        var originalValue = value;
        var originalLayout = layout;

        string Fail(string what) =>
            $"parsing time \"{originalValue}\" as \"{originalLayout}\": cannot parse \"{value}\" as \"{what}\"";

        while (true)
        {
            var (prefix, std, suffix, stdText) = NextChunk(layout);
            if (!value.StartsWith(prefix, StringComparison.Ordinal))
            {
                error = Fail(prefix);
                return false;
            }

            value = value[prefix.Length..];
            if (std == Std.None)
            {
                if (value.Length != 0)
                {
                    error = $"parsing time \"{originalValue}\": extra text: \"{value}\"";
                    return false;
                }

                break;
            }

            layout = suffix;
            var hold = value;
            var ok = true;
            switch (std)
            {
                case Std.Year:
                    if (value.Length < 2 || !TryDigits(value, 2, out var yy))
                    {
                        ok = false;
                        break;
                    }

                    year = yy >= 69 ? yy + 1900 : yy + 2000;
                    value = value[2..];
                    break;
                case Std.LongYear:
                    if (value.Length < 4 || !TryDigits(value, 4, out year))
                    {
                        ok = false;
                        break;
                    }

                    value = value[4..];
                    break;
                case Std.Month:
                case Std.LongMonth:
                    {
                        var names = std == Std.LongMonth ? LongMonths : LongMonths.Select(m => m[..3]).ToArray();
                        var index = Array.FindIndex(names, n => value.StartsWith(n, StringComparison.OrdinalIgnoreCase));
                        if (index < 0)
                        {
                            ok = false;
                            break;
                        }

                        month = index + 1;
                        value = value[names[index].Length..];
                        break;
                    }

                case Std.NumMonth:
                case Std.ZeroMonth:
                    ok = GetNum(ref value, std == Std.ZeroMonth, out month) && month is >= 1 and <= 12;
                    break;
                case Std.WeekDay:
                case Std.LongWeekDay:
                    {
                        var names = std == Std.LongWeekDay ? LongDays : LongDays.Select(m => m[..3]).ToArray();
                        var index = Array.FindIndex(names, n => value.StartsWith(n, StringComparison.OrdinalIgnoreCase));
                        if (index < 0)
                        {
                            ok = false;
                            break;
                        }

                        value = value[names[index].Length..];
                        break;
                    }

                case Std.Day:
                case Std.UnderDay:
                case Std.ZeroDay:
                    if (std == Std.UnderDay && value.StartsWith(' '))
                    {
                        value = value[1..];
                    }

                    ok = GetNum(ref value, std == Std.ZeroDay, out day) && day is >= 1 and <= 31;
                    break;
                case Std.UnderYearDay:
                case Std.ZeroYearDay:
                    {
                        for (var i = 0; i < 2 && std == Std.UnderYearDay && value.StartsWith(' '); i++)
                        {
                            value = value[1..];
                        }

                        ok = GetNum3(ref value, std == Std.ZeroYearDay, out yday) && yday is >= 1 and <= 366;
                        break;
                    }

                case Std.Hour:
                    ok = GetNum(ref value, false, out hour) && hour is >= 0 and < 24;
                    break;
                case Std.Hour12:
                case Std.ZeroHour12:
                    ok = GetNum(ref value, std == Std.ZeroHour12, out hour) && hour is >= 0 and <= 12;
                    break;
                case Std.Minute:
                case Std.ZeroMinute:
                    ok = GetNum(ref value, std == Std.ZeroMinute, out minute) && minute is >= 0 and < 60;
                    break;
                case Std.Second:
                case Std.ZeroSecond:
                    ok = GetNum(ref value, std == Std.ZeroSecond, out second) && second is >= 0 and < 60;
                    if (ok && value.Length >= 2 && value[0] is '.' or ',' && char.IsAsciiDigit(value[1]))
                    {
                        // A fractional second the layout does not mention is accepted, as Go does.
                        var (_, nextStd, _, _) = NextChunk(layout);
                        if (nextStd is not (Std.FracSecond0 or Std.FracSecond9))
                        {
                            var n = 1;
                            while (n < value.Length && char.IsAsciiDigit(value[n]))
                            {
                                n++;
                            }

                            nanos = ParseNanos(value[1..n]);
                            value = value[n..];
                        }
                    }

                    break;
                case Std.PM:
                case Std.pm:
                    if (value.Length < 2)
                    {
                        ok = false;
                        break;
                    }

                    var p = value[..2];
                    if (std == Std.PM ? p == "PM" : p == "pm")
                    {
                        pmSet = true;
                    }
                    else if (std == Std.PM ? p == "AM" : p == "am")
                    {
                        amSet = true;
                    }
                    else
                    {
                        ok = false;
                    }

                    value = value[2..];
                    break;
                case Std.ISO8601TZ or Std.ISO8601ColonTZ or Std.ISO8601SecondsTZ or Std.ISO8601ShortTZ or Std.ISO8601ColonSecondsTZ
                    or Std.NumTZ or Std.NumShortTZ or Std.NumColonTZ or Std.NumSecondsTz or Std.NumColonSecondsTZ:
                    {
                        var iso = std is Std.ISO8601TZ or Std.ISO8601ColonTZ or Std.ISO8601SecondsTZ or Std.ISO8601ShortTZ or Std.ISO8601ColonSecondsTZ;
                        if (iso && value.StartsWith('Z'))
                        {
                            value = value[1..];
                            offsetSeconds = 0;
                            break;
                        }

                        ok = ParseOffset(ref value, std, out var offset);
                        offsetSeconds = offset;
                        break;
                    }

                case Std.TZ:
                    {
                        if (value.StartsWith("UTC", StringComparison.Ordinal))
                        {
                            value = value[3..];
                            offsetSeconds = 0;
                            break;
                        }

                        var n = 0;
                        while (n < value.Length && char.IsAsciiLetterUpper(value[n]))
                        {
                            n++;
                        }

                        if (n < 3)
                        {
                            ok = false;
                            break;
                        }

                        value = value[n..];
                        offsetSeconds = 0;
                        break;
                    }

                case Std.FracSecond0:
                    {
                        var digits = stdText.Length - 1;
                        if (value.Length < digits + 1 || value[0] != stdText[0] || !value[1..(digits + 1)].All(char.IsAsciiDigit))
                        {
                            ok = false;
                            break;
                        }

                        nanos = ParseNanos(value[1..(digits + 1)]);
                        value = value[(digits + 1)..];
                        break;
                    }

                case Std.FracSecond9:
                    {
                        if (value.Length < 2 || value[0] != stdText[0] || !char.IsAsciiDigit(value[1]))
                        {
                            break;
                        }

                        var n = 1;
                        while (n < 10 && n < value.Length && char.IsAsciiDigit(value[n]))
                        {
                            n++;
                        }

                        nanos = ParseNanos(value[1..n]);
                        value = value[n..];
                        break;
                    }
            }

            if (!ok)
            {
                value = hold;
                error = Fail(stdText);
                return false;
            }
        }

        if (pmSet && hour < 12)
        {
            hour += 12;
        }
        else if (amSet && hour == 12)
        {
            hour = 0;
        }

        if (yday >= 0)
        {
            var date = new DateTime(Math.Max(year, 1), 1, 1).AddDays(yday - 1);
            if (month >= 0 && date.Month != month || day >= 0 && date.Day != day)
            {
                error = $"parsing time \"{originalValue}\": day-of-year does not match month or day";
                return false;
            }

            month = date.Month;
            day = date.Day;
        }

        month = month < 0 ? 1 : month;
        day = day < 0 ? 1 : day;
        if (year < 1 || year > 9999 || day > DateTime.DaysInMonth(year, month))
        {
            error = $"parsing time \"{originalValue}\": day out of range";
            return false;
        }

        var offsetSpan = TimeSpan.FromSeconds(offsetSeconds ?? 0);
        time = new DateTimeOffset(year, month, day, hour, minute, second, offsetSpan).AddTicks(nanos / 100);
        return true;
    }

    private static long ParseNanos(string digits)
    {
        var padded = (digits.Length > 9 ? digits[..9] : digits).PadRight(9, '0');
        return long.Parse(padded, CultureInfo.InvariantCulture);
    }

    private static bool TryDigits(string value, int count, out int number)
    {
        number = 0;
        for (var i = 0; i < count; i++)
        {
            if (!char.IsAsciiDigit(value[i]))
            {
                return false;
            }

            number = (number * 10) + (value[i] - '0');
        }

        return true;
    }

    /// <summary>Go's <c>getnum</c>: one or two digits, exactly two when <paramref name="fixedWidth"/>.</summary>
    private static bool GetNum(ref string value, bool fixedWidth, out int number)
    {
        number = 0;
        if (value.Length == 0 || !char.IsAsciiDigit(value[0]))
        {
            return false;
        }

        if (value.Length == 1 || !char.IsAsciiDigit(value[1]))
        {
            if (fixedWidth)
            {
                return false;
            }

            number = value[0] - '0';
            value = value[1..];
            return true;
        }

        number = ((value[0] - '0') * 10) + (value[1] - '0');
        value = value[2..];
        return true;
    }

    private static bool GetNum3(ref string value, bool fixedWidth, out int number)
    {
        number = 0;
        var n = 0;
        while (n < 3 && n < value.Length && char.IsAsciiDigit(value[n]))
        {
            number = (number * 10) + (value[n] - '0');
            n++;
        }

        if (n == 0 || (fixedWidth && n != 3))
        {
            return false;
        }

        value = value[n..];
        return true;
    }

    private static bool ParseOffset(ref string value, Std std, out int seconds)
    {
        seconds = 0;
        string sign, hh, mm = "00", ss = "00";
        switch (std)
        {
            case Std.ISO8601ColonTZ or Std.NumColonTZ:
                if (value.Length < 6 || value[3] != ':')
                {
                    return false;
                }

                (sign, hh, mm) = (value[..1], value[1..3], value[4..6]);
                value = value[6..];
                break;
            case Std.NumShortTZ or Std.ISO8601ShortTZ:
                if (value.Length < 3)
                {
                    return false;
                }

                (sign, hh) = (value[..1], value[1..3]);
                value = value[3..];
                break;
            case Std.ISO8601ColonSecondsTZ or Std.NumColonSecondsTZ:
                if (value.Length < 9 || value[3] != ':' || value[6] != ':')
                {
                    return false;
                }

                (sign, hh, mm, ss) = (value[..1], value[1..3], value[4..6], value[7..9]);
                value = value[9..];
                break;
            case Std.ISO8601SecondsTZ or Std.NumSecondsTz:
                if (value.Length < 7)
                {
                    return false;
                }

                (sign, hh, mm, ss) = (value[..1], value[1..3], value[3..5], value[5..7]);
                value = value[7..];
                break;
            default:
                if (value.Length < 5)
                {
                    return false;
                }

                (sign, hh, mm) = (value[..1], value[1..3], value[3..5]);
                value = value[5..];
                break;
        }

        if (sign is not ("+" or "-") || !int.TryParse(hh, NumberStyles.None, CultureInfo.InvariantCulture, out var h)
            || !int.TryParse(mm, NumberStyles.None, CultureInfo.InvariantCulture, out var m) || !int.TryParse(ss, NumberStyles.None, CultureInfo.InvariantCulture, out var s)
            || h > 24 || m > 60 || s > 60)
        {
            return false;
        }

        seconds = ((h * 3600) + (m * 60) + s) * (sign == "-" ? -1 : 1);
        return true;
    }

    /// <summary>Go's <c>nextStdChunk</c>: the literal prefix, the layout element after it and the rest of the layout.</summary>
    private static (string Prefix, Std Std, string Suffix, string StdText) NextChunk(string layout)
    {
        for (var i = 0; i < layout.Length; i++)
        {
            var rest = layout[i..];
            (Std, int)? hit = layout[i] switch
            {
                'J' when rest.StartsWith("January", StringComparison.Ordinal) => (Std.LongMonth, 7),
                'J' when rest.StartsWith("Jan", StringComparison.Ordinal) => (Std.Month, 3),
                'M' when rest.StartsWith("Monday", StringComparison.Ordinal) => (Std.LongWeekDay, 6),
                'M' when rest.StartsWith("Mon", StringComparison.Ordinal) => (Std.WeekDay, 3),
                'M' when rest.StartsWith("MST", StringComparison.Ordinal) => (Std.TZ, 3),
                '0' when rest.StartsWith("002", StringComparison.Ordinal) => (Std.ZeroYearDay, 3),
                '0' when rest.Length > 1 && rest[1] is >= '1' and <= '6' => (rest[1] switch
                {
                    '1' => Std.ZeroMonth,
                    '2' => Std.ZeroDay,
                    '3' => Std.ZeroHour12,
                    '4' => Std.ZeroMinute,
                    '5' => Std.ZeroSecond,
                    _ => Std.Year,
                }, 2),
                '1' when rest.StartsWith("15", StringComparison.Ordinal) => (Std.Hour, 2),
                '1' => (Std.NumMonth, 1),
                '2' when rest.StartsWith("2006", StringComparison.Ordinal) => (Std.LongYear, 4),
                '2' => (Std.Day, 1),
                '_' when rest.StartsWith("_2006", StringComparison.Ordinal) => null,
                '_' when rest.StartsWith("__2", StringComparison.Ordinal) => (Std.UnderYearDay, 3),
                '_' when rest.StartsWith("_2", StringComparison.Ordinal) => (Std.UnderDay, 2),
                '3' => (Std.Hour12, 1),
                '4' => (Std.Minute, 1),
                '5' => (Std.Second, 1),
                'P' when rest.StartsWith("PM", StringComparison.Ordinal) => (Std.PM, 2),
                'p' when rest.StartsWith("pm", StringComparison.Ordinal) => (Std.pm, 2),
                '-' when rest.StartsWith("-070000", StringComparison.Ordinal) => (Std.NumSecondsTz, 7),
                '-' when rest.StartsWith("-07:00:00", StringComparison.Ordinal) => (Std.NumColonSecondsTZ, 9),
                '-' when rest.StartsWith("-0700", StringComparison.Ordinal) => (Std.NumTZ, 5),
                '-' when rest.StartsWith("-07:00", StringComparison.Ordinal) => (Std.NumColonTZ, 6),
                '-' when rest.StartsWith("-07", StringComparison.Ordinal) => (Std.NumShortTZ, 3),
                'Z' when rest.StartsWith("Z070000", StringComparison.Ordinal) => (Std.ISO8601SecondsTZ, 7),
                'Z' when rest.StartsWith("Z07:00:00", StringComparison.Ordinal) => (Std.ISO8601ColonSecondsTZ, 9),
                'Z' when rest.StartsWith("Z0700", StringComparison.Ordinal) => (Std.ISO8601TZ, 5),
                'Z' when rest.StartsWith("Z07:00", StringComparison.Ordinal) => (Std.ISO8601ColonTZ, 6),
                'Z' when rest.StartsWith("Z07", StringComparison.Ordinal) => (Std.ISO8601ShortTZ, 3),
                '.' or ',' when rest.Length > 1 && rest[1] is '0' or '9' => FractionChunk(rest),
                _ => null,
            };
            if (hit is { } h)
            {
                return (layout[..i], h.Item1, layout[(i + h.Item2)..], layout.Substring(i, h.Item2));
            }
        }

        return (layout, Std.None, string.Empty, string.Empty);
    }

    private static (Std, int)? FractionChunk(string rest)
    {
        var digit = rest[1];
        var j = 1;
        while (j < rest.Length && rest[j] == digit)
        {
            j++;
        }

        if (j < rest.Length && char.IsAsciiDigit(rest[j]))
        {
            return null;
        }

        return (digit == '0' ? Std.FracSecond0 : Std.FracSecond9, j);
    }
}
