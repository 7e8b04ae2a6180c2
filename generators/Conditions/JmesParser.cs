using System.Collections.Generic;
using PolicyCompiler.Generators.Common;

namespace PolicyCompiler.Generators.Conditions;

/// <summary>
/// JMESPath's grammar as a Pratt parser with the binding powers of the reference implementation, so projections,
/// pipes and filters associate exactly as every compliant implementation does.
/// </summary>
internal sealed class JmesParser
{
    private const int ProjectionStop = 10;

    private readonly List<Token> _tokens;
    private readonly string _what;
    private int _index;

    private JmesParser(List<Token> tokens, string what)
    {
        _tokens = tokens;
        _what = what;
    }

    /// <summary>Parses <c>text[start..end)</c>; positions in the result and in errors are offsets in <paramref name="text"/>.</summary>
    public static JmesNode ParseRange(string text, int start, int end, bool allowVariables, string what = "expression")
    {
        var tokens = new JmesLexer(text, start, end, allowVariables).Tokenize();
        var parser = new JmesParser(tokens, what);
        if (parser.Current.Type == TokenType.Eof)
        {
            throw Error(start, end - start, $"Empty {what}: write a JMESPath expression");
        }

        var result = parser.Expression(0);
        if (parser.Current.Type != TokenType.Eof)
        {
            var t = parser.Current;
            throw Error(t.Start, t.End - t.Start, $"Unexpected token '{t.Value}' after the end of the {what}");
        }

        return result;
    }

    private Token Current => _tokens[_index];

    private Token Lookahead(int n) => _tokens[System.Math.Min(_index + n, _tokens.Count - 1)];

    private static int BindingPower(TokenType type) => type switch
    {
        TokenType.Pipe => 1,
        TokenType.Or => 2,
        TokenType.And => 3,
        TokenType.Eq or TokenType.Ne or TokenType.Lt or TokenType.Lte or TokenType.Gt or TokenType.Gte => 5,
        TokenType.Flatten => 9,
        TokenType.Star => 20,
        TokenType.Filter => 21,
        TokenType.Dot => 40,
        TokenType.Not => 45,
        TokenType.LBrace => 50,
        TokenType.LBracket => 55,
        TokenType.LParen => 60,
        _ => 0,
    };

    private Token Advance()
    {
        var token = _tokens[_index];
        if (_index < _tokens.Count - 1)
        {
            _index++;
        }

        return token;
    }

    private Token Match(TokenType type, string expectation)
    {
        if (Current.Type != type)
        {
            throw Unexpected(Current, expectation);
        }

        return Advance();
    }

    /// <summary>
    /// How deep the tree may nest. The parser, validator and emitter recurse over it, and a compiler thread's stack
    /// ends after some ten thousand levels: <c>[[[[…</c> or <c>a.a.a.…</c> of that length was a stack overflow that
    /// took the whole compiler down (found by build/fuzz.sh). Real expressions nest a few levels; the compliance suite's deepest (104 projections) about 210.
    /// </summary>
    internal const int MaxDepth = 1000;

    // The depth of the node being built: one per nested Expression call, one per operator applied to a left operand.
    private int _depth;

    private JmesNode Expression(int bindingPower)
    {
        var outer = _depth;
        var leftToken = Advance();
        CheckDepth(leftToken);
        var left = Nud(leftToken);
        while (bindingPower < BindingPower(Current.Type))
        {
            var token = Advance();
            CheckDepth(token);
            left = Led(token, left);
        }

        _depth = outer;
        return left;
    }

    private void CheckDepth(Token token)
    {
        if (++_depth > MaxDepth)
        {
            throw Error(token.Start, token.End - token.Start, $"The {_what} nests deeper than {MaxDepth} levels: split it into smaller expressions");
        }
    }

    private static int Span(int start, int end) => System.Math.Max(end - start, 0);

    private int EndOfPrevious => _tokens[System.Math.Max(_index - 1, 0)].End;

