using System.Collections.Generic;
using System.Linq;

namespace PolicyCompiler.Generators.Cel;

internal enum CelNodeKind
{
    /// <summary>A name: <c>object</c>, or <c>.object</c> with <see cref="CelNode.LeadingDot"/>.</summary>
    Ident,

    /// <summary><c>operand.name</c>, or <c>operand.?name</c> with <see cref="CelNode.Optional"/>.</summary>
    Select,

    /// <summary><c>name(args)</c>, or <c>target.name(args)</c> when <see cref="CelNode.Target"/> is set.</summary>
    Call,

    /// <summary>A literal, operator, index, list, map or message: only its children matter here.</summary>
    Other,
}

/// <summary>
/// The little of a CEL expression's tree that the checks after parsing need: names, selections and calls, each with
/// where it was written. Operators, literals and aggregates keep only their operands.
/// </summary>
internal sealed class CelNode(CelNodeKind kind, int start, int length)
{
    public CelNodeKind Kind { get; } = kind;

    public int Start { get; } = start;

    public int Length { get; } = length;

    public string Name { get; init; } = string.Empty;

    public bool LeadingDot { get; init; }

    public bool Optional { get; init; }

    /// <summary>The operand of a selection, or the receiver of a call.</summary>
    public CelNode? Target { get; init; }

    /// <summary>A call's arguments, or the operands of anything else.</summary>
    public IReadOnlyList<CelNode> Children { get; init; } = [];
}

/// <summary>
/// A recursive-descent parser for the CEL grammar (cel-spec doc/langdef.md) with the optional syntax Kubernetes turns
/// on (<c>a.?b</c>, <c>a[?k]</c>, <c>[?x]</c>, <c>{?k: v}</c>). Precedence, loosest first: <c>?:</c>, <c>||</c>,
/// <c>&amp;&amp;</c>, relations and <c>in</c>, <c>+ -</c>, <c>* / %</c>, unary <c>! -</c>, then member access, index,
/// calls and message literals. It stops at the first mistake, by throwing <see cref="CelSyntaxException"/>.
/// </summary>
internal sealed class CelParser
{
    // cel-go refuses deeper nesting too; the cap keeps a hostile expression from overflowing the compiler's stack.
    private const int MaxDepth = 250;

    private static readonly HashSet<string> s_reserved =
    [
        "as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop", "package",
        "namespace", "return", "var", "void", "while",
    ];

    private static readonly string[] s_relations = ["==", "!=", "<", "<=", ">", ">="];

    private readonly List<CelToken> _tokens;
    private int _position;
    private int _depth;

    private CelParser(List<CelToken> tokens) => _tokens = tokens;

    public static CelNode Parse(string text)
    {
        var parser = new CelParser(CelLexer.Tokenize(text));
        if (parser.Peek.Kind == CelTokenKind.End)
        {
            throw CelLexer.Error(0, text.Length, "the expression is empty");
        }

        var expression = parser.Expression();
        if (parser.Peek.Kind != CelTokenKind.End)
        {
            throw parser.Unexpected("an operator or the end of the expression");
        }

        return expression;
    }

    private CelToken Peek => _tokens[_position];

    private CelToken PeekAt(int ahead) => _tokens[System.Math.Min(_position + ahead, _tokens.Count - 1)];

    private CelToken Take() => _tokens[_position++];

    private bool TakeIf(string punct)
    {
        if (Peek.Is(punct))
        {
            _position++;
            return true;
        }

        return false;
    }

    private CelToken Expect(string punct, string what)
    {
        if (!Peek.Is(punct))
        {
            throw Unexpected(what);
        }

        return Take();
    }

    private CelSyntaxException Unexpected(string expected)
    {
        var token = Peek;
        var found = token.Kind == CelTokenKind.End ? "the end of the expression" : $"'{token.Text}'";
        return CelLexer.Error(token.Start, token.Length, $"expected {expected}, found {found}");
    }

    // Expr = ConditionalOr ["?" ConditionalOr ":" Expr]
    private CelNode Expression()
    {
        var outer = _depth;
        Deeper();
        var condition = Or();
        if (Peek.Is("?"))
        {
            Take();
            var whenTrue = Or();
            Expect(":", "':' of the conditional 'condition ? a : b'");
            var whenFalse = Expression();
            condition = Combine(condition, whenTrue, whenFalse);
        }

        _depth = outer;
        return condition;
    }

    // One level per nested expression and one per operator, selection, index or call applied to a left operand: a long
    // chain (a + b + c ..., a.b.c ...) builds a tree as deep as it is long, and the checks after parsing recurse over it
    // (the cel fuzz target's replay overflowed the stack on a 20,000-link chain before chains counted).
    private void Deeper()
    {
        if (++_depth > MaxDepth)
        {
            throw CelLexer.Error(Peek.Start, Peek.Length, $"the expression nests more than {MaxDepth} levels deep");
        }
    }

    private CelNode Or() => Binary(And, "||");

