using PolicyCompiler.Generators.Common;

namespace PolicyCompiler.Generators.Conditions;

/// <summary>
/// A parsed JMESPath expression. Every node is a value (records, arrays as <see cref="EquatableArray{T}"/>), so an AST
/// can sit in the incremental pipeline. <see cref="Start"/> and <see cref="Length"/> locate the node in the text that was
/// parsed (for a Kyverno value, the whole YAML string), which is how diagnostics point inside an expression.
/// </summary>
internal abstract record JmesNode(int Start, int Length);

/// <summary>The implicit current node (the left side of <c>[*]</c> at the start of an expression, an empty projection RHS).</summary>
internal sealed record IdentityNode(int Start, int Length) : JmesNode(Start, Length);

/// <summary><c>@</c>.</summary>
internal sealed record CurrentNode(int Start, int Length) : JmesNode(Start, Length);

/// <summary><c>name</c> or <c>"quoted name"</c>.</summary>
internal sealed record FieldNode(string Name, int Start, int Length) : JmesNode(Start, Length);

/// <summary><c>left.right</c>: right evaluated against left, null when left is null.</summary>
internal sealed record SubexpressionNode(JmesNode Left, JmesNode Right, int Start, int Length) : JmesNode(Start, Length);

/// <summary><c>left[n]</c>.</summary>
internal sealed record IndexNode(JmesNode Left, int Index, int Start, int Length) : JmesNode(Start, Length);

/// <summary><c>left[start:stop:step]</c> (a projection's left side).</summary>
internal sealed record SliceNode(JmesNode Left, int? From, int? To, int Step, int Start, int Length) : JmesNode(Start, Length);

/// <summary><c>left[*].right</c>, <c>left[].right</c>, <c>left[a:b].right</c>: right applied to every element of the array left.</summary>
internal sealed record ProjectionNode(JmesNode Left, JmesNode Right, int Start, int Length) : JmesNode(Start, Length);

/// <summary><c>left.*.right</c>: right applied to every value of the object left.</summary>
internal sealed record ValueProjectionNode(JmesNode Left, JmesNode Right, int Start, int Length) : JmesNode(Start, Length);

/// <summary><c>left[?condition].right</c>.</summary>
internal sealed record FilterProjectionNode(JmesNode Left, JmesNode Condition, JmesNode Right, int Start, int Length) : JmesNode(Start, Length);

/// <summary><c>left[]</c> without its projection: merges one level of nested arrays.</summary>
internal sealed record FlattenNode(JmesNode Inner, int Start, int Length) : JmesNode(Start, Length);

internal enum ComparatorKind
{
    Equal,
    NotEqual,
    LessThan,
    LessThanOrEqual,
    GreaterThan,
    GreaterThanOrEqual,
}

/// <summary><c>==</c>, <c>!=</c>, <c>&lt;</c>, <c>&lt;=</c>, <c>&gt;</c>, <c>&gt;=</c>.</summary>
internal sealed record ComparatorNode(ComparatorKind Kind, JmesNode Left, JmesNode Right, int Start, int Length) : JmesNode(Start, Length);

/// <summary><c>left || right</c>.</summary>
internal sealed record OrNode(JmesNode Left, JmesNode Right, int Start, int Length) : JmesNode(Start, Length);

/// <summary><c>left &amp;&amp; right</c>.</summary>
internal sealed record AndNode(JmesNode Left, JmesNode Right, int Start, int Length) : JmesNode(Start, Length);

/// <summary><c>!expression</c>.</summary>
internal sealed record NotNode(JmesNode Expression, int Start, int Length) : JmesNode(Start, Length);

/// <summary><c>left | right</c>.</summary>
internal sealed record PipeNode(JmesNode Left, JmesNode Right, int Start, int Length) : JmesNode(Start, Length);

/// <summary><c>[a, b, …]</c>.</summary>
internal sealed record MultiSelectListNode(EquatableArray<JmesNode> Items, int Start, int Length) : JmesNode(Start, Length);

/// <summary><c>{key: value, …}</c>.</summary>
internal sealed record MultiSelectHashNode(EquatableArray<KeyValueNode> Pairs, int Start, int Length) : JmesNode(Start, Length);

internal sealed record KeyValueNode(string Key, JmesNode Value, int Start, int Length) : JmesNode(Start, Length);

/// <summary>A JSON literal <c>`…`</c>, held as a parsed JSON value.</summary>
internal sealed record LiteralNode(JsonLiteral Value, int Start, int Length) : JmesNode(Start, Length);

/// <summary>A raw string literal <c>'…'</c>.</summary>
internal sealed record RawStringNode(string Value, int Start, int Length) : JmesNode(Start, Length);

/// <summary><c>name(arg, …)</c>, checked against the function catalogue.</summary>
internal sealed record FunctionCallNode(string Name, EquatableArray<JmesNode> Arguments, int Start, int Length) : JmesNode(Start, Length);

/// <summary><c>&amp;expression</c>.</summary>
internal sealed record ExpressionReferenceNode(JmesNode Expression, int Start, int Length) : JmesNode(Start, Length);

/// <summary>
/// A Kyverno variable nested inside an expression (<c>{{ … }}</c> inside <c>{{ … }}</c>): evaluated first, against the
/// root of the data, as Kyverno substitutes the inner variables before it evaluates the outer one.
/// </summary>
internal sealed record HoleNode(JmesNode Expression, string Text, int Start, int Length) : JmesNode(Start, Length);

/// <summary>A raw string, JSON string literal or quoted identifier with nested variables: the parts joined as text.</summary>
internal sealed record InterpolatedStringNode(EquatableArray<JmesNode> Parts, int Start, int Length) : JmesNode(Start, Length);

/// <summary>A field whose name is computed (a quoted identifier or bare identifier position holding a nested variable).</summary>
internal sealed record DynamicFieldNode(JmesNode Name, int Start, int Length) : JmesNode(Start, Length);

/// <summary>A JSON literal whose text contains nested variables; the text is assembled and parsed at run time.</summary>
internal sealed record JsonTemplateNode(EquatableArray<JmesNode> Parts, int Start, int Length) : JmesNode(Start, Length);
