"""The PyTorch example module (python/examples/torch_engram.py) on rows
from the server equals the C++ worker's CPU path (engram-module-cpu) and
the numpy reference (tests/engram_module_reference.py) on the same rows
and weights."""

import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import engram_client as ec
from conftest import BINARY_DIR, SOURCE_DIR, binary

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.join(SOURCE_DIR, "python", "examples"))
import torch_engram  # noqa: E402

# fp32 against fp32 (C++) and float64 (numpy), relative to the largest
# magnitude, as gpu_model/engram_module_test.cc compares.
TOLERANCE = 1e-5


def demo_flags(dtype):
    return ["--demo", "--demo-layer-ids", "1,4", "--demo-vocab-sizes",
            "1000,1200", "--demo-heads", "2", "--demo-values-per-row", "8",
            "--demo-dtype", dtype]


@pytest.mark.parametrize("dtype,branches", [("bf16", 1), ("f32", 2)])
def test_torch_module_equals_cpp_cpu_path(start_server, dtype, branches):
    server = start_server(*demo_flags(dtype))
    client = ec.Client(server.address)
    prefetcher = client.prefetcher(["layer_1", "layer_4"])
    tokens = np.random.default_rng(7).integers(0, 5000, (2, 11))
    step = prefetcher.prefill(tokens)
    hidden = 24
    generator = torch.Generator().manual_seed(3)
    hidden_states = torch.randn(2, 11, branches, hidden, generator=generator)
    for layer in range(2):
        rows = step.wait_tensor(layer, timeout=10)
        assert rows.dtype == (torch.bfloat16 if dtype == "bf16" else torch.float32)
        engram_dim = prefetcher.rows_per_token(layer) * 8
        module = torch_engram.randomize(
            torch_engram.Engram(hidden, engram_dim, branches, dilation=3),
            seed=layer)
        with torch.no_grad():
            out = hidden_states + module(hidden_states,
                                         torch_engram.embeddings_of(rows))
        cpp = torch_engram.run_cpp(BINARY_DIR, module, hidden_states, rows, dtype)
        scale = float(cpp.abs().max())
        assert float((out - cpp).abs().max()) <= TOLERANCE * scale
        # The C++ path is not just agreeing with itself: numpy agrees too.
        with tempfile.TemporaryDirectory() as directory:
            torch_engram.write_cpp_inputs(directory, module, hidden_states, rows)
            subprocess.run([sys.executable,
                            os.path.join(SOURCE_DIR, "tests",
                                         "engram_module_reference.py"),
                            "--dir", directory], check=True)
            expected = np.fromfile(os.path.join(directory, "expected.f32"),
                                   dtype="<f4").reshape(out.shape)
        np.testing.assert_allclose(out.numpy(), expected, rtol=0,
                                   atol=TOLERANCE * scale)


def test_worker_weights_load_into_the_module(tmp_path):
    # engram-worker --save-weights writes its seeded model; the module takes
    # its Engram layer's tensors by name.
    weights = str(tmp_path / "w.safetensors")
    subprocess.run([binary("gpu_model/engram-worker"), "--rows", "local",
                    "--prompt-tokens", "4", "--decode-tokens", "1",
                    "--device", "cpu", "--local-rows-dtype", "f32",
                    "--save-weights", weights], check=True,
                   capture_output=True, timeout=300)
    # The demo model: hidden 256, hc_mult 1, max_ngram 3, 512 per n-gram.
    module = torch_engram.engram_from_worker_weights(
        weights, 1, hidden=256, engram_dim=1024)
    tensors = torch_engram.load_safetensors(weights, "layers.1.engram.")
    assert torch.equal(module.value_proj.weight, tensors["value_proj.weight"])
    assert module.short_conv.conv.weight.shape == (256, 1, 4)


def test_example_runs(start_server):
    server = start_server(*demo_flags("bf16"))
    done = subprocess.run(
        [sys.executable, os.path.join(SOURCE_DIR, "python", "examples",
                                      "torch_engram.py"),
         "--server", server.address, "--tables", "layer_1,layer_4",
         "--hidden", "32", "--check-cpp", BINARY_DIR],
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "layer_4: rows (2, 16, 4, 8) torch.bfloat16" in done.stdout