    private CelNode And() => Binary(Relation, "&&");

    private CelNode Binary(System.Func<CelNode> operand, params string[] operators)
    {
        var outer = _depth;
        var left = operand();
        while (operators.Any(o => Peek.Is(o)))
        {
            Deeper();
            Take();
            left = Combine(left, operand());
        }

        _depth = outer;
        return left;
    }

    // Relations do not chain in meaning but do in the grammar: a < b < c parses (and fails the type check later).
    private CelNode Relation()
    {
        var outer = _depth;
        var left = Addition();
        while (s_relations.Any(o => Peek.Is(o)) || Peek.Kind == CelTokenKind.In)
        {
            Deeper();
            Take();
            left = Combine(left, Addition());
        }

        _depth = outer;
        return left;
    }

    private CelNode Addition() => Binary(Multiplication, "+", "-");

    private CelNode Multiplication() => Binary(Unary, "*", "/", "%");

    // Unary = Member | "!" {"!"} Member | "-" {"-"} Member: '!' and '-' do not mix without parentheses. A '-' right
    // before a number is part of the literal, as in cel-go, so -9223372036854775808 is an int and !-1 parses.
    private CelNode Unary()
    {
        var first = Peek;
        if (first.Is("-") && PeekAt(1).Kind is CelTokenKind.Int or CelTokenKind.Double)
        {
            return Member();
        }

        if (!first.Is("!") && !first.Is("-"))
        {
            return Member();
        }

        while (Peek.Is(first.Text) && !(first.Text == "-" && PeekAt(1).Kind is CelTokenKind.Int or CelTokenKind.Double))
        {
            Take();
        }

        if (Peek.Is("!") || (Peek.Is("-") && PeekAt(1).Kind is not (CelTokenKind.Int or CelTokenKind.Double)))
        {
            throw CelLexer.Error(Peek.Start, Peek.Length, $"'{Peek.Text}' cannot follow '{first.Text}' without parentheses: write {first.Text}({Peek.Text}...)");
        }

        return Combine(Member());
    }

    // Member = Primary | Member "." SELECTOR ["(" [ExprList] ")"] | Member "[" Expr "]" | Member "{" [FieldInits] "}"
    private CelNode Member()
    {
        var outer = _depth;
        var node = Primary();
        while (true)
        {
            if (Peek.Is(".") || Peek.Is("[") || Peek.Is("{"))
            {
                Deeper();
            }

            if (Peek.Is("."))
            {
                Take();
                var optional = TakeIf("?");
                var name = Peek;
                if (name.Kind is not (CelTokenKind.Ident or CelTokenKind.EscapedIdent))
                {
                    throw Unexpected(optional ? "a field name after '.?'" : "a field or function name after '.'");
                }

                Take();
                if (Peek.Is("("))
                {
                    if (optional || name.Kind == CelTokenKind.EscapedIdent)
                    {
                        throw CelLexer.Error(Peek.Start, Peek.Length, optional ? "a function is called with '.', not '.?'" : "a backtick-quoted name is a field, not a function");
                    }

                    var args = Arguments();
                    node = new CelNode(CelNodeKind.Call, node.Start, End() - node.Start) { Name = name.Text, Target = node, Children = args };
                }
                else
                {
                    node = new CelNode(CelNodeKind.Select, node.Start, name.Start + name.Length - node.Start) { Name = name.Text, Target = node, Optional = optional };
                }
            }
            else if (Peek.Is("["))
            {
                Take();
                TakeIf("?");
                var index = Expression();
                Expect("]", "']' to close the index");
                node = Combine(node, index);
            }
            else if (Peek.Is("{"))
            {
                if (!IsQualifiedName(node))
                {
                    throw CelLexer.Error(Peek.Start, Peek.Length, "a message literal 'Type{field: value}' needs a type name before '{'");
                }

                Take();
                var fields = Initializers("}", field: true);
                node = new CelNode(CelNodeKind.Other, node.Start, End() - node.Start) { Children = fields };
            }
            else
            {
                _depth = outer;
                return node;
            }
        }
    }

