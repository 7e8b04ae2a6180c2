using BenchmarkDotNet.Running;
using PolicyCompiler.AdmissionBenchmarks;

// Usage: dotnet run -c Release --project build/admission-benchmarks -- [BenchmarkDotNet arguments, e.g. --filter '*']
//        dotnet run -c Release --project build/admission-benchmarks -- --alloc-profile
if (args is ["--alloc-profile"])
{
    AllocationProfile.Run();
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
