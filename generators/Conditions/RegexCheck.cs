using System;
using System.Text.RegularExpressions;

namespace PolicyCompiler.Generators.Conditions;

/// <summary>Build-time check of a literal regular expression given to Kyverno's regex functions (Go RE2 syntax).</summary>
internal static class RegexCheck
{
    /// <summary>Go's <c>(?P&lt;name&gt;…)</c> groups written the way .NET spells them; everything else is shared syntax.</summary>
    public static string ToDotNet(string pattern) => pattern.Replace("(?P<", "(?<");

    /// <summary>Null when the pattern compiles; otherwise the reason.</summary>
    public static string? Validate(string pattern)
    {
        try
        {
            _ = new Regex(ToDotNet(pattern), RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            return null;
        }
        catch (ArgumentException e)
        {
            return e.Message;
        }
    }
}
