#!/usr/bin/env bash
# worker_overhead.sh: engram-worker's throughput with its Engram rows from
# engram-server on loopback, against the same model with local rows.
#
#   bench/worker_overhead.sh [BUILD_DIR] [--device auto|cpu|cuda]
#                            [--prompt-tokens N] [--decode-tokens M]
#                            [--batches "1 8"] [--repeats R]
#
# Starts engram-server --demo (the reference config's two tables, bf16)
# and, for each batch size, runs engram-worker --compare-local R (3) times:
# each run measures server mode, then local mode, on the same weights and
# prompt (after a warm-up generation each). Prints one line per run, and
# the medians per batch size: prefill and decode tokens/s in both modes,
# server mode's overhead (of the medians), the rows' wait per Engram layer
# (whole run), the worker cache's hit rate and whether the tokens agreed.
set -euo pipefail

BUILD_DIR=./build
DEVICE=auto
PROMPT=256
DECODE=64
BATCHES="1 8"
REPEATS=3

BENCH_NAME=worker_overhead
source "$(dirname "$0")/bench_lib.sh"

while (($#)); do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --prompt-tokens) PROMPT=$2; shift 2 ;;
    --decode-tokens) DECODE=$2; shift 2 ;;
    --batches) BATCHES=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "worker_overhead: unknown option $1" >&2; usage ;;
    *) BUILD_DIR=$1; shift ;;
  esac
done

require_engram_binaries "$BUILD_DIR"
require_engram_worker "$BUILD_DIR"

log "building the demo tables (about 2.6 GB) and starting engram-server"
start_engram_server "$SERVER" "$WORK/data" --demo
log "serving on $ENGRAM_ADDR"

for batch in $BATCHES; do
  for run in $(seq 1 "$REPEATS"); do
    log "batch $batch, run $run of $REPEATS"
    "$WORKER" --rows "server=$ENGRAM_ADDR" --compare-local --json \
        --device "$DEVICE" --batch "$batch" --prompt-tokens "$PROMPT" \
        --decode-tokens "$DECODE" --seed "$run" \
        >"$WORK/report-$batch-$run.json"
  done
done
"$PYTHON" - "$WORK" $BATCHES <<'PY'
import glob, json, statistics, sys
work, batches = sys.argv[1], sys.argv[2:]
print(f"{'batch':<5} {'run':<6} {'prefill/s':>10} {'local/s':>10} {'ovh %':>7} "
      f"{'decode/s':>9} {'local/s':>9} {'ovh %':>7} {'wait us/layer':>14} "
      f"{'hit':>6} {'same':>5}")
def line(batch, run, r):
    waits = "/".join(f"{w:.0f}" for w in r["wait_us_per_layer"])
    hit = r.get("cache", {}).get("hit_rate", 0)
    local, ovh = r["local"], r["overhead_percent"]
    print(f"{batch:<5} {run:<6} {r['prefill_tokens_per_s']:10.1f} "
          f"{local['prefill_tokens_per_s']:10.1f} {ovh['prefill']:7.2f} "
          f"{r['decode_tokens_per_s']:9.1f} {local['decode_tokens_per_s']:9.1f} "
          f"{ovh['decode']:7.2f} {waits:>14} {hit:6.3f} "
          f"{str(local['same_tokens']):>5}  [{r['device']}]")
for batch in batches:
    runs = [json.load(open(p)) for p in
            sorted(glob.glob(f"{work}/report-{batch}-*.json"))]
    for i, r in enumerate(runs, 1):
        line(batch, i, r)
    med = lambda f: statistics.median(f(r) for r in runs)
    summary = {
        "prefill_tokens_per_s": med(lambda r: r["prefill_tokens_per_s"]),
        "decode_tokens_per_s": med(lambda r: r["decode_tokens_per_s"]),
        "wait_us_per_layer": [statistics.median(r["wait_us_per_layer"][l]
                                                for r in runs)
                              for l in range(len(runs[0]["wait_us_per_layer"]))],
        "cache": {"hit_rate": med(lambda r: r.get("cache", {}).get("hit_rate", 0))},
        "device": runs[0]["device"],
        "local": {
            "prefill_tokens_per_s": med(lambda r: r["local"]["prefill_tokens_per_s"]),
            "decode_tokens_per_s": med(lambda r: r["local"]["decode_tokens_per_s"]),
            "same_tokens": all(r["local"]["same_tokens"] for r in runs),
        },
    }
    summary["overhead_percent"] = {
        k: 100 * (1 - summary[f"{k}_tokens_per_s"] /
                  summary["local"][f"{k}_tokens_per_s"])
        for k in ("prefill", "decode")}
    line(batch, "median", summary)
PY
