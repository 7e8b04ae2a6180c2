using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using PolicyCompiler.Runtime.Engine;

namespace PolicyCompiler.Generators.Tests.Infrastructure;

/// <summary>
/// Runs <see cref="PolicyGenerator"/> the way the compiler does in the host project: policy YAML as AdditionalFiles,
/// <c>build_property.PolicyDirectory</c> from the options, the runtime and the framework as references.
/// </summary>
internal static class GeneratorHarness
{
    /// <summary>The policy folder of every test run; policy paths are written under it.</summary>
    public const string PolicyDirectory = "/repo/policies/";

    public static readonly CSharpParseOptions ParseOptions = CSharpParseOptions.Default.WithLanguageVersion(LanguageVersion.Latest);

    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(LoadReferences);

    /// <summary>The framework assemblies of the running test process (the runtime's own directory) and the PolicyCompiler runtime.</summary>
    public static ImmutableArray<MetadataReference> References => s_references.Value;

    /// <summary>A policy file at <c>/repo/policies/&lt;name&gt;</c>.</summary>
    public static InMemoryAdditionalText Policy(string name, string yaml) => new(PolicyDirectory + name, yaml);

    public static GeneratorRun Run(params AdditionalText[] policies) => Run(CreateDriver(policies));

    public static GeneratorRun Run(string name, string yaml) => Run(Policy(name, yaml));

    public static GeneratorDriver CreateDriver(IEnumerable<AdditionalText> policies, string? policyDirectory = PolicyDirectory)
    {
        var options = policyDirectory is null
            ? ImmutableDictionary<string, string>.Empty
            : ImmutableDictionary<string, string>.Empty.Add("build_property.PolicyDirectory", policyDirectory);

        return CSharpGeneratorDriver.Create(
            [new PolicyGenerator().AsSourceGenerator()],
            policies,
            ParseOptions,
            new FakeAnalyzerConfigOptionsProvider(options),
            new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));
    }

    public static CSharpCompilation CreateCompilation() =>
        CSharpCompilation.Create(
            "PolicyCompiler.Generated.Tests",
            syntaxTrees: [],
            references: References,
            options: new CSharpCompilationOptions(
                OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable,
                warningLevel: 9999,
                deterministic: true));

    /// <summary>Runs the driver over an empty compilation and compiles its output.</summary>
    public static GeneratorRun Run(GeneratorDriver driver)
    {
        driver = driver.RunGeneratorsAndUpdateCompilation(CreateCompilation(), out var output, out _);
        var result = driver.GetRunResult();
        Assert.Single(result.Results);

        // A generator that throws is reported by the driver (CS8785) and produces nothing: always a bug.
        Assert.Null(result.Results[0].Exception);

        var sources = result.Results[0].GeneratedSources.ToImmutableSortedDictionary(s => s.HintName, s => s.SourceText.ToString(), StringComparer.Ordinal);
        var compilationDiagnostics = output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToImmutableArray();
        return new GeneratorRun(driver, result, result.Results[0].Diagnostics, sources, (CSharpCompilation)output, compilationDiagnostics);
    }

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        // The framework's own directory: the trusted platform assemblies also list the test's dependencies (Roslyn,
        // xunit, the generator), which generated code must not be able to see.
        var frameworkDirectory = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var trusted = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var framework = trusted.Where(p => string.Equals(Path.GetDirectoryName(p), frameworkDirectory, StringComparison.Ordinal));
        return [.. framework.Append(typeof(PolicyDefinition).Assembly.Location).Select(p => MetadataReference.CreateFromFile(p))];
    }
}

/// <summary>What one generator run produced.</summary>
internal sealed record GeneratorRun(
    GeneratorDriver Driver,
    GeneratorDriverRunResult Result,
    ImmutableArray<Diagnostic> GeneratorDiagnostics,
    ImmutableSortedDictionary<string, string> Sources,
    CSharpCompilation OutputCompilation,
    ImmutableArray<Diagnostic> CompilationDiagnostics)
{
    /// <summary>The generated sources other than the catalogue.</summary>
    public IEnumerable<KeyValuePair<string, string>> PolicySources => Sources.Where(s => s.Key != "PolicyCatalog.g.cs");

    public string Catalog => Sources["PolicyCatalog.g.cs"];

    /// <summary>Asserts a clean run: no generator diagnostics, and the output compiles without errors or warnings.</summary>
    public GeneratorRun AssertClean()
    {
        Assert.True(GeneratorDiagnostics.IsEmpty, "generator diagnostics: " + string.Join(Environment.NewLine, GeneratorDiagnostics));
        return AssertCompiles();
    }

    /// <summary>Asserts that the generated code compiles against the runtime with zero errors and zero warnings.</summary>
    public GeneratorRun AssertCompiles()
    {
        Assert.True(CompilationDiagnostics.IsEmpty, "diagnostics of the generated code: " + string.Join(Environment.NewLine, CompilationDiagnostics));
        return this;
    }

    /// <summary>The one diagnostic of the run, which must have <paramref name="id"/>.</summary>
    public Diagnostic Single(string id)
    {
        Assert.True(
            GeneratorDiagnostics.Length == 1 && GeneratorDiagnostics[0].Id == id,
            $"expected exactly one {id}, but the generator reported:{Environment.NewLine}{string.Join(Environment.NewLine, GeneratorDiagnostics)}");
        return GeneratorDiagnostics[0];
    }
}
