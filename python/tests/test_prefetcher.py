"""Addressing and the prefetcher: addresses() against the shared vectors,
prefetched rows against plain lookups, and wait() deadlines."""

import gc
import hashlib
import json
import os
import time

import numpy as np
import pytest

import engram_client as ec
from conftest import SMALL_DEMO_FLAGS, SMALL_DEMO_SPEC, SOURCE_DIR, engramctl

VECTOR_FILES = ("addressing-vectors-default.json",
                "addressing-vectors-small.json")
DEMO_TABLES = ["layer_3", "layer_7"]


def vector_path(name):
    # The shared originals when this checkout sits beside them, else the
    # checked-in copies (common/addressing/testdata).
    shared = os.path.join(SOURCE_DIR, "..", "shared", "reference", name)
    if os.path.exists(shared):
        return shared
    return os.path.join(SOURCE_DIR, "common", "addressing", "testdata", name)


@pytest.mark.parametrize("name", VECTOR_FILES)
def test_addresses_equal_the_shared_vectors(name):
    with open(vector_path(name)) as f:
        vectors = json.load(f)
    config = vectors["config"]
    spec = ec.HashSpec(**config)
    got = ec.addresses(spec, vectors["tokens"])
    assert got.dtype == np.int64
    for index, layer_id in enumerate(config["layer_ids"]):
        layer = vectors["layers"][str(layer_id)]
        assert spec.multipliers(index) == layer["multipliers"]
        assert spec.head_sizes(index) == layer["head_sizes"]
        np.testing.assert_array_equal(got[index], layer["row_ids"])
        np.testing.assert_array_equal(
            ec.addresses(spec, vectors["tokens"], layer=index),
            layer["row_ids"])


def test_addresses_reject_bad_tokens():
    spec = ec.HashSpec(**SMALL_DEMO_SPEC)
    with pytest.raises(ec.Error) as error:
        ec.addresses(spec, [[0, 1, 129280]])
    assert error.value.code == ec.StatusCode.INVALID_ARGUMENT
    with pytest.raises(IndexError):
        ec.addresses(spec, [[0, 1]], layer=2)


def test_a_model_config_gives_the_workers_addressing(tmp_path):
    lookup = np.arange(130000, dtype=np.int64) * 7919 % 129280
    map_file = str(tmp_path / "map.npy")
    np.save(map_file, lookup)
    config = str(tmp_path / "model.json")
    with open(config, "w") as f:
        json.dump({"layers": 8, "engram": {**SMALL_DEMO_SPEC,
                                           "compression_map": map_file}}, f)
    spec = ec.HashSpec.from_model_config(config)
    assert spec.digest == ec.HashSpec(**SMALL_DEMO_SPEC,
                                      compression=lookup).digest
    assert spec.digest != ec.HashSpec(**SMALL_DEMO_SPEC).digest
    np.testing.assert_array_equal(spec.compression, lookup)
    assert ec.HashSpec(**SMALL_DEMO_SPEC).compression is None
    with pytest.raises(ec.Error) as error:
        ec.HashSpec.from_model_config(str(tmp_path / "none.json"))
    assert error.value.code == ec.StatusCode.NOT_FOUND


def test_table_spec_is_the_models(demo_server):
    client = ec.Client(demo_server.address)
    model = ec.HashSpec(**SMALL_DEMO_SPEC)
    table = client.describe("layer_3").hash_spec
    assert table.num_layers == 1 and table.layer_ids == [3]
    np.testing.assert_array_equal(
        ec.addresses(table, [[5, 17, 900]], layer=0),
        ec.addresses(model, [[5, 17, 900]], layer=0))


def expected_rows(client, spec, layer, tokens, lengths=None):
    ids = ec.addresses(spec, tokens, lengths, layer=layer)
    rows = client.lookup(DEMO_TABLES[layer], ids.ravel())
    return rows.reshape(ids.shape + rows.shape[1:])


