"""engram_client.Client against a real engram-server: lookups, their
memory, errors, tokens and shard maps."""

import gc
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import engram_client as ec
from conftest import (SMALL_DEMO_FLAGS, Server, engramctl, import_raw_table,
                      random_rows)

ROW_BYTES = 128


@pytest.fixture
def raw_table(start_server, tmp_path):
    """A server holding table "raw": 1000 random opaque rows of 128 B."""
    server = start_server()
    rows = random_rows(1000, ROW_BYTES)
    import_raw_table(server, tmp_path, "raw", rows)
    return server, rows


def test_lookup_equals_cpp_client_bytes(raw_table):
    server, rows = raw_table
    client = ec.Client(server.address)
    ids = [0, 999, 5, 5, 123, 42]
    got = client.lookup("raw", ids)
    assert got.dtype == np.uint8 and got.shape == (len(ids), ROW_BYTES)
    # engramctl lookup (the C++ client) prints opaque rows as hex.
    cpp = engramctl("--server", server.address, "lookup", "raw", "--rows",
                    ",".join(map(str, ids)), "--json")
    assert [row.tobytes().hex() for row in got] == cpp["rows"]
    np.testing.assert_array_equal(got, rows[ids])


def test_lookup_info_and_out_buffer(raw_table):
    server, rows = raw_table
    client = ec.Client(server.address)
    ids = np.arange(10, 20, dtype=np.int64)
    out = np.zeros((len(ids), ROW_BYTES), dtype=np.uint8)
    same, info = client.lookup("raw", ids, out=out, return_info=True)
    assert same is out
    np.testing.assert_array_equal(out, rows[10:20])
    assert info.version == 1 and info.row_bytes == ROW_BYTES
    assert info.missing is None
    with pytest.raises(ValueError):
        client.lookup("raw", ids, out=np.zeros((ROW_BYTES, 20), np.uint8)[:, ::2])
    with pytest.raises(ec.Error) as small:
        client.lookup("raw", ids, out=np.zeros(ROW_BYTES, np.uint8))
    assert small.value.code == ec.StatusCode.INVALID_ARGUMENT


def test_arrays_stay_valid_after_the_call(raw_table):
    server, rows = raw_table
    client = ec.Client(server.address)
    first = client.lookup("raw", [1, 2, 3])
    # The array is a view of the client's buffer, not a copy of it ...
    assert isinstance(first.base, ec.RowBuffer)
    assert not first.flags.owndata
    view = np.asarray(first.base)
    assert np.shares_memory(view, first)
    # ... and that buffer outlives the call, later calls and the client.
    others = [client.lookup("raw", [7, 8, 9]) for _ in range(20)]
    del client, view
    gc.collect()
    np.testing.assert_array_equal(first, rows[[1, 2, 3]])
    np.testing.assert_array_equal(others[-1], rows[[7, 8, 9]])


def test_unknown_table_raises_not_found(raw_table):
    server, _ = raw_table
    client = ec.Client(server.address)
    with pytest.raises(ec.Error) as error:
        client.lookup("no_such_table", [0])
    assert error.value.code == ec.StatusCode.NOT_FOUND
    assert error.value.code_name == "NOT_FOUND"
    assert "no_such_table" in error.value.message
    with pytest.raises(ec.Error) as error:
        client.describe("no_such_table")
    assert error.value.code == ec.StatusCode.NOT_FOUND


def test_bad_row_id_raises(raw_table):
    server, _ = raw_table
    client = ec.Client(server.address)
    with pytest.raises(ec.Error) as error:
        client.lookup("raw", [1000])
    assert error.value.code in (ec.StatusCode.INVALID_ARGUMENT,
                                ec.StatusCode.OUT_OF_RANGE)


def test_unreachable_server_is_unavailable():
    client = ec.Client("127.0.0.1:1", timeout=2)
    with pytest.raises(ec.Error) as error:
        client.lookup("raw", [0])
    assert error.value.code in (ec.StatusCode.UNAVAILABLE,
                                ec.StatusCode.DEADLINE_EXCEEDED)


