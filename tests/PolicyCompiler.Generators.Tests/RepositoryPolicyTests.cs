using PolicyCompiler.Generators.Tests.Infrastructure;

namespace PolicyCompiler.Generators.Tests;

/// <summary>The policies the host compiles by default (the repository's policies/ folder) build cleanly.</summary>
public sealed class RepositoryPolicyTests
{
    [Fact]
    public void Checked_in_policies_compile_without_diagnostics()
    {
        var directory = Path.GetFullPath(Path.Combine(TestFiles.ProjectDirectory(), "..", "..", "policies"));
        var files = Directory.GetFiles(directory, "*.y*ml", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(files);

        var driver = GeneratorHarness.CreateDriver(files.Select(f => new InMemoryAdditionalText(f, File.ReadAllText(f))), directory + "/");
        var run = GeneratorHarness.Run(driver).AssertClean();

        Assert.Equal(files.Count, run.PolicySources.Count());
    }
}
