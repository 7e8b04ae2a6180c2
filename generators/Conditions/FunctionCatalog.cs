using System;
using System.Collections.Generic;

namespace PolicyCompiler.Generators.Conditions;

/// <summary>Which function library an expression is compiled against.</summary>
internal enum JmesDialect
{
    /// <summary>The JMESPath specification's built-in functions only (what the compliance suite tests).</summary>
    Standard,

    /// <summary>The built-ins plus Kyverno's library (Kyverno's <c>sum</c> replaces the built-in, as in Kyverno).</summary>
    Kyverno,
}

/// <summary>The JMESPath types a parameter accepts.</summary>
[Flags]
internal enum ArgType
{
    None = 0,
    Null = 1,
    Boolean = 2,
    Number = 4,
    String = 8,
    Array = 16,
    Object = 32,
    Expref = 64,

    /// <summary>An array whose elements are all numbers.</summary>
    ArrayNumber = 128,

    /// <summary>An array whose elements are all strings.</summary>
    ArrayString = 256,

    Any = Null | Boolean | Number | String | Array | Object,
}

/// <summary>
/// A function the compiler knows: its parameters (for arity and literal-argument checks at build time) and the runtime
/// method the call compiles to. <see cref="Variadic"/> means the last parameter may repeat (at least once).
/// </summary>
internal sealed record FunctionDefinition(string Name, ArgType[] Parameters, bool Variadic, string Method, bool NeedsContext = false)
{
    public int MinArity => Parameters.Length;

    public int? MaxArity => Variadic ? null : Parameters.Length;

    public ArgType ParameterAt(int index) => index < Parameters.Length ? Parameters[index] : Parameters[Parameters.Length - 1];

    public string Signature
    {
        get
        {
            var parts = new List<string>();
            foreach (var p in Parameters)
            {
                parts.Add(Describe(p));
            }

            return $"{Name}({string.Join(", ", parts)}{(Variadic ? ", ..." : string.Empty)})";
        }
    }

    // Listed rather than read with Enum.GetValues: the runtime compiles this file too, and NativeAOT refuses that call.
    private static readonly ArgType[] Flags =
    [
        ArgType.Null, ArgType.Boolean, ArgType.Number, ArgType.String, ArgType.Array, ArgType.Object, ArgType.Expref, ArgType.ArrayNumber, ArgType.ArrayString,
    ];

    public static string Describe(ArgType type)
    {
        if (type == ArgType.Any)
        {
            return "any";
        }

        var names = new List<string>();
        foreach (var flag in Flags)
        {
            if ((type & flag) == 0)
            {
                continue;
            }

            names.Add(flag switch
            {
                ArgType.ArrayNumber => "array[number]",
                ArgType.ArrayString => "array[string]",
                ArgType.Expref => "&expression",
                _ => flag.ToString().ToLowerInvariant(),
            });
        }

        return string.Join("|", names);
    }
}

/// <summary>The function libraries, by dialect. The generator never reflects: this table is the contract with the runtime.</summary>
internal static class FunctionCatalog
{
    private const string Builtins = "JmesFunctions";
    private const string Kyverno = "KyvernoFunctions";

    private const ArgType S = ArgType.String;
    private const ArgType N = ArgType.Number;
    private const ArgType A = ArgType.Array;
    private const ArgType O = ArgType.Object;
    private const ArgType E = ArgType.Expref;
    private const ArgType Any = ArgType.Any;

    private static readonly Dictionary<string, FunctionDefinition> StandardTable = Build(
    [
        new("abs", [N], false, Builtins + ".Abs"),
        new("avg", [ArgType.ArrayNumber], false, Builtins + ".Avg"),
        new("ceil", [N], false, Builtins + ".Ceil"),
        new("contains", [A | S, Any], false, Builtins + ".Contains"),
        new("ends_with", [S, S], false, Builtins + ".EndsWith"),
        new("floor", [N], false, Builtins + ".Floor"),
        new("join", [S, ArgType.ArrayString], false, Builtins + ".Join"),
        new("keys", [O], false, Builtins + ".Keys"),
        new("length", [S | A | O], false, Builtins + ".Length"),
        new("map", [E, A], false, Builtins + ".Map", NeedsContext: true),
        new("max", [ArgType.ArrayNumber | ArgType.ArrayString], false, Builtins + ".Max"),
        new("max_by", [A, E], false, Builtins + ".MaxBy", NeedsContext: true),
        new("merge", [O], true, Builtins + ".Merge"),
        new("min", [ArgType.ArrayNumber | ArgType.ArrayString], false, Builtins + ".Min"),
        new("min_by", [A, E], false, Builtins + ".MinBy", NeedsContext: true),
        new("not_null", [Any], true, Builtins + ".NotNull"),
        new("reverse", [S | A], false, Builtins + ".Reverse"),
        new("sort", [ArgType.ArrayNumber | ArgType.ArrayString], false, Builtins + ".Sort"),
        new("sort_by", [A, E], false, Builtins + ".SortBy", NeedsContext: true),
        new("starts_with", [S, S], false, Builtins + ".StartsWith"),
        new("sum", [ArgType.ArrayNumber], false, Builtins + ".Sum"),
        new("to_array", [Any], false, Builtins + ".ToArray"),
        new("to_number", [Any], false, Builtins + ".ToNumber"),
        new("to_string", [Any], false, Builtins + ".ToString"),
        new("type", [Any], false, Builtins + ".Type"),
        new("values", [O], false, Builtins + ".Values"),
    ]);