def test_describe_and_typed_rows(demo_server):
    client = ec.Client(demo_server.address)
    description = client.describe("layer_3")
    assert description.element_type == "f32" and description.row_bytes == 32
    assert description.hash_spec is not None
    assert {t.name for t in client.list_tables()} == {"layer_3", "layer_7"}
    rows = client.lookup("layer_3", [0, 1, 2])
    assert rows.dtype == np.float32 and rows.shape == (3, 8)
    cpp = engramctl("--server", demo_server.address, "lookup", "layer_3",
                    "--rows", "0,1,2", "--json")
    np.testing.assert_allclose(rows, np.array(cpp["rows"], dtype=np.float32),
                               rtol=1e-6)
    # Converted on the server: half the bytes, same values to bf16 precision.
    halves = client.lookup("layer_3", [0, 1, 2], output_type="bf16")
    assert halves.dtype == np.uint16 and halves.shape == (3, 8)
    widened = (halves.astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_allclose(widened, rows, rtol=1e-2)


def test_lookup_tensor_shares_memory(demo_server):
    torch = pytest.importorskip("torch")
    client = ec.Client(demo_server.address)
    tensor = client.lookup_tensor("layer_3", [4, 5])
    assert tensor.dtype == torch.float32 and tuple(tensor.shape) == (2, 8)
    np.testing.assert_array_equal(tensor.numpy(),
                                  client.lookup("layer_3", [4, 5]))
    bf16 = client.lookup_tensor("layer_3", [4, 5], output_type="bf16")
    assert bf16.dtype == torch.bfloat16
    np.testing.assert_allclose(bf16.float().numpy(), tensor.numpy(), rtol=1e-2)
    # A RowBuffer is a DLPack producer in its own right.
    array = client.lookup("layer_3", [4, 5])
    from_buffer = torch.utils.dlpack.from_dlpack(array.base)
    assert from_buffer.data_ptr() == array.ctypes.data
    assert torch.equal(from_buffer, tensor)


def test_threads_share_a_client(raw_table):
    server, rows = raw_table
    client = ec.Client(server.address)
    errors = []

    def worker(seed):
        ids = np.random.default_rng(seed).integers(0, 1000, 512)
        for _ in range(20):
            got = client.lookup("raw", ids)
            if not np.array_equal(got, rows[ids]):
                errors.append(seed)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


def test_data_token(start_server, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    server = start_server("--data-token-file", str(token_file),
                          *["--demo", "--demo-layer-ids", "1",
                            "--demo-vocab-sizes", "500,500", "--demo-heads",
                            "1", "--demo-values-per-row", "4"])
    with pytest.raises(ec.Error) as error:
        ec.Client(server.address).lookup("layer_1", [0])
    assert error.value.code == ec.StatusCode.UNAUTHENTICATED
    assert ec.Client(server.address, token="s3cret").lookup(
        "layer_1", [0]).shape == (1, 4)
    assert ec.Client(server.address, token_file=str(token_file)).lookup(
        "layer_1", [0]).shape == (1, 4)


def test_request_id(start_server, tmp_path):
    # Failed data-plane calls are logged, with their request id, at --v=1.
    server = start_server("--v=1")
    import_raw_table(server, tmp_path, "raw", random_rows(10, ROW_BYTES))
    with pytest.raises(ec.Error) as error:
        ec.Client(server.address, request_id="py-worker-1").lookup(
            "no_such_table", [0])
    assert error.value.code == ec.StatusCode.NOT_FOUND
    assert "request_id=py-worker-1 call failed: NOT_FOUND" in server.log()
    with pytest.raises(ec.Error) as error:
        ec.Client(server.address, request_id="two words")
    assert error.value.code == ec.StatusCode.INVALID_ARGUMENT

    # A call's own id replaces the client's.
    client = ec.Client(server.address, request_id="py-worker-1")
    too_far = [10**6]  # Past the table's rows: the lookup fails, and is logged.
    calls = {
        "step-7.lookup": lambda rid: client.lookup(
            "raw", too_far, request_id=rid),
        "step-7.tensor": lambda rid: client.lookup_tensor(
            "raw", too_far, request_id=rid),
        "step-7.tokens": lambda rid: client.lookup_tokens(
            "no_such_table", np.zeros((1, 2), dtype=np.int64),
            out=np.empty(1024, dtype=np.uint8), request_id=rid),
    }
    for request_id, call in calls.items():
        with pytest.raises(ec.Error):
            call(request_id)
        assert f"request_id={request_id} call failed:" in server.log()
        with pytest.raises(ec.Error) as error:
            call("two words")
        assert error.value.code == ec.StatusCode.INVALID_ARGUMENT
        assert "request id" in error.value.message


def test_shard_map(start_server, tmp_path):
    rows = random_rows(600, ROW_BYTES, seed=3)
    low, high = start_server(name="low"), start_server(name="high")
    import_raw_table(low, tmp_path, "split", rows, extra=("--row-range", "0:250"))
    import_raw_table(high, tmp_path, "split", rows,
                     extra=("--row-range", "250:600"))
    text = (f"table split rows 600\n"
            f"shard split 0 250 {low.address}\n"
            f"shard split 250 600 {high.address}\n")
    ids = [599, 0, 249, 250, 10, 400]
    for client in (ec.Client(shard_map_text=text),
                   ec.Client(discover=[low.address, high.address])):
        np.testing.assert_array_equal(client.lookup("split", ids), rows[ids])
        assert client.describe("split").rows == 600


@pytest.mark.parametrize("sharded", [False, True])
def test_cache_keeps_hot_rows_and_follows_patches(raw_table, sharded):
    server, rows = raw_table
    if sharded:
        # One shard held by the server: a cache per replica.
        client = ec.Client(shard_map_text=f"table raw rows 1000\n"
                                          f"shard raw 0 1000 {server.address}\n",
                           cache_bytes=1 << 20)
    else:
        client = ec.Client(server.address, cache_bytes=1 << 20)
    client.start_caching(["raw"])
    with pytest.raises(ec.Error) as error:
        client.start_caching(["raw", "no_such_table"])
    assert error.value.code == ec.StatusCode.NOT_FOUND
    hot = [5, 6, 999]
    for _ in range(4):
        np.testing.assert_array_equal(client.lookup("raw", hot), rows[hot])
    stats = client.cache_stats()
    assert stats["hits"] > 0 and stats["entries"] > 0, stats

    new_row = random_rows(1, ROW_BYTES, seed=9)
    ec.AdminClient(server.address).apply_patch("raw", [6], new_row)
    expected = rows[hot].copy()
    expected[1] = new_row[0]
    deadline = time.monotonic() + 10
    while (not np.array_equal(client.lookup("raw", hot), expected) and
           time.monotonic() < deadline):
        time.sleep(0.02)
    np.testing.assert_array_equal(client.lookup("raw", hot), expected)
    assert client.cache_stats()["invalidated"] >= 1
    # Without cache_bytes, no cache.
    assert ec.Client(server.address).cache_stats()["entries"] == 0


def test_a_table_imported_again_with_other_rows(raw_table, tmp_path):
    server, rows = raw_table
    admin = ec.AdminClient(server.address)
    for client in (ec.Client(server.address),
                   ec.Client(shard_map_text=f"table raw rows 1000\n"
                             f"shard raw 0 1000 {server.address}\n")):
        np.testing.assert_array_equal(client.lookup("raw", [7]), rows[[7]])
        # Rows wider, then narrower, than the client first learnt: each
        # lookup returns the new rows in their own size.
        for row_bytes, seed in ((2 * ROW_BYTES, 5), (ROW_BYTES // 2, 6)):
            admin.drop_table("raw")
            rows = random_rows(1000, row_bytes, seed=seed)
            import_raw_table(server, tmp_path, "raw", rows)
            got = client.lookup("raw", [7, 999])
            assert got.shape == (2, row_bytes)
            np.testing.assert_array_equal(got, rows[[7, 999]])


def _once_reconnected(call):
    """call(), again while the client reconnects to a restarted server."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return call()
        except ec.Error as error:
            if (error.code != ec.StatusCode.UNAVAILABLE or
                    time.monotonic() > deadline):
                raise
            time.sleep(0.05)


def test_lookups_of_a_table_rebuilt_with_another_type_of_the_same_size(
        tmp_path):
    # Demo servers on one Unix socket with bf16, then f16 rows: 16 bytes a
    # row both times, which the first format would read as bf16.
    socket = f"unix:{tmp_path}/engram.sock"
    client = ec.Client(socket)
    for dtype, numpy_type in (("bf16", np.uint16), ("f16", np.float16)):
        server = Server(str(tmp_path / f"data-{dtype}"),
                        [*SMALL_DEMO_FLAGS, "--demo-dtype", dtype,
                         "--listen", socket])
        try:
            got = _once_reconnected(lambda: client.lookup("layer_3", [0, 5]))
            assert got.dtype == numpy_type and got.shape == (2, 8)
            np.testing.assert_array_equal(
                got, ec.Client(socket).lookup("layer_3", [0, 5]))
        finally:
            server.stop()


def test_token_lookups_of_a_table_rebuilt_with_another_hash_spec(tmp_path):
    # Demo servers on one Unix socket (so that the client finds the second
    # where the first was), with 2, then 1, heads per n-gram order: the
    # rows per token of layer_3 go from 4 to 2, the row size stays.
    socket = f"unix:{tmp_path}/engram.sock"
    tokens = np.array([[5, 6, 7], [8, 9, 10]], dtype=np.int64)
    client = ec.Client(socket)
    for heads in (2, 1):
        server = Server(str(tmp_path / f"data{heads}"),
                        [*SMALL_DEMO_FLAGS, "--demo-heads", str(heads),
                         "--listen", socket])
        try:
            got = _once_reconnected(
                lambda: client.lookup_tokens("layer_3", tokens))
            assert got.shape == (2, 3, 2 * heads, 8)
            np.testing.assert_array_equal(
                got, ec.Client(socket).lookup_tokens("layer_3", tokens))
        finally:
            server.stop()


def test_bad_arguments():
    with pytest.raises(ValueError):
        ec.Client()
    with pytest.raises(ValueError):
        ec.Client("127.0.0.1:1", shard_map_text="table t rows 1\n")
    with pytest.raises(ec.Error) as error:
        ec.Client(shard_map_text="nonsense")
    assert error.value.code == ec.StatusCode.INVALID_ARGUMENT
    for keepalive in ({"keepalive_time": 0.5}, {"keepalive_time": -1.0},
                      {"keepalive_timeout": 0.0}):
        with pytest.raises(ec.Error) as error:
            ec.Client("127.0.0.1:1", **keepalive)
        assert error.value.code == ec.StatusCode.INVALID_ARGUMENT
        assert "keepalive_time must be 0 (no pings) or at least 1s" in str(
            error.value)
    ec.Client("127.0.0.1:1", keepalive_time=0.0)


# A fresh interpreter frees a 64 MiB block (above glibc's largest dynamic
# mmap threshold) before and after tuning and prints whether glibc kept it.
FREED_BLOCK_KEPT = textwrap.dedent("""
    import ctypes
    import engram_client

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
            "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.mallinfo2.restype = MallInfo2
    BLOCK = 64 << 20

    def freed_block_kept():
        before = libc.mallinfo2().fordblks
        block = libc.malloc(BLOCK)
        ctypes.memset(block, 1, BLOCK)
        libc.free(block)
        return libc.mallinfo2().fordblks >= before + BLOCK

    untuned = freed_block_kept()
    engram_client.tune_malloc_for_large_buffers()
    print(untuned, freed_block_kept())
""")


def test_tune_malloc_keeps_freed_large_blocks():
    done = subprocess.run([sys.executable, "-c", FREED_BLOCK_KEPT],
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]
