#!/usr/bin/env bash
# patch_swap.sh: a knowledge patch activated under full lookup load.
#
#   bench/patch_swap.sh [BUILD_DIR] [--rows N] [--patch-rows M] [--seconds S]
#                       [--concurrency C] [--zipf Z]
#
# Makes a RAM table of N (default 16777216) random 128-byte rows and a patch
# of M (1048576) rows at distinct random ids, then measures, in one run:
#   upload     engramctl patch upload of the patch (ids + rows, MB/s)
#   commit     engramctl patch commit (checks, indexes, persists)
#   before     engram-bench, Zipf(Z = 1.0) lookups of 4096 rows, C (4) in
#              flight, S (10) seconds, on the base version
#   swap       the same, with engramctl patch activate halfway through;
#              then how long until a lookup returns a patched row (polling
#              with engramctl lookup, so an upper bound)
#   after      the same on the patched version
# and prints each phase's rows/s, p50, p99 and failed lookups.
set -euo pipefail

BUILD_DIR=./build
ROWS=16777216
PATCH_ROWS=1048576
DURATION=10
CONCURRENCY=4
ZIPF=1.0
ROW_BYTES=128

BENCH_NAME=patch_swap
source "$(dirname "$0")/bench_lib.sh"

while (($#)); do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --patch-rows) PATCH_ROWS=$2; shift 2 ;;
    --seconds) DURATION=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --zipf) ZIPF=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "patch_swap: unknown option $1" >&2; usage ;;
    *) BUILD_DIR=$1; shift ;;
  esac
done
if ((PATCH_ROWS > ROWS)); then
  echo "patch_swap: --patch-rows exceeds --rows" >&2
  exit 2
fi

require_engram_binaries "$BUILD_DIR"

log "writing a table of $ROWS x $ROW_BYTES B and a patch of $PATCH_ROWS rows"
write_random_table "$WORK/table.npy" "$ROWS" "$ROW_BYTES"
/usr/bin/python3 - "$WORK" "$ROWS" "$PATCH_ROWS" "$ROW_BYTES" <<'PY'
import sys
import numpy as np
work, rows, patch_rows, row_bytes = sys.argv[1], *map(int, sys.argv[2:])
rng = np.random.default_rng(2)
ids = rng.choice(rows, size=patch_rows, replace=False).astype(np.int64)
patch = np.frombuffer(rng.bytes(patch_rows * row_bytes),
                      np.uint8).reshape(patch_rows, row_bytes)
np.save(f"{work}/patch_ids.npy", ids)
np.save(f"{work}/patch_rows.npy", patch)
with open(f"{work}/probe", "w") as probe:
    probe.write(f"{ids[0]} {patch[0].tobytes().hex()}\n")
PY
read -r PROBE_ID PROBE_ROW <"$WORK/probe"

now() { date +%s.%N; }
elapsed() { "$PYTHON" -c "print(f'{$2 - $1:.3f}')"; }

start_engram_server "$SERVER" "$WORK/data"
supervise "$ENGRAMCTL" --server "$ENGRAM_ADDR" import t "$WORK/table.npy" \
    >/dev/null 2>"$WORK/import.err" || { cat "$WORK/import.err" >&2; exit 1; }
# The import's written-back pages would otherwise compete with the upload.
sync

"$ENGRAMCTL" --server "$ENGRAM_ADDR" patch create t --description bench \
    >"$WORK/patch.json"
PATCH_ID=$(json_field "$WORK/patch.json" patch_id)
log "uploading patch $PATCH_ID"
UPLOAD_START=$(now)
supervise "$ENGRAMCTL" --server "$ENGRAM_ADDR" --timeout 600s patch upload \
    "$PATCH_ID" --ids "$WORK/patch_ids.npy" --rows "$WORK/patch_rows.npy" \
    >"$WORK/upload.json" 2>"$WORK/upload.err" \
    || { cat "$WORK/upload.err" >&2; exit 1; }
UPLOAD_S=$(elapsed "$UPLOAD_START" "$(now)")
COMMIT_START=$(now)
"$ENGRAMCTL" --server "$ENGRAM_ADDR" --timeout 600s patch commit "$PATCH_ID" \
    >"$WORK/commit.json"
COMMIT_S=$(elapsed "$COMMIT_START" "$(now)")
VERSION=$(json_field "$WORK/commit.json" version)

SEED=0
bench_run() {
  SEED=$((SEED + 100))
  "$BENCH" --server "$ENGRAM_ADDR" --table t --batch 4096 \
      --concurrency "$CONCURRENCY" --seconds "$DURATION" --warmup 1 \
      --zipf "$ZIPF" --seed "$SEED" --json >"$WORK/$1.json"
}

log "before: base version"
bench_run before
log "swap: activating version $VERSION halfway through"
bench_run swap &
BENCH_PID=$!
PIDS+=("$BENCH_PID")
sleep "$("$PYTHON" -c "print(1 + $DURATION / 2)")"
ACTIVATE_START=$(now)
"$ENGRAMCTL" --server "$ENGRAM_ADDR" patch activate t "$VERSION" >/dev/null
ACTIVATED=$(now)
until "$ENGRAMCTL" --server "$ENGRAM_ADDR" lookup t --rows "$PROBE_ID" --json \
    | grep -q "$PROBE_ROW"; do
  :
done
VISIBLE=$(now)
wait "$BENCH_PID"
log "after: patched version"
bench_run after

"$PYTHON" - "$WORK" "$ROWS" "$PATCH_ROWS" "$ROW_BYTES" "$UPLOAD_S" \
    "$COMMIT_S" "$(elapsed "$ACTIVATE_START" "$ACTIVATED")" \
    "$(elapsed "$ACTIVATED" "$VISIBLE")" "$CONCURRENCY" "$ZIPF" <<'PY'
import json, sys
work = sys.argv[1]
rows, patch_rows, row_bytes = map(int, sys.argv[2:5])
upload_s, commit_s, activate_s, visible_s = map(float, sys.argv[5:9])
concurrency, zipf = sys.argv[9], sys.argv[10]
def load(name):
    return json.loads(open(f"{work}/{name}.json").read().strip().splitlines()[-1])
print(f"table {rows} x {row_bytes} B in RAM; patch of {patch_rows} rows; "
      f"Zipf({zipf}) lookups of 4096 rows, {concurrency} in flight\n")
print("| phase | rows/s | p50 | p99 | failed lookups |")
print("|---|---:|---:|---:|---:|")
runs = {name: load(name) for name in ("before", "swap", "after")}
for name, r in runs.items():
    print(f"| {name} | {r['rows_per_s'] / 1e6:.2f} M | {r['p50_us'] / 1e3:.2f} ms"
          f" | {r['p99_us'] / 1e3:.2f} ms | {r['errors']} |")
payload = patch_rows * (row_bytes + 8)
print()
print(f"upload: {upload_s:.2f} s, {payload / upload_s / 1e6:.0f} MB/s "
      f"({patch_rows} ids + rows); commit: {commit_s:.2f} s; "
      f"activate call: {activate_s * 1e3:.0f} ms")
print(f"p99 during the swap / before: "
      f"{runs['swap']['p99_us'] / runs['before']['p99_us']:.2f}")
print(f"patched row visible {visible_s * 1e3:.0f} ms after the activate call "
      f"returned (one engramctl lookup per poll)")
PY
