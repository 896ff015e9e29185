#!/usr/bin/env bash
# soak.sh: engram-bench against one server for a long time while patches
# are activated, recording the server's RSS, p99 and failed lookups every
# second (not in CI; results go in docs/benchmarks.md).
#
#   bench/soak.sh [BUILD_DIR] [--minutes M] [--patch-every S] [--rows N]
#                 [--patch-rows P] [--concurrency C] [--out FILE.csv]
#
# Makes a RAM table of N (default 4194304) random 128-byte rows, runs
# engram-bench (Zipf 1.0, batches of 4096, C = 4 in flight) for M (10)
# minutes with --report-every 1, and every S (30) seconds applies a patch
# of P (65536) random rows (engramctl patch apply: create, upload, commit,
# activate). Writes one CSV line a second (t, rss_mib, rows_per_s, p99_us,
# errors, version) to FILE (default soak.csv) and prints a summary: RSS
# after warm-up (the first minute) and at the end, growth, total failed
# lookups and the worst p99.
set -euo pipefail

BUILD_DIR=./build
MINUTES=10
PATCH_EVERY=30
ROWS=4194304
PATCH_ROWS=65536
CONCURRENCY=4
OUT=soak.csv
ROW_BYTES=128

BENCH_NAME=soak
source "$(dirname "$0")/bench_lib.sh"

while (($#)); do
  case "$1" in
    --minutes) MINUTES=$2; shift 2 ;;
    --patch-every) PATCH_EVERY=$2; shift 2 ;;
    --rows) ROWS=$2; shift 2 ;;
    --patch-rows) PATCH_ROWS=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "soak: unknown option $1" >&2; usage ;;
    *) BUILD_DIR=$1; shift ;;
  esac
done
require_engram_binaries "$BUILD_DIR"
SECONDS_TOTAL=$((MINUTES * 60))

log "writing a table of $ROWS x $ROW_BYTES B and patches of $PATCH_ROWS rows"
write_random_table "$WORK/table.npy" "$ROWS" "$ROW_BYTES"
/usr/bin/python3 - "$WORK" "$ROWS" "$PATCH_ROWS" "$ROW_BYTES" <<'PY'
import sys
import numpy as np
work, rows, patch_rows, row_bytes = sys.argv[1], *map(int, sys.argv[2:])
rng = np.random.default_rng(2)
# Two patches, applied in turn, so every activation changes rows.
for k in range(2):
    ids = rng.choice(rows, size=patch_rows, replace=False).astype(np.int64)
    np.save(f"{work}/ids{k}.npy", ids)
    np.save(f"{work}/rows{k}.npy", np.frombuffer(
        rng.bytes(patch_rows * row_bytes), np.uint8).reshape(patch_rows,
                                                             row_bytes))
PY

start_engram_server "$SERVER" "$WORK/data" --retain-versions 4
supervise "$ENGRAMCTL" --server "$ENGRAM_ADDR" import t "$WORK/table.npy" \
    >/dev/null 2>"$WORK/import.err" || { cat "$WORK/import.err" >&2; exit 1; }

log "soaking for $MINUTES min, a patch every $PATCH_EVERY s"
"$BENCH" --server "$ENGRAM_ADDR" --table t --batch 4096 \
    --concurrency "$CONCURRENCY" --seconds "$SECONDS_TOTAL" --warmup 0 \
    --zipf 1.0 --report-every 1 --json >"$WORK/bench.jsonl" &
BENCH_PID=$!
PIDS+=("$BENCH_PID")

# Samples the server's RSS (and the active version) once a second.
: >"$WORK/rss.txt"
VERSION=1
PATCHES=0
NEXT_PATCH=$PATCH_EVERY
START=$(date +%s)
while kill -0 "$BENCH_PID" 2>/dev/null; do
  NOW=$(($(date +%s) - START))
  RSS=$(awk '/^VmRSS:/ {print $2}' "/proc/$ENGRAM_PID/status")
  echo "$NOW $RSS $VERSION" >>"$WORK/rss.txt"
  # Due times, not multiples: a slow apply may skip a second.
  if ((NOW >= NEXT_PATCH && NOW < SECONDS_TOTAL)); then
    NEXT_PATCH=$((NEXT_PATCH + PATCH_EVERY))
    K=$((PATCHES % 2))
    if "$ENGRAMCTL" --server "$ENGRAM_ADDR" patch apply t \
        --ids "$WORK/ids$K.npy" --rows "$WORK/rows$K.npy" --json \
        >"$WORK/patch.json" 2>"$WORK/patch.err"; then
      VERSION=$(json_field "$WORK/patch.json" version)
      PATCHES=$((PATCHES + 1))
    else
      log "patch failed: $(cat "$WORK/patch.err")"
    fi
  fi
  sleep 1
done
wait "$BENCH_PID"

/usr/bin/python3 - "$WORK" "$OUT" "$PATCHES" <<'PY'
import json, sys
work, out, patches = sys.argv[1], sys.argv[2], int(sys.argv[3])
intervals = [json.loads(line) for line in open(f"{work}/bench.jsonl")
             if '"ended_at_s"' in line]
rss = {}
for line in open(f"{work}/rss.txt"):
    t, kb, version = line.split()
    rss[int(t)] = (int(kb) / 1024, int(version))
with open(out, "w") as csv:
    csv.write("t,rss_mib,rows_per_s,p99_us,errors,version\n")
    for interval in intervals:
        t = round(interval["ended_at_s"])
        # The last sample at or before t (a slow patch apply skips seconds).
        mib, version = rss[max((k for k in rss if k <= t), default=min(rss))]
        csv.write(f"{t},{mib:.1f},{interval['rows_per_s']:.0f},"
                  f"{interval['p99_us']:.0f},{interval['errors']},{version}\n")
samples = sorted(rss.items())
warm = [mib for t, (mib, _) in samples if 60 <= t < 120] or \
       [mib for _, (mib, _) in samples[: max(1, len(samples) // 10)]]
end = [mib for _, (mib, _) in samples[-60:]]
after_warmup = sorted(warm)[len(warm) // 2]
at_end = sorted(end)[len(end) // 2]
errors = sum(i["errors"] for i in intervals)
print(f"{len(intervals)} s measured, {patches} patches activated")
print(f"server RSS: {after_warmup:.0f} MiB after warm-up (median of minute 2),"
      f" {at_end:.0f} MiB at the end (median of the last minute): "
      f"{100 * (at_end - after_warmup) / after_warmup:+.1f}%")
print(f"failed lookups: {errors}; worst 1-s p99: "
      f"{max(i['p99_us'] for i in intervals):.0f} us; median 1-s rows/s: "
      f"{sorted(i['rows_per_s'] for i in intervals)[len(intervals) // 2] / 1e6:.2f} M")
print(f"per second: {out}")
PY
