namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>Locations inside the repository under test.</summary>
public static class RepositoryPaths
{
    private static readonly Lazy<string> s_root = new(FindRoot);

    /// <summary>The folder holding PolicyCompiler.sln, found by walking up from the test assembly.</summary>
    public static string Root => s_root.Value;

    public static string HostProject => Path.Combine(Root, "host", "PolicyCompiler.Host.csproj");

    /// <summary>A file copied next to the test assembly from the project's TestData folder.</summary>
    public static string TestData(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "TestData", .. parts]);

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "PolicyCompiler.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"no folder above {AppContext.BaseDirectory} holds PolicyCompiler.sln");
    }
}
