#!/usr/bin/env bash
# shard_import.sh: engramctl --shard-map import of one table into S shards of
# R replicas each: one shard at a time (--jobs 1) against all of them at
# once (--jobs S). Each shard's rows are read once and streamed to all its
# replicas at once.
#
#   bench/shard_import.sh [BUILD_DIR] [--rows N] [--row-bytes B]
#                         [--shards S] [--replicas R] [--repeats K]
#                         [--placement ram|ssd] [--baseline-engramctl PATH]
#
# Makes a table of N (4194304) random B-byte (128) rows as .npy, starts
# S*R (2*2) engram-servers, then imports the table K (2) times each way,
# taking turns, dropping it from every replica before each import. Prints
# each import's wall time and rate (table bytes times replicas over time).
# --baseline-engramctl: an engramctl of another build (e.g. one that reads
# the file once per replica) imports with --jobs S*R in each round too,
# shown as "baseline".
set -euo pipefail
BUILD_DIR=./build
ROWS=4194304
ROW_BYTES=128
SHARDS=2
REPLICAS=2
REPEATS=2
PLACEMENT=ram
BASELINE_CTL=
BENCH_NAME=shard_import
source "$(dirname "$0")/bench_lib.sh"
while (($#)); do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --row-bytes) ROW_BYTES=$2; shift 2 ;;
    --shards) SHARDS=$2; shift 2 ;;
    --replicas) REPLICAS=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --placement) PLACEMENT=$2; shift 2 ;;
    --baseline-engramctl) BASELINE_CTL=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "shard_import: unknown option $1" >&2; usage ;;
    *) BUILD_DIR=$1; shift ;;
  esac
done
require_engram_binaries "$BUILD_DIR"
log "writing $ROWS x $ROW_BYTES B rows"
write_random_table "$WORK/table.npy" "$ROWS" "$ROW_BYTES"
MAP=$WORK/shards.txt
echo "table t rows $ROWS" >"$MAP"
for s in $(seq 0 $((SHARDS - 1))); do
  line="shard t $((ROWS * s / SHARDS)) $((ROWS * (s + 1) / SHARDS))"
  for r in $(seq 1 "$REPLICAS"); do
    start_engram_server "$SERVER" "$WORK/server-$s-$r"
    line+=" $ENGRAM_ADDR"
  done
  echo "$line" >>"$MAP"
done
BYTES=$((ROWS * ROW_BYTES * REPLICAS))
ALL=$((SHARDS * REPLICAS))
# import_once NAME ENGRAMCTL JOBS RUN: one timed import, printed.
import_once() {
  "$ENGRAMCTL" --shard-map "$MAP" drop t >/dev/null 2>&1 || true
  local start end
  start=$(date +%s.%N)
  supervise "$2" --shard-map "$MAP" import t "$WORK/table.npy" \
      --placement "$PLACEMENT" --jobs "$3" >/dev/null 2>&1
  end=$(date +%s.%N)
  "$PYTHON" -c 'import sys
name, run, start, end, size = sys.argv[1:]
seconds = float(end) - float(start)
print(f"{name:<12} {run:<4} {seconds:9.2f} {int(size) / seconds / 1e6:9.1f}")' \
      "$1" "$4" "$start" "$end" "$BYTES"
}
printf '%-12s %-4s %9s %9s\n' jobs run seconds 'MB/s'
for run in $(seq 1 "$REPEATS"); do
  import_once "1" "$ENGRAMCTL" 1 "$run"
  import_once "$SHARDS" "$ENGRAMCTL" "$SHARDS" "$run"
  if [[ -n "$BASELINE_CTL" ]]; then
    import_once "baseline $ALL" "$BASELINE_CTL" "$ALL" "$run"
  fi
done
