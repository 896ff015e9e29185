#!/usr/bin/python3
"""Generates Engram addressing test vectors over random configs.

An independent re-implementation of the reference addressing
(engram_demo_v1.py, restated in /work/shared/reference/engram-addressing.md)
with numpy as the oracle: multipliers come from numpy's own
default_rng(...).integers, hashes from numpy int64 array arithmetic (wrapping
products, XOR, floor %). Needs only numpy (run with /usr/bin/python3); the
primality test is a deterministic Miller-Rabin in plain Python.

  gen_vectors.py --out DIR [--count 20] [--wrap-count 3] [--seed 1]

Each DIR/vectors-NNN.json has the layout of the shared reference vectors:
  {"config": {seed, layer_ids, vocab_sizes, max_ngram, heads_per_ngram,
              pad_id, tokenizer_vocab, [n_embed_per_ngram],
              [compression_npy, compression_raw_vocab, compression_sha256],
              [unchecked]},
   "tokens": [[...]], ["padding": "left", "lengths": [...]],
   "layers": {"<id>": {multipliers, head_sizes, hash_ids, row_ids}}}
hash_ids/row_ids are [batch][time][(max_ngram-1)*heads].

Left padding: sequence b's lengths[b] real tokens are its last positions; the
filler before them holds junk (even invalid ids) that the addresser must
ignore. The expected rows of real positions are the reference run on the
sequence alone; those of filler positions are the reference run on the row
with the filler replaced by pad_id (both computations are cross-checked).

A compression map, when present, is DIR/<compression_npy> (np.save, '<i8');
tokens are then raw ids and pad_id is raw (the reference compresses it).

"unchecked": true files (from --wrap-count) hold ids outside the vocabulary
(negative, or beyond the multiplier bound) and no compression map: the
reference lets their products wrap in int64; they test the exactness of the
arithmetic, and that the checked API rejects them.
"""

import argparse
import hashlib
import json
import os

import numpy as np

PRIME_1 = 10007
MR_BASES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)


def is_prime(n):
    if n < 2:
        return False
    for p in MR_BASES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in MR_BASES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def find_next_prime(start, seen):
    candidate = start + 1
    while True:
        if is_prime(candidate) and candidate not in seen:
            return candidate
        candidate += 1


