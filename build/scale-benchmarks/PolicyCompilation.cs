using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.Loader;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using PolicyCompiler.Generators;
using PolicyCompiler.Runtime.Engine;

namespace PolicyCompiler.ScaleBenchmarks;

/// <summary>
/// Policy YAML to loaded <see cref="PolicyDefinition"/>s in this process: the real generator run by a
/// <see cref="GeneratorDriver"/>, its output compiled by Roslyn and loaded into a collectible context.
/// </summary>
internal static class PolicyCompilation
{
    private const string PolicyDirectory = "/scale/policies/";

    /// <summary>How long each step took, for the build-time figure.</summary>
    public sealed record Timings(TimeSpan Generate, TimeSpan Compile, TimeSpan Load, int GeneratedFiles, int GeneratedBytes);

    public static ImmutableArray<PolicyDefinition> Load((string Name, string Yaml)[] policies) => Load(policies, out _);

    public static ImmutableArray<PolicyDefinition> Load((string Name, string Yaml)[] policies, out Timings timings)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        GeneratorDriver driver = CSharpGeneratorDriver.Create(
            [new PolicyGenerator().AsSourceGenerator()],
            policies.Select(p => (AdditionalText)new PolicyText(PolicyDirectory + p.Name, p.Yaml)),
            CSharpParseOptions.Default.WithLanguageVersion(LanguageVersion.Latest),
            new PolicyOptions(PolicyGenerator.PolicyRootProperty, PolicyDirectory));
        var compilation = CSharpCompilation.Create(
            "PolicyCompiler.Generated.Scale",
            syntaxTrees: [],
            references: References(),
            options: new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, optimizationLevel: OptimizationLevel.Release, nullableContextOptions: NullableContextOptions.Enable));
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        var run = driver.GetRunResult();
        var generate = watch.Elapsed;

        // A policy the generator rejects would silently shrink the set and flatter the figures.
        var problems = generatorDiagnostics.Concat(run.Diagnostics).Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        if (problems.Count > 0 || run.Results[0].Exception is { } thrown)
        {
            throw new InvalidOperationException("the generator rejected the synthetic policies:\n" + string.Join('\n', problems.Take(10)));
        }

        watch.Restart();
        using var image = new MemoryStream();
        var emitted = output.Emit(image);
        if (!emitted.Success)
        {
            throw new InvalidOperationException("the generated code does not compile:\n" + string.Join('\n', emitted.Diagnostics.Take(10)));
        }

        var compile = watch.Elapsed;
        watch.Restart();
        image.Position = 0;

        // Every set defines the same PolicyCompiler.Generated types, so each gets a context of its own; the runtime
        // resolves to this process's copy, so the definitions are the PolicyDefinition type the engine takes.
        var assembly = new AssemblyLoadContext("scale-policies", isCollectible: true).LoadFromStream(image);
        var catalog = assembly.GetType("PolicyCompiler.Generated.PolicyCatalog", throwOnError: true)!;
        var all = (ImmutableArray<PolicyDefinition>)catalog.GetProperty("All", BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!;
        if (all.Length != policies.Length)
        {
            throw new InvalidOperationException($"compiled {all.Length} policies out of {policies.Length}");
        }

        timings = new Timings(
            generate,
            compile,
            watch.Elapsed,
            run.Results[0].GeneratedSources.Length,
            run.Results[0].GeneratedSources.Sum(s => s.SourceText.Length));
        return all;
    }

    private static IEnumerable<MetadataReference> References()
    {
        // Only the framework and the runtime, as in the host build: not Roslyn or BenchmarkDotNet, which this process also loads.
        var frameworkDirectory = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var trusted = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        return trusted
            .Where(p => string.Equals(Path.GetDirectoryName(p), frameworkDirectory, StringComparison.Ordinal))
            .Append(typeof(PolicyDefinition).Assembly.Location)
            .Select(p => MetadataReference.CreateFromFile(p));
    }

    private sealed class PolicyText(string path, string text) : AdditionalText
    {
        private readonly SourceText _text = SourceText.From(text, Encoding.UTF8);

        public override string Path { get; } = path;

        public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
    }

    /// <summary>The one MSBuild property the generator reads; no file has options of its own.</summary>
    private sealed class PolicyOptions(string key, string value) : AnalyzerConfigOptionsProvider
    {
        public override AnalyzerConfigOptions GlobalOptions { get; } = new Options(ImmutableDictionary<string, string>.Empty.Add(key, value));

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => Options.Empty;

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => Options.Empty;

        private sealed class Options(ImmutableDictionary<string, string> values) : AnalyzerConfigOptions
        {
            public static readonly Options Empty = new(ImmutableDictionary<string, string>.Empty);

            public override bool TryGetValue(string key, [NotNullWhen(true)] out string? value) => values.TryGetValue(key, out value);
        }
    }
}
