using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace PolicyCompiler.Runtime.Conditions;

/// <summary>
/// Kyverno's JMESPath function library (pkg/engine/jmespath), with Kyverno's argument types, results and error
/// messages (<c>JMESPath function 'divide': Zero divisor passed</c>). Arity and literal argument types are checked when
/// the policy is compiled; the checks here are for values that only the data decides.
/// </summary>
public static partial class KyvernoFunctions
{
    // ---- strings ---------------------------------------------------------------------------------------------------

    /// <summary><c>compare(a, b)</c>: -1, 0 or 1 by byte order (Go's <c>strings.Compare</c>).</summary>
    public static JmesValue Compare(JmesValue a, JmesValue b) =>
        JmesValue.From(Math.Sign(JmesFunctions.CompareCodePoints(Str("compare", 1, a), Str("compare", 2, b))));

    /// <summary><c>equal_fold(a, b)</c>: equality ignoring case.</summary>
    public static JmesValue EqualFold(JmesValue a, JmesValue b) =>
        JmesValue.From(string.Equals(Str("equal_fold", 1, a), Str("equal_fold", 2, b), StringComparison.OrdinalIgnoreCase));

    /// <summary><c>replace(s, old, new, n)</c>: the first n occurrences (all when n &lt; 0).</summary>
    public static JmesValue Replace(JmesValue s, JmesValue old, JmesValue replacement, JmesValue n) =>
        JmesValue.From(GoReplace(Str("replace", 1, s), Str("replace", 2, old), Str("replace", 3, replacement), (int)Num("replace", 4, n)));

    /// <summary><c>replace_all(s, old, new)</c>.</summary>
    public static JmesValue ReplaceAll(JmesValue s, JmesValue old, JmesValue replacement) =>
        JmesValue.From(GoReplace(Str("replace_all", 1, s), Str("replace_all", 2, old), Str("replace_all", 3, replacement), -1));

    public static JmesValue ToUpper(JmesValue s) => JmesValue.From(Str("to_upper", 1, s).ToUpperInvariant());

    public static JmesValue ToLower(JmesValue s) => JmesValue.From(Str("to_lower", 1, s).ToLowerInvariant());

    /// <summary><c>trim(s, cutset)</c>: leading and trailing characters found in cutset removed.</summary>
    public static JmesValue Trim(JmesValue s, JmesValue cutset)
    {
        var runes = Str("trim", 1, s).EnumerateRunes().ToList();
        var cut = Str("trim", 2, cutset).EnumerateRunes().ToHashSet();
        var start = 0;
        var end = runes.Count;
        while (start < end && cut.Contains(runes[start]))
        {
            start++;
        }

        while (end > start && cut.Contains(runes[end - 1]))
        {
            end--;
        }

        return JmesValue.From(Join(runes, start, end));
    }

    /// <summary><c>trim_prefix(s, prefix)</c>.</summary>
    public static JmesValue TrimPrefix(JmesValue s, JmesValue prefix)
    {
        var text = Str("trim_prefix", 1, s);
        var p = Str("trim_prefix", 2, prefix);
        return JmesValue.From(text.StartsWith(p, StringComparison.Ordinal) ? text[p.Length..] : text);
    }

    /// <summary><c>split(s, separator)</c>; an empty separator splits into characters, as Go does.</summary>
    public static JmesValue Split(JmesValue s, JmesValue separator)
    {
        var text = Str("split", 1, s);
        var sep = Str("split", 2, separator);
        var parts = sep.Length == 0
            ? text.EnumerateRunes().Select(r => r.ToString()).ToArray()
            : text.Split(sep);
        return JmesValue.FromArray([.. parts.Select(JmesValue.From)]);
    }

    /// <summary><c>truncate(s, length)</c>: at most length characters (a negative length is 0).</summary>
    public static JmesValue Truncate(JmesValue s, JmesValue length)
    {
        var runes = Str("truncate", 1, s).EnumerateRunes().ToList();
        var n = Num("truncate", 2, length);
        var limit = n < 0 ? 0 : (int)Math.Min(n, int.MaxValue);
        return JmesValue.From(Join(runes, 0, Math.Min(limit, runes.Count)));
    }

    /// <summary><c>to_boolean(s)</c>: <c>true</c>/<c>false</c> in any case; anything else is an error.</summary>
    public static JmesValue ToBoolean(JmesValue s)
    {
        var text = Str("to_boolean", 1, s);
        return text.ToLowerInvariant() switch
        {
            "true" => JmesValue.True,
            "false" => JmesValue.False,
            _ => throw Error("to_boolean", $"lowercase argument must be 'true' or 'false' (provided: '{text}')"),
        };
    }

