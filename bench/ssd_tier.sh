#!/usr/bin/env bash
# ssd_tier.sh: the SSD tier against RAM placement, on one table, one run.
#
#   bench/ssd_tier.sh [BUILD_DIR] [--rows N] [--ram-budget BYTES]
#                     [--block-cache-bytes B] [--seconds S]
#                     [--fill-seconds F] [--concurrency C] [--no-ram]
#
# Makes a table of N (default 8388608) random 128-byte rows as .npy, starts
# engram-server with --ram-budget (default: a quarter of the table), the
# RocksDB block cache B (64 MiB) and the rest of the budget for the table's
# hot-row cache, and measures:
#   import   engramctl import --placement ssd, end to end (MB/s)
#   zipf     Zipf(1.0) lookups of 4096 rows, C (4) in flight, S (10) seconds,
#            after F (30) seconds of the same to fill the cache, and the
#            hit rate DescribeTable's counters give for those S seconds
#   uniform  the same with uniform ids (mostly cache misses)
# then, unless --no-ram, the same file imported with --placement ram into a
# server without a budget, with the same two workloads: the baseline.
# The SST files are read once before measuring, so "ssd" reads come from the
# OS page cache where the machine's RAM holds the table (say so when quoting
# the figures); the RAM budget bounds the server's own memory.
set -euo pipefail

BUILD_DIR=./build
ROWS=8388608
RAM_BUDGET=
BLOCK_CACHE=$((64 << 20))
DURATION=10
FILL_SECONDS=30
CONCURRENCY=4
RAM_BASELINE=1
ROW_BYTES=128

BENCH_NAME=ssd_tier
source "$(dirname "$0")/bench_lib.sh"

while (($#)); do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --ram-budget) RAM_BUDGET=$2; shift 2 ;;
    --block-cache-bytes) BLOCK_CACHE=$2; shift 2 ;;
    --seconds) DURATION=$2; shift 2 ;;
    --fill-seconds) FILL_SECONDS=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --no-ram) RAM_BASELINE=0; shift ;;
    -h|--help) usage ;;
    -*) echo "ssd_tier: unknown option $1" >&2; usage ;;
    *) BUILD_DIR=$1; shift ;;
  esac
done
TABLE_BYTES=$((ROWS * ROW_BYTES))
RAM_BUDGET=${RAM_BUDGET:-$((TABLE_BYTES / 4))}

require_engram_binaries "$BUILD_DIR"

log "writing $ROWS x $ROW_BYTES B of random rows"
write_random_table "$WORK/table.npy" "$ROWS" "$ROW_BYTES"

# import_table PLACEMENT: imports the file as table "t"; prints seconds.
import_table() {
  local start end
  start=$(date +%s.%N)
  supervise "$ENGRAMCTL" --server "$ENGRAM_ADDR" import t "$WORK/table.npy" \
      --placement "$1" >/dev/null 2>"$WORK/import-$1.err" \
      || { cat "$WORK/import-$1.err" >&2; return 1; }
  end=$(date +%s.%N)
  "$PYTHON" -c "print($end - $start)"
}

# measure NAME ZIPF [SECONDS]: one engram-bench run into $WORK/NAME.json.
# Each run draws new ids (its own seed): a measured run that replayed the
# fill run's ids would find them all cached.
SEED=0
measure() {
  local seconds=${3:-$DURATION}
  SEED=$((SEED + 100))
  log "measuring $1 (zipf $2, ${seconds}s)"
  supervise "$BENCH" --server "$ENGRAM_ADDR" --table t --batch 4096 \
      --concurrency "$CONCURRENCY" --seconds "$seconds" --warmup 2 --zipf "$2" \
      --seed "$SEED" --json >"$WORK/$1.json"
}

log "ssd: budget $RAM_BUDGET B, block cache $BLOCK_CACHE B"
start_engram_server "$SERVER" "$WORK/ssd" --ram-budget "$RAM_BUDGET" \
    --block-cache-bytes "$BLOCK_CACHE" --row-cache-bytes "$RAM_BUDGET"
IMPORT_SSD_S=$(import_table ssd)
cat "$WORK"/ssd/rocksdb/*.sst >/dev/null
describe() { "$ENGRAMCTL" --server "$ENGRAM_ADDR" describe t --json >"$WORK/$1"; }
# The cache starts empty: fill it first, so that the hit rate is the
# steady state's.
measure ssd_fill 1.0 "$FILL_SECONDS"
describe ssd_start_stats.json
measure ssd_zipf 1.0
describe ssd_zipf_stats.json
measure ssd_uniform 0
describe ssd_uniform_stats.json
kill -TERM "$ENGRAM_PID"
wait "$ENGRAM_PID" || true

IMPORT_RAM_S=
if ((RAM_BASELINE)); then
  log "ram baseline"
  start_engram_server "$SERVER" "$WORK/ram"
  IMPORT_RAM_S=$(import_table ram)
  measure ram_zipf 1.0
  measure ram_uniform 0
fi

"$PYTHON" - "$WORK" "$TABLE_BYTES" "$RAM_BUDGET" "$BLOCK_CACHE" \
    "$IMPORT_SSD_S" "$IMPORT_RAM_S" "$CONCURRENCY" <<'PY'
import json, os, sys
work, table_bytes, budget, block = sys.argv[1], *map(int, sys.argv[2:5])
import_ssd, import_ram, concurrency = sys.argv[5], sys.argv[6], sys.argv[7]
def load(name):
    path = f"{work}/{name}.json"
    if not os.path.exists(path):
        return None
    return json.loads(open(path).read().strip().splitlines()[-1])
print(f"table {table_bytes / 2**30:.2f} GiB of 128 B rows; RAM budget "
      f"{budget / 2**30:.2f} GiB (block cache {block / 2**20:.0f} MiB, "
      f"the rest hot-row cache); batch 4096, {concurrency} in flight\n")
def stats(placement, phase):
    path = f"{work}/{placement}_{phase}_stats.json"
    if not os.path.exists(path):
        return None
    return json.load(open(path)).get("stats", {})
previous = {"zipf": "start", "uniform": "zipf"}
print("| placement | workload | rows/s | p50 | p99 | cache hit rate |")
print("|---|---|---:|---:|---:|---:|")
for placement in ("ssd", "ram"):
    for workload in ("zipf", "uniform"):
        r = load(f"{placement}_{workload}")
        if r is None:
            continue
        rate = "-"
        before = stats(placement, previous[workload])
        after = stats(placement, workload)
        if before is not None and after is not None:
            # The counters are cumulative: take this run's share.
            hits = after.get("cache_hits", 0) - before.get("cache_hits", 0)
            misses = (after.get("cache_misses", 0) -
                      before.get("cache_misses", 0))
            if hits + misses > 0:
                rate = f"{hits / (hits + misses):.3f}"
        label = "Zipf(1.0)" if workload == "zipf" else "uniform"
        print(f"| {placement} | {label} | {r['rows_per_s'] / 1e6:.2f} M | "
              f"{r['p50_us'] / 1e3:.1f} ms | {r['p99_us'] / 1e3:.1f} ms | "
              f"{rate} |")
print()
for placement, seconds in (("ssd", import_ssd), ("ram", import_ram)):
    if seconds:
        print(f"import --placement {placement}: {float(seconds):.1f} s, "
              f"{table_bytes / float(seconds) / 1e6:.0f} MB/s")
PY
