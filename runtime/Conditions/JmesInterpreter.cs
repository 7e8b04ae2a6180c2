using System.Globalization;
using PolicyCompiler.Generators.Conditions;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary>
/// JMESPath text learned only at admission, evaluated over <see cref="JmesValue"/>: the expressions of a
/// GlobalContextEntry's <c>spec.projections</c>, which live in the cluster rather than in a policy. The text is parsed
/// and checked by the generator's own parser and validator (compiled into this assembly as shared source) with the
/// Kyverno function table, then turned once into a tree of delegates calling the same <see cref="Jmes"/>,
/// <see cref="JmesFunctions"/> and <see cref="KyvernoFunctions"/> operations the generated code calls, so both agree on
/// every result. Policy text never comes here: it is compiled to C# at build time.
/// </summary>
public static class JmesInterpreter
{
    /// <summary>
    /// The expression as a delegate. Throws <see cref="JmesPathException"/> when the text is not valid JMESPath or
    /// calls a function wrongly (the message names the column).
    /// </summary>
    public static JmesFunc Compile(string expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        var parsed = JmesCompiler.Parse(expression, JmesDialect.Kyverno);
        if (!parsed.Success)
        {
            var first = parsed.Diagnostics[0];
            throw new JmesPathException(
                first.Kind switch
                {
                    Generators.Conditions.JmesErrorKind.Syntax => JmesErrorKind.Syntax,
                    Generators.Conditions.JmesErrorKind.UnknownFunction => JmesErrorKind.UnknownFunction,
                    Generators.Conditions.JmesErrorKind.InvalidArity => JmesErrorKind.InvalidArity,
                    Generators.Conditions.JmesErrorKind.InvalidType => JmesErrorKind.InvalidType,
                    _ => JmesErrorKind.InvalidValue,
                },
                string.Create(CultureInfo.InvariantCulture, $"invalid JMESPath {expression}: {first.Message} (at column {first.Start + 1})"));
        }

        return Build(parsed.Expression!);
    }

    private static JmesFunc Build(JmesNode node)
    {
        switch (node)
        {
            case IdentityNode:
            case CurrentNode:
                return static (current, _) => current;
            case FieldNode field:
                {
                    var name = field.Name;
                    return (current, _) => current.Field(name);
                }

            case SubexpressionNode sub:
                {
                    var left = Build(sub.Left);
                    var right = Build(sub.Right);
                    return (current, context) => left(current, context) is var value && !value.IsNull ? right(value, context) : value;
                }

            case IndexNode index:
                {
                    var left = Build(index.Left);
                    var at = index.Index;
                    return (current, context) => Jmes.Index(left(current, context), at);
                }

            case SliceNode slice:
                {
                    var left = Build(slice.Left);
                    var (from, to, step) = (slice.From, slice.To, slice.Step);
                    return (current, context) => Jmes.Slice(left(current, context), from, to, step);
                }

            case FlattenNode flatten:
                {
                    var inner = Build(flatten.Inner);
                    return (current, context) => Jmes.Flatten(inner(current, context));
                }

            case ProjectionNode projection:
                {
                    var left = Build(projection.Left);
                    var right = Rhs(projection.Right);
                    return (current, context) => Jmes.Project(left(current, context), right, context);
                }

            case ValueProjectionNode projection:
                {
                    var left = Build(projection.Left);
                    var right = Rhs(projection.Right);
                    return (current, context) => Jmes.ProjectValues(left(current, context), right, context);
                }

            case FilterProjectionNode filter:
                {
                    var left = Build(filter.Left);
                    var condition = Build(filter.Condition);
                    var right = Rhs(filter.Right);
                    return (current, context) => Jmes.Filter(left(current, context), condition, right, context);
                }

            case ComparatorNode comparator:
                {
                    var left = Build(comparator.Left);
                    var right = Build(comparator.Right);
                    Func<JmesValue, JmesValue, JmesValue> compare = comparator.Kind switch
                    {
                        ComparatorKind.Equal => Jmes.Equal,
                        ComparatorKind.NotEqual => Jmes.NotEqual,
                        ComparatorKind.LessThan => Jmes.LessThan,
                        ComparatorKind.LessThanOrEqual => Jmes.LessThanOrEqual,
                        ComparatorKind.GreaterThan => Jmes.GreaterThan,
                        _ => Jmes.GreaterThanOrEqual,
                    };
                    return (current, context) => compare(left(current, context), right(current, context));
                }

            case OrNode or:
                {
                    var left = Build(or.Left);
                    var right = Build(or.Right);
                    return (current, context) => left(current, context) is var value && value.IsTruthy ? value : right(current, context);
                }

            case AndNode and:
                {
                    var left = Build(and.Left);
                    var right = Build(and.Right);
                    return (current, context) => left(current, context) is var value && !value.IsTruthy ? value : right(current, context);
                }

            case NotNode not:
                {
                    var inner = Build(not.Expression);
                    return (current, context) => Jmes.Not(inner(current, context));
                }

            case PipeNode pipe:
                {
                    var left = Build(pipe.Left);
                    var right = Build(pipe.Right);
                    return (current, context) => right(left(current, context), context);
                }

            case MultiSelectListNode list:
                {
                    var items = list.Items.Select(Build).ToArray();
                    return (current, context) =>
                    {
                        if (current.IsNull)
                        {
                            return current;
                        }

                        var values = new JmesValue[items.Length];
                        for (var i = 0; i < items.Length; i++)
                        {
                            values[i] = items[i](current, context);
                        }

                        return Jmes.List(values);
                    };
                }

            case MultiSelectHashNode hash:
                {
                    var pairs = hash.Pairs.Select(p => (p.Key, Value: Build(p.Value))).ToArray();
                    return (current, context) =>
                    {
                        if (current.IsNull)
                        {
                            return current;
                        }

                        var members = new JmesObject(pairs.Length);
                        foreach (var (key, value) in pairs)
                        {
                            members.Set(key, value(current, context));
                        }

                        return JmesValue.FromObject(members);
                    };
                }

            case LiteralNode literal:
                {
                    var value = Literal(literal.Value);
                    return (_, _) => value;
                }

            case RawStringNode raw:
                {
                    var value = JmesValue.From(raw.Value);
                    return (_, _) => value;
                }

            case FunctionCallNode call:
                return Call(call);
            default:
                // Variables ({{ }}) are not parsed here and an &expression stands only as a function argument: the
                // validator has refused anything else.
                throw new InvalidOperationException($"Unexpected node {node.GetType().Name}");
        }
    }

