using BenchmarkDotNet.Running;

// Usage: dotnet run -c Release --project build/admission-benchmarks -- [BenchmarkDotNet arguments, e.g. --filter '*']
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
