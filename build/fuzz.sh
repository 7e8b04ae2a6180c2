#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers and the admission handler (issue 9): AFL++ drives
# tests/PolicyCompiler.Fuzz through SharpFuzz, whose instrumentation of the product assemblies reports the branches
# each input takes.
#
#   build/fuzz.sh [seconds-per-target] [--keep] [target ...]
#
# seconds-per-target  how long AFL runs each target (default 60)
# --keep              copy what the run found into the checked-in corpus, minimised: crashes and hangs (to fix and
#                     keep as regression inputs) and the queue entries that add coverage (found-<hash>)
# target ...          only these targets (default: all; `dotnet tests/PolicyCompiler.Fuzz/... list` names them)
#
# Prints, per target: execs, execs/s, corpus entries (paths), edges found and map coverage, crashes, hangs (as AFL
# saved them). Exits 1 when a crash reproduces on replay (an exception escaping the harness, a stack overflow), or a
# hang still takes longer than the harness's 10 s limit on replay: AFL's own timeout (-t) is short, so that it keeps
# fuzzing, and a slow or busy machine must not turn into a failure on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=60
keep=false
targets=()
for arg in "$@"; do
  case "$arg" in
    --keep) keep=true ;;
    ''|*[!0-9]*) targets+=("$arg") ;;
    *) seconds=$arg ;;
  esac
done

work=$root/artifacts/fuzz
corpus=$root/tests/PolicyCompiler.Fuzz/corpus
tools=$work/tools

# AFL++ from Debian; the SharpFuzz instrumenter as a dotnet tool in a private folder (no global state).
if ! command -v afl-fuzz >/dev/null 2>&1; then
  echo "Installing afl++"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends afl++ >/dev/null
fi
if [ ! -x "$tools/sharpfuzz" ]; then
  dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$tools" >/dev/null
fi

# Build once, then instrument copies: the normal bin/ folder (which dotnet test uses) stays uninstrumented.
dotnet build tests/PolicyCompiler.Fuzz -c Release -nologo -v quiet >/dev/null
plain=$root/tests/PolicyCompiler.Fuzz/bin/Release/net10.0
rm -rf "$work/bin" && mkdir -p "$work" && cp -r "$plain" "$work/bin"
for assembly in PolicyCompiler.Runtime.dll PolicyCompiler.Generators.dll YamlDotNet.dll; do
  "$tools/sharpfuzz" "$work/bin/$assembly" >/dev/null
done
# The policies the generator compiled into the harness: generated code is product code too.
"$tools/sharpfuzz" "$work/bin/PolicyCompiler.Fuzz.dll" PolicyCompiler.Generated >/dev/null

if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(dotnet "$plain/PolicyCompiler.Fuzz.dll" list)
fi

export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1

export DOTNET_TieredPGO=0 DOTNET_CLI_TELEMETRY_OPTOUT=1
dotnet=$(command -v dotnet)

stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$2"; }

failed=0
printf '%-18s %10s %9s %7s %16s %8s %6s\n' target execs execs/s paths edges/coverage crashes hangs
for target in "${targets[@]}"; do
  out=$work/out/$target
  rm -rf "$out" && mkdir -p "$work/out"
  # -t 2000+: AFL scales its timeout from the seeds' timings, at most 2 s; what runs over it is a hang candidate,
  # confirmed below by a replay with the harness's 10 s limit. -V: stop after the time given. timeout is a guard
  # should AFL itself not stop.
  timeout --kill-after=10 $((seconds + 120)) \
    afl-fuzz -V "$seconds" -t 2000+ -m none -i "$corpus/$target" -o "$out" -- \
    "$dotnet" "$work/bin/PolicyCompiler.Fuzz.dll" fuzz "$target" >"$work/$target.log" 2>&1 || true
  stats=$out/default/fuzzer_stats
  if [ ! -s "$stats" ] || [ "$(stat execs_done "$stats")" = 0 ]; then
    echo "$target: afl-fuzz did not run; last lines of $work/$target.log:"
    tail -n 20 "$work/$target.log"
    failed=1
    continue
  fi

  crashes=$(find "$out/default/crashes" -name 'id:*' -type f 2>/dev/null | sort)
  hangs=$(find "$out/default/hangs" -name 'id:*' -type f 2>/dev/null | sort)
  printf '%-18s %10s %9s %7s %16s %8s %6s\n' "$target" "$(stat execs_done "$stats")" "$(stat execs_per_sec "$stats")" \
    "$(stat corpus_count "$stats")" "$(stat edges_found "$stats")/$(stat bitmap_cvg "$stats")" \
    "$(printf '%s' "$crashes" | grep -c . || true)" "$(printf '%s' "$hangs" | grep -c . || true)"

  for crash in $crashes; do
    # Confirmed when the uninstrumented harness, in a process of its own, fails on it again (an exception, or the
    # process dying of a stack overflow). Under heavy load AFL has saved a "crash" that was a child killed from
    # outside; that is reported, not failed on.
    if dotnet "$plain/PolicyCompiler.Fuzz.dll" replay "$target" "$crash" >"$work/replay.log" 2>&1; then
      echo "  not reproduced on replay (reported only): $crash"
    else
      failed=1
      echo "  crash $crash:"
      sed 's/^/    /' "$work/replay.log" | head -n 14
    fi
  done
  for hang in $hangs; do
    # Confirmed only when the uninstrumented harness still takes longer than its own limit.
    if ! dotnet "$plain/PolicyCompiler.Fuzz.dll" replay "$target" "$hang" >"$work/replay.log" 2>&1; then
      failed=1
      echo "  hang confirmed on replay: $hang"
      sed 's/^/    /' "$work/replay.log" | head -n 12
    fi
  done

  if $keep; then
    for found in $crashes $hangs; do
      kind=$(basename "$(dirname "$found")")
      min=$work/min.$$
      if ! afl-tmin -t 5000 -m none -i "$found" -o "$min" -- "$dotnet" "$work/bin/PolicyCompiler.Fuzz.dll" fuzz "$target" >/dev/null 2>&1; then
        cp "$found" "$min"
      fi
      name="found-${kind%s}-$(sha1sum "$min" | cut -c1-12)"
      mv "$min" "$corpus/$target/$name"
      echo "  kept $name"
    done
    # Queue entries that reached new branches, reduced to a set that keeps the coverage of the whole queue.
    cmin=$work/cmin/$target
    rm -rf "$cmin"
    if afl-cmin -t 5000 -m none -i "$out/default/queue" -o "$cmin" -- "$dotnet" "$work/bin/PolicyCompiler.Fuzz.dll" fuzz "$target" >"$work/$target.cmin.log" 2>&1; then
      added=0
      for file in "$cmin"/*; do
        [ -f "$file" ] || continue
        case "$(basename "$file")" in *orig:*) continue ;; esac
        hash=$(sha1sum "$file" | cut -c1-12)
        if ! ls "$corpus/$target" | grep -q "$hash"; then
          cp "$file" "$corpus/$target/found-$hash"
          added=$((added + 1))
        fi
      done
      echo "  kept $added new queue entries (afl-cmin)"
    else
      echo "  afl-cmin failed; see $work/$target.cmin.log"
    fi
  fi
done

if ((failed)); then
  echo "fuzzing found crashes (inputs and stack traces above; artifacts/fuzz/out/<target>/default/crashes)"
  exit 1
fi
echo "no crash in ${#targets[@]} targets (${seconds}s each)"
