"""engram_client.AdminClient: knowledge patches, activation, rollback, drop."""

import numpy as np
import pytest

import engram_client as ec
from conftest import engramctl, import_raw_table, random_rows

ROW_BYTES = 64


@pytest.fixture
def table(start_server, tmp_path):
    server = start_server()
    rows = random_rows(100, ROW_BYTES, seed=1)
    import_raw_table(server, tmp_path, "t", rows)
    return server, rows


def test_apply_patch_and_rollback(table):
    server, rows = table
    admin = ec.AdminClient(server.address)
    client = ec.Client(server.address)
    ids = np.array([3, 50, 99])
    new_rows = random_rows(3, ROW_BYTES, seed=2)
    version = admin.apply_patch("t", ids, new_rows, description="python")
    assert version["version"] == 2 and version["active"]
    assert version["description"] == "python"
    got, info = client.lookup("t", [3, 4, 50, 99], return_info=True)
    assert info.version == 2
    np.testing.assert_array_equal(got, np.stack(
        [new_rows[0], rows[4], new_rows[1], new_rows[2]]))
    # What the CLI sees of the same server.
    listed = engramctl("--server", server.address, "versions", "t", "--json")
    assert listed["active_version"] == 2

    versions = admin.list_versions("t")
    assert versions["active_version"] == 2
    assert [v["version"] for v in versions["versions"]] == [2, 1]
    back = admin.rollback("t")
    assert back["version"] == 1
    np.testing.assert_array_equal(client.lookup("t", [3]), rows[[3]])
    assert admin.activate_version("t", 2)["version"] == 2
    np.testing.assert_array_equal(client.lookup("t", [3]), new_rows[[0]])


def test_patch_step_by_step(table):
    server, rows = table
    admin = ec.AdminClient(server.address)
    patch = admin.create_patch("t", "two uploads")
    first = random_rows(2, ROW_BYTES, seed=5)
    second = random_rows(1, ROW_BYTES, seed=6).view(np.float32)  # any dtype
    assert admin.upload_patch(patch["patch_id"], [1, 2], first)["rows"] == 2
    uploaded = admin.upload_patch(patch["patch_id"], [7], second)
    assert uploaded["rows"] == 3 and not uploaded["committed"]
    assert [p["patch_id"] for p in admin.list_versions("t")["uploading"]] == [
        patch["patch_id"]]
    committed = admin.commit_patch(patch["patch_id"])
    assert not committed["active"]
    admin.activate_version("t", committed["version"])
    got = ec.Client(server.address).lookup("t", [1, 2, 7])
    np.testing.assert_array_equal(got[:2], first)
    assert got[2].tobytes() == second.tobytes()

    doomed = admin.create_patch("t")
    admin.abort_patch(doomed["patch_id"])
    assert admin.list_versions("t")["uploading"] == []


def test_drop_table(table, tmp_path):
    server, _ = table
    admin = ec.AdminClient(server.address)
    client = ec.Client(server.address)
    admin.apply_patch("t", [1], random_rows(1, ROW_BYTES, seed=3))
    pin = client.pin_version("t")
    with pytest.raises(ec.Error) as error:
        admin.drop_table("t")
    assert error.value.code == ec.StatusCode.FAILED_PRECONDITION
    dropped = admin.drop_table("t", force=True)
    assert dropped["table"]["name"] == "t"
    assert dropped["table"]["version"] == 2
    assert dropped["released_pins"] == 1
    assert dropped["deleted_patches"] == 1
    with pytest.raises(ec.Error) as error:
        client.lookup("t", [1])
    assert error.value.code == ec.StatusCode.NOT_FOUND
    with pytest.raises(ec.Error) as error:
        client.lookup("t", [1], pin_id=pin.pin_id)
    assert error.value.code == ec.StatusCode.NOT_FOUND
    # The name is free: a new table of it starts at version 1.
    rows = random_rows(10, ROW_BYTES, seed=4)
    import_raw_table(server, tmp_path, "t", rows)
    np.testing.assert_array_equal(client.lookup("t", [1]), rows[[1]])
    assert [v["version"] for v in admin.list_versions("t")["versions"]] == [1]


def test_admin_errors(table):
    server, _ = table
    admin = ec.AdminClient(server.address)
    with pytest.raises(ec.Error) as error:
        admin.create_patch("missing")
    assert error.value.code == ec.StatusCode.NOT_FOUND
    with pytest.raises(ec.Error) as error:
        admin.rollback("t")  # nothing older than version 1
    assert error.value.code == ec.StatusCode.FAILED_PRECONDITION
    with pytest.raises(ec.Error) as error:  # rows of another size
        admin.apply_patch("t", [1], np.zeros(ROW_BYTES + 8, np.uint8))
    assert error.value.code == ec.StatusCode.INVALID_ARGUMENT
    with pytest.raises(ValueError):
        admin.apply_patch("t", [1, 2], np.zeros(ROW_BYTES + 1, np.uint8))
    # A failed apply leaves no patch behind.
    assert admin.list_versions("t")["uploading"] == []
    with pytest.raises(ValueError, match="stall_timeout"):
        ec.AdminClient(server.address, stall_timeout=-1)
    # A generous stall timeout, or none, still applies patches.
    for stall_timeout in (0, 3600):
        admin = ec.AdminClient(server.address, stall_timeout=stall_timeout)
        assert admin.apply_patch("t", [1], np.zeros(ROW_BYTES, np.uint8))[
            "active"]


def test_admin_token(start_server, tmp_path):
    token_file = tmp_path / "admin-token"
    token_file.write_text("adm1n\n")
    server = start_server("--admin-token-file", str(token_file))
    rows = random_rows(10, ROW_BYTES)
    path = str(tmp_path / "rows.bin")
    rows.tofile(path)
    engramctl("--server", server.address, "--token-file", str(token_file),
              "import", "t", path, "--row-bytes", str(ROW_BYTES))
    with pytest.raises(ec.Error) as error:
        ec.AdminClient(server.address).list_versions("t")
    assert error.value.code == ec.StatusCode.UNAUTHENTICATED
    admin = ec.AdminClient(server.address, token_file=str(token_file))
    assert admin.list_versions("t")["active_version"] == 1
