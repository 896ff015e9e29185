#!/usr/bin/env bash
# worker_shards.sh: engram-worker reading its Engram rows through a shard
# map (client::ShardedClient over several engram-servers) against the same
# model reading them from one server.
#
#   bench/worker_shards.sh [BUILD_DIR] [--shards N] [--batch B]
#                          [--prompt-tokens N] [--decode-tokens M]
#                          [--repeats R] [--device auto|cpu|cuda]
#
# Starts engram-server --demo (the reference config's two tables, bf16),
# exports both tables and loads them into N (2) more servers as N shards
# each (engramctl --shard-map FILE import --hash-layer L, the reference
# config's hash flags being engramctl's defaults). Then runs engram-worker
# R (3) times in each mode, taking turns (one server, then the shards),
# on the same weights and prompt per run (after a warm-up generation each).
# Prints one line per run and the medians: prefill and decode tokens/s,
# the rows' wait per Engram layer (whole run), the worker caches' hit rate,
# and whether both modes generated the same tokens.
set -euo pipefail
BUILD_DIR=./build
SHARDS=2
BATCH=8
PROMPT=256
DECODE=64
REPEATS=3
DEVICE=auto
BENCH_NAME=worker_shards
source "$(dirname "$0")/bench_lib.sh"
while (($#)); do
  case "$1" in
    --shards) SHARDS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --prompt-tokens) PROMPT=$2; shift 2 ;;
    --decode-tokens) DECODE=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --device) DEVICE=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "worker_shards: unknown option $1" >&2; usage ;;
    *) BUILD_DIR=$1; shift ;;
  esac
done
require_engram_binaries "$BUILD_DIR"
require_engram_worker "$BUILD_DIR"
log "building the demo tables (about 2.6 GB) and starting engram-server"
start_engram_server "$SERVER" "$WORK/whole" --demo
WHOLE=$ENGRAM_ADDR
SHARD_ADDRS=()
for s in $(seq 1 "$SHARDS"); do
  start_engram_server "$SERVER" "$WORK/shard$s"
  SHARD_ADDRS+=("$ENGRAM_ADDR")
done
MAP=$WORK/shards.txt
: >"$MAP"
for layer in 1 15; do
  table=layer_$layer
  log "exporting $table and importing it as $SHARDS shards"
  "$ENGRAMCTL" --server "$WHOLE" export "$table" "$WORK/$table.npy" \
      >/dev/null 2>&1
  rows=$(json_field <("$ENGRAMCTL" --server "$WHOLE" describe "$table" --json) rows)
  echo "table $table rows $rows" >>"$MAP"
  for s in $(seq 0 $((SHARDS - 1))); do
    echo "shard $table $((rows * s / SHARDS)) $((rows * (s + 1) / SHARDS)) ${SHARD_ADDRS[$s]}" >>"$MAP"
  done
  "$ENGRAMCTL" --shard-map "$MAP" import "$table" "$WORK/$table.npy" \
      --hash-layer "$layer" 2>/dev/null >/dev/null
  rm -f "$WORK/$table.npy"
done
for run in $(seq 1 "$REPEATS"); do
  for mode in server shards; do
    log "run $run of $REPEATS: $mode"
    rows="server=$WHOLE"
    [[ $mode == shards ]] && rows="shards=$MAP"
    "$WORKER" --rows "$rows" --json --device "$DEVICE" --batch "$BATCH" \
        --prompt-tokens "$PROMPT" --decode-tokens "$DECODE" --seed "$run" \
        >"$WORK/report-$mode-$run.json"
  done
done
"$PYTHON" - "$WORK" "$SHARDS" <<'PY'
import glob, json, statistics, sys
work, shards = sys.argv[1], sys.argv[2]
print(f"{'rows from':<10} {'run':<6} {'prefill/s':>10} {'decode/s':>9} "
      f"{'wait us/layer':>14} {'hit':>6}")
def line(mode, run, r):
    waits = "/".join(f"{w:.0f}" for w in r["wait_us_per_layer"])
    print(f"{mode:<10} {run:<6} {r['prefill_tokens_per_s']:10.1f} "
          f"{r['decode_tokens_per_s']:9.1f} {waits:>14} "
          f"{r['cache']['hit_rate']:6.3f}  [{r['device']}]")
runs = {mode: [json.load(open(p)) for p in
               sorted(glob.glob(f"{work}/report-{mode}-*.json"))]
        for mode in ("server", "shards")}
names = {"server": "1 server", "shards": f"{shards} shards"}
for mode, reports in runs.items():
    for i, r in enumerate(reports, 1):
        line(names[mode], i, r)
for mode, reports in runs.items():
    med = lambda key: statistics.median(r[key] for r in reports)
    line(names[mode], "median", {
        "prefill_tokens_per_s": med("prefill_tokens_per_s"),
        "decode_tokens_per_s": med("decode_tokens_per_s"),
        "wait_us_per_layer": [statistics.median(r["wait_us_per_layer"][l]
                                                for r in reports)
                              for l in range(2)],
        "cache": {"hit_rate": statistics.median(r["cache"]["hit_rate"]
                                                for r in reports)},
        "device": reports[0]["device"]})
same = all(a["tokens"] == b["tokens"]
           for a, b in zip(runs["server"], runs["shards"]))
print(f"same tokens in both modes: {same}")
PY
