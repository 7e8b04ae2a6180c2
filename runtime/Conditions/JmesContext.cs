namespace PolicyCompiler.Runtime.Conditions;

/// <summary>
/// What compiled expressions may need from outside the data: the clock for Kyverno's time functions, the source of
/// randomness for <c>random()</c>, and the image-normalisation settings for <c>image_normalize()</c>. Immutable and
/// shareable between threads; tests give a fixed clock and a seeded random source.
/// </summary>
public sealed class JmesContext
{
    public static readonly JmesContext Default = new();

    public JmesContext(TimeProvider? time = null, Func<int, int>? random = null, string defaultRegistry = "docker.io", bool enableDefaultRegistryMutation = true)
    {
        Time = time ?? TimeProvider.System;
        Random = random ?? System.Random.Shared.Next;
        DefaultRegistry = defaultRegistry;
        EnableDefaultRegistryMutation = enableDefaultRegistryMutation;
    }

    /// <summary>The clock for <c>time_now</c>, <c>time_now_utc</c> and <c>time_since</c> with an empty end.</summary>
    public TimeProvider Time { get; }

    /// <summary>Returns a value in [0, n): the randomness for <c>random()</c>.</summary>
    public Func<int, int> Random { get; }

    /// <summary>Kyverno's <c>defaultRegistry</c> setting (used by <c>image_normalize</c>).</summary>
    public string DefaultRegistry { get; }

    /// <summary>Kyverno's <c>enableDefaultRegistryMutation</c> setting.</summary>
    public bool EnableDefaultRegistryMutation { get; }
}

/// <summary>A compiled expression (or the right-hand side of a projection, or an expression reference <c>&amp;expr</c>).</summary>
public delegate JmesValue JmesFunc(JmesValue current, JmesContext context);

/// <summary>
/// A compiled context entry <c>jmesPath</c> with Kyverno variables in it (<c>data."{{ request.namespace }}"</c>): the
/// expression runs over <paramref name="current"/> (the entry's value, answer or image data) while its variables read
/// <paramref name="root"/> (<c>request</c>, <c>images</c> and the entries loaded before), as Kyverno substitutes them
/// into the text before it evaluates it.
/// </summary>
public delegate JmesValue ContextJmesFunc(JmesValue current, JmesValue root, JmesContext context);