    private JmesNode Nud(Token token)
    {
        switch (token.Type)
        {
            case TokenType.Literal:
            case TokenType.RawString:
                return token.Node!;
            case TokenType.Variable:
                // A bare nested variable names a field of the current node, as the substituted text would.
                return new DynamicFieldNode(token.Node!, token.Start, token.End - token.Start);
            case TokenType.UnquotedIdentifier:
                return new FieldNode(token.Value, token.Start, token.End - token.Start);
            case TokenType.QuotedIdentifier:
                if (Current.Type == TokenType.LParen)
                {
                    throw Error(token.Start, token.End - token.Start, "A quoted identifier cannot name a function: remove the quotes");
                }

                return token.Node ?? new FieldNode(token.Value, token.Start, token.End - token.Start);
            case TokenType.Star:
                {
                    var left = new IdentityNode(token.Start, 0);
                    var right = Current.Type == TokenType.RBracket
                        ? new IdentityNode(token.End, 0)
                        : ProjectionRhs(BindingPower(TokenType.Star));
                    return new ValueProjectionNode(left, right, token.Start, Span(token.Start, EndOfPrevious));
                }

            case TokenType.Filter:
                return FilterLed(token, new IdentityNode(token.Start, 0));
            case TokenType.LBrace:
                return MultiSelectHash(token);
            case TokenType.LParen:
                {
                    var expression = Expression(0);
                    Match(TokenType.RParen, "')' to close the parenthesis");
                    return expression;
                }

            case TokenType.Flatten:
                {
                    var left = new FlattenNode(new IdentityNode(token.Start, 0), token.Start, token.End - token.Start);
                    var right = ProjectionRhs(BindingPower(TokenType.Flatten));
                    return new ProjectionNode(left, right, token.Start, Span(token.Start, EndOfPrevious));
                }

            case TokenType.Not:
                {
                    var expression = Expression(BindingPower(TokenType.Not));
                    return new NotNode(expression, token.Start, Span(token.Start, EndOfPrevious));
                }

            case TokenType.LBracket:
                if (Current.Type is TokenType.Number or TokenType.Colon)
                {
                    return IndexOrSlice(token, new IdentityNode(token.Start, 0));
                }

                if (Current.Type == TokenType.Star && Lookahead(1).Type == TokenType.RBracket)
                {
                    Advance();
                    Advance();
                    var right = ProjectionRhs(BindingPower(TokenType.Star));
                    return new ProjectionNode(new IdentityNode(token.Start, 0), right, token.Start, Span(token.Start, EndOfPrevious));
                }

                return MultiSelectList(token);
            case TokenType.Current:
                return new CurrentNode(token.Start, token.End - token.Start);
            case TokenType.Expref:
                {
                    var expression = Expression(BindingPower(TokenType.Expref));
                    return new ExpressionReferenceNode(expression, token.Start, Span(token.Start, EndOfPrevious));
                }

            case TokenType.Eof:
                throw Error(token.Start, 1, $"Incomplete {_what}: it ends where an expression is expected");
            default:
                throw Unexpected(token, "an expression");
        }
    }

