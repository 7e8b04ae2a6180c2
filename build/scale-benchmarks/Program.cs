using System.Globalization;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using PolicyCompiler.ScaleBenchmarks;

// Usage: dotnet run -c Release --project build/scale-benchmarks -- [--compile-time] [--job] [BenchmarkDotNet arguments]
//   --compile-time  only time the generator and Roslyn on 200 and 1,000 policies (Stopwatch) and exit
//   --job           BenchmarkDotNet's default job instead of the short one
if (args.Contains("--compile-time"))
{
    // 200 is the policy count issue 3 asks the build-time cost for; 1,000 is the scale issue 8 measures.
    foreach (var count in new[] { 200, 1000 })
    {
        var policies = SyntheticPolicies.Create(count, 1);

        // The first run pays for JIT-compiling Roslyn and the generator, as a fresh build server would; the second does not.
        foreach (var label in new[] { "cold", "warm" })
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var loaded = PolicyCompilation.Load(policies, out var t);
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"{count} policies ({label}): generate {t.Generate.TotalSeconds:F2} s, compile {t.Compile.TotalSeconds:F2} s, load {t.Load.TotalSeconds:F2} s, total {watch.Elapsed.TotalSeconds:F2} s; {loaded.Length} policies, {t.GeneratedFiles} files, {t.GeneratedBytes / 1024} KiB of C#"));
        }
    }

    return;
}

// In this process: BenchmarkDotNet's separate build of the project outlasts its build timeout on a small machine.
var job = args.Contains("--job") ? Job.Default : Job.ShortRun.WithIterationCount(5);
var rest = args.Where(a => a != "--job").ToArray();
var config = DefaultConfig.Instance.AddJob(job.WithToolchain(InProcessEmitToolchain.Instance).AsDefault());
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest.Length == 0 ? ["--filter", "*"] : rest, config);
