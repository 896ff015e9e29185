#!/usr/bin/env python3
"""The Python client's lookup throughput: engram-bench's workload (uniform
random row ids, BATCH ids per lookup, CONCURRENCY lookups in flight, one
per thread), through engram_client from Python.

    PYTHONPATH=build/python python3 bench/python_lookup_bench.py \
        --server 127.0.0.1:50051 --table layer_1 --batch 4096 \
        --concurrency 4 --seconds 10 --json

Each thread reuses one result array (lookup(..., out=...)), as engram-bench
reuses its buffers; --fresh-arrays makes every lookup return a new array
instead (what lookup() without out= costs). Like engram-bench it first
calls engram_client.tune_malloc_for_large_buffers(); --no-tune-malloc
measures a process that has not. Prints engram-bench's keys.
"""

import argparse
import json
import sys
import threading
import time

import numpy as np

import engram_client


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--table", required=True)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fresh-arrays", action="store_true")
    parser.add_argument("--tune-malloc", action=argparse.BooleanOptionalAction,
                        default=True)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    if args.tune_malloc:
        engram_client.tune_malloc_for_large_buffers()
    client = engram_client.Client(args.server, connections=args.connections)
    table = client.describe(args.table)
    # Precomputed id batches: the id generator must not be what is measured.
    rng = np.random.default_rng(args.seed)
    batches = [rng.integers(0, table.rows, args.batch, dtype=np.uint64)
               for _ in range(64)]
    start_measuring = threading.Event()
    stop = threading.Event()
    counts = [0] * args.concurrency
    latencies = [[] for _ in range(args.concurrency)]
    errors = []

    def worker(index):
        out = np.empty(args.batch * table.row_bytes, dtype=np.uint8)
        i = index
        try:
            while not stop.is_set():
                ids = batches[i % len(batches)]
                i += 1
                begin = time.perf_counter()
                if args.fresh_arrays:
                    client.lookup(args.table, ids)
                else:
                    client.lookup(args.table, ids, out=out)
                if start_measuring.is_set():
                    counts[index] += 1
                    latencies[index].append(time.perf_counter() - begin)
        except engram_client.Error as e:
            errors.append(str(e))
            stop.set()

    threads = [threading.Thread(target=worker, args=(i,))
               for i in range(args.concurrency)]
    for thread in threads:
        thread.start()
    time.sleep(args.warmup)
    start_measuring.set()
    begin = time.perf_counter()
    time.sleep(args.seconds)
    stop.set()
    elapsed = time.perf_counter() - begin
    for thread in threads:
        thread.join()

    done = sum(counts)
    all_latencies = np.array(sorted(sum(latencies, []))) * 1e6
    percentile = (lambda p: float(np.percentile(all_latencies, p))
                  if len(all_latencies) else 0.0)
    report = {
        "backend": "python",
        "rows_per_s": done * args.batch / elapsed,
        "gb_per_s": done * args.batch * table.row_bytes / elapsed / 1e9,
        "p50_us": percentile(50), "p99_us": percentile(99),
        "p999_us": percentile(99.9), "errors": len(errors),
        "batches": done, "batch": args.batch, "row_bytes": table.row_bytes,
        "concurrency": args.concurrency, "seconds": elapsed,
        "fresh_arrays": args.fresh_arrays,
    }
    if errors:
        report["first_error"] = errors[0]
    if args.json:
        print(json.dumps(report))
    else:
        print(f"python: {report['rows_per_s']:.0f} rows/s, p50 "
              f"{report['p50_us']:.0f} us, p99 {report['p99_us']:.0f} us")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