    private static JmesFunc? Rhs(JmesNode right) => right is IdentityNode ? null : Build(right);

    private static JmesValue Literal(JsonLiteral literal) => literal.Kind switch
    {
        JsonLiteralKind.Null => JmesValue.Null,
        JsonLiteralKind.True => JmesValue.True,
        JsonLiteralKind.False => JmesValue.False,
        JsonLiteralKind.Number => JmesValue.From(literal.Number),
        JsonLiteralKind.String => JmesValue.From(literal.Text),
        _ => JmesValue.ParseJson(literal.ToJson()),
    };

    /// <summary>Arguments evaluated left to right against the current node; an <c>&amp;expression</c> is passed unevaluated.</summary>
    private static JmesFunc Call(FunctionCallNode call)
    {
        var name = call.Name;
        var count = call.Arguments.Count;
        var values = new JmesFunc?[count];
        var references = new JmesFunc?[count];
        for (var i = 0; i < count; i++)
        {
            if (call.Arguments[i] is ExpressionReferenceNode reference)
            {
                references[i] = Build(reference.Expression);
            }
            else
            {
                values[i] = Build(call.Arguments[i]);
            }
        }

        return (current, context) =>
        {
            var arguments = new JmesValue[count];
            for (var i = 0; i < count; i++)
            {
                if (values[i] is { } value)
                {
                    arguments[i] = value(current, context);
                }
            }

            return Invoke(name, arguments, references, context);
        };
    }

