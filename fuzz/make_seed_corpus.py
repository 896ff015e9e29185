#!/usr/bin/env python3
"""Writes the seed corpora of the fuzzers (fuzz/corpus/NAME/seed_*).

Seeds are valid inputs, so that the fuzzers start from the formats'
structure: .npy and .safetensors files, config files, and for
service_fuzzer scenarios of requests (protobuf wire format, encoded here by
hand, field numbers as in proto/engram/v1/*.proto; the demo table is
layer_3 with 257 x 2 rows of 4 f32). Standard library only.

  fuzz/make_seed_corpus.py [--out fuzz/corpus]
"""
import argparse
import hashlib
import json
import pathlib
import struct

# Scenarios of service_fuzzer.cc, in its order.
(LOOKUP, LOOKUP_TOKENS, STREAM_LOOKUP, DESCRIBE, PIN_AND_RELEASE, PATCH_SESSION,
 COMMIT, ABORT, ACTIVATE, ROLLBACK, LIST_VERSIONS, IMPORT, EXPLAIN,
 IMPORT_THEN_DROP) = range(14)
TABLE = "layer_3"
TABLE_ROWS = 514
ROW_BYTES = 16
OPAQUE = 1  # engram.v1.ElementType.ELEMENT_TYPE_OPAQUE


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number, value):
    """One field: int -> varint, bytes/str -> length-delimited."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


def message(*fields):
    return b"".join(field(n, v) for n, v in fields)


def scenario(kind, *frames):
    out = bytes([kind])
    for frame in frames:
        out += struct.pack("<H", len(frame)) + frame
    return out


def packed_ids(ids):
    return b"".join(struct.pack("<Q", i) for i in ids)


def npy(descr, shape, data):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d," % d for d in shape))
    total = 10 + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + \
        header.encode() + data


def safetensors(tensors):
    entries, data = {}, b""
    for name, dtype, shape, payload in tensors:
        entries[name] = {"dtype": dtype, "shape": shape,
                         "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    entries["__metadata__"] = {"format": "pt"}
    header = json.dumps(entries).encode()
    return struct.pack("<Q", len(header)) + header + data


def service_seeds():
    ids = packed_ids([0, 1, 513, 7])
    rows = bytes(range(64))  # 4 rows of 16 bytes
    lookup = message((1, TABLE), (2, ids))
    tokens = b"".join(struct.pack("<q", t) for t in [5, 9, 200, 3])
    import_frames = (
        message((1, message((1, message((1, "fuzzed"), (2, 4),
                                        (3, ROW_BYTES), (4, OPAQUE))),
                            (2, "ram")))),
        message((2, rows)),
        message((3, hashlib.sha256(rows).hexdigest())))
    return {
        "lookup": scenario(LOOKUP, lookup),
        "lookup_pinned": scenario(LOOKUP, message(
            (1, TABLE), (2, ids), (5, message((1, 1))))),
        "lookup_tokens": scenario(LOOKUP_TOKENS, message(
            (1, TABLE), (2, tokens), (3, 1), (4, 4))),
        "stream_lookup": scenario(
            STREAM_LOOKUP, message((1, 1), (2, lookup)),
            message((1, 2), (2, message((1, "nope"), (2, ids))))),
        "describe": scenario(DESCRIBE, message((1, TABLE)), b""),
        "pin": scenario(PIN_AND_RELEASE, message((1, TABLE), (3, 500)),
                        message((1, 1))),
        "patch": scenario(
            PATCH_SESSION, message((1, TABLE), (2, "seed")),
            message((2, packed_ids([2, 3])), (3, rows[:32])),
            message((2, packed_ids([4, 5])), (3, rows[32:]))),
        "commit": scenario(COMMIT, message((1, 1), (2, "00"))),
        "abort": scenario(ABORT, message((1, 1))),
        "activate": scenario(ACTIVATE, message((1, TABLE), (2, 1))),
        "rollback": scenario(ROLLBACK, message((1, TABLE))),
        "versions": scenario(LIST_VERSIONS, message((1, TABLE))),
        "import": scenario(IMPORT, *import_frames),
        "explain": scenario(EXPLAIN, message((1, TABLE), (2, ids))),
        "import_then_drop": scenario(IMPORT_THEN_DROP, *import_frames),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=pathlib.Path(__file__).parent /
                        "corpus", type=pathlib.Path)
    out = parser.parse_args().out
    f32 = struct.pack("<8f", *range(8))
    seeds = {
        "npy_fuzzer": {
            "f32_table": npy("<f4", (2, 4), f32),
            "bf16_table": npy("<u2", (4, 2), f32[:16]),
            "ids": npy("<i8", (3,), struct.pack("<3q", 1, 5, 9)),
            "bytes": npy("|u1", (2, 3), b"abcdef"),
        },
        "safetensors_fuzzer": {
            "one": safetensors([("w", "F32", [2, 4], f32)]),
            "heads": safetensors([("h0", "BF16", [2, 2], f32[:8]),
                                  ("h1", "BF16", [2, 2], f32[8:16])]),
            "fp8": safetensors([("e", "F8_E4M3", [4, 2], f32[:8])]),
        },
        "config_fuzzer": {
            "server": (b"# engram-server\nlisten = 0.0.0.0:50051\n"
                       b"--ram-budget=1024\nretain_versions = 3\n"
                       b"mmap-reads = false\nshutdown_grace = 5s\n"),
            "values": b"demo_seed = -7\nhit_rate = 0.25\n",
        },
        "service_fuzzer": service_seeds(),
    }
    for fuzzer, files in seeds.items():
        directory = out / fuzzer
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (directory / ("seed_" + name)).write_bytes(data)
        print(f"{directory}: {len(files)} seeds")


if __name__ == "__main__":
    main()