    // Primary = ["."] IDENT ["(" [ExprList] ")"] | "(" Expr ")" | "[" [ExprList] "]" | "{" [MapInits] "}" | LITERAL
    private CelNode Primary()
    {
        var token = Peek;
        if (token.Is("."))
        {
            Take();
            if (Peek.Kind != CelTokenKind.Ident)
            {
                throw Unexpected("a name after the leading '.'");
            }

            return Identifier(leadingDot: true);
        }

        switch (token.Kind)
        {
            case CelTokenKind.Ident:
                return Identifier(leadingDot: false);
            case CelTokenKind.Int when IntMagnitude(token.Text) > long.MaxValue:
                throw CelLexer.Error(token.Start, token.Length, $"{token.Text} does not fit in a 64-bit int (write {token.Text}u for a uint)");
            case CelTokenKind.Int or CelTokenKind.Uint or CelTokenKind.Double or CelTokenKind.String or CelTokenKind.Bytes
                or CelTokenKind.True or CelTokenKind.False or CelTokenKind.Null:
                Take();
                return new CelNode(CelNodeKind.Other, token.Start, token.Length);
            case CelTokenKind.EscapedIdent:
                throw CelLexer.Error(token.Start, token.Length, "a backtick-quoted name can only follow '.' or name a message field");
            case CelTokenKind.In:
                throw CelLexer.Error(token.Start, token.Length, "'in' is an operator ('x in list'), not a name");
        }

        if (token.Is("-") && PeekAt(1).Kind is CelTokenKind.Int or CelTokenKind.Double)
        {
            Take();
            var number = Take();
            if (number.Kind == CelTokenKind.Int && IntMagnitude(number.Text) > 9223372036854775808UL)
            {
                throw CelLexer.Error(token.Start, number.Start + number.Length - token.Start, $"-{number.Text} does not fit in a 64-bit int");
            }

            return new CelNode(CelNodeKind.Other, token.Start, number.Start + number.Length - token.Start);
        }

        if (token.Is("("))
        {
            Take();
            var inner = Expression();
            Expect(")", "')' to close '('");
            return inner;
        }

        if (token.Is("["))
        {
            Take();
            var items = new List<CelNode>();
            SkipLoneComma("]");
            while (!Peek.Is("]"))
            {
                TakeIf("?");
                items.Add(Expression());
                if (!TakeIf(","))
                {
                    break;
                }
            }

            Expect("]", "',' or ']' in the list");
            return new CelNode(CelNodeKind.Other, token.Start, End() - token.Start) { Children = items };
        }

        if (token.Is("{"))
        {
            Take();
            var entries = Initializers("}", field: false);
            return new CelNode(CelNodeKind.Other, token.Start, End() - token.Start) { Children = entries };
        }

        throw Unexpected("a value, a name, '(', '[' or '{'");
    }

    private CelNode Identifier(bool leadingDot)
    {
        var name = Take();
        if (s_reserved.Contains(name.Text))
        {
            throw CelLexer.Error(name.Start, name.Length, $"'{name.Text}' is a reserved word in CEL and cannot be used as a name");
        }

        if (Peek.Is("("))
        {
            var args = Arguments();
            return new CelNode(CelNodeKind.Call, name.Start, End() - name.Start) { Name = name.Text, LeadingDot = leadingDot, Children = args };
        }

        return new CelNode(CelNodeKind.Ident, name.Start, name.Length) { Name = name.Text, LeadingDot = leadingDot };
    }

    // ExprList = Expr {"," Expr}: no trailing comma in a call.
    private List<CelNode> Arguments()
    {
        Expect("(", "'('");
        var args = new List<CelNode>();
        if (TakeIf(")"))
        {
            return args;
        }

        while (true)
        {
            args.Add(Expression());
            if (TakeIf(")"))
            {
                return args;
            }

            Expect(",", "',' or ')' in the argument list");
        }
    }

    // MapInits = ["?"] Expr ":" Expr {...} ; FieldInits = ["?"] SELECTOR ":" Expr {...}; a trailing comma is allowed.
    private List<CelNode> Initializers(string close, bool field)
    {
        var entries = new List<CelNode>();
        SkipLoneComma(close);
        while (!Peek.Is(close))
        {
            TakeIf("?");
            if (field)
            {
                if (Peek.Kind is not (CelTokenKind.Ident or CelTokenKind.EscapedIdent))
                {
                    throw Unexpected("a field name in the message literal");
                }

                Take();
            }
            else
            {
                entries.Add(Expression());
            }

            Expect(":", field ? "':' after the field name" : "':' between the map key and its value");
            entries.Add(Expression());
            if (!TakeIf(","))
            {
                break;
            }
        }

        Expect(close, field ? "',' or '}' in the message literal" : "',' or '}' in the map");
        return entries;
    }

    // The grammar lets an aggregate's trailing comma stand alone: [,] and {,} are empty, as in cel-go.
    private void SkipLoneComma(string close)
    {
        if (Peek.Is(",") && PeekAt(1).Is(close))
        {
            Take();
        }
    }

    private int End()
    {
        var last = _tokens[_position - 1];
        return last.Start + last.Length;
    }

    private static bool IsQualifiedName(CelNode node) => node.Kind switch
    {
        CelNodeKind.Ident => true,
        CelNodeKind.Select => !node.Optional && node.Target is { } target && IsQualifiedName(target),
        _ => false,
    };

    private static ulong IntMagnitude(string text) =>
        text.StartsWith("0x", System.StringComparison.OrdinalIgnoreCase)
            ? ulong.Parse(text.Substring(2), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture)
            : ulong.Parse(text, System.Globalization.CultureInfo.InvariantCulture);

    private CelNode Combine(params CelNode[] children) =>
        new(CelNodeKind.Other, children[0].Start, End() - children[0].Start) { Children = children };
}