    private JmesNode Led(Token token, JmesNode left)
    {
        var start = left.Start;
        switch (token.Type)
        {
            case TokenType.Dot:
                if (Current.Type != TokenType.Star)
                {
                    var right = DotRhs(BindingPower(TokenType.Dot));
                    return new SubexpressionNode(left, right, start, Span(start, EndOfPrevious));
                }
                else
                {
                    Advance();
                    var right = ProjectionRhs(BindingPower(TokenType.Dot));
                    return new ValueProjectionNode(left, right, start, Span(start, EndOfPrevious));
                }

            case TokenType.Pipe:
                {
                    var right = Expression(BindingPower(TokenType.Pipe));
                    return new PipeNode(left, right, start, Span(start, EndOfPrevious));
                }

            case TokenType.Or:
                {
                    var right = Expression(BindingPower(TokenType.Or));
                    return new OrNode(left, right, start, Span(start, EndOfPrevious));
                }

            case TokenType.And:
                {
                    var right = Expression(BindingPower(TokenType.And));
                    return new AndNode(left, right, start, Span(start, EndOfPrevious));
                }

            case TokenType.LParen:
                {
                    if (left is not FieldNode field || _tokens[_index - 2].Type != TokenType.UnquotedIdentifier)
                    {
                        throw Error(token.Start, 1, "Only a name can be called as a function");
                    }

                    var arguments = new List<JmesNode>();
                    while (Current.Type != TokenType.RParen)
                    {
                        arguments.Add(Expression(0));
                        if (Current.Type == TokenType.Comma)
                        {
                            Advance();
                            if (Current.Type == TokenType.RParen)
                            {
                                throw Unexpected(Current, "another argument after ','");
                            }
                        }
                        else if (Current.Type != TokenType.RParen)
                        {
                            throw Unexpected(Current, "',' or ')' in the argument list");
                        }
                    }

                    Advance();
                    return new FunctionCallNode(field.Name, arguments.ToEquatableArray(), start, Span(start, EndOfPrevious));
                }

            case TokenType.Filter:
                return FilterLed(token, left);
            case TokenType.Eq:
                return Comparator(ComparatorKind.Equal, left, token);
            case TokenType.Ne:
                return Comparator(ComparatorKind.NotEqual, left, token);
            case TokenType.Lt:
                return Comparator(ComparatorKind.LessThan, left, token);
            case TokenType.Lte:
                return Comparator(ComparatorKind.LessThanOrEqual, left, token);
            case TokenType.Gt:
                return Comparator(ComparatorKind.GreaterThan, left, token);
            case TokenType.Gte:
                return Comparator(ComparatorKind.GreaterThanOrEqual, left, token);
            case TokenType.Flatten:
                {
                    var flatten = new FlattenNode(left, start, Span(start, token.End));
                    var right = ProjectionRhs(BindingPower(TokenType.Flatten));
                    return new ProjectionNode(flatten, right, start, Span(start, EndOfPrevious));
                }

            case TokenType.LBracket:
                if (Current.Type is TokenType.Number or TokenType.Colon)
                {
                    return IndexOrSlice(token, left);
                }
                else
                {
                    Match(TokenType.Star, "a number, ':' or '*' after '['");
                    Match(TokenType.RBracket, "']' after '[*'");
                    var right = ProjectionRhs(BindingPower(TokenType.Star));
                    return new ProjectionNode(left, right, start, Span(start, EndOfPrevious));
                }

            default:
                throw Unexpected(token, "an operator");
        }
    }

    private JmesNode Comparator(ComparatorKind kind, JmesNode left, Token token)
    {
        var right = Expression(BindingPower(token.Type));
        return new ComparatorNode(kind, left, right, left.Start, Span(left.Start, EndOfPrevious));
    }

    private JmesNode FilterLed(Token token, JmesNode left)
    {
        var condition = Expression(0);
        Match(TokenType.RBracket, "']' to close the filter");
        var right = Current.Type == TokenType.Flatten
            ? new IdentityNode(EndOfPrevious, 0)
            : ProjectionRhs(BindingPower(TokenType.Filter));
        var start = left is IdentityNode ? token.Start : left.Start;
        return new FilterProjectionNode(left, condition, right, start, Span(start, EndOfPrevious));
    }

