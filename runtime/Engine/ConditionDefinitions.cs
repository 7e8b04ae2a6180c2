using System.Collections.Immutable;
using PolicyCompiler.Runtime.Conditions;

namespace PolicyCompiler.Runtime.Engine;

/// <summary>
/// One compiled Kyverno condition (<c>key</c>, <c>operator</c>, <c>value</c>, <c>message</c>): the generator turns
/// key, operator and value into one static method; this carries that method and what to say when it is false.
/// </summary>
public sealed class ConditionDefinition(
    string path,
    string text,
    Func<JmesValue, JmesContext, bool> test,
    string? message = null,
    Func<JmesValue, JmesContext, JmesValue>? messageTemplate = null)
{
    /// <summary>Kyverno's path of the condition (<c>conditions[0].all[1]</c>).</summary>
    public string Path { get; } = path;

    /// <summary>The condition as written (<c>{{ repo.branch }} Equals main</c>), for messages.</summary>
    public string Text { get; } = text;

    public bool Holds(JmesValue root, JmesContext context) => test(root, context);

    /// <summary>
    /// The policy's <c>message</c> with its variables substituted; when the policy gives none, the condition itself,
    /// so that a denial always says which condition failed (Kyverno leaves the reason empty).
    /// </summary>
    public string FailureMessage(JmesValue root, JmesContext context)
    {
        if (messageTemplate is not null)
        {
            return KyvernoVariables.ToText(messageTemplate(root, context));
        }

        return string.IsNullOrEmpty(message) ? $"{Path} ({Text}) is false" : message;
    }
}

/// <summary>
/// One element of a <c>conditions</c> list: <c>any</c> (null when absent; when present, one must hold) and
/// <c>all</c> (every one must hold).
/// </summary>
public sealed class ConditionBlockDefinition(ImmutableArray<ConditionDefinition>? any, ImmutableArray<ConditionDefinition> all)
{
    public ImmutableArray<ConditionDefinition>? Any { get; } = any;

    public ImmutableArray<ConditionDefinition> All { get; } = all.IsDefault ? [] : all;
}

/// <summary>
/// Kyverno's evaluation of <c>any</c>/<c>all</c> lists: blocks in order, the first that fails decides; inside a block
/// <c>any</c> stops at the first condition that holds and <c>all</c> at the first that does not; the reason is the
/// messages of the conditions found false, joined with <c>"; "</c>. A condition whose variables cannot be resolved
/// throws <see cref="JmesPathException"/>, which the caller reports as an error of the rule.
/// </summary>
public static class ConditionEvaluator
{
    /// <summary>Null when every block holds; otherwise why the first failing block failed.</summary>
    public static string? Evaluate(ImmutableArray<ConditionBlockDefinition> blocks, JmesValue root, JmesContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (blocks.IsDefaultOrEmpty)
        {
            return null;
        }

        foreach (var block in blocks)
        {
            List<string>? falseMessages = null;
            var anyHolds = true;
            if (block.Any is { } any)
            {
                anyHolds = false;
                foreach (var condition in any)
                {
                    if (condition.Holds(root, context))
                    {
                        anyHolds = true;
                        break;
                    }

                    (falseMessages ??= []).Add(condition.FailureMessage(root, context));
                }
            }

            var allHold = true;
            foreach (var condition in block.All)
            {
                if (!condition.Holds(root, context))
                {
                    allHold = false;
                    (falseMessages ??= []).Add(condition.FailureMessage(root, context));
                    break;
                }
            }

            if (!anyHolds || !allHold)
            {
                // An empty any list never holds (as in Kyverno); the compiler refuses one, so it has no message to give.
                return falseMessages is null ? "no condition of an empty any list can hold" : string.Join("; ", falseMessages.Where(m => m.Length > 0));
            }
        }

        return null;
    }
}
