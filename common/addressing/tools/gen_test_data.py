#!/usr/bin/python3
"""Writes the expected values that the addressing unit tests compare against.

Run by the build (see ../CMakeLists.txt) with /usr/bin/python3, which has
numpy; nothing here is typed by hand, numpy and hashlib are the oracles.

  gen_test_data.py --out DIR

writes into DIR:
  numpy_random.json  SeedSequence pools and states, PCG64 states and raw
                     draws, Generator.integers(dtype=int64/uint32) streams
  sha256.json        SHA-256 digests of a few byte strings (hashlib)
  npy/*.npy          .npy files in formats the compression map must accept
                     or reject, and npy/manifest.json describing them
"""

import argparse
import hashlib
import json
import os

import numpy as np


def seed_cases():
    return [0, 1, 2, 42, 10007, 10007 * 15, 150105, 2**32 - 1, 2**32,
            2**32 + 7, 2**63 - 1, 2**64 - 1, 123456789012345]


def numpy_random_cases():
    out = {"numpy_version": np.__version__, "seeds": [], "integers": []}
    for seed in seed_cases():
        ss = np.random.SeedSequence(seed)
        bg = np.random.PCG64(seed)
        st = bg.state["state"]
        raw = np.random.PCG64(seed).random_raw(8)
        u32 = np.random.default_rng(seed).integers(
            0, 2**32, size=7, dtype=np.uint32)
        out["seeds"].append({
            "seed": str(seed),
            "pool": [int(v) for v in ss.pool],
            "state32": [int(v) for v in ss.generate_state(6, np.uint32)],
            "state64": [str(int(v)) for v in ss.generate_state(4, np.uint64)],
            "pcg_state": str(st["state"]),
            "pcg_inc": str(st["inc"]),
            "raw": [str(int(v)) for v in raw],
            "uint32": [int(v) for v in u32],
        })
    # Sequences of integers() calls on one generator: buffered 32-bit draws
    # must carry over between calls, and both Lemire paths must be exercised.
    max_long = np.iinfo(np.int64).max
    highs = [1, 2, 3, 7, 100, 35672, 2**31, 2**32 - 1, 2**32, 2**32 + 1,
             2**33 + 12345, 2**40, 2**62, max_long // 129280 // 2,
             max_long // 32000 // 2, max_long // 2 + 1, max_long]
    rs = np.random.RandomState(7)
    for case in range(40):
        seed = int(rs.randint(0, 2**31)) if case % 3 else case
        calls = []
        g = np.random.default_rng(seed)
        for _ in range(4):
            high = int(highs[rs.randint(len(highs))])
            low = 0
            if rs.randint(4) == 0:
                low = -int(rs.randint(0, 1000))
            n = int(rs.randint(1, 9))
            vals = g.integers(low, high, size=n, dtype=np.int64)
            calls.append({"low": str(low), "high": str(high), "n": n,
                          "values": [str(int(v)) for v in vals]})
        out["integers"].append({"seed": str(seed), "calls": calls})
    return out


def sha256_cases():
    rs = np.random.RandomState(11)
    inputs = [b"", b"abc", b"a" * 55, b"a" * 56, b"a" * 64, b"a" * 119,
              bytes(range(256)) * 5]
    for n in (1, 63, 64, 65, 1000, 4097):
        inputs.append(rs.randint(0, 256, size=n).astype(np.uint8).tobytes())
    return [{"hex_input": b.hex(), "sha256": hashlib.sha256(b).hexdigest()}
            for b in inputs]


def write_npy_files(directory):
    os.makedirs(directory, exist_ok=True)
    manifest = []

    def add(name, array, ok, version=None, note=""):
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            if version is None:
                np.save(f, array)
            else:
                np.lib.format.write_array(f, array, version=version)
        entry = {"file": name, "ok": ok, "note": note}
        if ok:
            entry["values"] = [int(v) for v in np.asarray(array).reshape(-1)]
        manifest.append(entry)

    rs = np.random.RandomState(3)
    add("v1.npy", rs.randint(0, 1000, size=1000).astype("<i8"), True,
        (1, 0))
    add("v2.npy", rs.randint(0, 1000, size=77).astype("<i8"), True, (2, 0))
    add("v3.npy", rs.randint(0, 1000, size=5).astype("<i8"), True, (3, 0))
    add("empty.npy", np.zeros(0, dtype="<i8"), True, (1, 0))
    add("one.npy", np.array([0], dtype="<i8"), True, None)
    add("int32.npy", np.arange(10, dtype="<i4"), False, None, "dtype")
    add("uint64.npy", np.arange(10, dtype="<u8"), False, None, "dtype")
    add("float.npy", np.arange(10, dtype="<f8"), False, None, "dtype")
    add("big_endian.npy", np.arange(10, dtype=">i8"), False, None, "dtype")
    add("two_d.npy", np.arange(12, dtype="<i8").reshape(3, 4), False, None,
        "shape")
    add("fortran.npy", np.asfortranarray(
        np.arange(12, dtype="<i8").reshape(3, 4)), False, None, "shape")
    add("scalar.npy", np.array(5, dtype="<i8"), False, None, "shape")
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        json.dump(manifest, f)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "numpy_random.json"), "w") as f:
        json.dump(numpy_random_cases(), f)
    with open(os.path.join(args.out, "sha256.json"), "w") as f:
        json.dump(sha256_cases(), f)
    write_npy_files(os.path.join(args.out, "npy"))


if __name__ == "__main__":
    main()
