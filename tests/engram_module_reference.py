#!/usr/bin/env python3
"""An independent numpy version of DeepSeek's Engram module, for tests.

It follows engram_demo_v1.py (deepseek-ai/Engram) directly, not our C++
code, so that gpu_model/engram_module_test.cc can check the C++ module
against something written from the reference. Everything is computed in
float64 and written as float32.

    python3 engram_module_reference.py --dir DIR

DIR holds config.json and raw little-endian float32 files (no header; the
shapes come from the config, G = branches, D = hidden, E = engram_dim,
C = G * D, K = kernel):

    config.json   {"batch": B, "time": T, "hidden": D, "branches": G,
                   "engram_dim": E, "kernel": K, "dilation": N,
                   "gate_norm_eps": float, "conv_norm_eps": float}
    embeddings.f32         [B][T][E]
    hidden.f32             [B][T][G][D]   the hidden state before the block
    value_proj_weight.f32  [D][E]         nn.Linear layout [out][in]
    value_proj_bias.f32    [D]
    key_proj_weight.f32    [G][D][E]
    key_proj_bias.f32      [G][D]
    key_norm.f32           [G][D]         norm1
    query_norm.f32         [G][D]         norm2
    conv_norm.f32          [G][D]         short_conv.norms
    conv_weight.f32        [C][K]         nn.Conv1d's [C][1][K]

It writes DIR/expected.f32 [B][T][G][D]: hidden + Engram(hidden, emb) for
the whole sequence at once (a prefill of all T tokens). Exits non-zero with
a message on stderr when the input is incomplete or inconsistent.
"""

import argparse
import json
import os
import sys

import numpy as np

_INT_KEYS = ("batch", "time", "hidden", "branches", "engram_dim", "kernel",
             "dilation")
_FLOAT_KEYS = ("gate_norm_eps", "conv_norm_eps")


class InputError(Exception):
    """The directory's contents do not describe a module run."""


def read_config(directory):
    path = os.path.join(directory, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read {path}: {e}") from e
    if not isinstance(config, dict):
        raise InputError(f"{path}: expected a JSON object")
    for key in _INT_KEYS:
        value = config.get(key)
        # bool is an int in Python; a true/false there is a mistake.
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InputError(
                f"{path}: '{key}' must be a positive integer, got {value!r}")
    for key in _FLOAT_KEYS:
        value = config.get(key)
        if (not isinstance(value, (int, float)) or isinstance(value, bool) or
                not value > 0):
            raise InputError(
                f"{path}: '{key}' must be a positive number, got {value!r}")
    return config


def read_floats(directory, name, shape):
    path = os.path.join(directory, name)
    try:
        data = np.fromfile(path, dtype="<f4")
    except OSError as e:
        raise InputError(f"cannot read {path}: {e}") from e
    want = int(np.prod(shape))
    if data.size != want:
        raise InputError(
            f"{path}: expected {want} float32 values (shape {list(shape)}), "
            f"found {data.size} ({os.path.getsize(path)} bytes)")
    if not np.all(np.isfinite(data)):
        raise InputError(f"{path}: holds NaN or infinite values")
    return data.astype(np.float64).reshape(shape)


def rms_norm(x, weight, eps):
    """nn.RMSNorm over the last dimension."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def silu(x):
    return x / (1.0 + np.exp(-x))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def causal_depthwise_conv(x, weight, dilation):
    """nn.Conv1d(groups=C, bias=False, padding=(K-1)*dilation)(...)[..., :L].

    x is [B][L][C], weight [C][K]. Keeping the first L outputs of a conv
    padded by P = (K-1)*dilation on both sides is the same as padding only
    the left: out[t][c] = sum_j weight[c][j] * xpad[t + j*dilation][c].
    """
    batch, length, channels = x.shape
    kernel = weight.shape[1]
    pad = (kernel - 1) * dilation
    xpad = np.zeros((batch, length + pad, channels))
    xpad[:, pad:, :] = x
    out = np.zeros_like(x)
    for j in range(kernel):
        start = j * dilation
        out += weight[:, j] * xpad[:, start:start + length, :]
    return out


def engram_forward(config, w, hidden, emb):
    """Engram.forward of engram_demo_v1.py; returns its output [B,L,G,D]."""
    batch, length = config["batch"], config["time"]
    branches, dim = config["branches"], config["hidden"]
    gates = []
    for i in range(branches):
        key = emb @ w["key_proj_weight"][i].T + w["key_proj_bias"][i]
        key = rms_norm(key, w["key_norm"][i], config["gate_norm_eps"])
        query = rms_norm(hidden[:, :, i, :], w["query_norm"][i],
                         config["gate_norm_eps"])
        gate = (key * query).sum(axis=-1) / np.sqrt(dim)
        gate = np.sqrt(np.maximum(np.abs(gate), 1e-6)) * np.sign(gate)
        gates.append(sigmoid(gate)[..., None])
    gates = np.stack(gates, axis=2)  # [B, L, G, 1]
    value_proj = emb @ w["value_proj_weight"].T + w["value_proj_bias"]
    value = gates * value_proj[:, :, None, :]  # [B, L, G, D]

    # ShortConv: per-branch RMSNorm, concatenated along channels.
    x_norm = np.concatenate([
        rms_norm(value[:, :, i, :], w["conv_norm"][i], config["conv_norm_eps"])
        for i in range(branches)
    ], axis=-1)  # [B, L, G*D]
    conv = silu(
        causal_depthwise_conv(x_norm, w["conv_weight"], config["dilation"]))
    return value + conv.reshape(batch, length, branches, dim)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True,
                        help="directory with config.json and the inputs")
    args = parser.parse_args(argv)
    try:
        config = read_config(args.dir)
        b, t = config["batch"], config["time"]
        g, d, e = config["branches"], config["hidden"], config["engram_dim"]
        k = config["kernel"]
        shapes = {
            "value_proj_weight": (d, e),
            "value_proj_bias": (d,),
            "key_proj_weight": (g, d, e),
            "key_proj_bias": (g, d),
            "key_norm": (g, d),
            "query_norm": (g, d),
            "conv_norm": (g, d),
            "conv_weight": (g * d, k),
        }
        weights = {
            name: read_floats(args.dir, name + ".f32", shape)
            for name, shape in shapes.items()
        }
        emb = read_floats(args.dir, "embeddings.f32", (b, t, e))
        hidden = read_floats(args.dir, "hidden.f32", (b, t, g, d))
    except InputError as e:
        print(f"engram_module_reference: {e}", file=sys.stderr)
        return 1

    expected = hidden + engram_forward(config, weights, hidden, emb)
    if not np.all(np.isfinite(expected)):
        print("engram_module_reference: the result is not finite",
              file=sys.stderr)
        return 1
    out_path = os.path.join(args.dir, "expected.f32")
    try:
        expected.astype("<f4").tofile(out_path)
    except OSError as e:
        print(f"engram_module_reference: cannot write {out_path}: {e}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
