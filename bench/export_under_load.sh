#!/usr/bin/env bash
# export_under_load.sh: what engramctl export of an ssd table costs the
# live lookups of the same server.
#
#   bench/export_under_load.sh [BUILD_DIR] [--rows N] [--max-rate-mb R]
#
# Imports N (default 16777216: 2 GiB) random 128-byte rows with --placement
# ssd into a server with a 256 MiB RAM budget (64 MiB block cache, the rest
# hot-row cache), fills the cache with 20 s of Zipf(1.0) lookups of 4096
# rows, 4 in flight, then measures the same lookups for 5 s each:
#   before   alone
#   during   while an unthrottled export runs
#   limited  while an export with --max-rate-mb R (default 50) runs
#   after    alone again (did the export's scan push the hot rows out?)
# with rows/s, p50, p99 and, for before and after, the hot-row cache's hit
# rate (DescribeTable's counters over that run).
set -euo pipefail

BUILD_DIR=./build
ROWS=16777216
MAX_RATE_MB=50

BENCH_NAME=export_under_load
source "$(dirname "$0")/bench_lib.sh"

while (($#)); do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --max-rate-mb) MAX_RATE_MB=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "export_under_load: unknown option $1" >&2; usage ;;
    *) BUILD_DIR=$1; shift ;;
  esac
done

require_engram_binaries "$BUILD_DIR"

log "writing a table of $ROWS x 128 B"
write_random_table "$WORK/table.npy" "$ROWS" 128
start_engram_server "$SERVER" "$WORK/ssd" --ram-budget $((256 << 20)) \
    --block-cache-bytes $((64 << 20)) --row-cache-bytes $((256 << 20))
supervise "$ENGRAMCTL" --server "$ENGRAM_ADDR" import t "$WORK/table.npy" \
    --placement ssd >/dev/null 2>"$WORK/import.err" \
    || { cat "$WORK/import.err" >&2; exit 1; }
cat "$WORK"/ssd/rocksdb/*.sst >/dev/null

# measure NAME SECONDS: Zipf lookups into $WORK/NAME.json, each run with
# ids of its own seed.
SEED=0
measure() {
  SEED=$((SEED + 100))
  log "measuring $1"
  supervise "$BENCH" --server "$ENGRAM_ADDR" --table t --batch 4096 \
      --concurrency 4 --seconds "$2" --warmup 1 --zipf 1.0 --seed "$SEED" \
      --json | tail -1 >"$WORK/$1.json"
}
describe() { "$ENGRAMCTL" --server "$ENGRAM_ADDR" describe t --json >"$WORK/$1"; }

# measure_during NAME [FLAGS...]: measures while an export with FLAGS runs.
measure_during() {
  local name=$1
  shift
  "$ENGRAMCTL" --server "$ENGRAM_ADDR" export t "$WORK/$name.npy" "$@" \
      >/dev/null 2>&1 &
  local export_pid=$!
  PIDS+=("$export_pid")
  sleep 1
  measure "$name" 5
  if kill -0 "$export_pid" 2>/dev/null; then
    log "the $name export ran past the measurement"
  else
    log "the $name export ended before the measurement did: shorten it"
  fi
  wait "$export_pid"
  rm -f "$WORK/$name.npy"
}

measure fill 20
describe before_start.json
measure before 5
describe before_end.json
measure_during during
measure_during limited --max-rate-mb "$MAX_RATE_MB"
describe after_start.json
measure after 5
describe after_end.json

"$PYTHON" - "$WORK" "$MAX_RATE_MB" <<'PY'
import json, sys
work, rate = sys.argv[1], sys.argv[2]
def load(name):
    return json.load(open(f"{work}/{name}"))
def hit_rate(phase):
    start = load(f"{phase}_start.json")["stats"]
    end = load(f"{phase}_end.json")["stats"]
    hits = end.get("cache_hits", 0) - start.get("cache_hits", 0)
    misses = end.get("cache_misses", 0) - start.get("cache_misses", 0)
    return f"{hits / (hits + misses):.3f}" if hits + misses else "-"
print("| lookups | rows/s | p50 | p99 | errors | cache hit rate |")
print("|---|---:|---:|---:|---:|---:|")
for phase, label in (("before", "alone"), ("during", "during export"),
                     ("limited", f"during export --max-rate-mb {rate}"),
                     ("after", "alone, after")):
    r = load(f"{phase}.json")
    rate_text = hit_rate(phase) if phase in ("before", "after") else "-"
    print(f"| {label} | {r['rows_per_s'] / 1e6:.2f} M | "
          f"{r['p50_us'] / 1e3:.1f} ms | {r['p99_us'] / 1e3:.1f} ms | "
          f"{r['errors']} | {rate_text} |")
PY