def test_prefill_rows_equal_lookups(demo_server):
    client = ec.Client(demo_server.address)
    spec = ec.HashSpec(**SMALL_DEMO_SPEC)
    prefetcher = client.prefetcher(DEMO_TABLES)
    assert prefetcher.num_layers == 2
    assert prefetcher.rows_per_token(0) == spec.rows_per_token
    assert prefetcher.element_type(1) == "f32"
    tokens = np.array([[5, 17, 17, 900], [0, 11, 42, 43]], dtype=np.int64)
    lengths = np.array([4, 2], dtype=np.int32)
    step = prefetcher.prefill(tokens, lengths)
    for layer in range(2):
        rows = step.wait(layer, timeout=10)
        assert rows.shape == (2, 4, spec.rows_per_token, 8)
        np.testing.assert_array_equal(
            rows, expected_rows(client, spec, layer, tokens, lengths))
    assert 0 < step.rows_fetched <= step.rows_wanted


def test_decode_continues_the_prefill(demo_server):
    client = ec.Client(demo_server.address)
    spec = ec.HashSpec(**SMALL_DEMO_SPEC)
    prefetcher = client.prefetcher(DEMO_TABLES)
    prompt = np.array([[0, 11, 42], [7, 8, 9]])
    prefetcher.prefill(prompt).wait(0)
    whole = prompt
    for new in ([12, 44], [13, 45]):
        step = prefetcher.decode(np.array(new))
        whole = np.concatenate([whole, np.array(new)[:, None]], axis=1)
        for layer in range(2):
            rows = step.wait(layer)
            assert rows.shape == (2, spec.rows_per_token, 8)
            np.testing.assert_array_equal(
                rows, expected_rows(client, spec, layer, whole)[:, -1])
    with pytest.raises(ec.Error) as error:
        prefetcher.decode(np.array([1, 2, 3]))  # another batch
    assert error.value.code == ec.StatusCode.INVALID_ARGUMENT


def test_step_arrays_outlive_the_step(demo_server):
    torch = pytest.importorskip("torch")
    client = ec.Client(demo_server.address)
    spec = ec.HashSpec(**SMALL_DEMO_SPEC)
    tokens = np.array([[1, 2, 3, 4]])
    step = client.prefetcher(DEMO_TABLES).prefill(tokens)
    array = step.wait(1)
    tensor = step.wait_tensor(1)
    assert tensor.data_ptr() == array.ctypes.data  # one buffer, no copies
    del step, client
    gc.collect()
    fresh = ec.Client(demo_server.address)
    np.testing.assert_array_equal(array, expected_rows(fresh, spec, 1, tokens))
    np.testing.assert_array_equal(tensor.numpy(), array)


def test_wait_honours_deadlines(demo_server):
    client = ec.Client(demo_server.address)
    spec = ec.HashSpec(**SMALL_DEMO_SPEC)
    # Lookups may take 30 s; the waits below are much shorter.
    prefetcher = client.prefetcher(DEMO_TABLES, timeout=30)
    tokens = np.array([[3, 1, 4, 1, 5, 9]])
    demo_server.pause()  # The server stops answering: lookups hang.
    try:
        step = prefetcher.prefill(tokens)
        for timeout in (0.0, 0.2):
            start = time.monotonic()
            with pytest.raises(ec.Error) as error:
                step.wait(0, timeout=timeout)
            elapsed = time.monotonic() - start
            assert error.value.code == ec.StatusCode.DEADLINE_EXCEEDED
            assert timeout <= elapsed < timeout + 2
    finally:
        demo_server.resume()
    # The lookup went on; waiting again gets its rows.
    np.testing.assert_array_equal(step.wait(0, timeout=20),
                                  expected_rows(client, spec, 0, tokens))
    start = time.monotonic()
    step.wait(1, timeout=20)
    step.wait(1, timeout=0)  # done: no wait at all
    assert time.monotonic() - start < 20


def test_wait_releases_the_gil(demo_server):
    import threading
    client = ec.Client(demo_server.address)
    prefetcher = client.prefetcher(DEMO_TABLES, timeout=30)
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    demo_server.pause()
    thread = threading.Thread(target=ticker)
    try:
        step = prefetcher.prefill(np.array([[1, 2, 3]]))
        thread.start()
        with pytest.raises(ec.Error):
            step.wait(0, timeout=0.3)
    finally:
        stop.set()
        demo_server.resume()
        thread.join()
    # The ticker ran while the main thread waited.
    assert len(ticks) > 20
    step.wait(0, timeout=20)