    private static readonly Dictionary<string, FunctionDefinition> KyvernoTable = Build(
    [
        .. StandardTable.Values,
        new("compare", [S, S], false, Kyverno + ".Compare"),
        new("equal_fold", [S, S], false, Kyverno + ".EqualFold"),
        new("replace", [S, S, S, N], false, Kyverno + ".Replace"),
        new("replace_all", [S, S, S], false, Kyverno + ".ReplaceAll"),
        new("to_upper", [S], false, Kyverno + ".ToUpper"),
        new("to_lower", [S], false, Kyverno + ".ToLower"),
        new("trim", [S, S], false, Kyverno + ".Trim"),
        new("trim_prefix", [S, S], false, Kyverno + ".TrimPrefix"),
        new("split", [S, S], false, Kyverno + ".Split"),
        new("regex_replace_all", [S, S | N, S | N], false, Kyverno + ".RegexReplaceAll"),
        new("regex_replace_all_literal", [S, S | N, S | N], false, Kyverno + ".RegexReplaceAllLiteral"),
        new("regex_match", [S, S | N], false, Kyverno + ".RegexMatch"),
        new("pattern_match", [S, S | N], false, Kyverno + ".PatternMatch"),
        new("label_match", [O, O], false, Kyverno + ".LabelMatch"),
        new("to_boolean", [S], false, Kyverno + ".ToBoolean"),
        new("add", [Any, Any], false, Kyverno + ".Add"),
        new("sum", [A], false, Kyverno + ".Sum"),
        new("subtract", [Any, Any], false, Kyverno + ".Subtract"),
        new("multiply", [Any, Any], false, Kyverno + ".Multiply"),
        new("divide", [Any, Any], false, Kyverno + ".Divide"),
        new("modulo", [Any, Any], false, Kyverno + ".Modulo"),
        new("round", [N, N], false, Kyverno + ".Round"),
        new("base64_decode", [S], false, Kyverno + ".Base64Decode"),
        new("base64_encode", [S], false, Kyverno + ".Base64Encode"),
        new("time_since", [S, S, S], false, Kyverno + ".TimeSince", NeedsContext: true),
        new("time_now", [], false, Kyverno + ".TimeNow", NeedsContext: true),
        new("time_now_utc", [], false, Kyverno + ".TimeNowUtc", NeedsContext: true),
        new("path_canonicalize", [S], false, Kyverno + ".PathCanonicalize"),
        new("truncate", [S, N], false, Kyverno + ".Truncate"),
        new("semver_compare", [S, S], false, Kyverno + ".SemverCompare"),
        new("parse_json", [S], false, Kyverno + ".ParseJson"),
        new("parse_yaml", [S], false, Kyverno + ".ParseYaml"),
        new("lookup", [O | A, S | N], false, Kyverno + ".Lookup"),
        new("items", [O | A, S, S], false, Kyverno + ".Items"),
        new("object_from_lists", [A, A], false, Kyverno + ".ObjectFromLists"),
        new("random", [S], false, Kyverno + ".Random", NeedsContext: true),
        new("x509_decode", [S], false, Kyverno + ".X509Decode"),
        new("time_to_cron", [S], false, Kyverno + ".TimeToCron"),
        new("time_add", [S, S], false, Kyverno + ".TimeAdd"),
        new("time_parse", [S, S], false, Kyverno + ".TimeParse"),
        new("time_utc", [S], false, Kyverno + ".TimeUtc"),
        new("time_diff", [S, S], false, Kyverno + ".TimeDiff"),
        new("time_before", [S, S], false, Kyverno + ".TimeBefore"),
        new("time_after", [S, S], false, Kyverno + ".TimeAfter"),
        new("time_between", [S, S, S], false, Kyverno + ".TimeBetween"),
        new("time_truncate", [S, S], false, Kyverno + ".TimeTruncate"),
        new("image_normalize", [S], false, Kyverno + ".ImageNormalize", NeedsContext: true),
        new("is_external_url", [S], false, Kyverno + ".IsExternalUrl"),
        new("sha256", [S], false, Kyverno + ".Sha256"),
        new("sha1", [S], false, Kyverno + ".Sha1"),
        new("md5", [S], false, Kyverno + ".Md5"),
    ]);

    public static bool TryGet(JmesDialect dialect, string name, out FunctionDefinition definition) =>
        (dialect == JmesDialect.Kyverno ? KyvernoTable : StandardTable).TryGetValue(name, out definition!);

    /// <summary>Every function of a dialect, for documentation and coverage tests.</summary>
    public static IEnumerable<FunctionDefinition> All(JmesDialect dialect) =>
        (dialect == JmesDialect.Kyverno ? KyvernoTable : StandardTable).Values;

    private static Dictionary<string, FunctionDefinition> Build(IEnumerable<FunctionDefinition> definitions)
    {
        var table = new Dictionary<string, FunctionDefinition>(StringComparer.Ordinal);
        foreach (var definition in definitions)
        {
            table[definition.Name] = definition;
        }

        return table;
    }
}
