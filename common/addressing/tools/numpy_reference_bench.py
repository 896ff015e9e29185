#!/usr/bin/python3
"""Times the numpy reference addressing on the batch of addresser_benchmark.

Same shape as the C++ benchmark BM_PrefillAllLayers: the reference default
config (layers 1 and 15, max_ngram 3, 8 heads, tokenizer_vocab 129280),
batch 8 x 4096 random token ids, hash ids + head offsets = row ids for every
layer. The hashing is the reference's _get_ngram_hashes (gen_vectors.py's
reference_hashes is a line-for-line copy). Prints row addresses per second.

  /usr/bin/python3 numpy_reference_bench.py [--batch 8] [--time 4096]
      [--cpp-benchmark BUILD/common/addressing/engram_addressing_benchmark]

With --cpp-benchmark it also runs the C++ BM_PrefillAllLayers (batch 8 x 4096
only) and prints both rates and their ratio.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_vectors  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--time", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--cpp-benchmark", help="engram_addressing_benchmark "
                        "binary to run for comparison")
    args = parser.parse_args()

    layer_ids = [1, 15]
    max_ngram, heads, vocab, pad = 3, 8, 129280, 2
    mults = gen_vectors.reference_multipliers(0, layer_ids, max_ngram, vocab)
    sizes = gen_vectors.reference_head_sizes(layer_ids, max_ngram,
                                             [646400, 646400], heads)
    offsets = {}
    for layer_id in layer_ids:
        flat = [p for per_n in sizes[layer_id] for p in per_n]
        offsets[layer_id] = np.concatenate(
            [[0], np.cumsum(flat)[:-1]]).astype(np.int64)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, vocab, size=(args.batch, args.time),
                          dtype=np.int64)

    def run():
        out = []
        for layer_id in layer_ids:
            hashes = gen_vectors.reference_hashes(
                tokens, mults[layer_id], sizes[layer_id], pad, max_ngram,
                heads)
            out.append(hashes + offsets[layer_id][None, None, :])
        return out

    rows = sum(r.size for r in run())  # warm-up
    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    print("numpy %s reference: batch %d x %d, %d layers, %d rows/token/layer"
          % (np.__version__, args.batch, args.time, len(layer_ids),
             (max_ngram - 1) * heads))
    print("  best of %d: %.2f ms per batch, %.3g row-addresses/s"
          % (args.repeats, best * 1e3, rows / best))
    if args.cpp_benchmark:
        cpp_rate = run_cpp_benchmark(args.cpp_benchmark)
        print("C++ BM_PrefillAllLayers (best of 5): %.3g row-addresses/s, "
              "%.1fx numpy" % (cpp_rate, cpp_rate / (rows / best)))


def run_cpp_benchmark(binary):
    out = subprocess.run(
        [binary, "--benchmark_filter=^BM_PrefillAllLayers$",
         "--benchmark_repetitions=5", "--benchmark_format=json"],
        check=True, capture_output=True, text=True).stdout
    runs = [b for b in json.loads(out)["benchmarks"]
            if b.get("run_type") == "iteration"]
    return max(b["row_addresses/s"] for b in runs)


if __name__ == "__main__":
    main()