    /// <summary>The runtime method behind each name of the generator's function catalogue (Kyverno dialect).</summary>
    private static JmesValue Invoke(string name, JmesValue[] values, JmesFunc?[] references, JmesContext context) =>
        name switch
        {
            "abs" => JmesFunctions.Abs(values[0]),
            "avg" => JmesFunctions.Avg(values[0]),
            "ceil" => JmesFunctions.Ceil(values[0]),
            "contains" => JmesFunctions.Contains(values[0], values[1]),
            "ends_with" => JmesFunctions.EndsWith(values[0], values[1]),
            "floor" => JmesFunctions.Floor(values[0]),
            "join" => JmesFunctions.Join(values[0], values[1]),
            "keys" => JmesFunctions.Keys(values[0]),
            "length" => JmesFunctions.Length(values[0]),
            "map" => JmesFunctions.Map(references[0]!, values[1], context),
            "max" => JmesFunctions.Max(values[0]),
            "max_by" => JmesFunctions.MaxBy(values[0], references[1]!, context),
            "merge" => JmesFunctions.Merge(values),
            "min" => JmesFunctions.Min(values[0]),
            "min_by" => JmesFunctions.MinBy(values[0], references[1]!, context),
            "not_null" => JmesFunctions.NotNull(values),
            "reverse" => JmesFunctions.Reverse(values[0]),
            "sort" => JmesFunctions.Sort(values[0]),
            "sort_by" => JmesFunctions.SortBy(values[0], references[1]!, context),
            "starts_with" => JmesFunctions.StartsWith(values[0], values[1]),
            "sum" => KyvernoFunctions.Sum(values[0]),
            "to_array" => JmesFunctions.ToArray(values[0]),
            "to_number" => JmesFunctions.ToNumber(values[0]),
            "to_string" => JmesFunctions.ToString(values[0]),
            "type" => JmesFunctions.Type(values[0]),
            "values" => JmesFunctions.Values(values[0]),
            "compare" => KyvernoFunctions.Compare(values[0], values[1]),
            "equal_fold" => KyvernoFunctions.EqualFold(values[0], values[1]),
            "replace" => KyvernoFunctions.Replace(values[0], values[1], values[2], values[3]),
            "replace_all" => KyvernoFunctions.ReplaceAll(values[0], values[1], values[2]),
            "to_upper" => KyvernoFunctions.ToUpper(values[0]),
            "to_lower" => KyvernoFunctions.ToLower(values[0]),
            "trim" => KyvernoFunctions.Trim(values[0], values[1]),
            "trim_prefix" => KyvernoFunctions.TrimPrefix(values[0], values[1]),
            "split" => KyvernoFunctions.Split(values[0], values[1]),
            "regex_replace_all" => KyvernoFunctions.RegexReplaceAll(values[0], values[1], values[2]),
            "regex_replace_all_literal" => KyvernoFunctions.RegexReplaceAllLiteral(values[0], values[1], values[2]),
            "regex_match" => KyvernoFunctions.RegexMatch(values[0], values[1]),
            "pattern_match" => KyvernoFunctions.PatternMatch(values[0], values[1]),
            "label_match" => KyvernoFunctions.LabelMatch(values[0], values[1]),
            "to_boolean" => KyvernoFunctions.ToBoolean(values[0]),
            "add" => KyvernoFunctions.Add(values[0], values[1]),
            "subtract" => KyvernoFunctions.Subtract(values[0], values[1]),
            "multiply" => KyvernoFunctions.Multiply(values[0], values[1]),
            "divide" => KyvernoFunctions.Divide(values[0], values[1]),
            "modulo" => KyvernoFunctions.Modulo(values[0], values[1]),
            "round" => KyvernoFunctions.Round(values[0], values[1]),
            "base64_decode" => KyvernoFunctions.Base64Decode(values[0]),
            "base64_encode" => KyvernoFunctions.Base64Encode(values[0]),
            "time_since" => KyvernoFunctions.TimeSince(values[0], values[1], values[2], context),
            "time_now" => KyvernoFunctions.TimeNow(context),
            "time_now_utc" => KyvernoFunctions.TimeNowUtc(context),
            "path_canonicalize" => KyvernoFunctions.PathCanonicalize(values[0]),
            "truncate" => KyvernoFunctions.Truncate(values[0], values[1]),
            "semver_compare" => KyvernoFunctions.SemverCompare(values[0], values[1]),
            "parse_json" => KyvernoFunctions.ParseJson(values[0]),
            "parse_yaml" => KyvernoFunctions.ParseYaml(values[0]),
            "lookup" => KyvernoFunctions.Lookup(values[0], values[1]),
            "items" => KyvernoFunctions.Items(values[0], values[1], values[2]),
            "object_from_lists" => KyvernoFunctions.ObjectFromLists(values[0], values[1]),
            "random" => KyvernoFunctions.Random(values[0], context),
            "x509_decode" => KyvernoFunctions.X509Decode(values[0]),
            "time_to_cron" => KyvernoFunctions.TimeToCron(values[0]),
            "time_add" => KyvernoFunctions.TimeAdd(values[0], values[1]),
            "time_parse" => KyvernoFunctions.TimeParse(values[0], values[1]),
            "time_utc" => KyvernoFunctions.TimeUtc(values[0]),
            "time_diff" => KyvernoFunctions.TimeDiff(values[0], values[1]),
            "time_before" => KyvernoFunctions.TimeBefore(values[0], values[1]),
            "time_after" => KyvernoFunctions.TimeAfter(values[0], values[1]),
            "time_between" => KyvernoFunctions.TimeBetween(values[0], values[1], values[2]),
            "time_truncate" => KyvernoFunctions.TimeTruncate(values[0], values[1]),
            "image_normalize" => KyvernoFunctions.ImageNormalize(values[0], context),
            "is_external_url" => KyvernoFunctions.IsExternalUrl(values[0]),
            "sha256" => KyvernoFunctions.Sha256(values[0]),
            "sha1" => KyvernoFunctions.Sha1(values[0]),
            "md5" => KyvernoFunctions.Md5(values[0]),
            _ => throw new JmesPathException(JmesErrorKind.UnknownFunction, $"unknown function: {name}()"),
        };
}
