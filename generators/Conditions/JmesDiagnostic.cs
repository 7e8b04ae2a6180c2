using System;

namespace PolicyCompiler.Generators.Conditions;

/// <summary>What kind of mistake an expression holds; the names match the JMESPath compliance suite's error classes.</summary>
internal enum JmesErrorKind
{
    /// <summary>The text is not a JMESPath expression (<c>syntax</c>).</summary>
    Syntax,

    /// <summary>A function name the dialect does not define (<c>unknown-function</c>).</summary>
    UnknownFunction,

    /// <summary>A function called with too few or too many arguments (<c>invalid-arity</c>).</summary>
    InvalidArity,

    /// <summary>A literal argument of a type the function does not accept (<c>invalid-type</c>).</summary>
    InvalidType,

    /// <summary>A value that can never be valid, such as a slice step of 0 or a malformed regex literal (<c>invalid-value</c>).</summary>
    InvalidValue,
}

/// <summary>
/// A build-time error in an expression. <see cref="Start"/> and <see cref="Length"/> are offsets in the text that was
/// compiled (the YAML string for a Kyverno value), so the policy compiler can turn them into a YAML location.
/// </summary>
internal sealed record JmesDiagnostic(JmesErrorKind Kind, string Message, int Start, int Length)
{
    /// <summary>The compliance suite's name of <see cref="Kind"/>.</summary>
    public string SpecName => Kind switch
    {
        JmesErrorKind.Syntax => "syntax",
        JmesErrorKind.UnknownFunction => "unknown-function",
        JmesErrorKind.InvalidArity => "invalid-arity",
        JmesErrorKind.InvalidType => "invalid-type",
        _ => "invalid-value",
    };

    public override string ToString() => $"{SpecName} at {Start}: {Message}";
}

internal sealed class JmesCompileException(JmesDiagnostic diagnostic) : Exception(diagnostic.Message)
{
    public JmesDiagnostic Diagnostic { get; } = diagnostic;
}
