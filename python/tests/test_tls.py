"""Client and AdminClient over TLS and mutual TLS, with throwaway
certificates made by openssl (as tests/tls_integration_test.cc does)."""

import os
import shutil
import subprocess

import numpy as np
import pytest

import engram_client as ec

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
DEMO = ["--demo", "--demo-layer-ids", "1", "--demo-vocab-sizes", "500,500",
        "--demo-heads", "1", "--demo-values-per-row", "4"]


@pytest.fixture
def certs(tmp_path):
    if not os.path.exists(OPENSSL):
        pytest.skip("no openssl")
    d = str(tmp_path)
    key = lambda name: f"{d}/{name}.key"  # noqa: E731
    pem = lambda name: f"{d}/{name}.pem"  # noqa: E731
    ec_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes"]

    def run(*args):
        subprocess.run([OPENSSL, *args], check=True, capture_output=True)

    run("req", "-x509", *ec_key, "-keyout", key("ca"), "-out", pem("ca"),
        "-days", "1", "-subj", "/CN=engram-test-ca")
    for name, extension in (("server", "subjectAltName=IP:127.0.0.1"),
                            ("client", "extendedKeyUsage=clientAuth")):
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(extension + "\n")
        run("req", *ec_key, "-keyout", key(name), "-out", f"{d}/{name}.csr",
            "-subj", f"/CN={name}")
        run("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", pem("ca"),
            "-CAkey", key("ca"), "-CAcreateserial", "-out", pem(name),
            "-days", "1", "-extfile", f"{d}/{name}.ext")
    return key, pem


def test_tls_and_mtls(start_server, certs):
    key, pem = certs
    server = start_server(*DEMO, "--tls-cert-file", pem("server"),
                          "--tls-key-file", key("server"),
                          "--tls-client-ca-file", pem("ca"))
    mtls = dict(tls_ca_file=pem("ca"), tls_cert_file=pem("client"),
                tls_key_file=key("client"))
    rows = ec.Client(server.address, **mtls).lookup("layer_1", [0, 1])
    assert rows.shape == (2, 4) and rows.dtype == np.uint16  # bf16 bits
    assert ec.AdminClient(server.address, **mtls).list_versions(
        "layer_1")["active_version"] == 1
    # Without a client certificate, or in plaintext: refused.
    for options in (dict(tls_ca_file=pem("ca")), {}):
        with pytest.raises(ec.Error) as error:
            ec.Client(server.address, timeout=5, **options).lookup(
                "layer_1", [0])
        assert error.value.code == ec.StatusCode.UNAVAILABLE


def test_bad_tls_files_fail_by_name(tmp_path):
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(ec.Error) as error:
        ec.Client("127.0.0.1:1", tls_ca_file=missing)
    assert "nope.pem" in error.value.message
    with pytest.raises(ec.Error) as error:
        ec.AdminClient("127.0.0.1:1", tls_ca_file=missing)
    assert "nope.pem" in error.value.message
