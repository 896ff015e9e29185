#!/usr/bin/env python3
"""A PyTorch Engram module fed by engram-server through engram_client.

The module is the reference's (DeepSeek's engram_demo_v1.py Engram class,
as gpu_model/engram_module.h restates it): key and value projections of a
token's concatenated rows, per-branch RMSNorms, the signed-sqrt sigmoid
gate, and ShortConv (per-branch RMSNorm, causal depthwise conv of kernel 4
and dilation max_ngram, SiLU). Its parameter names are the worker's
(gpu_model/model_weights.h, under layers.{i}.engram.), so a state dict
moves between this module and engram-worker's .safetensors weights.

    python3 torch_engram.py --server 127.0.0.1:50051 --tables layer_1,layer_15

runs every layer's module over rows the Prefetcher fetched for a random
prompt. With --check-cpp BUILD_DIR it also runs the C++ worker's CPU path
(BUILD_DIR/gpu_model/engram-module-cpu) on the same rows and weights and
prints the largest difference; python/tests/test_torch_example.py checks it.
"""

import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import engram_client

# nn.RMSNorm's default epsilon (the float32 machine epsilon), which the
# reference's gate norms use; ShortConv's norms use 1e-5.
GATE_NORM_EPS = float(torch.finfo(torch.float32).eps)
CONV_NORM_EPS = 1e-5


class RMSNorm(nn.Module):
    """nn.RMSNorm (PyTorch >= 2.4) for older PyTorch."""

    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class ShortConv(nn.Module):
    """Per-branch RMSNorm, causal depthwise conv over all branches' channels,
    SiLU. x: [batch, time, branches, hidden]."""

    def __init__(self, hidden, branches, kernel, dilation):
        super().__init__()
        channels = hidden * branches
        self.conv = nn.Conv1d(channels, channels, kernel, groups=channels,
                              bias=False, padding=(kernel - 1) * dilation,
                              dilation=dilation)
        self.norms = nn.ModuleList(
            RMSNorm(hidden, CONV_NORM_EPS) for _ in range(branches))

    def forward(self, x):
        batch, time, branches, hidden = x.shape
        normed = torch.cat([norm(x[:, :, i]) for i, norm in enumerate(self.norms)],
                           dim=-1)
        # Padding both sides and keeping the first `time` outputs is causal.
        y = self.conv(normed.transpose(1, 2))[..., :time]
        return F.silu(y).transpose(1, 2).reshape(batch, time, branches, hidden)


class Engram(nn.Module):
    """One Engram layer. forward(hidden [B, T, G, D], embeddings [B, T, E])
    returns what the block adds to the hidden state, [B, T, G, D]."""

    def __init__(self, hidden, engram_dim, branches=1, kernel=4, dilation=3):
        super().__init__()
        self.hidden = hidden
        self.value_proj = nn.Linear(engram_dim, hidden)
        self.key_projs = nn.ModuleList(
            nn.Linear(engram_dim, hidden) for _ in range(branches))
        self.norm1 = nn.ModuleList(
            RMSNorm(hidden, GATE_NORM_EPS) for _ in range(branches))
        self.norm2 = nn.ModuleList(
            RMSNorm(hidden, GATE_NORM_EPS) for _ in range(branches))
        self.short_conv = ShortConv(hidden, branches, kernel, dilation)

    def forward(self, hidden_states, embeddings):
        gates = []
        for i, key_proj in enumerate(self.key_projs):
            key = self.norm1[i](key_proj(embeddings))
            query = self.norm2[i](hidden_states[:, :, i])
            gate = (key * query).sum(-1) / math.sqrt(self.hidden)
            gate = gate.abs().clamp_min(1e-6).sqrt() * gate.sign()
            gates.append(gate.sigmoid().unsqueeze(-1))
        gates = torch.stack(gates, dim=2)  # [B, T, G, 1]
        value = gates * self.value_proj(embeddings).unsqueeze(2)
        return value + self.short_conv(value)


def embeddings_of(rows):
    """A layer's prefetched rows [B, T, R, head_dim] (any float type) as the
    module's input [B, T, R * head_dim] in float32."""
    return rows.reshape(rows.shape[0], rows.shape[1], -1).float()


