using System.Reflection;
using System.Runtime.Loader;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using PolicyCompiler.Runtime.Conditions;

namespace PolicyCompiler.Conditions.Tests.Infrastructure;

/// <summary>Compiles emitted C# with Roslyn into one in-memory assembly that references the runtime, and loads it.</summary>
internal static class InMemoryCompiler
{
    private static readonly Lazy<MetadataReference[]> References = new(() =>
    {
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator).ToList();
        paths.Add(typeof(JmesValue).Assembly.Location);
        return [.. paths.Distinct().Select(p => MetadataReference.CreateFromFile(p))];
    });

    public const string Usings = "using System;\nusing PolicyCompiler.Runtime.Conditions;\n";

    /// <summary>Compiles <paramref name="source"/>; throws with every compiler error when it does not compile.</summary>
    public static Assembly Compile(string source, string name = "Compiled")
    {
        var tree = CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest));
        var compilation = CSharpCompilation.Create(
            name + Guid.NewGuid().ToString("N"),
            [tree],
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, optimizationLevel: OptimizationLevel.Release, nullableContextOptions: NullableContextOptions.Enable));
        using var image = new MemoryStream();
        var result = compilation.Emit(image);
        var errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        if (!result.Success)
        {
            throw new InvalidOperationException("The emitted C# does not compile:\n" + string.Join("\n", errors.Take(50).Select(e => e.ToString())));
        }

        image.Position = 0;
        var context = new AssemblyLoadContext(name, isCollectible: true);
        return context.LoadFromStream(image);
    }

    public static JmesFunc Method(Assembly assembly, string type, string method) =>
        assembly.GetType(type, throwOnError: true)!.GetMethod(method, BindingFlags.Public | BindingFlags.Static)!.CreateDelegate<JmesFunc>();
}
