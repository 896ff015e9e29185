#!/usr/bin/env bash
# shard_import.sh: engramctl --shard-map import of one table into S shards of
# R replicas each, one replica at a time (--jobs 1, the baseline) against
# all of them at once (--jobs S*R).
#
#   bench/shard_import.sh [BUILD_DIR] [--rows N] [--row-bytes B]
#                         [--shards S] [--replicas R] [--repeats K]
#                         [--placement ram|ssd]
#
# Makes a table of N (4194304) random B-byte (128) rows as .npy, starts
# S*R (2*2) engram-servers, then imports the table K (2) times each way,
# taking turns, dropping it from every replica before each import. Prints
# each import's wall time and rate (table bytes times replicas over time).
set -euo pipefail
BUILD_DIR=./build
ROWS=4194304
ROW_BYTES=128
SHARDS=2
REPLICAS=2
REPEATS=2
PLACEMENT=ram
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
printf '%-8s %-4s %9s %9s\n' jobs run seconds 'MB/s'
for run in $(seq 1 "$REPEATS"); do
  for jobs in 1 "$ALL"; do
    "$ENGRAMCTL" --shard-map "$MAP" drop t >/dev/null 2>&1 || true
    start=$(date +%s.%N)
    supervise "$ENGRAMCTL" --shard-map "$MAP" import t "$WORK/table.npy" \
        --placement "$PLACEMENT" --jobs "$jobs" >/dev/null 2>&1
    end=$(date +%s.%N)
    "$PYTHON" -c 'import sys
jobs, run, start, end, size = sys.argv[1:]
seconds = float(end) - float(start)
print(f"{jobs:<8} {run:<4} {seconds:9.2f} {int(size) / seconds / 1e6:9.1f}")' \
        "$jobs" "$run" "$start" "$end" "$BYTES"
  done
done
