"""Fixtures for the engram_client tests: real engram-server processes on
loopback ephemeral ports, as the C++ integration tests (tests/) start them.

ctest runs these with PYTHONPATH at the built module and ENGRAM_BINARY_DIR
at the build tree (python/CMakeLists.txt); run by hand:

    PYTHONPATH=build/python ENGRAM_BINARY_DIR=build python3 -m pytest python/tests
"""

import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("ENGRAM_SOURCE_DIR",
                            os.path.dirname(os.path.dirname(_HERE)))
BINARY_DIR = os.environ.get("ENGRAM_BINARY_DIR",
                            os.path.join(SOURCE_DIR, "build"))

# The C++ fixture's small demo (tests/demo_server_fixture.cc): layers 3 and
# 7, n-gram orders 2 and 3 of 2 heads, 8 f32 values (32 B) per row.
SMALL_DEMO_FLAGS = [
    "--demo", "--demo-layer-ids", "3,7", "--demo-vocab-sizes", "1000,1200",
    "--demo-heads", "2", "--demo-values-per-row", "8", "--demo-dtype", "f32"
]
SMALL_DEMO_SPEC = dict(seed=0, layer_ids=[3, 7], vocab_sizes=[1000, 1200],
                       max_ngram=3, heads_per_ngram=2, n_embed_per_ngram=16,
                       pad_id=2, tokenizer_vocab=129280)


def binary(relative):
    path = os.path.join(BINARY_DIR, relative)
    if not os.path.exists(path):
        pytest.fail(f"{path} is not built (ENGRAM_BINARY_DIR={BINARY_DIR})")
    return path


class Server:
    """engram-server --listen 127.0.0.1:0 on `data_dir`, plus `args`."""

    def __init__(self, data_dir, args=(), timeout=60):
        os.makedirs(data_dir, exist_ok=True)
        parent = os.path.dirname(data_dir.rstrip("/"))
        self.port_file = os.path.join(parent, f"port-{os.getpid()}-{time.time_ns()}")
        self.log_path = self.port_file + ".log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [binary("server/engram-server"), "--listen", "127.0.0.1:0",
                 "--data-dir", data_dir, "--port-file", self.port_file,
                 *args],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(self.port_file) as f:
                    port = int(f.read().strip())
                self.address = f"127.0.0.1:{port}"
                return
            except (OSError, ValueError):
                pass
            if self.process.poll() is not None:
                raise RuntimeError("engram-server exited during start:\n" +
                                   self.log())
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("engram-server did not start in time:\n" + self.log())

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def pause(self):
        """Stops the server (SIGSTOP) and returns once it is stopped: a
        signal is delivered asynchronously, and a server still running
        would answer the next call."""
        self.process.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(f"/proc/{self.process.pid}/stat") as f:
                # The state follows the parenthesised command name.
                if f.read().rsplit(")", 1)[1].split()[0] == "T":
                    return
            time.sleep(0.005)
        raise RuntimeError("engram-server did not stop on SIGSTOP")

    def resume(self):
        self.process.send_signal(signal.SIGCONT)

    def stop(self):
        if self.process.poll() is None:
            self.resume()
            self.process.kill()
            self.process.wait()


def engramctl(*args, check=True):
    """Runs engramctl; returns its stdout (parsed when it is JSON)."""
    done = subprocess.run([binary("cli/engramctl"), *args],
                          capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise RuntimeError(f"engramctl {' '.join(args)} failed "
                           f"({done.returncode}): {done.stderr}")
    try:
        return json.loads(done.stdout)
    except ValueError:
        return done.stdout


@pytest.fixture
def start_server(tmp_path):
    """start_server(*flags) -> Server; all are stopped at the test's end."""
    servers = []

    def start(*args, name="data"):
        server = Server(str(tmp_path / f"{name}{len(servers)}" / "data"), args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """One small-demo server shared by a test module's tests."""
    server = Server(str(tmp_path_factory.mktemp("demo") / "data"),
                    SMALL_DEMO_FLAGS)
    yield server
    server.stop()


def random_rows(rows, row_bytes, seed=0):
    return np.random.default_rng(seed).integers(
        0, 256, size=(rows, row_bytes), dtype=np.uint8)


def import_raw_table(server, tmp_path, name, rows, extra=()):
    """Imports `rows` (a uint8 [n, row_bytes] array) as opaque table `name`."""
    path = str(tmp_path / f"{name}.bin")
    rows.tofile(path)
    engramctl("--server", server.address, "import", name, path,
              "--row-bytes", str(rows.shape[1]), *extra)
    return path
