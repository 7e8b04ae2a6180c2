using System.Diagnostics;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>The outcome of a command that ran to completion.</summary>
public sealed record ProcessResult(string CommandLine, int ExitCode, string Output, TimeSpan Elapsed)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>Throws with the command's whole output unless it exited with 0.</summary>
    public ProcessResult EnsureSuccess()
    {
        if (!Succeeded)
        {
            throw new InvalidOperationException($"`{CommandLine}` exited with {ExitCode} after {Elapsed.TotalSeconds:F1}s:\n{Output}");
        }

        return this;
    }
}

/// <summary>Runs short-lived commands (skopeo, dotnet publish) with a deadline and captured output.</summary>
public static class ProcessRunner
{
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        TimeSpan timeout,
        string? workingDirectory = null,
        IReadOnlyDictionary<string, string?>? environment = null,
        CancellationToken cancellationToken = default,
        string? standardInput = null)
    {
        var stopwatch = Stopwatch.StartNew();
        using var child = ChildProcess.Start(fileName, arguments, workingDirectory, environment, standardInput);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        int exitCode;
        try
        {
            exitCode = await child.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"`{child.DisplayName}` did not finish within {timeout.TotalSeconds:F0}s; it was killed. Output so far:\n{child.Log}");
        }

        return new ProcessResult(child.DisplayName, exitCode, child.Log, stopwatch.Elapsed);
    }
}
