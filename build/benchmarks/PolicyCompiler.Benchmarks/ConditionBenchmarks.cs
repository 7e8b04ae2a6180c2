using System.Reflection;
using System.Runtime.Loader;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using DevLab.JmesPath;
using DevLab.JmesPath.Expressions;
using DevLab.JmesPath.Utils;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Newtonsoft.Json.Linq;
using PolicyCompiler.Generators.Conditions;
using PolicyCompiler.Runtime.Conditions;

namespace PolicyCompiler.Benchmarks;

/// <summary>
/// One attestation-condition expression evaluated on one predicate document: by JmesPath.Net interpreting a parsed
/// expression over a parsed Newtonsoft document (the baseline), and by the C# this repository's compiler emits for the
/// same expression, run over a parsed System.Text.Json document. Both sides parse once in setup; the measured work is
/// the evaluation alone, which is what an admission request pays.
/// </summary>
[MemoryDiagnoser]
public class ConditionBenchmarks
{
    public static readonly (string Name, string Document, string Expression)[] Cases =
    [
        ("slsa-builder-id", "slsa-provenance", "builder.id"),
        ("slsa-entrypoint", "slsa-provenance", "invocation.configSource.entryPoint == '.github/workflows/release.yml' && buildType == 'https://github.com/slsa-framework/slsa-github-generator/go@v1'"),
        ("slsa-source-digest", "slsa-provenance", "materials[?starts_with(uri, 'git+https://github.com/example/')].digest.sha1 | [0]"),
        ("slsa-trimpath", "slsa-provenance", "contains(buildConfig.steps[].command[], '-trimpath')"),
        ("vuln-critical-count", "vulnerability-report", "length(scanner.result.Results[].Vulnerabilities[?Severity == 'CRITICAL'][])"),
        ("vuln-worst-cve", "vulnerability-report", "max_by(scanner.result.Results[].Vulnerabilities[], &CVSS.nvd.V3Score).VulnerabilityID"),
        ("vuln-unfixed-high", "vulnerability-report", "scanner.result.Results[].Vulnerabilities[?Severity == 'HIGH' && FixedVersion == ''][].VulnerabilityID"),
        ("vuln-scan-finished", "vulnerability-report", "metadata.scanFinishedOn"),
        ("review-two-approvals", "code-review", "length(reviewers[?approved]) >= `2`"),
        ("review-summary", "code-review", "{author: author.login, approvers: sort(reviewers[?approved].name), failed: length(checks[?conclusion != 'success'])}"),
    ];

    private static readonly Lazy<Dictionary<string, JmesFunc>> Compiled = new(CompileAll);

    private JmesPathExpression _interpreted = null!;
    private string _expression = string.Empty;
    private JToken _token = null!;
    private JmesFunc _compiled = null!;
    private JmesValue _value;

    public static IEnumerable<string> CaseNames => Cases.Select(c => c.Name);

    [ParamsSource(nameof(CaseNames))]
    public string Case { get; set; } = string.Empty;

    [GlobalSetup]
    public void Setup()
    {
        var (name, document, expression) = Cases.Single(c => c.Name == Case);
        var json = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Predicates", document + ".json"));
        _expression = expression;
        _interpreted = new JmesPath().Parse(expression);
        _token = JToken.Parse(json);
        _compiled = Compiled.Value[name];
        _value = JmesValue.FromJson(JsonDocument.Parse(json).RootElement);

        // Both sides must agree before their speed is worth comparing.
        var expected = JmesValue.ParseJson(_interpreted.Transform(_token).AsJToken()?.ToString(Newtonsoft.Json.Formatting.None) ?? "null");
        var actual = _compiled(_value, JmesContext.Default);
        if (!JmesValue.DeepEquals(expected, actual))
        {
            throw new InvalidOperationException($"{name}: JmesPath.Net gives {expected.ToJsonString()}, compiled gives {actual.ToJsonString()}");
        }
    }

    [Benchmark(Baseline = true, Description = "JmesPath.Net, parsed once")]
    public JToken Interpreted() => _interpreted.Transform(_token).AsJToken();

    /// <summary>What Kyverno does for every variable: parse the expression, then interpret it.</summary>
    [Benchmark(Description = "JmesPath.Net, parsed per evaluation")]
    public JToken InterpretedWithParse() => new JmesPath().Parse(_expression).Transform(_token).AsJToken();

    [Benchmark(Description = "PolicyCompiler (compiled)")]
    public JmesValue CompiledEvaluation() => _compiled(_value, JmesContext.Default);

    /// <summary>Every case through the generator's compiler into C#, then Roslyn, as the source generator would emit it.</summary>
    private static Dictionary<string, JmesFunc> CompileAll()
    {
        var source = new StringBuilder("using PolicyCompiler.Runtime.Conditions;\nnamespace Bench;\npublic static class Conditions\n{\n");
        foreach (var (name, _, expression) in Cases)
        {
            var parsed = JmesCompiler.Parse(expression, JmesDialect.Kyverno);
            if (!parsed.Success)
            {
                throw new InvalidOperationException($"{name}: {string.Join("; ", parsed.Diagnostics)}");
            }

            source.AppendLine(JmesCompiler.EmitMethod(parsed.Expression!, JmesDialect.Kyverno, Method(name), expression));
        }

        source.AppendLine("}");
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Append(typeof(JmesValue).Assembly.Location).Distinct().Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create(
            "BenchConditions",
            [CSharpSyntaxTree.ParseText(source.ToString(), new CSharpParseOptions(LanguageVersion.Latest))],
            references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, optimizationLevel: OptimizationLevel.Release));
        using var image = new MemoryStream();
        var result = compilation.Emit(image);
        if (!result.Success)
        {
            throw new InvalidOperationException(string.Join("\n", result.Diagnostics));
        }

        image.Position = 0;
        var type = AssemblyLoadContext.Default.LoadFromStream(image).GetType("Bench.Conditions")!;
        return Cases.ToDictionary(
            c => c.Name,
            c => type.GetMethod(Method(c.Name), BindingFlags.Public | BindingFlags.Static)!.CreateDelegate<JmesFunc>());
    }

    private static string Method(string name) => string.Concat(name.Split('-').Select(p => char.ToUpperInvariant(p[0]) + p[1..]));
}