def randomize(module, seed):
    """Weights like the C++ tests': PyTorch init, norms near 1, biases and
    conv weights spread enough that a wrong gate or conv shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if "norm" in name:
                parameter.copy_(0.9 + 0.2 * torch.rand(parameter.shape,
                                                       generator=generator))
            elif "conv" in name:
                parameter.copy_(torch.rand(parameter.shape, generator=generator) - 0.5)
            else:
                bound = 1.0 / math.sqrt(module.value_proj.in_features)
                parameter.copy_((torch.rand(parameter.shape, generator=generator)
                                 * 2 - 1) * bound)
    return module


def load_safetensors(path, prefix):
    """The tensors of a .safetensors file whose names start with `prefix`
    (F32, BF16 or F16), as float32 torch tensors named without it."""
    dtypes = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
    with open(path, "rb") as f:
        (header_bytes,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_bytes))
        data = f.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__" or not name.startswith(prefix):
            continue
        begin, end = entry["data_offsets"]
        raw = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.uint8)
        tensors[name[len(prefix):]] = raw.view(dtypes[entry["dtype"]]).reshape(
            entry["shape"]).float()
    return tensors


def engram_from_worker_weights(path, layer_id, hidden, engram_dim, branches=1,
                               kernel=4, dilation=3):
    """Layer `layer_id`'s module with engram-worker's weights (a file of
    engram-worker --save-weights or --weights)."""
    module = Engram(hidden, engram_dim, branches, kernel, dilation)
    module.load_state_dict(load_safetensors(path, f"layers.{layer_id}.engram."))
    return module


def write_cpp_inputs(directory, module, hidden_states, rows):
    """Writes `module`'s weights, the hidden state and the raw rows as
    engram-module-cpu (and tests/engram_module_reference.py) read them."""
    batch, time, branches, hidden = hidden_states.shape
    kernel = module.short_conv.conv.kernel_size[0]
    config = {"batch": batch, "time": time, "hidden": hidden,
              "branches": branches,
              "engram_dim": module.value_proj.in_features, "kernel": kernel,
              "dilation": module.short_conv.conv.dilation[0],
              "gate_norm_eps": GATE_NORM_EPS, "conv_norm_eps": CONV_NORM_EPS}
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f)

    def save(name, tensor):
        tensor.detach().to(torch.float32).contiguous().numpy().astype("<f4").tofile(
            os.path.join(directory, name + ".f32"))

    def stacked(modules, attribute):
        return torch.stack([getattr(m, attribute) for m in modules])

    save("value_proj_weight", module.value_proj.weight)
    save("value_proj_bias", module.value_proj.bias)
    save("key_proj_weight", stacked(module.key_projs, "weight"))
    save("key_proj_bias", stacked(module.key_projs, "bias"))
    save("key_norm", stacked(module.norm1, "weight"))
    save("query_norm", stacked(module.norm2, "weight"))
    save("conv_norm", stacked(module.short_conv.norms, "weight"))
    save("conv_weight", module.short_conv.conv.weight.reshape(-1, kernel))
    save("hidden", hidden_states)
    save("embeddings", embeddings_of(rows))
    rows_path = os.path.join(directory, "rows.bin")
    # The rows exactly as fetched (bf16 stays bf16: the C++ path decodes it).
    rows.contiguous().view(torch.uint8).numpy().tofile(rows_path)
    return rows_path


def run_cpp(build_dir, module, hidden_states, rows, dtype):
    """hidden + the C++ worker's CPU Engram module on the same inputs."""
    with tempfile.TemporaryDirectory() as directory:
        rows_path = write_cpp_inputs(directory, module, hidden_states, rows)
        subprocess.run([os.path.join(build_dir, "gpu_model", "engram-module-cpu"),
                        "--dir", directory, "--rows", rows_path,
                        "--rows-dtype", dtype], check=True)
        out = np.fromfile(os.path.join(directory, "cpu_output.f32"), dtype="<f4")
    return torch.from_numpy(out).reshape(hidden_states.shape)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--tables", default="layer_1,layer_15",
                        help="one table per Engram layer")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--branches", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--token", default="", help="data-plane bearer token")
    parser.add_argument("--weights", default="",
                        help="engram-worker .safetensors weights (needs "
                             "--hidden and --branches of that model)")
    parser.add_argument("--check-cpp", metavar="BUILD_DIR", default="",
                        help="also run gpu_model/engram-module-cpu and compare")
    args = parser.parse_args(argv)

    engram_client.tune_malloc_for_large_buffers()
    client = engram_client.Client(args.server, token=args.token)
    tables = args.tables.split(",")
    prefetcher = client.prefetcher(tables)
    spec = prefetcher.hash_spec(0)
    generator = torch.Generator().manual_seed(args.seed)
    tokens = torch.randint(0, 1000, (args.batch, args.prompt_tokens),
                           generator=generator)
    step = prefetcher.prefill(tokens.numpy())  # fetching starts now
    hidden_states = torch.randn(args.batch, args.prompt_tokens, args.branches,
                                args.hidden, generator=generator)
    worst = 0.0
    for layer, table in enumerate(tables):
        engram_dim = prefetcher.rows_per_token(layer) * spec.head_dim
        if args.weights:
            layer_id = client.describe(table).hash_spec.layer_ids[0]
            module = engram_from_worker_weights(
                args.weights, layer_id, args.hidden, engram_dim, args.branches,
                dilation=spec.max_ngram)
        else:
            module = randomize(Engram(args.hidden, engram_dim, args.branches,
                                      dilation=spec.max_ngram), args.seed + layer)
        rows = step.wait_tensor(layer, timeout=10)  # the client's buffer
        with torch.no_grad():
            out = hidden_states + module(hidden_states, embeddings_of(rows))
        line = f"{table}: rows {tuple(rows.shape)} {rows.dtype}, out |mean| {out.abs().mean():.4f}"
        if args.check_cpp:
            cpp = run_cpp(args.check_cpp, module, hidden_states, rows,
                          prefetcher.element_type(layer))
            diff = float((out - cpp).abs().max() / cpp.abs().max())
            worst = max(worst, diff)
            line += f", max |torch - C++| / max |C++| = {diff:.2e}"
        print(line)
    return 1 if worst > 1e-5 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
