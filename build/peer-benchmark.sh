#!/usr/bin/env bash
# Issue 8, "peers side by side": Sigstore bundle verification per second, PolicyCompiler against sigstore-js, on the
# happy-path cases of the Sigstore conformance suite. Not part of the test run. Prints one Markdown table.
# Usage: build/peer-benchmark.sh [case ...]   (default: every happy-path case)
# Environment: SUITE (bundle-verify folder), WARMUP_MS (2000), ROUND_MS (1000), ROUNDS (5).
set -euo pipefail
cd "$(dirname "$0")/.."
suite="${SUITE:-/work/shared/testdata/sigstore-conformance/bundle-verify}"
timing=(--warmup-ms "${WARMUP_MS:-2000}" --round-ms "${ROUND_MS:-1000}" --rounds "${ROUNDS:-5}")
dir=build/peer-benchmark
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

(cd "$dir/sigstore-js" && npm ci --no-audit --no-fund --loglevel=error)
dotnet build -c Release "$dir/dotnet" -nologo -v quiet >/dev/null
ours=("$dir/dotnet/bin/Release/net10.0/PolicyCompiler.PeerBenchmark")

cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
  for d in "$suite"/*/; do
    name="$(basename "$d")"
    [[ "$name" == *_fail ]] || cases+=("$name")
  done
fi

# One process per side and case, the sides alternating which goes first, so that load from whatever else shares the
# machine falls on both sides alike rather than on whichever ran during a busy minute.
i=0
for name in "${cases[@]}"; do
  run_ours() { "${ours[@]}" --suite "$suite" "${timing[@]}" "$name" >"$out/ours-$name.json"; }
  run_theirs() { (cd "$dir/sigstore-js" && node verify.mjs --suite "$suite" "${timing[@]}" "$name") >"$out/theirs-$name.json"; }
  if ((i++ % 2 == 0)); then run_ours; run_theirs; else run_theirs; run_ours; fi
done

# Merge the per-case files into one per side, then into the table.
merge='const fs=require("fs");const r={results:{},skipped:{}};for(const f of process.argv.slice(1)){const j=JSON.parse(fs.readFileSync(f));Object.assign(r.results,j.results);Object.assign(r.skipped,j.skipped);}console.log(JSON.stringify(r));'
node -e "$merge" "$out"/ours-*.json >"$out/ours.json"
node -e "$merge" "$out"/theirs-*.json >"$out/theirs.json"
echo
echo "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; .NET $(dotnet --list-runtimes | sed -n 's/^Microsoft.NETCore.App \([^ ]*\).*/\1/p' | tail -1), Node $(node --version)"
echo
node "$dir/table.mjs" "$out/ours.json" "$out/theirs.json"
