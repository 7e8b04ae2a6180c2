using System;
using System.Collections.Generic;
using PolicyCompiler.Generators.Common;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PolicyCompiler.Generators.Yaml;

/// <summary>One policy file being read: its text (for positions) and the diagnostics found so far.</summary>
internal sealed class YamlFile(string path, string text)
{
    public string Path { get; } = path;

    public string Text { get; } = text;

    public List<DiagnosticInfo> Diagnostics { get; } = [];

    public LocationInfo Locate(YamlNode node) => Locate(node.Start, node.End);

    public LocationInfo Locate(Mark start, Mark end)
    {
        // YamlDotNet's Mark.Index counts characters from the start of the text.
        var startIndex = (int)Math.Min(start.Index, Text.Length);
        var endIndex = (int)Math.Min(Math.Max(end.Index, start.Index), Text.Length);
        if (endIndex == startIndex && endIndex < Text.Length)
        {
            endIndex++;
        }

        return LocationInfo.FromOffsets(Path, Text, startIndex, endIndex);
    }

    public LocationInfo LocateOffset(int start, int length) => LocationInfo.FromOffsets(Path, Text, start, start + length);

    public void Report(Microsoft.CodeAnalysis.DiagnosticDescriptor descriptor, LocationInfo? location, params string[] args) =>
        Diagnostics.Add(DiagnosticInfo.Create(descriptor, location, args));
}

/// <summary>A value read from YAML together with where it was written.</summary>
internal sealed record Located<T>(T Value, LocationInfo Location);
