#!/usr/bin/env bash
# compare_baselines.sh: engram-server against Redis MGET, memcached multi-get
# and an in-process gather, on the same rows, ids and batch, on loopback.
#
#   bench/compare_baselines.sh [BUILD_DIR] [--concurrency C] [--seconds S]
#                              [--zipf Z] [--batch N] [--connections K]
#                              [--malloc glibc|tuned|jemalloc]
#
# BUILD_DIR defaults to ./build and must hold server/engram-server,
# cli/engramctl and bench/engram-bench. The same settings can come from the
# environment: CONCURRENCY (4), DURATION (10 s), ZIPF (0 = uniform), BATCH
# (4096), CONNECTIONS (2, engram's HTTP/2 connections), WARMUP (1 s),
# RESULTS_DIR (if set, the raw --json lines are copied there), MALLOC
# (glibc). MALLOC picks the allocator of engram-server and engram-bench:
# glibc as shipped; tuned = glibc with trimming off and a 32 MB mmap
# threshold (GLIBC_TUNABLES), so per-call response buffers are not faulted
# in and given back to the kernel on every lookup; jemalloc = LD_PRELOAD of
# Debian's libjemalloc2 (Redis links jemalloc too; memcached has its slabs).
#
# Starts engram-server with one demo table (layer_1, bf16, 128-byte rows,
# ~1M rows), redis-server and memcached on free 127.0.0.1 ports, fills the
# two stores with exactly engram's row count and row size, runs the same
# engram-bench workload against each, and prints one markdown table. Every
# process it starts is stopped on exit, whatever the exit path.
set -euo pipefail

BUILD_DIR=./build
CONCURRENCY=${CONCURRENCY:-4}
DURATION=${DURATION:-10}
ZIPF=${ZIPF:-0}
BATCH=${BATCH:-4096}
CONNECTIONS=${CONNECTIONS:-2}
WARMUP=${WARMUP:-1}
RESULTS_DIR=${RESULTS_DIR:-}
MALLOC=${MALLOC:-glibc}
TABLE=layer_1

BENCH_NAME=compare_baselines
source "$(dirname "$0")/bench_lib.sh"

while (($#)); do
  case "$1" in
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --seconds) DURATION=$2; shift 2 ;;
    --zipf) ZIPF=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --malloc) MALLOC=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "compare_baselines: unknown option $1" >&2; usage ;;
    *) BUILD_DIR=$1; shift ;;
  esac
done

require_engram_binaries "$BUILD_DIR"
REDIS_SERVER=$(command -v redis-server || true)
MEMCACHED=$(command -v memcached || true)
if [[ -z $REDIS_SERVER || -z $MEMCACHED ]]; then
  echo "compare_baselines: needs redis-server and memcached" \
       "(apt-get install redis-server memcached)" >&2
  exit 1
fi
case "$MALLOC" in
  glibc) MALLOC_ENV=() ;;
  tuned)
    tunables=glibc.malloc.trim_threshold=1073741824
    tunables+=:glibc.malloc.mmap_threshold=33554432
    MALLOC_ENV=(GLIBC_TUNABLES=$tunables) ;;
  jemalloc)
    jemalloc=$(ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -1)
    if [[ -z $jemalloc ]]; then
      echo "compare_baselines: --malloc jemalloc needs libjemalloc2" >&2
      exit 1
    fi
    MALLOC_ENV=(LD_PRELOAD="$jemalloc") ;;
  *)
    echo "compare_baselines: --malloc is glibc, tuned or jemalloc" >&2
    exit 2 ;;
esac


# --- engram-server --------------------------------------------------------
log "starting engram-server (demo table $TABLE; building it takes a while)"
ENGRAM_SERVER_ENV=("${MALLOC_ENV[@]}")
start_engram_server "$SERVER" "$WORK/engram" \
    --demo --demo-layer-ids 1 \
    --demo-vocab-sizes 262144,262144 --demo-heads 2
if ! wait_for 60 "$ENGRAM_PID" engram-server \
    "$ENGRAMCTL" --server "$ENGRAM_ADDR" tables --json; then
  tail -20 "$WORK/engram.log" >&2
  exit 1
fi
"$ENGRAMCTL" --server "$ENGRAM_ADDR" tables --json >"$WORK/tables.json"
read -r ROWS ROW_BYTES < <("$PYTHON" - "$WORK/tables.json" "$TABLE" <<'EOF'
import json, sys
tables = json.load(open(sys.argv[1]))["tables"]
table = next(t for t in tables if t["name"] == sys.argv[2])
print(table["rows"], table["row_bytes"])
EOF
)
if [[ -z ${ROWS:-} || -z ${ROW_BYTES:-} ]]; then
  log "engram-server does not serve $TABLE: $(cat "$WORK/tables.json")"
  exit 1
