using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace PolicyCompiler.Benchmarks;

public static class Program
{
    /// <summary>
    /// Runs every benchmark in this process (a separate build of the benchmark project takes longer than
    /// BenchmarkDotNet's build timeout on a small machine), with a short job unless <c>--job</c> is given.
    /// </summary>
    public static void Main(string[] args)
    {
        var job = args.Contains("--job") ? Job.Default : Job.ShortRun.WithIterationCount(5);
        var config = DefaultConfig.Instance.AddJob(job.WithToolchain(InProcessEmitToolchain.Instance).AsDefault());
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args.Length == 0 ? ["--filter", "*"] : args, config);
    }
}
