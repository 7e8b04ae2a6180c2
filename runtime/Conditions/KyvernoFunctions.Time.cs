using System.Globalization;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary>Kyverno's time functions. Times are RFC 3339 text; the clock is <see cref="JmesContext.Time"/>.</summary>
public static partial class KyvernoFunctions
{
    /// <summary><c>time_since(layout, start, end)</c>: end − start as a Go duration; empty layout is RFC 3339, empty end is now.</summary>
    public static JmesValue TimeSince(JmesValue layout, JmesValue start, JmesValue end, JmesContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var l = Str("time_since", 1, layout);
        var t1 = ParseTime("time_since", l.Length == 0 ? GoTime.Rfc3339 : l, Str("time_since", 2, start));
        var e = Str("time_since", 3, end);
        var t2 = e.Length == 0 ? context.Time.GetUtcNow() : ParseTime("time_since", l.Length == 0 ? GoTime.Rfc3339 : l, e);
        return JmesValue.From(GoDuration.Format(Nanoseconds(t2 - t1)));
    }

    /// <summary><c>time_now()</c>: the current time in the clock's local zone, RFC 3339.</summary>
    public static JmesValue TimeNow(JmesContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var now = context.Time.GetUtcNow();
        var local = TimeZoneInfo.ConvertTime(now, context.Time.LocalTimeZone);
        return JmesValue.From(GoTime.FormatRfc3339(local));
    }

    /// <summary><c>time_now_utc()</c>.</summary>
    public static JmesValue TimeNowUtc(JmesContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return JmesValue.From(GoTime.FormatRfc3339(context.Time.GetUtcNow().ToUniversalTime()));
    }

    /// <summary><c>time_to_cron(time)</c>: <c>minute hour day month weekday</c>.</summary>
    public static JmesValue TimeToCron(JmesValue time)
    {
        var t = Rfc3339("time_to_cron", 1, time);
        return JmesValue.From(string.Join(' ', new[] { t.Minute, t.Hour, t.Day, t.Month, (int)t.DayOfWeek }.Select(n => n.ToString(CultureInfo.InvariantCulture))));
    }

    /// <summary><c>time_add(time, duration)</c>.</summary>
    public static JmesValue TimeAdd(JmesValue time, JmesValue duration)
    {
        var t = Rfc3339("time_add", 1, time);
        var d = Duration("time_add", 2, duration);
        return JmesValue.From(GoTime.FormatRfc3339(t.AddTicks(d / 100)));
    }

    /// <summary><c>time_parse(layout, value)</c>: a Go layout, or any integer as the layout for Unix seconds.</summary>
    public static JmesValue TimeParse(JmesValue layout, JmesValue value)
    {
        var l = Str("time_parse", 1, layout);
        var v = Str("time_parse", 2, value);
        if (long.TryParse(l, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _))
        {
            if (!long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var epoch))
            {
                throw new JmesPathException(JmesErrorKind.FunctionError, $"strconv.ParseInt: parsing \"{v}\": invalid syntax");
            }

            return JmesValue.From(GoTime.FormatRfc3339(DateTimeOffset.FromUnixTimeSeconds(epoch)));
        }

        return JmesValue.From(GoTime.FormatRfc3339(ParseTime("time_parse", l, v)));
    }

    /// <summary><c>time_utc(time)</c>.</summary>
    public static JmesValue TimeUtc(JmesValue time) => JmesValue.From(GoTime.FormatRfc3339(Rfc3339("time_utc", 1, time).ToUniversalTime()));

    /// <summary><c>time_diff(start, end)</c>: end − start as a Go duration.</summary>
    public static JmesValue TimeDiff(JmesValue start, JmesValue end)
    {
        var t1 = Rfc3339("time_diff", 1, start);
        var t2 = Rfc3339("time_diff", 2, end);
        return JmesValue.From(GoDuration.Format(Nanoseconds(t2 - t1)));
    }

    public static JmesValue TimeBefore(JmesValue a, JmesValue b) => JmesValue.From(Rfc3339("time_before", 1, a) < Rfc3339("time_before", 2, b));

    public static JmesValue TimeAfter(JmesValue a, JmesValue b) => JmesValue.From(Rfc3339("time_after", 1, a) > Rfc3339("time_after", 2, b));

    /// <summary><c>time_between(time, start, end)</c>: strictly after start and strictly before end.</summary>
    public static JmesValue TimeBetween(JmesValue time, JmesValue start, JmesValue end)
    {
        var t = Rfc3339("time_between", 1, time);
        return JmesValue.From(t > Rfc3339("time_between", 2, start) && t < Rfc3339("time_between", 3, end));
    }

    /// <summary><c>time_truncate(time, duration)</c>: rounded down to a multiple of the duration since Go's zero time.</summary>
    public static JmesValue TimeTruncate(JmesValue time, JmesValue duration)
    {
        var t = Rfc3339("time_truncate", 1, time);
        var d = Duration("time_truncate", 2, duration);
        if (d <= 0)
        {
            return JmesValue.From(GoTime.FormatRfc3339(t));
        }

        // Go's zero time (year 1, UTC) is DateTime.MinValue; truncation is of the absolute instant.
        var ticks = t.UtcTicks;
        var step = Math.Max(d / 100, 1);
        var truncated = new DateTimeOffset(ticks - (ticks % step), TimeSpan.Zero).ToOffset(t.Offset);
        return JmesValue.From(GoTime.FormatRfc3339(truncated));
    }

    private static long Nanoseconds(TimeSpan span) => span.Ticks * 100;

    private static DateTimeOffset Rfc3339(string function, int position, JmesValue value) =>
        ParseTime(function, GoTime.Rfc3339, Str(function, position, value));

    private static DateTimeOffset ParseTime(string function, string layout, string value) =>
        GoTime.TryParse(layout, value, out var time, out var error)
            ? time
            : throw new JmesPathException(JmesErrorKind.FunctionError, $"JMESPath function '{function}': {error}");

    private static long Duration(string function, int position, JmesValue value)
    {
        var text = Str(function, position, value);
        return GoDuration.TryParse(text, out var d)
            ? d
            : throw new JmesPathException(JmesErrorKind.FunctionError, $"JMESPath function '{function}': time: invalid duration \"{text}\"");
    }
}
