namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>A fresh directory under the system temp folder, deleted on dispose (unless asked to keep it).</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix)
    {
        Path = Directory.CreateTempSubdirectory("policycompiler-e2e-" + prefix + "-").FullName;
    }

    public string Path { get; }

    /// <summary>Set POLICYCOMPILER_E2E_KEEP=1 to keep the folders of a run for inspection.</summary>
    public static bool KeepAll => Environment.GetEnvironmentVariable("POLICYCOMPILER_E2E_KEEP") == "1";

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public string CreateSubdirectory(params string[] parts) => Directory.CreateDirectory(Combine(parts)).FullName;

    public void Dispose()
    {
        if (KeepAll)
        {
            return;
        }

        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A process that was just killed may still hold a file; the temp folder is swept by the OS.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