    // ---- patterns --------------------------------------------------------------------------------------------------

    /// <summary><c>regex_match(regex, value)</c>: whether the (unanchored) regex matches; a number is matched as its text.</summary>
    public static JmesValue RegexMatch(JmesValue pattern, JmesValue value)
    {
        var regex = Regex("regex_match", Str("regex_match", 1, pattern));
        return JmesValue.From(regex.IsMatch(Text("regex_match", 2, value)));
    }

    /// <summary><c>regex_replace_all(regex, src, replacement)</c> with Go's <c>$1</c>/<c>${name}</c> expansion.</summary>
    public static JmesValue RegexReplaceAll(JmesValue pattern, JmesValue source, JmesValue replacement)
    {
        var regex = Regex("regex_replace_all", Str("regex_replace_all", 1, pattern));
        var template = Text("regex_replace_all", 3, replacement);
        return JmesValue.From(GoReplaceAll(regex, Text("regex_replace_all", 2, source), m => GoExpand(regex, m, template)));
    }

    /// <summary><c>regex_replace_all_literal(regex, src, replacement)</c>: the replacement is inserted as it is.</summary>
    public static JmesValue RegexReplaceAllLiteral(JmesValue pattern, JmesValue source, JmesValue replacement)
    {
        var regex = Regex("regex_replace_all_literal", Str("regex_replace_all_literal", 1, pattern));
        var literal = Text("regex_replace_all_literal", 3, replacement);
        return JmesValue.From(GoReplaceAll(regex, Text("regex_replace_all_literal", 2, source), _ => literal));
    }

    /// <summary><c>pattern_match(pattern, value)</c>: Kyverno's wildcards (<c>*</c>, <c>?</c>).</summary>
    public static JmesValue PatternMatch(JmesValue pattern, JmesValue value) =>
        JmesValue.From(Wildcard.Match(Str("pattern_match", 1, pattern), Text("pattern_match", 2, value)));

    /// <summary><c>label_match(selector, labels)</c>: every key of the first object present with the same value in the second.</summary>
    public static JmesValue LabelMatch(JmesValue selector, JmesValue labels)
    {
        if (selector.Type != JmesType.Object)
        {
            throw TypeError("label_match", 0, "Object");
        }

        if (labels.Type != JmesType.Object)
        {
            throw TypeError("label_match", 1, "Object");
        }

        foreach (var property in selector.EnumerateObject())
        {
            var other = labels.Field(property.Name);
            if (other.IsMissing || !JmesValue.DeepEquals(other, property.Value))
            {
                return JmesValue.False;
            }
        }

        return JmesValue.True;
    }

    // ---- encodings, paths, versions --------------------------------------------------------------------------------

