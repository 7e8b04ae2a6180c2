using System.Collections.Generic;
using System.Linq;

namespace PolicyCompiler.Generators.Cel;

/// <summary>
/// What can be known about a webhook match condition's CEL before the API server sees it: that it parses, that its
/// macros are written the way they expand (<c>has(a.b)</c>, <c>list.all(x, p)</c>), and that every free name is one
/// of the variables the API server declares for webhook match conditions. Types, overloads and functions are left to
/// the API server, which type-checks the expression when the webhook configuration is applied.
/// </summary>
internal static class CelSyntax
{
    /// <summary>The variables of admissionregistration/v1 MatchCondition; there is no <c>params</c>, <c>namespaceObject</c> or <c>variables</c>.</summary>
    public static readonly IReadOnlyList<string> WebhookVariables = ["object", "oldObject", "request", "authorizer"];

    /// <summary>Names that are values without being variables: CEL's type names.</summary>
    private static readonly HashSet<string> s_typeNames =
    [
        "bool", "bytes", "double", "int", "uint", "string", "list", "map", "null_type", "type", "dyn", "optional_type",
    ];

    /// <summary>
    /// First segments of qualified function or type names that CEL and the Kubernetes libraries may declare
    /// (<c>optional.none()</c>, <c>math.greatest()</c>, <c>google.protobuf.Timestamp</c>); a name under one of them is not
    /// reported, as it may resolve as a whole.
    /// </summary>
    private static readonly HashSet<string> s_namespaces =
    [
        "google", "optional", "math", "strings", "sets", "lists", "base64", "cel", "ext", "encoders", "regex", "net",
        "kubernetes", "k8s", "authorizer", "format", "semver", "quantity", "ip", "cidr", "url", "time",
    ];

    /// <summary>The macros whose first argument names a variable bound in the rest (<c>list.all(c, c.x)</c>).</summary>
    private static readonly HashSet<string> s_comprehensions = ["all", "exists", "exists_one", "map", "filter", "optMap", "optFlatMap"];

    /// <summary>The first mistake in <paramref name="expression"/>, or null when the API server's parser would accept it.</summary>
    public static CelError? Check(string expression, IReadOnlyCollection<string> variables)
    {
        CelNode tree;
        try
        {
            tree = CelParser.Parse(expression);
        }
        catch (CelSyntaxException e)
        {
            return e.Error;
        }

        return Macros(tree) ?? References(tree, new HashSet<string>(variables));
    }

    /// <summary>The expansions cel-go does while parsing, which refuse arguments of the wrong shape.</summary>
    private static CelError? Macros(CelNode node)
    {
        if (node.Kind == CelNodeKind.Call)
        {
            if (node.Target is null && node.Name == "has" && node.Children.Count == 1
                && node.Children[0] is not { Kind: CelNodeKind.Select, Optional: false })
            {
                var arg = node.Children[0];
                return new CelError(arg.Start, arg.Length, "has() takes a field selection such as has(object.spec.replicas) or has(object.metadata.labels.app)");
            }

            if (node.Target is not null && s_comprehensions.Contains(node.Name)
                && (node.Children.Count == 2 || (node.Children.Count == 3 && node.Name == "map"))
                && node.Children[0] is not { Kind: CelNodeKind.Ident, LeadingDot: false })
            {
                var arg = node.Children[0];
                return new CelError(arg.Start, arg.Length, $"the first argument of {node.Name}() names the element variable and must be a simple name, as in {node.Name}(x, ...)");
            }

            if (node.Name == "bind" && node.Target is { Kind: CelNodeKind.Ident, Name: "cel" } && node.Children.Count == 3
                && node.Children[0] is not { Kind: CelNodeKind.Ident, LeadingDot: false })
            {
                var arg = node.Children[0];
                return new CelError(arg.Start, arg.Length, "the first argument of cel.bind() names the variable and must be a simple name");
            }
        }

        return (node.Target is { } target ? Macros(target) : null) ?? node.Children.Select(Macros).FirstOrDefault(e => e is not null);
    }

    /// <summary>
    /// A free name that is not declared. Names bound by calls are taken broadly: a bare name given as an argument to a
    /// call of two or more arguments counts as bound inside that call, which covers every macro (comprehensions,
    /// <c>optMap</c>, <c>cel.bind</c>) without knowing which of them a given Kubernetes version enables.
    /// </summary>
    private static CelError? References(CelNode node, HashSet<string> bound)
    {
        switch (node.Kind)
        {
            case CelNodeKind.Ident:
                return IsKnown(node.Name, bound) ? null : Undeclared(node);
            case CelNodeKind.Select when Root(node) is { } root:
                // A qualified name: only its first segment can be judged.
                return IsKnown(root.Name, bound) || s_namespaces.Contains(root.Name) ? null : Undeclared(root);
            case CelNodeKind.Call:
                var inner = bound;
                var binders = node.Children.Count >= 2
                    ? node.Children.Take(node.Children.Count - 1).Where(c => c is { Kind: CelNodeKind.Ident, LeadingDot: false }).Select(c => c.Name).ToList()
                    : [];
                if (binders.Count > 0)
                {
                    inner = new HashSet<string>(bound);
                    inner.UnionWith(binders);
                }

                var receiver = node.Target switch
                {
                    null => null,
                    _ when Root(node.Target) is { } r && s_namespaces.Contains(r.Name) => null,
                    { } t => References(t, bound),
                };
                return receiver ?? node.Children.Select(c => References(c, inner)).FirstOrDefault(e => e is not null);
            default:
                return (node.Target is { } target ? References(target, bound) : null)
                    ?? node.Children.Select(c => References(c, bound)).FirstOrDefault(e => e is not null);
        }
    }

    /// <summary>The name a chain of plain selections starts from (<c>a</c> of <c>a.b.c</c>), or null when it starts elsewhere.</summary>
    private static CelNode? Root(CelNode node) => node.Kind switch
    {
        CelNodeKind.Ident => node,
        CelNodeKind.Select when node.Target is { } target => Root(target),
        _ => null,
    };

    private static bool IsKnown(string name, HashSet<string> bound) => bound.Contains(name) || s_typeNames.Contains(name);

    private static CelError? Undeclared(CelNode node)
    {
        // Only names that cannot resolve as a package or a type are reported; anything else may be declared by a library.
        if (s_namespaces.Contains(node.Name))
        {
            return null;
        }

        var known = string.Join(", ", WebhookVariables);
        var hint = node.Name is "params" or "namespaceObject" or "variables"
            ? $"; '{node.Name}' exists in ValidatingAdmissionPolicy, not in webhook match conditions"
            : string.Empty;
        return new CelError(node.Start, node.Length, $"undeclared reference to '{node.Name}': the API server declares {known}{hint}");
    }
}
