using System.Runtime.CompilerServices;

// The conditions compiler's tests and the benchmark (build/benchmarks) drive the parser and emitter directly.
[assembly: InternalsVisibleTo("PolicyCompiler.Conditions.Tests")]
[assembly: InternalsVisibleTo("PolicyCompiler.Benchmarks")]