    private JmesNode IndexOrSlice(Token open, JmesNode left)
    {
        var start = left is IdentityNode ? open.Start : left.Start;
        if (Current.Type == TokenType.Colon || Lookahead(1).Type == TokenType.Colon)
        {
            var parts = new int?[3];
            var index = 0;
            var stepToken = (Token?)null;
            while (Current.Type != TokenType.RBracket && index < 3)
            {
                if (Current.Type == TokenType.Colon)
                {
                    index++;
                    if (index == 3)
                    {
                        throw Unexpected(Current, "']' (a slice has at most two ':')");
                    }

                    Advance();
                }
                else if (Current.Type == TokenType.Number)
                {
                    if (index == 2)
                    {
                        stepToken = Current;
                    }

                    parts[index] = Advance().Number;
                }
                else
                {
                    throw Unexpected(Current, "a number, ':' or ']' in the slice");
                }
            }

            Match(TokenType.RBracket, "']' to close the slice");
            if (parts[2] == 0)
            {
                throw new JmesCompileException(new JmesDiagnostic(
                    JmesErrorKind.InvalidValue, "A slice step cannot be 0: use a positive or negative step", stepToken!.Start, stepToken.End - stepToken.Start));
            }

            var slice = new SliceNode(left, parts[0], parts[1], parts[2] ?? 1, start, Span(start, EndOfPrevious));
            var right = ProjectionRhs(BindingPower(TokenType.Star));
            return new ProjectionNode(slice, right, start, Span(start, EndOfPrevious));
        }

        var number = Match(TokenType.Number, "an index").Number;
        Match(TokenType.RBracket, "']' to close the index");
        return new IndexNode(left, number, start, Span(start, EndOfPrevious));
    }

    private JmesNode MultiSelectList(Token open)
    {
        var items = new List<JmesNode>();
        while (true)
        {
            items.Add(Expression(0));
            if (Current.Type == TokenType.RBracket)
            {
                break;
            }

            Match(TokenType.Comma, "',' or ']' in the list");
        }

        Advance();
        return new MultiSelectListNode(items.ToEquatableArray(), open.Start, Span(open.Start, EndOfPrevious));
    }

    private JmesNode MultiSelectHash(Token open)
    {
        var pairs = new List<KeyValueNode>();
        while (true)
        {
            var keyToken = Current;
            if (keyToken.Type is not (TokenType.QuotedIdentifier or TokenType.UnquotedIdentifier) || keyToken.Node is not null)
            {
                throw Unexpected(keyToken, "a key name in the hash");
            }

            Advance();
            Match(TokenType.Colon, "':' after the key");
            var value = Expression(0);
            pairs.Add(new KeyValueNode(keyToken.Value, value, keyToken.Start, Span(keyToken.Start, EndOfPrevious)));
            if (Current.Type == TokenType.Comma)
            {
                Advance();
            }
            else if (Current.Type == TokenType.RBrace)
            {
                Advance();
                break;
            }
            else
            {
                throw Unexpected(Current, "',' or '}' in the hash");
            }
        }

        return new MultiSelectHashNode(pairs.ToEquatableArray(), open.Start, Span(open.Start, EndOfPrevious));
    }

    private JmesNode ProjectionRhs(int bindingPower)
    {
        var type = Current.Type;
        if (BindingPower(type) < ProjectionStop)
        {
            return new IdentityNode(Current.Start, 0);
        }

        switch (type)
        {
            case TokenType.LBracket:
            case TokenType.Filter:
                return Expression(bindingPower);
            case TokenType.Dot:
                Advance();
                return DotRhs(bindingPower);
            default:
                throw Unexpected(Current, "'.', '[' or the end of the projection");
        }
    }

    private JmesNode DotRhs(int bindingPower)
    {
        var token = Current;
        switch (token.Type)
        {
            case TokenType.QuotedIdentifier:
            case TokenType.UnquotedIdentifier:
            case TokenType.Star:
            case TokenType.Variable:
                return Expression(bindingPower);
            case TokenType.LBracket:
                Advance();
                return MultiSelectList(token);
            case TokenType.LBrace:
                Advance();
                return MultiSelectHash(token);
            default:
                throw Unexpected(token, "a name, '*', '[' or '{' after '.'");
        }
    }

    private JmesCompileException Unexpected(Token token, string expectation) => token.Type == TokenType.Eof
        ? Error(token.Start, 1, $"Incomplete {_what}: expected {expectation}")
        : Error(token.Start, token.End - token.Start, $"Unexpected '{token.Value}': expected {expectation}");

    private static JmesCompileException Error(int start, int length, string message) =>
        new(new JmesDiagnostic(JmesErrorKind.Syntax, message, start, System.Math.Max(length, 1)));
}
