namespace PolicyCompiler.Runtime.Conditions;

/// <summary>The classes of failure the JMESPath specification names, plus Kyverno's function errors.</summary>
public enum JmesErrorKind
{
    /// <summary>A function received an argument of a type it does not accept (<c>invalid-type</c>).</summary>
    InvalidType,

    /// <summary>An argument has the right type but an unusable value (<c>invalid-value</c>).</summary>
    InvalidValue,

    /// <summary>A function was called with the wrong number of arguments (<c>invalid-arity</c>).</summary>
    InvalidArity,

    /// <summary>A function that does not exist (<c>unknown-function</c>).</summary>
    UnknownFunction,

    /// <summary>A Kyverno function failed (bad regex, bad time, division by zero, …); the message is Kyverno's.</summary>
    FunctionError,

    /// <summary>A Kyverno variable could not be resolved (Kyverno's <c>Unknown key "x" in path</c>).</summary>
    VariableNotFound,

    /// <summary>The text is not a JMESPath expression (<c>syntax</c>): only from <see cref="JmesInterpreter"/>, as compiled expressions were parsed at build time.</summary>
    Syntax,
}

/// <summary>
/// An expression failed while it was evaluated. The compiled code throws this for the errors JMESPath and Kyverno
/// define at run time; the condition evaluator decides what such a failure means where it happened.
/// </summary>
public sealed class JmesPathException : Exception
{
    public JmesPathException()
    {
    }

    public JmesPathException(string message)
        : base(message)
    {
    }

    public JmesPathException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public JmesPathException(JmesErrorKind kind, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
    }

    public JmesErrorKind Kind { get; }

    /// <summary>The compliance suite's spelling of <see cref="Kind"/>: <c>invalid-type</c>, <c>invalid-value</c>, …</summary>
    public string SpecName => Kind switch
    {
        JmesErrorKind.InvalidType => "invalid-type",
        JmesErrorKind.InvalidValue => "invalid-value",
        JmesErrorKind.InvalidArity => "invalid-arity",
        JmesErrorKind.UnknownFunction => "unknown-function",
        JmesErrorKind.VariableNotFound => "not-found",
        JmesErrorKind.Syntax => "syntax",
        _ => "function-error",
    };

    internal static JmesPathException Type(string function, int argument, string expected, JmesValue actual) =>
        new(JmesErrorKind.InvalidType, $"invalid type for argument {argument} of {function}(): expected {expected}, got {actual.TypeName}");
}
