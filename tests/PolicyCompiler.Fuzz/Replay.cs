namespace PolicyCompiler.Fuzz;

/// <summary>One input through one target outside the fuzzer, with the crash definition of <see cref="FuzzTargets"/>.</summary>
public static class Replay
{
    /// <summary>Null when the target answered in time; otherwise what went wrong.</summary>
    public static string? One(string target, byte[] input)
    {
        var run = Task.Run(() => FuzzTargets.Run(target, input));
        try
        {
            if (!run.Wait(FuzzTargets.HangLimit))
            {
                // The thread cannot be stopped; the caller fails anyway, and the process ends soon after.
                return $"hang: no answer after {FuzzTargets.HangLimit.TotalSeconds:0} s";
            }
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            var inner = e.InnerExceptions[0];
            return $"{inner.GetType().FullName}: {inner.Message}{Environment.NewLine}{inner.StackTrace}";
        }

        return null;
    }
}
