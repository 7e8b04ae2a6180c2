using System.Globalization;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace PolicyCompiler.Generators.Tests.Infrastructure;

internal static class DiagnosticAssert
{
    /// <summary>
    /// Asserts where a diagnostic points. <paramref name="line"/> and <paramref name="column"/> are 1-based, as the
    /// build output and the editor show them; Roslyn's <see cref="LinePosition"/> is 0-based, hence the −1.
    /// </summary>
    public static void At(Diagnostic diagnostic, string path, int line, int column)
    {
        Assert.Equal(LocationKind.ExternalFile, diagnostic.Location.Kind);
        var span = diagnostic.Location.GetLineSpan();

        // As the build prints it, so a failure shows where the diagnostic really points.
        Assert.Equal(
            string.Create(CultureInfo.InvariantCulture, $"{path}({line},{column})"),
            string.Create(CultureInfo.InvariantCulture, $"{span.Path}({span.StartLinePosition.Line + 1},{span.StartLinePosition.Character + 1})"));
        Assert.Equal(new LinePosition(line - 1, column - 1), span.StartLinePosition);
    }

    /// <summary>Asserts that the message (invariant culture, as the compiler prints it) contains <paramref name="part"/>.</summary>
    public static void MessageContains(Diagnostic diagnostic, string part)
    {
        var message = diagnostic.GetMessage(CultureInfo.InvariantCulture);
        Assert.True(message.Contains(part, StringComparison.Ordinal), $"expected the message to contain{Environment.NewLine}  {part}{Environment.NewLine}but it is{Environment.NewLine}  {message}");
    }
}
