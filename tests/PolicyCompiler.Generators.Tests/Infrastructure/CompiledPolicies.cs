using System.Collections.Immutable;
using System.Reflection;
using System.Runtime.Loader;
using PolicyCompiler.Runtime.Admission;
using PolicyCompiler.Runtime.Engine;

namespace PolicyCompiler.Generators.Tests.Infrastructure;

/// <summary>Generated code compiled into an in-memory assembly, loaded beside the runtime the tests reference.</summary>
internal static class CompiledPolicies
{
    /// <summary>Compiles the policies and returns the generated <c>PolicyCatalog.All</c>.</summary>
    public static ImmutableArray<PolicyDefinition> Load(params (string Name, string Yaml)[] policies)
    {
        var run = GeneratorHarness.Run([.. policies.Select(p => GeneratorHarness.Policy(p.Name, p.Yaml))]).AssertClean();

        using var image = new MemoryStream();
        var emitted = run.OutputCompilation.Emit(image);
        Assert.True(emitted.Success, string.Join(Environment.NewLine, emitted.Diagnostics));
        image.Position = 0;

        // A context of its own for every compilation (they all define PolicyCompiler.Generated.*); the runtime is not in
        // it, so it resolves to the default context's copy and the definitions are the test's own PolicyDefinition type.
        var context = new AssemblyLoadContext("generated-policies", isCollectible: true);
        var assembly = context.LoadFromStream(image);
        Assert.Same(typeof(PolicyDefinition).Assembly, context.LoadFromAssemblyName(typeof(PolicyDefinition).Assembly.GetName()));

        var catalog = assembly.GetType("PolicyCompiler.Generated.PolicyCatalog", throwOnError: true)!;
        var all = catalog.GetProperty("All", BindingFlags.Public | BindingFlags.Static)!.GetValue(null);
        return Assert.IsType<ImmutableArray<PolicyDefinition>>(all);
    }

    /// <summary>An admission request as the API server sends it for <paramref name="kind"/>.</summary>
    public static AdmissionContext Request(
        string kind,
        string @namespace = "default",
        string name = "app",
        string operation = "CREATE",
        string group = "",
        string version = "v1",
        string? subResource = null) =>
        new(new AdmissionRequest
        {
            Uid = "00000000-0000-0000-0000-000000000001",
            Kind = new GroupVersionKind { Group = group, Version = version, Kind = kind },
            Namespace = @namespace,
            Name = name,
            Operation = operation,
            SubResource = subResource,
        });
}