fi
log "engram $ENGRAM_ADDR serves $TABLE: $ROWS rows x $ROW_BYTES bytes"

# --- Redis and memcached ----------------------------------------------------
REDIS_PORT=$(free_port)
"$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
wait_for 30 $! redis-server port_open "$REDIS_PORT"

MEMCACHED_PORT=$(free_port)
memcached_user=()
# memcached refuses to run as root without -u.
if ((EUID == 0)); then memcached_user=(-u root); fi
# -m 1024: ~1M 128-byte items need ~250 MB of slabs; evictions would show as
# NotFound errors. The default 1 MB item limit (-I) fits any demo row.
"$MEMCACHED" -l 127.0.0.1 -p "$MEMCACHED_PORT" -U 0 -m 1024 \
    "${memcached_user[@]}" >"$WORK/memcached.log" 2>&1 &
PIDS+=($!)
wait_for 30 $! memcached port_open "$MEMCACHED_PORT"

for store in redis:$REDIS_PORT memcached:$MEMCACHED_PORT; do
  log "populating ${store%%:*} with $ROWS rows"
  supervise timeout 600 "$BENCH" --backend "${store%%:*}" \
      --server "127.0.0.1:${store##*:}" --rows "$ROWS" \
      --row-bytes "$ROW_BYTES" --populate \
      --batch 1 --concurrency 1 --seconds 0.1 --warmup 0 \
      >/dev/null
done

# --- The runs ---------------------------------------------------------------
common=(--batch "$BATCH" --concurrency "$CONCURRENCY" --seconds "$DURATION"
        --warmup "$WARMUP" --zipf "$ZIPF" --json)
# Each run is bounded: its own duration plus two minutes for setup.
duration_s=${DURATION%.*}
warmup_s=${WARMUP%.*}
run_limit=$((${duration_s:-0} + ${warmup_s:-0} + 120))
run() {
  local name=$1
  shift
  log "measuring $name: batch $BATCH, concurrency $CONCURRENCY," \
      "${DURATION}s, zipf $ZIPF"
  supervise timeout "$run_limit" env "${MALLOC_ENV[@]}" "$BENCH" "$@" \
      "${common[@]}" >"$WORK/$name.json"
}
run engram --backend engram --server "$ENGRAM_ADDR" --table "$TABLE" \
    --connections "$CONNECTIONS"
run redis --backend redis --server "127.0.0.1:$REDIS_PORT" \
    --rows "$ROWS" --row-bytes "$ROW_BYTES"
run memcached --backend memcached --server "127.0.0.1:$MEMCACHED_PORT" \
    --rows "$ROWS" --row-bytes "$ROW_BYTES"
run inproc --backend inproc --rows "$ROWS" --row-bytes "$ROW_BYTES"

if [[ -n $RESULTS_DIR ]]; then
  mkdir -p "$RESULTS_DIR"
  cp "$WORK"/{engram,redis,memcached,inproc}.json "$WORK/tables.json" \
     "$RESULTS_DIR"/
fi

# --- The table --------------------------------------------------------------
"$PYTHON" - "$WORK" "$ROWS" "$ROW_BYTES" "$MALLOC" "$CONNECTIONS" <<'EOF'
import json, sys
work, malloc, connections = sys.argv[1], sys.argv[4], sys.argv[5]
rows, row_bytes = int(sys.argv[2]), int(sys.argv[3])
results = {}
for name in ("engram", "redis", "memcached", "inproc"):
    with open(f"{work}/{name}.json") as f:
        results[name] = json.loads(f.read().strip().splitlines()[-1])
labels = {"engram": "engram (gRPC)", "redis": "redis (MGET)",
          "memcached": "memcached (get)", "inproc": "in-process gather"}
redis = results["redis"]["rows_per_s"]
first = results["engram"]
print(f"{rows} rows x {row_bytes} B, batch {first['batch']}, "
      f"concurrency {first['concurrency']}, {first['seconds']:.0f} s, "
      f"zipf {first['zipf']:g}; engram: {connections} connection(s), "
      f"malloc {malloc}\n")
print("| backend | rows/s | GB/s | p50 | p99 | p999 | errors | x redis |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for name, r in results.items():
    ratio = r["rows_per_s"] / redis if redis > 0 else float("nan")
    print(f"| {labels[name]} | {r['rows_per_s'] / 1e6:.2f} M | "
          f"{r['gb_per_s']:.2f} | {r['p50_us'] / 1e3:.2f} ms | "
          f"{r['p99_us'] / 1e3:.2f} ms | {r['p999_us'] / 1e3:.2f} ms | "
          f"{r['errors']} | {ratio:.1f}x |")
for name, r in results.items():
    if r.get("first_error"):
        print(f"\n{name} first error: {r['first_error']}")
EOF
