#!/usr/bin/env bash
# export.sh: engramctl export of a RAM table, beside what bounds it.
#
#   bench/export.sh [BUILD_DIR] [--rows N] [--baseline-engramctl PATH]
#
# Makes a .npy of N (default 8388608: 1 GiB) random 128-byte rows, then
# measures, in one run:
#   sha256sum  hashing the file alone (export hashes every row it writes)
#   dd         copying the file through 4 MiB reads and writes (export
#              writes every row)
#   import     engramctl import of the file, end to end (the other way)
#   export     engramctl export of the imported table to .npy, end to end
#              (checked against the table's content digest)
#   export (baseline)  the same with the engramctl at PATH (e.g. one built
#              before a change), given --baseline-engramctl; then the two
#              exports run in turn twice, so neither gains from going second
# and prints each one's time and MB/s. The files stay in the page cache
# (the VM's RAM is larger), so the disk's write rate is not what is timed.
set -euo pipefail

BUILD_DIR=./build
ROWS=8388608
ROW_BYTES=128
BASELINE_ENGRAMCTL=

BENCH_NAME=export
source "$(dirname "$0")/bench_lib.sh"

while (($#)); do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --baseline-engramctl) BASELINE_ENGRAMCTL=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "export: unknown option $1" >&2; usage ;;
    *) BUILD_DIR=$1; shift ;;
  esac
done

require_engram_binaries "$BUILD_DIR"

log "writing a table of $ROWS x $ROW_BYTES B"
write_random_table "$WORK/table.npy" "$ROWS" "$ROW_BYTES"
BYTES=$(stat -c %s "$WORK/table.npy")
start_engram_server "$SERVER" "$WORK/data"

RESULTS=()
# timed NAME COMMAND...: runs COMMAND (output to $WORK/NAME.out and .err)
# and records its time and rate over the table's bytes.
timed() {
  local name=$1
  shift
  sync
  local start end
  start=$(date +%s.%N)
  if ! supervise "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
    cat "$WORK/$name.err" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  RESULTS+=("$("$PYTHON" -c "
import sys
name, start, end, size = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print(f'| {name} | {end - start:.2f} s | {size / 1e6 / (end - start):.0f} MB/s |')
" "$name" "$start" "$end" "$BYTES")")
}

timed sha256sum sha256sum "$WORK/table.npy"
timed dd dd if="$WORK/table.npy" of="$WORK/copy.npy" bs=4M
rm -f "$WORK/copy.npy"
timed import "$ENGRAMCTL" --server "$ENGRAM_ADDR" import t "$WORK/table.npy"
# export_with NAME ENGRAMCTL: times ENGRAMCTL's export of the table as NAME,
# checked against the table's digest.
export_with() {
  timed "$1" "$2" --server "$ENGRAM_ADDR" export t "$WORK/out.npy" --json
  rm -f "$WORK/out.npy"
  if [[ $(json_field "$WORK/$1.out" verified) != True ]]; then
    log "the export was not checked against the table's digest"
    exit 1
  fi
}
if [[ -n $BASELINE_ENGRAMCTL ]]; then
  for round in 1 2; do
    export_with "export (baseline) $round" "$BASELINE_ENGRAMCTL"
    export_with "export $round" "$ENGRAMCTL"
  done
else
  export_with export "$ENGRAMCTL"
fi

echo "$ROWS rows x $ROW_BYTES B ($BYTES bytes in the .npy)"
echo "| step | time | rate |"
echo "|---|---:|---:|"
printf '%s\n' "${RESULTS[@]}"
