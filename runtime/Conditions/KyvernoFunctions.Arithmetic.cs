using System.Globalization;
using System.Numerics;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary>Kyverno's arithmetic over numbers, quantities (<c>'12Ki'</c>) and durations (<c>'30m'</c>).</summary>
public static partial class KyvernoFunctions
{
    private enum OperandKind
    {
        Scalar,
        Quantity,
        Duration,
    }

    private readonly record struct Operand(OperandKind Kind, double Scalar, Quantity Quantity, long Duration);

    public static JmesValue Add(JmesValue left, JmesValue right) => AddCore(left, right, "add");

    /// <summary><c>sum(array)</c>: the values added in order (numbers, quantities or durations, not mixed); an empty array is an error.</summary>
    public static JmesValue Sum(JmesValue values)
    {
        if (values.Type != JmesType.Array)
        {
            throw new JmesPathException(JmesErrorKind.InvalidType, "JMESPath function 'sum': Types mismatch");
        }

        if (values.GetArrayLength() == 0)
        {
            throw Error("sum", "at least one element in the array is required");
        }

        JmesValue? result = null;
        foreach (var item in values.EnumerateArray())
        {
            result = result is null ? item : AddCore(result.Value, item, "sum");
        }

        return result!.Value;
    }

    public static JmesValue Subtract(JmesValue left, JmesValue right)
    {
        var (a, b) = Operands(left, right, "subtract");
        return (a.Kind, b.Kind) switch
        {
            (OperandKind.Scalar, OperandKind.Scalar) => JmesValue.From(a.Scalar - b.Scalar),
            (OperandKind.Quantity, OperandKind.Quantity) => JmesValue.From((a.Quantity - b.Quantity).ToString()),
            (OperandKind.Duration, OperandKind.Duration) => JmesValue.From(GoDuration.Format(a.Duration - b.Duration)),
            _ => throw Mismatch("subtract"),
        };
    }

    public static JmesValue Multiply(JmesValue left, JmesValue right)
    {
        var (a, b) = Operands(left, right, "multiply");
        if (a.Kind == OperandKind.Scalar && b.Kind != OperandKind.Scalar)
        {
            (a, b) = (b, a);
        }

        return (a.Kind, b.Kind) switch
        {
            (OperandKind.Scalar, OperandKind.Scalar) => JmesValue.From(a.Scalar * b.Scalar),
            (OperandKind.Quantity, OperandKind.Scalar) => JmesValue.From(a.Quantity.Multiply(ScalarQuantity(b.Scalar)).ToString()),
            (OperandKind.Duration, OperandKind.Scalar) => JmesValue.From(GoDuration.Format(GoDuration.FromSeconds(GoDuration.Seconds(a.Duration) * b.Scalar))),
            _ => throw Mismatch("multiply"),
        };
    }

    public static JmesValue Divide(JmesValue left, JmesValue right)
    {
        var (a, b) = Operands(left, right, "divide");
        switch (a.Kind, b.Kind)
        {
            case (OperandKind.Scalar, OperandKind.Scalar):
                return b.Scalar == 0 ? throw ZeroDivisor("divide") : JmesValue.From(a.Scalar / b.Scalar);
            case (OperandKind.Quantity, OperandKind.Quantity):
                {
                    var divisor = b.Quantity.ToDouble();
                    return divisor == 0 ? throw ZeroDivisor("divide") : JmesValue.From(a.Quantity.ToDouble() / divisor);
                }

            case (OperandKind.Quantity, OperandKind.Scalar):
                return b.Scalar == 0 ? throw ZeroDivisor("divide") : JmesValue.From(a.Quantity.DivideRoundDown(ScalarQuantity(b.Scalar)).ToString());
            case (OperandKind.Duration, OperandKind.Duration):
                return b.Duration == 0 ? throw ZeroDivisor("divide") : JmesValue.From(GoDuration.Seconds(a.Duration) / GoDuration.Seconds(b.Duration));
            case (OperandKind.Duration, OperandKind.Scalar):
                return b.Scalar == 0 ? throw ZeroDivisor("divide") : JmesValue.From(GoDuration.Format(GoDuration.FromSeconds(GoDuration.Seconds(a.Duration) / b.Scalar)));
            default:
                throw Mismatch("divide");
        }
    }