    public static JmesValue Base64Decode(JmesValue s)
    {
        var text = Str("base64_decode", 1, s);
        var buffer = new byte[(text.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64String(text, buffer, out var written))
        {
            throw new JmesPathException(JmesErrorKind.FunctionError, $"illegal base64 data in {Quote(text)}");
        }

        return JmesValue.From(Encoding.UTF8.GetString(buffer, 0, written));
    }

    public static JmesValue Base64Encode(JmesValue s) => JmesValue.From(Convert.ToBase64String(Encoding.UTF8.GetBytes(Str("base64_encode", 1, s))));

    /// <summary><c>path_canonicalize(path)</c>: Go's <c>filepath.Join</c> (slashes collapsed, <c>.</c> and <c>..</c> resolved).</summary>
    public static JmesValue PathCanonicalize(JmesValue path)
    {
        var text = Str("path_canonicalize", 1, path);
        return JmesValue.From(text.Length == 0 ? string.Empty : GoPathClean(text));
    }

    /// <summary><c>semver_compare(version, range)</c>: whether the version satisfies the range (<c>&gt;=1.2.0 &lt;2.0.0 || 3.x</c>).</summary>
    public static JmesValue SemverCompare(JmesValue version, JmesValue range)
    {
        var v = Str("semver_compare", 1, version);
        var r = Str("semver_compare", 2, range);
        if (!Semver.TryParse(v, out var parsed))
        {
            parsed = Semver.Zero;
        }

        var predicate = Semver.ParseRange(r, out var error)
            ?? throw new JmesPathException(JmesErrorKind.FunctionError, error ?? "invalid range");
        return JmesValue.From(predicate(parsed));
    }

    public static JmesValue Sha256(JmesValue s) => JmesValue.From(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Str("sha256", 1, s)))));

    public static JmesValue Sha1(JmesValue s) => JmesValue.From(Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(Str("sha1", 1, s)))));

    public static JmesValue Md5(JmesValue s) => JmesValue.From(Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(Str("md5", 1, s)))));

    /// <summary><c>is_external_url(url)</c>: an http(s) URL whose host is neither loopback, a private address nor <c>localhost</c>.</summary>
    public static JmesValue IsExternalUrl(JmesValue url)
    {
        var text = Str("is_external_url", 1, url);
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw Error("is_external_url", $"parse \"{text}\": invalid URL");
        }

        var host = uri.IdnHost.Trim('[', ']');
        if (IPAddress.TryParse(host, out var ip))
        {
            return JmesValue.From(!(IPAddress.IsLoopback(ip) || IsPrivate(ip) || ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any)));
        }

        return JmesValue.From(!string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase));
    }

    private static bool IsPrivate(IPAddress ip)
    {
        if (ip.IsIPv4MappedToIPv6)
        {
            ip = ip.MapToIPv4();
        }

        var b = ip.GetAddressBytes();
        return ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
            ? b[0] == 10 || (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168)
            : (b[0] & 0xFE) == 0xFC;
    }

    // ---- JSON, YAML, collections -----------------------------------------------------------------------------------

    /// <summary><c>parse_json(text)</c>.</summary>
    public static JmesValue ParseJson(JmesValue text)
    {
        var json = Str("parse_json", 1, text);
        try
        {
            return JmesValue.ParseJson(json);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new JmesPathException(JmesErrorKind.FunctionError, $"JMESPath function 'parse_json': {e.Message}", e);
        }
    }

    /// <summary><c>parse_yaml(text)</c>: a YAML document as JSON data (YAML 1.2 core schema, plus 1.1 booleans as Kyverno reads them).</summary>
    public static JmesValue ParseYaml(JmesValue text) => MiniYaml.Parse(Str("parse_yaml", 1, text));

    /// <summary><c>lookup(object|array, key|index)</c>: the member or element, null when absent.</summary>
    public static JmesValue Lookup(JmesValue collection, JmesValue key)
    {
        switch (collection.Type)
        {
            case JmesType.Object:
                if (key.Type != JmesType.String)
                {
                    throw TypeError("lookup", 2, "String");
                }

                return collection.Field(key.GetString()).WithoutMissing();
            case JmesType.Array:
                if (key.Type != JmesType.Number)
                {
                    throw TypeError("lookup", 2, "Number");
                }

                var n = key.GetNumber();
                if (double.IsInfinity(n) || double.IsNaN(n) || Math.Truncate(n) != n)
                {
                    throw new JmesPathException(JmesErrorKind.FunctionError, $"JMESPath function 'lookup': argument #2: expected an integer number but got: {GoFormat.FormatV(n)}");
                }

                return n < 0 || n >= collection.GetArrayLength() ? JmesValue.Null : collection.GetArrayItem((int)n);
            default:
                throw TypeError("lookup", 1, "Object or Array");
        }
    }

    /// <summary><c>items(object|array, keyName, valueName)</c>: <c>[{keyName: key, valueName: value}]</c>, object keys sorted.</summary>
    public static JmesValue Items(JmesValue collection, JmesValue keyName, JmesValue valueName)
    {
        if (keyName.Type != JmesType.String)
        {
            throw TypeError("items", 2, "String");
        }

        if (valueName.Type != JmesType.String)
        {
            throw TypeError("items", 3, "String");
        }

        var k = keyName.GetString();
        var v = valueName.GetString();
        switch (collection.Type)
        {
            case JmesType.Object:
                {
                    var members = new List<JmesProperty>();
                    foreach (var p in collection.EnumerateObject())
                    {
                        members.Add(p);
                    }

                    members.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
                    return JmesValue.FromArray([.. members.Select(m => JmesValue.FromObject(new JmesObject(2).Set(k, JmesValue.From(m.Name)).Set(v, m.Value)))]);
                }

            case JmesType.Array:
                {
                    var result = new List<JmesValue>();
                    var i = 0;
                    foreach (var item in collection.EnumerateArray())
                    {
                        result.Add(JmesValue.FromObject(new JmesObject(2).Set(k, JmesValue.From(i++)).Set(v, item)));
                    }

                    return JmesValue.FromArray([.. result]);
                }

            default:
                throw TypeError("items", 1, "Object or Array");
        }
    }

    /// <summary><c>object_from_lists(keys, values)</c>: missing values are null.</summary>
    public static JmesValue ObjectFromLists(JmesValue keys, JmesValue values)
    {
        if (keys.Type != JmesType.Array)
        {
            throw TypeError("object_from_lists", 1, "Array");
        }

        if (values.Type != JmesType.Array)
        {
            throw TypeError("object_from_lists", 2, "Array");
        }

        var valueList = values.ToArray();
        var result = new JmesObject();
        var i = 0;
        foreach (var key in keys.EnumerateArray())
        {
            var name = key.Type switch
            {
                JmesType.String => key.GetString(),
                JmesType.Number => GoFormat.FormatFloat32(key.GetNumber()),
                JmesType.Boolean => GoFormat.FormatBool(key.GetBoolean()),
                _ => throw TypeError("object_from_lists", 1, "StringArray"),
            };
            result.Set(name, i < valueList.Length ? valueList[i] : JmesValue.Null);
            i++;
        }

        return JmesValue.FromObject(result);
    }

    /// <summary><c>random(pattern)</c>: a string matching the regular expression.</summary>
    public static JmesValue Random(JmesValue pattern, JmesContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var text = Str("random", 1, pattern);
        if (text.Length == 0)
        {
            throw new JmesPathException(JmesErrorKind.FunctionError, "no pattern provided");
        }

        return JmesValue.From(RegexGenerator.Generate(text, context.Random));
    }

    /// <summary><c>image_normalize(image)</c>: the reference with registry and tag made explicit, as Kyverno prints it.</summary>
    public static JmesValue ImageNormalize(JmesValue image, JmesContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var text = Str("image_normalize", 1, image);
        if (!KyvernoImage.TryParse(text, context.DefaultRegistry, context.EnableDefaultRegistryMutation, out var info, out var error))
        {
            throw Error("image_normalize", error!);
        }

        return JmesValue.From(info!.ToString());
    }

    // ---- helpers ---------------------------------------------------------------------------------------------------

    internal static string Str(string function, int position, JmesValue value)
    {
        if (value.Type != JmesType.String)
        {
            throw TypeError(function, position, "String");
        }

        return value.GetString();
    }

    internal static double Num(string function, int position, JmesValue value)
    {
        if (value.Type != JmesType.Number)
        {
            throw TypeError(function, position, "Number");
        }

        return value.GetNumber();
    }

    /// <summary>Kyverno's <c>ifaceToString</c>: a string, or a number/boolean as text (numbers as float32, Go's choice).</summary>
    private static string Text(string function, int position, JmesValue value) => value.Type switch
    {
        JmesType.String => value.GetString(),
        JmesType.Number => GoFormat.FormatFloat32(value.GetNumber()),
        JmesType.Boolean => GoFormat.FormatBool(value.GetBoolean()),
        _ => throw TypeError(function, position, "String or Real"),
    };

    internal static JmesPathException TypeError(string function, int position, string type) =>
        new(JmesErrorKind.InvalidType, $"JMESPath function '{function}': argument #{position.ToString(CultureInfo.InvariantCulture)} is not of type {type}");

    internal static JmesPathException Error(string function, string message) =>
        new(JmesErrorKind.FunctionError, $"JMESPath function '{function}': {message}");

    private static string Quote(string text) => text.Length > 40 ? text[..37] + "..." : text;

    private static string Join(List<Rune> runes, int start, int end)
    {
        var sb = new StringBuilder();
        for (var i = start; i < end; i++)
        {
            sb.Append(runes[i].ToString());
        }

        return sb.ToString();
    }

    private static string GoReplace(string s, string old, string replacement, int n)
    {
        if (n == 0 || old == replacement)
        {
            return s;
        }

        if (old.Length == 0)
        {
            // Go inserts the replacement before every character and at the end, up to n times.
            var runes = s.EnumerateRunes().ToList();
            var limit = n < 0 ? runes.Count + 1 : Math.Min(n, runes.Count + 1);
            var sb = new StringBuilder();
            for (var i = 0; i < runes.Count; i++)
            {
                if (i < limit)
                {
                    sb.Append(replacement);
                }

                sb.Append(runes[i].ToString());
            }

            if (runes.Count < limit)
            {
                sb.Append(replacement);
            }

            return sb.ToString();
        }

        if (n < 0)
        {
            return s.Replace(old, replacement, StringComparison.Ordinal);
        }

        var result = new StringBuilder();
        var position = 0;
        for (var i = 0; i < n; i++)
        {
            var found = s.IndexOf(old, position, StringComparison.Ordinal);
            if (found < 0)
            {
                break;
            }

            result.Append(s, position, found - position).Append(replacement);
            position = found + old.Length;
        }

        return result.Append(s, position, s.Length - position).ToString();
    }

    private static string GoPathClean(string path)
    {
        var rooted = path[0] == '/';
        var n = path.Length;
        var output = new StringBuilder();
        int r = 0, dotdot = 0;
        if (rooted)
        {
            output.Append('/');
            r = 1;
            dotdot = 1;
        }

        while (r < n)
        {
            if (path[r] == '/')
            {
                r++;
            }
            else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/'))
            {
                r++;
            }
            else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/'))
            {
                r += 2;
                if (output.Length > dotdot)
                {
                    output.Length--;
                    while (output.Length > dotdot && output[output.Length - 1] != '/')
                    {
                        output.Length--;
                    }

                    if (output.Length > dotdot && output[output.Length - 1] == '/')
                    {
                        output.Length--;
                    }
                }
                else if (!rooted)
                {
                    if (output.Length > 0)
                    {
                        output.Append('/');
                    }

                    output.Append("..");
                    dotdot = output.Length;
                }
            }
            else
            {
                if ((rooted && output.Length != 1) || (!rooted && output.Length != 0))
                {
                    output.Append('/');
                }

                while (r < n && path[r] != '/')
                {
                    output.Append(path[r]);
                    r++;
                }
            }
        }

        return output.Length == 0 ? "." : output.ToString();
    }

    /// <summary>A cached regex for a Go RE2 pattern, with Go's meaning (<see cref="GoRegex"/>).</summary>
    internal static Regex Regex(string function, string pattern)
    {
        try
        {
            return GoRegex.Create(pattern);
        }
        catch (ArgumentException e)
        {
            throw Error(function, $"error parsing regexp: {e.Message}");
        }
    }

    /// <summary>Go's <c>ReplaceAll</c>: an empty match right after a previous match is not replaced.</summary>
    private static string GoReplaceAll(Regex regex, string source, Func<Match, string> replacement)
    {
        var sb = new StringBuilder();
        var lastMatchEnd = 0;
        var searchPosition = 0;
        while (searchPosition <= source.Length)
        {
            var match = regex.Match(source, searchPosition);
            if (!match.Success)
            {
                break;
            }

            var end = match.Index + match.Length;
            sb.Append(source, lastMatchEnd, match.Index - lastMatchEnd);
            if (end > lastMatchEnd || match.Index == 0)
            {
                sb.Append(replacement(match));
            }

            lastMatchEnd = end;
            var width = searchPosition < source.Length && char.IsHighSurrogate(source[searchPosition]) ? 2 : 1;
            searchPosition = searchPosition + width > end ? searchPosition + width : end;
        }

        if (lastMatchEnd < source.Length)
        {
            sb.Append(source, lastMatchEnd, source.Length - lastMatchEnd);
        }

        return sb.ToString();
    }

    /// <summary>Go's <c>Regexp.Expand</c>: <c>$1</c>, <c>${1}</c>, <c>$name</c>, <c>${name}</c>, <c>$$</c>; unknown groups are empty.</summary>
    private static string GoExpand(Regex regex, Match match, string template)
    {
        var sb = new StringBuilder();
        var i = 0;
        while (i < template.Length)
        {
            var dollar = template.IndexOf('$', i);
            if (dollar < 0)
            {
                sb.Append(template, i, template.Length - i);
                break;
            }

            sb.Append(template, i, dollar - i);
            i = dollar + 1;
            if (i < template.Length && template[i] == '$')
            {
                sb.Append('$');
                i++;
                continue;
            }

            string? name = null;
            if (i < template.Length && template[i] == '{')
            {
                var close = template.IndexOf('}', i + 1);
                if (close > i + 1 && template[(i + 1)..close].All(IsNameChar))
                {
                    name = template[(i + 1)..close];
                    i = close + 1;
                }
            }
            else
            {
                var start = i;
                while (i < template.Length && IsNameChar(template[i]))
                {
                    i++;
                }

                if (i > start)
                {
                    name = template[start..i];
                }
            }

            if (name is null)
            {
                sb.Append('$');
                continue;
            }

            if (name.All(char.IsAsciiDigit))
            {
                if (int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number < regex.GetGroupNumbers().Length + 1)
                {
                    var group = match.Groups[number];
                    if (group.Success && regex.GroupNumberFromName(number.ToString(CultureInfo.InvariantCulture)) >= 0)
                    {
                        sb.Append(group.Value);
                    }
                }
            }
            else if (regex.GroupNumberFromName(name) >= 0)
            {
                var group = match.Groups[name];
                if (group.Success)
                {
                    sb.Append(group.Value);
                }
            }
        }

        return sb.ToString();
    }

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';
}
