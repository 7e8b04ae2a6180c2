using Microsoft.CodeAnalysis;

namespace PolicyCompiler.Generators.Common;

/// <summary>A diagnostic as a value: descriptor, where, and the message arguments (all strings, so it compares by value).</summary>
internal sealed record DiagnosticInfo(DiagnosticDescriptor Descriptor, LocationInfo? Location, EquatableArray<string> MessageArgs)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, LocationInfo? location, params string[] args) =>
        new(descriptor, location, args.ToEquatableArray());

    public Diagnostic ToDiagnostic() =>
        Diagnostic.Create(Descriptor, Location?.ToLocation(), MessageArgs.ToArray<object>());
}

internal static class DiagnosticInfoExtensions
{
    public static object[] ToArray<T>(this EquatableArray<string> items)
    {
        var result = new object[items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            result[i] = items[i];
        }

        return result;
    }
}