    public static JmesValue Modulo(JmesValue left, JmesValue right)
    {
        var (a, b) = Operands(left, right, "modulo");
        switch (a.Kind, b.Kind)
        {
            case (OperandKind.Scalar, OperandKind.Scalar):
                {
                    var x = (long)a.Scalar;
                    var y = (long)b.Scalar;
                    if (a.Scalar != x || b.Scalar != y)
                    {
                        throw NonIntegerModulo();
                    }

                    return y == 0 ? throw ZeroDivisor("modulo") : JmesValue.From(x % y);
                }

            case (OperandKind.Quantity, OperandKind.Quantity):
                {
                    var f1 = a.Quantity.ToDouble();
                    var f2 = b.Quantity.ToDouble();
                    var x = (long)f1;
                    var y = (long)f2;
                    if (f1 != x || f2 != y)
                    {
                        throw NonIntegerModulo();
                    }

                    return y == 0 ? throw ZeroDivisor("modulo") : JmesValue.From(Quantity.FromInt64(x % y, a.Quantity.Format).ToString());
                }

            case (OperandKind.Duration, OperandKind.Duration):
                return b.Duration == 0 ? throw ZeroDivisor("modulo") : JmesValue.From(GoDuration.Format(a.Duration % b.Duration));
            default:
                throw Mismatch("modulo");
        }
    }

    /// <summary><c>round(number, digits)</c>: half away from zero, to a non-negative whole number of decimals.</summary>
    public static JmesValue Round(JmesValue value, JmesValue digits)
    {
        var x = Num("round", 1, value);
        var n = Num("round", 2, digits);
        if (double.IsInfinity(n) || double.IsNaN(n) || Math.Truncate(n) != n)
        {
            throw Error("round", "Non-integer argument(s) passed for round off");
        }

        if (n < 0)
        {
            throw Error("round", "2 argument is out of bounds (must not be negative)");
        }

        var shift = Math.Pow(10, n);
        return JmesValue.From(Math.Round(x * shift, MidpointRounding.AwayFromZero) / shift);
    }

    private static JmesValue AddCore(JmesValue left, JmesValue right, string function)
    {
        var (a, b) = Operands(left, right, function);
        return (a.Kind, b.Kind) switch
        {
            (OperandKind.Scalar, OperandKind.Scalar) => JmesValue.From(a.Scalar + b.Scalar),
            (OperandKind.Quantity, OperandKind.Quantity) => JmesValue.From((a.Quantity + b.Quantity).ToString()),
            (OperandKind.Duration, OperandKind.Duration) => JmesValue.From(GoDuration.Format(a.Duration + b.Duration)),
            _ => throw Mismatch(function),
        };
    }

    /// <summary>A number is a scalar; a string is a quantity if it parses as one, else a duration; anything else is an error.</summary>
    private static (Operand Left, Operand Right) Operands(JmesValue left, JmesValue right, string function)
    {
        var a = Operand1(left);
        var b = Operand1(right);
        if (a is null || b is null)
        {
            throw new JmesPathException(JmesErrorKind.InvalidType, $"JMESPath function '{function}': invalid operands");
        }

        return (a.Value, b.Value);
    }

    private static Operand? Operand1(JmesValue value)
    {
        switch (value.Type)
        {
            case JmesType.Number:
                return new Operand(OperandKind.Scalar, value.GetNumber(), default, 0);
            case JmesType.String:
                var text = value.GetString();
                if (Quantity.TryParse(text, out var q))
                {
                    return new Operand(OperandKind.Quantity, 0, q, 0);
                }

                if (GoDuration.TryParse(text, out var d))
                {
                    return new Operand(OperandKind.Duration, 0, default, d);
                }

                return null;
            default:
                return null;
        }
    }

    /// <summary>A scalar as Kyverno turns it into a quantity: the text of <c>fmt.Sprintf("%v", f)</c>, parsed.</summary>
    private static Quantity ScalarQuantity(double scalar) =>
        Quantity.TryParse(GoFormat.FormatV(scalar), out var q) ? q : new Quantity(new BigInteger(scalar), 0, QuantityFormat.DecimalSI);

    private static JmesPathException Mismatch(string function) =>
        new(JmesErrorKind.InvalidType, $"JMESPath function '{function}': Types mismatch");

    private static JmesPathException ZeroDivisor(string function) => Error(function, "Zero divisor passed");

    private static JmesPathException NonIntegerModulo() => Error("modulo", "Non-integer argument(s) passed for modulo");

    internal static string Invariant(double value) => value.ToString(CultureInfo.InvariantCulture);
}
