#!/usr/bin/env bash
# Runs the fuzzers long (not in CI) and merges what they find into the
# checked-in corpora; prints each fuzzer's executions and crashes.
#
#   fuzz/run_long.sh BUILD_DIR [SECONDS_PER_FUZZER] [FUZZER...]
#
# BUILD_DIR is an ENGRAM_FUZZ=ON build (see CMakeLists.txt) with the
# `fuzzers` target built. Crashes are kept as BUILD_DIR/fuzz/found/NAME/
# crash-* and make the script exit 1. Runs FUZZ_JOBS (default: every core)
# processes at once (-fork), each with the flags in fuzz/NAME.flags if any.
set -euo pipefail
build=${1:?usage: fuzz/run_long.sh BUILD_DIR [SECONDS] [FUZZER...]}
seconds=${2:-3600}
shift $(( $# >= 2 ? 2 : 1 ))
here=$(cd "$(dirname "$0")" && pwd)
fuzzers=("$@")
if [ ${#fuzzers[@]} -eq 0 ]; then
  fuzzers=(npy_fuzzer safetensors_fuzzer config_fuzzer service_fuzzer)
fi
jobs=${FUZZ_JOBS:-$(nproc)}
status=0
for fuzzer in "${fuzzers[@]}"; do
  binary="$build/fuzz/$fuzzer"
  found="$build/fuzz/found/$fuzzer"
  corpus="$here/corpus/$fuzzer"
  mkdir -p "$found"
  log="$found/run_long.log"
  extra_flags=()
  if [ -f "$here/$fuzzer.flags" ]; then
    mapfile -t extra_flags < <(grep -E '^-' "$here/$fuzzer.flags")
  fi
  echo "== $fuzzer: ${seconds}s on $jobs processes, log $log"
  # -fork keeps going after a crash (kept in $found) and runs `jobs` at once.
  ASAN_OPTIONS=detect_leaks=1 "$binary" -fork="$jobs" -ignore_crashes=1 \
    -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
    ${extra_flags[@]+"${extra_flags[@]}"} -artifact_prefix="$found/" \
    "$found" "$corpus" >"$log" 2>&1 || true
  # The fork driver prints its totals as "#N: cov: ... exec/s: ..." lines
  # whose N is the executions so far.
  executions=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  crashes=$(find "$found" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 \
    -name 'leak-*' -o -maxdepth 1 -name 'timeout-*' | wc -l)
  echo "$fuzzer: ${executions:-0} executions, $crashes crash/leak/timeout files"
  [ "$crashes" -eq 0 ] || status=1
  # Keep the inputs that add coverage (a minimal set) in the corpus.
  "$binary" -merge=1 -artifact_prefix="$found/" "$corpus" "$found" \
    >"$found/merge.log" 2>&1 || true
done
exit $status
