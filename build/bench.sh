#!/usr/bin/env bash
# Runs the admission benchmarks (BenchmarkDotNet) and prints their tables. Not part of the test run.
# Usage: build/bench.sh [BenchmarkDotNet arguments]   (default: every benchmark)
set -euo pipefail
cd "$(dirname "$0")/.."
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--filter '*')
dotnet run -c Release --project build/admission-benchmarks -- "${args[@]}"
