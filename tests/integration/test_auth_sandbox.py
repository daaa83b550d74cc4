"""open_connection() (handshake, SCRAM, TLS) against a sandbox started with a user."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from driver.establish import open_connection
from driver.socket_connection import ConnectionOptions
from driver.credential import Credential
from driver.errors import AuthenticationFailed, ConnectionFailure, OperationFailure

USER, PASSWORD = "ada", "s3cret,=pw"
OPTIONS = ConnectionOptions(connect_timeout_ms=5000, socket_timeout_ms=10000)


@pytest.fixture
def secured(start_sandbox):
    return start_sandbox(topology="standalone", auth=(USER, PASSWORD))


@pytest.fixture
def opened():
    conns = []
    yield conns
    for conn in conns:
        conn.close()


def _open(sandbox, credential, conns, options=OPTIONS, **kwargs):
    conn, hello, rtt = open_connection(sandbox.addresses[0], options, credential, app_name="auth-test", **kwargs)
    conns.append(conn)
    return conn, hello, rtt


def _authenticated_users(conn):
    return conn.command("admin", {"connectionStatus": 1})["authInfo"]["authenticatedUsers"]


@pytest.mark.parametrize("mechanism", [None, "SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_scram_login(secured, opened, mechanism):
    cred = Credential(USER, PASSWORD, "admin", mechanism, None)
    conn, hello, rtt = _open(secured, cred, opened)
    assert rtt >= 0 and conn.op_msg
    if mechanism is None:
        assert "SCRAM-SHA-256" in hello["saslSupportedMechs"]
        assert "speculativeAuthenticate" in hello  # the saslStart rode on the handshake
    assert _authenticated_users(conn) == [{"user": USER, "db": "admin"}]
    conn.command("db", {"insert": "c"}, sequences={"documents": [{"_id": 1}]})
    assert conn.command("db", {"find": "c", "filter": {}})["cursor"]["firstBatch"] == [{"_id": 1}]


@pytest.mark.parametrize("mechanism", [None, "SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_wrong_password(secured, opened, mechanism):
    cred = Credential(USER, "nope", "admin", mechanism, None)
    with pytest.raises(AuthenticationFailed, match=secured.addresses[0]) as info:
        _open(secured, cred, opened)
    assert isinstance(info.value.__cause__, OperationFailure) and info.value.__cause__.code == 18
    assert opened == []


def test_no_credential_is_unauthorized(secured, opened):
    conn, _, _ = _open(secured, None, opened)
    with pytest.raises(OperationFailure) as info:
        conn.command("db", {"find": "c", "filter": {}})
    assert info.value.code == 13


@pytest.fixture
def certificate(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return str(cert), str(key)


def test_tls_and_scram(start_sandbox, opened, certificate):
    cert, key = certificate
    sandbox = start_sandbox(topology="standalone", auth=(USER, PASSWORD), tls_cert=cert, tls_key=key)
    cred = Credential(USER, PASSWORD, "admin", None, None)
    with pytest.raises(ConnectionFailure, match="rejected"):
        _open(sandbox, cred, opened, ConnectionOptions(connect_timeout_ms=5000, tls=True))
    conn, _, _ = _open(sandbox, cred, opened, ConnectionOptions(connect_timeout_ms=5000, tls=True, tls_ca_file=cert))
    assert _authenticated_users(conn) == [{"user": USER, "db": "admin"}]
