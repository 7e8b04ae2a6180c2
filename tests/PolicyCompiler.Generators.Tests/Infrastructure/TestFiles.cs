using System.Runtime.CompilerServices;

namespace PolicyCompiler.Generators.Tests.Infrastructure;

/// <summary>Test inputs (copied next to the test assembly) and the project's source folder (for rewriting baselines).</summary>
internal static class TestFiles
{
    public static string TestDataDirectory => Path.Combine(AppContext.BaseDirectory, "TestData");

    /// <summary>The text of <c>TestData/&lt;folder&gt;/&lt;name&gt;</c>.</summary>
    public static string Read(string folder, string name) => File.ReadAllText(Path.Combine(TestDataDirectory, folder, name));

    /// <summary>This test project's folder in the source tree.</summary>
    public static string ProjectDirectory() => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(ThisFile())!, ".."));

    private static string ThisFile([CallerFilePath] string path = "") => path;
}
