using System;
using System.Collections.Generic;
using System.Linq;

namespace PolicyCompiler.Generators.Emit;

/// <summary>
/// A boolean C# expression under construction that knows its top-level operator, so that joining writes parentheses
/// only where they are needed or help the reader: never around an operand joined by the same operator, always around
/// an <c>&amp;&amp;</c> inside <c>||</c> (the .NET style's parentheses for clarity), and under <c>!</c> around anything
/// but a call or a literal.
/// </summary>
internal sealed class Condition
{
    public const string And = "&&";
    public const string Or = "||";

    public static readonly Condition True = new("true", null, [], isPrimary: true);

    private readonly string _text;
    private readonly bool _isPrimary;

    private Condition(string text, string? @operator, IReadOnlyList<Condition> operands, bool isPrimary)
    {
        _text = text;
        Operator = @operator;
        Operands = operands;
        _isPrimary = isPrimary;
    }

    /// <summary><see cref="And"/> or <see cref="Or"/> for a join; null for a single test.</summary>
    public string? Operator { get; }

    public IReadOnlyList<Condition> Operands { get; }

    /// <summary>A method call: <c>!</c> applies to it directly.</summary>
    public static Condition Call(string text) => new(text, null, [], isPrimary: true);

    /// <summary>A comparison such as <c>a == "b"</c>: binds tighter than <c>&amp;&amp;</c> and <c>||</c>, not than <c>!</c>.</summary>
    public static Condition Comparison(string text) => new(text, null, [], isPrimary: false);

    /// <summary>
    /// Joins <paramref name="parts"/> with <paramref name="operator"/>. Operands that are joins with the same operator are
    /// flattened (both operators are associative and evaluation order is kept); <see cref="True"/> decides an
    /// <c>||</c> and drops out of an <c>&amp;&amp;</c>.
    /// </summary>
    public static Condition Join(string @operator, IEnumerable<Condition> parts)
    {
        var operands = new List<Condition>();
        foreach (var part in parts)
        {
            if (part == True)
            {
                if (@operator == Or)
                {
                    return True;
                }

                continue;
            }

            if (part.Operator == @operator)
            {
                operands.AddRange(part.Operands);
            }
            else
            {
                operands.Add(part);
            }
        }

        return operands.Count switch
        {
            0 when @operator == And => True,
            0 => throw new InvalidOperationException("An empty '||' has no C# spelling; the model never holds an empty list of alternatives."),
            1 => operands[0],
            _ => new Condition(string.Join($" {@operator} ", operands.Select(o => o.AsOperandOf(@operator))), @operator, operands, isPrimary: false),
        };
    }

    /// <summary>The expression as an operand of <paramref name="operator"/>.</summary>
    public string AsOperandOf(string @operator) => Operator is null || Operator == @operator ? _text : "(" + _text + ")";

    public string Negated() => _isPrimary ? "!" + _text : "!(" + _text + ")";

    public override string ToString() => _text;
}
