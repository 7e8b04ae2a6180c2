#!/usr/bin/env bash
# Policy-set scale (issue 8): the cost of one review against 1, 10, 100 and 1,000 compiled policies, and against
# 1,000 policies of which 1, 10 or 100 match; then the generator and Roslyn time for 200 and 1,000 policies. Not part of the
# test run. Usage: build/scale-bench.sh [--job] [BenchmarkDotNet arguments]   (default: every benchmark, short job)
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build -c Release build/scale-benchmarks -v quiet -nologo
dll=build/scale-benchmarks/bin/Release/net10.0/PolicyCompiler.ScaleBenchmarks.dll
log=$(mktemp)
echo "BenchmarkDotNet log: $log"
dotnet "$dll" "$@" > "$log"
# The summary tables only (one per benchmark class).
sed -n '/^| Method/,/^$/p' "$log"
dotnet "$dll" --compile-time