def test_lookup_tokens_equals_the_prefetcher(demo_server):
    client = ec.Client(demo_server.address)
    tokens = np.array([[9, 8, 7, 6], [5, 4, 3, 2]])
    lengths = np.array([4, 3], dtype=np.int32)
    step = client.prefetcher(DEMO_TABLES).prefill(tokens, lengths)
    np.testing.assert_array_equal(
        client.lookup_tokens("layer_7", tokens, lengths), step.wait(1))


def test_steps_carry_their_request_ids(start_server):
    # Failed lookups are logged, with their request id, at --v=1; a pin the
    # server never made fails each layer's lookup.
    server = start_server(*SMALL_DEMO_FLAGS, "--v=1")
    client = ec.Client(server.address, request_id="py-worker-2")
    prefetcher = client.prefetcher(DEMO_TABLES, pin_id=424242)
    steps = {
        "prefill-1": lambda rid: prefetcher.prefill(
            np.array([[1, 2, 3]]), request_id=rid),
        "decode-2": lambda rid: prefetcher.decode(
            np.array([4]), request_id=rid),
    }
    for request_id, start in steps.items():
        step = start(request_id)
        for layer in range(len(DEMO_TABLES)):
            with pytest.raises(ec.Error) as error:
                step.wait(layer, timeout=20)
            assert error.value.code == ec.StatusCode.NOT_FOUND
        assert f"request_id={request_id} call failed: NOT_FOUND" in server.log()
        with pytest.raises(ec.Error) as error:
            start("two words")
        assert error.value.code == ec.StatusCode.INVALID_ARGUMENT
    # Without one, a step's lookups carry the client's.
    with pytest.raises(ec.Error):
        prefetcher.decode(np.array([5])).wait(0, timeout=20)
    assert "request_id=py-worker-2 call failed: NOT_FOUND" in server.log()


def test_prefetcher_compresses_raw_ids_with_the_tables_map(demo_server,
                                                          tmp_path):
    # 130000 raw ids onto the 129280 the spec knows, as a model's
    # CompressedTokenizer folds them.
    lookup = np.arange(130000, dtype=np.int64) * 7919 % 129280
    map_file = str(tmp_path / "map.npy")
    np.save(map_file, lookup)
    spec = SMALL_DEMO_SPEC
    tables = []
    for layer_id, table in zip(spec["layer_ids"], DEMO_TABLES):
        rows = str(tmp_path / f"{table}.npy")
        engramctl("--server", demo_server.address, "export", table, rows)
        tables.append(f"compressed_{layer_id}")
        engramctl("--server", demo_server.address, "import", tables[-1], rows,
                  "--compression", map_file, "--hash-layer", str(layer_id),
                  "--layer-ids", "3,7", "--vocab-sizes", "1000,1200",
                  "--heads", "2", "--tokenizer-vocab", "129280")
    client = ec.Client(demo_server.address)
    assert (client.describe(tables[0]).compression_digest ==
            hashlib.sha256(lookup.astype("<i8").tobytes()).hexdigest())
    assert client.describe(tables[0]).compression_map_held
    with pytest.raises(ec.Error) as error:
        client.prefetcher(tables, compression=lookup[:1000])
    assert error.value.code == ec.StatusCode.INVALID_ARGUMENT
    assert "compressed by map" in str(error.value)

    # The server keeps the map it was imported with, for clients without it:
    # given back, or fetched by a prefetcher given none.
    held = client.compression_map(tables[0])
    assert held.dtype == np.int64
    np.testing.assert_array_equal(held, lookup)
    prefetchers = [client.prefetcher(tables, compression=held),
                   client.prefetcher(tables)]
    model = ec.HashSpec(**spec, compression=lookup)
    tokens = np.array([[129999, 10, 129290]], dtype=np.int64)
    steps = [prefetcher.prefill(tokens) for prefetcher in prefetchers]
    for layer in range(2):
        ids = ec.addresses(model, tokens, layer=layer)
        expected = client.lookup(tables[layer], ids.ravel())
        expected = expected.reshape(ids.shape + expected.shape[1:])
        for step in steps:
            np.testing.assert_array_equal(step.wait(layer, timeout=10),
                                          expected)
        # The import gave the server the map too: it takes the raw ids.
        np.testing.assert_array_equal(
            client.lookup_tokens(tables[layer], tokens), expected)