def reference_multipliers(seed, layer_ids, max_ngram, tokenizer_vocab):
    max_long = np.iinfo(np.int64).max
    m_max = int(max_long // tokenizer_vocab)
    half_bound = max(1, m_max // 2)
    out = {}
    for layer_id in layer_ids:
        g = np.random.default_rng(int(seed + PRIME_1 * int(layer_id)))
        r = g.integers(low=0, high=half_bound, size=(max_ngram,),
                       dtype=np.int64)
        out[layer_id] = r * 2 + 1
    return out


def reference_head_sizes(layer_ids, max_ngram, vocab_sizes, heads):
    seen = set()
    out = {}
    for layer_id in layer_ids:
        per_n = []
        for n in range(2, max_ngram + 1):
            start = vocab_sizes[n - 2] - 1
            sizes = []
            for _ in range(heads):
                p = find_next_prime(start, seen)
                seen.add(p)
                sizes.append(p)
                start = p
            per_n.append(sizes)
        out[layer_id] = per_n
    return out


def reference_hashes(x, multipliers, head_sizes, pad_id, max_ngram, heads):
    """_get_ngram_hashes of the reference on compressed ids x [B, T]."""
    x = np.asarray(x, dtype=np.int64)
    _, t_len = x.shape

    def shift_k(k):
        if k == 0:
            return x
        return np.pad(x, ((0, 0), (k, 0)), mode="constant",
                      constant_values=pad_id)[:, :t_len]

    shifts = [shift_k(k) for k in range(max_ngram)]
    all_hashes = []
    with np.errstate(over="ignore"):
        for n in range(2, max_ngram + 1):
            tokens = shifts[:n]
            mix = tokens[0] * multipliers[0]
            for k in range(1, n):
                mix = np.bitwise_xor(mix, tokens[k] * multipliers[k])
            for j in range(heads):
                all_hashes.append((mix % int(head_sizes[n - 2][j]))
                                  .astype(np.int64, copy=False))
    return np.stack(all_hashes, axis=2)


def compress(raw, lookup):
    raw = np.asarray(raw, dtype=np.int64)
    if lookup is None:
        return raw.copy()
    out = raw.copy()
    mask = raw >= 0
    out[mask] = lookup[raw[mask]]
    return out


def addresses(raw_tokens, lengths, config, lookup):
    """Expected hash and row ids for a left-padded batch of raw ids."""
    layer_ids = config["layer_ids"]
    max_ngram = config["max_ngram"]
    heads = config["heads_per_ngram"]
    pad = int(compress(np.array([config["pad_id"]]), lookup)[0])
    mults = reference_multipliers(config["seed"], layer_ids, max_ngram,
                                  config["tokenizer_vocab"])
    sizes = reference_head_sizes(layer_ids, max_ngram, config["vocab_sizes"],
                                 heads)
    raw_tokens = np.asarray(raw_tokens, dtype=np.int64)
    batch, time = raw_tokens.shape
    layers = {}
    for layer_id in layer_ids:
        flat_sizes = [p for per_n in sizes[layer_id] for p in per_n]
        offsets = np.concatenate([[0], np.cumsum(flat_sizes)[:-1]]).astype(
            np.int64)
        hash_ids = np.zeros((batch, time, len(flat_sizes)), dtype=np.int64)
        for b in range(batch):
            start = time - lengths[b]
            row = raw_tokens[b].copy()
            row[:start] = config["pad_id"]
            full = reference_hashes(compress(row[None, :], lookup),
                                    mults[layer_id], sizes[layer_id], pad,
                                    max_ngram, heads)[0]
            if lengths[b] > 0:
                alone = reference_hashes(
                    compress(raw_tokens[b:b + 1, start:], lookup),
                    mults[layer_id], sizes[layer_id], pad, max_ngram,
                    heads)[0]
                assert np.array_equal(alone, full[start:]), "padding check"
            hash_ids[b] = full
        row_ids = hash_ids + offsets[None, None, :]
        layers[str(layer_id)] = {
            "multipliers": [int(v) for v in mults[layer_id]],
            "head_sizes": [int(p) for p in flat_sizes],
            "hash_ids": hash_ids.tolist(),
            "row_ids": row_ids.tolist(),
        }
    return layers


def random_config(rs, index):
    max_ngram = int(rs.randint(2, 6))
    heads = int(rs.randint(1, 9))
    n_layers = int(rs.randint(1, 5))
    layer_ids = sorted(int(v) for v in rs.choice(64, n_layers, replace=False))
    if rs.randint(3) == 0:
        rs.shuffle(layer_ids)
    kind = index % 4
    if kind == 0:
        tokenizer_vocab = int(rs.randint(1000, 200000))
    elif kind == 1:
        tokenizer_vocab = int(rs.randint(1, 200))
    elif kind == 2:
        # Large vocabularies make half_bound < 2^32: numpy then draws with
        # the 32-bit Lemire path.
        tokenizer_vocab = int(rs.randint(2**30, 2**40))
    else:
        tokenizer_vocab = int(rs.randint(200, 1000000))
    size_kind = rs.randint(3)
    if size_kind == 0:
        vocab_sizes = [int(rs.randint(2, 60)) for _ in range(max_ngram - 1)]
    elif size_kind == 1:
        # Just above 2^14, where the C++ addresser starts taking quotients
        # from double reciprocals: the smallest sizes stress its bound.
        vocab_sizes = [int(rs.randint(2**14, 2**14 + 200))
                       for _ in range(max_ngram - 1)]
    else:
        vocab_sizes = [int(rs.randint(2, 2000000))
                       for _ in range(max_ngram - 1)]
    config = {
        "seed": int(rs.randint(0, 2**31)) if rs.randint(4) else 0,
        "layer_ids": layer_ids,
        "vocab_sizes": vocab_sizes,
        "max_ngram": max_ngram,
        "heads_per_ngram": heads,
        "pad_id": 0,
        "tokenizer_vocab": tokenizer_vocab,
        "n_embed_per_ngram": heads * int(rs.randint(1, 65)),
    }
    return config


def make_tokens(rs, batch, time, low, high, edge_ids):
    tokens = rs.randint(0, 2**62, size=(batch, time)).astype(np.int64)
    tokens = low + tokens % (high - low)
    for _ in range(min(len(edge_ids), batch * time)):
        tokens[rs.randint(batch), rs.randint(time)] = rs.choice(edge_ids)
    return tokens


def generate_checked(rs, index, out_dir):
    config = random_config(rs, index)
    vocab = config["tokenizer_vocab"]
    lookup = None
    raw_vocab = vocab
    if vocab <= 200000 and rs.randint(3) == 0:
        raw_vocab = int(vocab + rs.randint(0, 3 * vocab + 10))
        lookup = (rs.randint(0, 2**62, size=raw_vocab) % vocab).astype("<i8")
        lookup[rs.randint(raw_vocab)] = vocab - 1
        npy_name = "compression-%03d.npy" % index
        np.save(os.path.join(out_dir, npy_name), lookup)
        config["compression_npy"] = npy_name
        config["compression_raw_vocab"] = raw_vocab
        config["compression_sha256"] = hashlib.sha256(
            lookup.astype("<i8").tobytes()).hexdigest()
    config["pad_id"] = int(rs.randint(raw_vocab))
    batch = int(rs.randint(1, 5))
    time = int(rs.randint(1, 41))
    edges = [0, raw_vocab - 1, config["pad_id"]]
    tokens = make_tokens(rs, batch, time, 0, raw_vocab, edges)
    lengths = [time] * batch
    padded = rs.randint(2) == 0
    if padded:
        lengths = [int(rs.randint(0, time + 1)) for _ in range(batch)]
        for b in range(batch):
            junk = rs.choice([-7, 0, raw_vocab, config["pad_id"], 12345])
            tokens[b, :time - lengths[b]] = junk
    doc = {"config": config, "tokens": tokens.tolist()}
    if padded:
        doc["padding"] = "left"
        doc["lengths"] = lengths
    doc["layers"] = addresses(tokens, lengths, config, lookup)
    return doc


def generate_unchecked(rs, index):
    config = random_config(rs, index)
    vocab = config["tokenizer_vocab"]
    config["pad_id"] = int(rs.randint(vocab))
    config["unchecked"] = True
    batch = int(rs.randint(1, 4))
    time = int(rs.randint(1, 30))
    edges = [-1, -2, -vocab, vocab, vocab + 1, 2**62, -2**62,
             np.iinfo(np.int64).max, np.iinfo(np.int64).min]
    tokens = make_tokens(rs, batch, time, -2**40, 2**40, edges)
    doc = {"config": config, "tokens": tokens.tolist()}
    doc["layers"] = addresses(tokens, [time] * batch, config, None)
    return doc


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--count", type=int, default=20,
                        help="configs with valid ids")
    parser.add_argument("--wrap-count", type=int, default=3,
                        help="configs with out-of-range ids (unchecked)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in os.listdir(args.out):
        if name.startswith(("vectors-", "compression-")):
            os.remove(os.path.join(args.out, name))
    rs = np.random.RandomState(args.seed)
    for i in range(args.count + args.wrap_count):
        if i < args.count:
            doc = generate_checked(rs, i, args.out)
        else:
            doc = generate_unchecked(rs, i)
        with open(os.path.join(args.out, "vectors-%03d.json" % i), "w") as f:
            json.dump(doc, f)
    print("wrote %d vector files to %s" % (args.count + args.wrap_count,
                                           args.out))


if __name__ == "__main__":
    main()
