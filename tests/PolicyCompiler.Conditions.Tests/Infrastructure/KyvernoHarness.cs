using System.Collections.Concurrent;
using System.Text;
using PolicyCompiler.Generators.Common;
using PolicyCompiler.Generators.Conditions;
using PolicyCompiler.Runtime.Conditions;

namespace PolicyCompiler.Conditions.Tests.Infrastructure;

/// <summary>A clock that always reads the same instant, in a chosen zone.</summary>
internal sealed class FixedClock(DateTimeOffset now, TimeZoneInfo? zone = null) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now.ToUniversalTime();

    public override TimeZoneInfo LocalTimeZone => zone ?? TimeZoneInfo.Utc;
}

/// <summary>
/// Compiles Kyverno values through the generator's own pipeline (<see cref="KyvernoTemplateParser"/> →
/// <see cref="KyvernoEmitter"/> → Roslyn) and evaluates them. Values are compiled in batches: everything registered
/// before the first evaluation goes into one assembly.
/// </summary>
internal sealed class KyvernoHarness
{
    public static readonly DateTimeOffset Now = new(2024, 5, 6, 7, 8, 9, TimeSpan.Zero);

    public static readonly JmesContext Context = new(new FixedClock(Now), random: n => n / 2);

    private readonly ConcurrentDictionary<(string Text, KyvernoVariableMode Mode), JmesFunc> _compiled = new();

    /// <summary>Compiles every value (all strings with <c>{{ }}</c> or plain text) in one assembly.</summary>
    public void Compile(IEnumerable<string> values, KyvernoVariableMode mode = KyvernoVariableMode.Strict)
    {
        var list = values.Distinct().Where(v => !_compiled.ContainsKey((v, mode))).ToList();
        if (list.Count == 0)
        {
            return;
        }

        var writer = new SourceWriter();
        writer.WriteLine("namespace Kyverno;");
        writer.WriteLine("public static class Values");
        writer.OpenBrace();
        for (var i = 0; i < list.Count; i++)
        {
            var parsed = KyvernoTemplateParser.Parse(list[i]);
            if (!parsed.Success)
            {
                throw new InvalidOperationException($"{list[i]} does not compile: {string.Join("; ", parsed.Diagnostics)}");
            }

            KyvernoEmitter.EmitTemplateMethod(writer, "V" + i, parsed.Template!, mode);
        }

        writer.CloseBrace();
        var assembly = InMemoryCompiler.Compile(InMemoryCompiler.Usings + writer, "Kyverno");
        for (var i = 0; i < list.Count; i++)
        {
            _compiled[(list[i], mode)] = InMemoryCompiler.Method(assembly, "Kyverno.Values", "V" + i);
        }
    }

    /// <summary>Compiles structured values (lists, maps with variables in keys and values) in one assembly, in order.</summary>
    public static JmesFunc[] CompileValues(IReadOnlyList<KyvernoValue> values, KyvernoVariableMode mode = KyvernoVariableMode.Strict)
    {
        var writer = new SourceWriter();
        writer.WriteLine("namespace Kyverno;");
        writer.WriteLine("public static class StructuredValues");
        writer.OpenBrace();
        for (var i = 0; i < values.Count; i++)
        {
            KyvernoEmitter.EmitValueMethod(writer, "V" + i, values[i], mode);
        }

        writer.CloseBrace();
        var assembly = InMemoryCompiler.Compile(InMemoryCompiler.Usings + writer, "KyvernoStructured");
        return Enumerable.Range(0, values.Count).Select(i => InMemoryCompiler.Method(assembly, "Kyverno.StructuredValues", "V" + i)).ToArray();
    }

    /// <summary>A string value with its variables parsed, for building structured values by hand.</summary>
    public static KyvernoTemplate Template(string text)
    {
        var parsed = KyvernoTemplateParser.Parse(text);
        return parsed.Success ? parsed.Template! : throw new InvalidOperationException($"{text} does not compile: {string.Join("; ", parsed.Diagnostics)}");
    }

    public JmesValue Evaluate(string value, string? json = null, KyvernoVariableMode mode = KyvernoVariableMode.Strict)
    {
        if (!_compiled.TryGetValue((value, mode), out var function))
        {
            Compile([value], mode);
            function = _compiled[(value, mode)];
        }

        var root = JmesValue.ParseJson(json ?? "{}");
        return function(root, Context);
    }

    /// <summary>The value of a single <c>{{ expression }}</c>.</summary>
    public JmesValue Expression(string expression, string? json = null) => Evaluate("{{ " + expression + " }}", json);

    public static string Describe(JmesValue value) => value.ToJsonString();

    public static string Source(params string[] lines) => new StringBuilder().AppendJoin('\n', lines).ToString();
}
