namespace PolicyCompiler.Generators.Conditions;

// Emitting lives apart from parsing: the runtime compiles the parsing half (JmesCompiler.cs) for expressions it only
// learns at admission, and has no use for the C# writer.
internal static partial class JmesCompiler
{
    /// <summary>
    /// A method <c>{accessibility} static JmesValue {methodName}(JmesValue input, JmesContext context)</c> (plus the
    /// static fields it needs, prefixed with <c>__{methodName}_</c>) evaluating a validated expression.
    /// </summary>
    public static string EmitMethod(JmesNode expression, JmesDialect dialect, string methodName, string expressionText, string accessibility = "public") =>
        JmesEmitter.EmitMethod(expression, dialect, methodName, expressionText, accessibility);
}
