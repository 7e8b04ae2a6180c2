using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace PolicyCompiler.Generators.Common;

/// <summary>
/// A position inside a policy file, kept as plain values so it can live in cached pipeline outputs
/// (a <see cref="Location"/> holds references that defeat caching). Lines and columns are 0-based, as in Roslyn.
/// </summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);

    public static LocationInfo FromOffsets(string filePath, string text, int start, int end)
    {
        var source = SourceText.From(text);
        start = System.Math.Max(0, System.Math.Min(start, text.Length));
        end = System.Math.Max(start, System.Math.Min(end, text.Length));
        var span = TextSpan.FromBounds(start, end);
        return new LocationInfo(filePath, span, source.Lines.GetLinePositionSpan(span));
    }
}
