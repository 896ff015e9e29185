# bench_lib.sh: process and port helpers shared by the benchmark scripts.
# Source it after setting BENCH_NAME (the log prefix); it makes $WORK (a
# temporary directory removed on exit), stops, on any exit path, every
# process whose pid is appended to PIDS, and gives `usage` (the script's
# header comment) and require_engram_binaries.
#
#   BENCH_NAME=my_bench
#   source "$(dirname "$0")/bench_lib.sh"
#   start_engram_server "$SERVER" "$WORK/data" --ram-budget 1073741824
#   echo "serving on $ENGRAM_ADDR"

PYTHON=$(command -v python3)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/$BENCH_NAME.XXXXXX")
PIDS=()
CHILD=
ENGRAM_SERVER_ENV=()

cleanup() {
  local status=$?
  if [[ -n $CHILD ]]; then kill -TERM "$CHILD" 2>/dev/null || true; fi
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  # engram-server drains for up to its grace period; bound the wait anyway.
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "$BENCH_NAME: $*" >&2; }

# usage: prints the comment block at the top of the script and exits 2.
usage() {
  sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
  exit 2
}

# require_engram_binaries BUILD_DIR: sets SERVER, ENGRAMCTL and BENCH to the
# project's binaries in BUILD_DIR, or exits 1 naming one not built.
require_engram_binaries() {
  SERVER=$1/server/engram-server
  ENGRAMCTL=$1/cli/engramctl
  BENCH=$1/bench/engram-bench
  local binary
  for binary in "$SERVER" "$ENGRAMCTL" "$BENCH"; do
    if [[ ! -x $binary ]]; then
      log "$binary not built (cmake --build $1)"
      exit 1
    fi
  done
}

# require_engram_worker BUILD_DIR: sets WORKER to BUILD_DIR's engram-worker,
# or exits 1 when it is not built.
require_engram_worker() {
  WORKER=$1/gpu_model/engram-worker
  if [[ ! -x $WORKER ]]; then
    log "$WORKER not built (cmake --build $1)"
    exit 1
  fi
}

# supervise COMMAND...: runs COMMAND in the background and waits for it, so
# that a signal to this script is handled at once, not after the command.
supervise() {
  "$@" &
  CHILD=$!
  wait "$CHILD"
  CHILD=
}

# write_random_table PATH ROWS ROW_BYTES: a .npy of ROWS x ROW_BYTES random
# bytes (uint8, seed 1), written 1M rows at a time so it need not fit in RAM.
write_random_table() {
  # Debian's numpy is installed for the system interpreter.
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import sys
import numpy as np
path, rows, row_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(1)
out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8,
                                shape=(rows, row_bytes))
step = 1 << 20
for first in range(0, rows, step):
    n = min(step, rows - first)
    out[first:first + n] = np.frombuffer(rng.bytes(n * row_bytes),
                                         np.uint8).reshape(n, row_bytes)
out.flush()
PY
}

# json_field FILE KEY: the value of KEY in the JSON object in FILE.
json_field() {
  "$PYTHON" -c "import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"
}

free_port() {
  "$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# wait_for SECONDS PID DESCRIPTION COMMAND...: retries COMMAND until it
# succeeds, the process PID dies, or SECONDS pass.
wait_for() {
  local seconds=$1 pid=$2 what=$3
  shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$what exited while starting"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "$what not ready after ${seconds}s"
      return 1
    fi
    sleep 0.2
  done
}

port_open() {
  "$PYTHON" -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1"
}

# start_engram_server SERVER DATA_DIR [FLAGS...]: starts SERVER on a free
# loopback port (with ENGRAM_SERVER_ENV, an array of VAR=value, in its
# environment) and waits until it answers; sets ENGRAM_ADDR and ENGRAM_PID.
# The log is DATA_DIR.log.
start_engram_server() {
  local server=$1 data_dir=$2
  shift 2
  mkdir -p "$data_dir"
  rm -f "$data_dir.port"
  env "${ENGRAM_SERVER_ENV[@]}" "$server" --listen 127.0.0.1:0 \
      --port-file "$data_dir.port" --data-dir "$data_dir" "$@" \
      >"$data_dir.log" 2>&1 &
  ENGRAM_PID=$!
  PIDS+=("$ENGRAM_PID")
  if ! wait_for 300 "$ENGRAM_PID" engram-server test -s "$data_dir.port"; then
    tail -20 "$data_dir.log" >&2
    return 1
  fi
  ENGRAM_ADDR=127.0.0.1:$(cat "$data_dir.port")
}
