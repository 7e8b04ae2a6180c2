namespace PolicyCompiler.Runtime.Conditions;

/// <summary>
/// Kyverno's variable substitution rules, used by the generated code for every <c>{{ … }}</c>: what an unresolvable
/// variable means, and how a value turns into text when a variable sits inside a longer string.
/// </summary>
public static class KyvernoVariables
{
    /// <summary>
    /// A variable of a condition, deny rule or message: a field that does not exist fails the evaluation, as Kyverno's
    /// <c>Unknown key "…" in path</c> does; an expression error fails it too. A variable whose value is null stays null.
    /// </summary>
    public static JmesValue Strict(JmesFunc variable, JmesValue root, JmesContext context, string text)
    {
        ArgumentNullException.ThrowIfNull(variable);
        return Require(variable(root, context), text);
    }

    /// <summary>A variable of a precondition: anything that cannot be resolved becomes the empty string, as in Kyverno.</summary>
    public static JmesValue OrEmpty(JmesFunc variable, JmesValue root, JmesContext context, string text)
    {
        ArgumentNullException.ThrowIfNull(variable);
        try
        {
            var value = variable(root, context);
            return value.IsMissing ? JmesValue.EmptyString : value;
        }
        catch (JmesPathException)
        {
            return JmesValue.EmptyString;
        }
    }

    /// <summary>Fails with Kyverno's message when <paramref name="value"/> is the result of a missing field.</summary>
    public static JmesValue Require(JmesValue value, string text)
    {
        if (value.IsMissing)
        {
            throw new JmesPathException(JmesErrorKind.VariableNotFound, $"variable substitution failed: variable {text} could not be resolved (Unknown key in path)");
        }

        return value;
    }

    /// <summary>
    /// The name a map key takes when the key is exactly one variable, by Kyverno's rules for keys: a string renames
    /// the key; null leaves the key as it was written, braces and all (Kyverno keeps the old key when the substituted
    /// key is nil); any other type fails the evaluation, as Kyverno's "expected string after substituting variables in
    /// key" does.
    /// </summary>
    public static string Key(JmesValue value, string written)
    {
        ArgumentNullException.ThrowIfNull(written);
        return value.Type switch
        {
            JmesType.String => value.GetString(),
            JmesType.Null => written,
            _ => throw new JmesPathException(JmesErrorKind.InvalidValue, $"expected string after substituting variables in key \"{written}\", got {value.ToJsonString()}"),
        };
    }

    /// <summary>A variable's value as it reads inside a longer string: a string as it is, anything else as JSON.</summary>
    public static string ToText(JmesValue value) => value.Type == JmesType.String ? value.GetString() : value.ToJsonString();

    /// <summary>A JSON literal whose text was assembled from variables (<c>`{"a": "{{ x }}"}`</c>).</summary>
    public static JmesValue ParseJsonTemplate(string json)
    {
        try
        {
            return JmesValue.ParseJson(json);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new JmesPathException(JmesErrorKind.InvalidValue, $"the JSON literal {json} is not valid JSON after substitution", e);
        }
    }

    /// <summary>
    /// <c>fmt.Sprint</c> of a value decoded from JSON, which Kyverno's set operators use to compare keys and values as text:
    /// numbers as <c>%v</c> (<c>1e+06</c>), <c>&lt;nil&gt;</c>, <c>[a b]</c>, <c>map[k:v]</c>.
    /// </summary>
    public static string Sprint(JmesValue value)
    {
        switch (value.Type)
        {
            case JmesType.Null:
                return "<nil>";
            case JmesType.Boolean:
                return value.GetBoolean() ? "true" : "false";
            case JmesType.Number:
                return GoFormat.FormatV(value.GetNumber());
            case JmesType.String:
                return value.GetString();
            case JmesType.Array:
                {
                    var items = new List<string>();
                    foreach (var item in value.EnumerateArray())
                    {
                        items.Add(Sprint(item));
                    }

                    return "[" + string.Join(' ', items) + "]";
                }

            default:
                {
                    var members = new SortedDictionary<string, string>(StringComparer.Ordinal);
                    foreach (var property in value.EnumerateObject())
                    {
                        members[property.Name] = Sprint(property.Value);
                    }

                    return "map[" + string.Join(' ', members.Select(m => m.Key + ":" + m.Value)) + "]";
                }
        }
    }
}
