#!/usr/bin/env bash
# python_client.sh: the Python client (engram_client) against the C++
# client on the same server, same workload, in one run: 4096 x 128 B
# lookups of uniform random rows.
#
#   bench/python_client.sh [BUILD_DIR] [--concurrency "1 4"] [--seconds S]
#                          [--repeats R] [--batch N]
#
# Starts engram-server with one demo table of 128 B rows (bf16, 64 values;
# 2 x 262144 rows, as compare_baselines.sh), then for each concurrency runs
# R (3) rounds of engram-bench (C++) and python_lookup_bench.py (Python,
# GIL released while lookups wait), alternating, and prints each round and
# the medians, Python's share of C++'s rows/s as the median of the rounds'
# ratios (the floor is 80%).
set -euo pipefail

BUILD_DIR=./build
CONCURRENCY="1 4"
DURATION=5
REPEATS=3
BATCH=4096

BENCH_NAME=python_client
source "$(dirname "$0")/bench_lib.sh"
# Debian's python3, the one numpy and the module are built for.
PYTHON=${ENGRAM_PYTHON:-/usr/bin/python3}

while (($#)); do
  case "$1" in
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --seconds) DURATION=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "python_client: unknown option $1" >&2; usage ;;
    *) BUILD_DIR=$1; shift ;;
  esac
done

require_engram_binaries "$BUILD_DIR"
if ! compgen -G "$BUILD_DIR/python/engram_client*.so" >/dev/null; then
  log "$BUILD_DIR/python/engram_client*.so not built"
  exit 1
fi
export PYTHONPATH=$BUILD_DIR/python${PYTHONPATH:+:$PYTHONPATH}

start_engram_server "$SERVER" "$WORK/data" --demo --demo-layer-ids 1 \
    --demo-vocab-sizes 262144,262144 --demo-heads 2
log "serving on $ENGRAM_ADDR"

COMMON=(--server "$ENGRAM_ADDR" --table layer_1 --batch "$BATCH"
        --seconds "$DURATION" --warmup 1 --json)
for concurrency in $CONCURRENCY; do
  for round in $(seq 1 "$REPEATS"); do
    log "concurrency $concurrency, round $round of $REPEATS"
    supervise "$BENCH" --backend engram --concurrency "$concurrency" \
        --seed "$round" "${COMMON[@]}" >"$WORK/cpp-$concurrency-$round.json"
    supervise "$PYTHON" "$(dirname "$0")/python_lookup_bench.py" \
        --concurrency "$concurrency" --seed "$round" "${COMMON[@]}" \
        >"$WORK/python-$concurrency-$round.json"
  done
done

"$PYTHON" - "$WORK" "$CONCURRENCY" "$REPEATS" <<'PY'
import json, statistics, sys
work, concurrencies, repeats = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
def load(kind, c, r):
    with open(f"{work}/{kind}-{c}-{r}.json") as f:
        return json.load(f)
print("| concurrency | round | C++ rows/s | Python rows/s | Python / C++ | C++ p50 us | Python p50 us |")
print("|---|---|---|---|---|---|---|")
for c in concurrencies:
    cpp, py, ratios = [], [], []
    for r in range(1, repeats + 1):
        a, b = load("cpp", c, r), load("python", c, r)
        cpp.append(a["rows_per_s"]); py.append(b["rows_per_s"])
        ratios.append(b["rows_per_s"] / a["rows_per_s"])
        print(f"| {c} | {r} | {a['rows_per_s']:,.0f} | {b['rows_per_s']:,.0f} | "
              f"{ratios[-1]:.0%} | {a['p50_us']:.0f} | {b['p50_us']:.0f} |")
    # Each round's pair ran back to back, so the ratio of a pair is less
    # exposed to the machine's drift than the ratio of the medians.
    print(f"| {c} | median | {statistics.median(cpp):,.0f} | "
          f"{statistics.median(py):,.0f} | {statistics.median(ratios):.0%} | | |")
PY
