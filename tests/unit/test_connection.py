"""Connection, TLS options and open_connection() against a loopback fake server built on driver.wire."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from types import SimpleNamespace

import pytest

from driver.compression import SUPPORTED_COMPRESSORS
from driver.establish import open_connection
from driver.socket_connection import Connection, ConnectionOptions, parse_address, ssl_context
from driver.errors import (
    AuthenticationFailed, ConfigurationError, ConnectionFailure, NetworkTimeout, OperationFailure, ProtocolError,
)
from driver.wire import OpMsg, OpQuery, compress_message, encode_op_msg, encode_op_reply, next_request_id, read_message
from tests.unit.test_scram import FakeScramServer

HELLO = {"ok": 1, "isWritablePrimary": True, "helloOk": True, "maxWireVersion": 21, "minWireVersion": 0,
         "maxMessageSizeBytes": 48_000_000}
NEVER = object()  # handler result: never answer


def default_handler(cmd):
    name = next(iter(cmd)).lower()
    if name in ("ismaster", "hello"):
        return dict(HELLO)
    return {"ok": 1, "echo": name}


class FakeServer:
    """A threaded loopback server speaking the wire protocol via driver.wire; records what it gets."""

    def __init__(self, handler=default_handler, *, tls: ssl.SSLContext | None = None, compression=()):
        self.handler, self.tls, self.compression = handler, tls, list(compression)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.received: list[SimpleNamespace] = []
        self.got_command = threading.Condition()
        self.stopping = threading.Event()
        self.clients: list[socket.socket] = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.clients.append(sock)
            t = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, sock):
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
                self.clients.append(sock)

            def recv_exactly(n):
                buf = b""
                while len(buf) < n:
                    chunk = sock.recv(n - len(buf))
                    if not chunk:
                        raise EOFError
                    buf += chunk
                return buf

            while not self.stopping.is_set():
                header, msg = read_message(recv_exactly, max_message_size=48_000_000)
                cmd = msg.command() if isinstance(msg, OpMsg) else msg.query
                with self.got_command:
                    self.received.append(SimpleNamespace(op="msg" if isinstance(msg, OpMsg) else "query",
                                                         cmd=cmd, compressor=msg.compressor, flags=getattr(msg, "flags", 0)))
                    self.got_command.notify_all()
                if isinstance(msg, OpMsg) and msg.more_to_come:
                    continue
                try:
                    reply = self.handler(cmd)
                except OperationFailure as exc:  # a handler may fail like a server: ok: 0
                    reply = exc.details
                if name_of(cmd) in ("ismaster", "hello") and self.compression and reply is not NEVER:
                    reply = {**reply, "compression": self.compression}
                if reply is NEVER:
                    self.stopping.wait()
                    return
                replies = reply if isinstance(reply, list) else [reply]
                response_to = header.request_id
                for i, doc in enumerate(replies):
                    rid = next_request_id()
                    if isinstance(msg, OpQuery):
                        data = encode_op_reply(rid, response_to, [doc])
                    else:
                        data = encode_op_msg(rid, doc, response_to=response_to, more_to_come=i < len(replies) - 1)
                    if msg.compressor:
                        data = compress_message(data, msg.compressor)
                    sock.sendall(data)
                    response_to = rid
        except (EOFError, OSError, ssl.SSLError):
            return

    def wait_for(self, count):
        with self.got_command:
            assert self.got_command.wait_for(lambda: len(self.received) >= count, timeout=5)

    def ops(self):
        return [(r.op, name_of(r.cmd)) for r in self.received]

    def stop(self):
        self.stopping.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        except OSError:
            pass
        self.listener.close()
        for c in self.clients:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        for t in self.threads:
            t.join(timeout=5)
            assert not t.is_alive(), "fake server thread did not stop"


def name_of(cmd):
    return next(iter(cmd)).lower()


@pytest.fixture
def make_server():
    servers = []

    def make(*args, **kwargs):
        servers.append(FakeServer(*args, **kwargs))
        return servers[-1]

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def opened():
    conns = []
    yield conns
    for c in conns:
        c.close()


def connect(server, conns, **kwargs):
    conn, reply, rtt = open_connection(server.address, ConnectionOptions(connect_timeout_ms=5000,
                                                                         socket_timeout_ms=5000), **kwargs)
    conns.append(conn)
    return conn, reply, rtt


# --- handshake over the wire ----------------------------------------------------------------

def test_legacy_is_master_then_op_msg(make_server, opened):
    server = make_server()
    conn, reply, rtt = connect(server, opened, app_name="tests")
    assert reply["helloOk"] is True and rtt >= 0 and conn.op_msg and conn.hello is reply
    assert conn.command("admin", {"ping": 1}) == {"ok": 1, "echo": "ping"}
    assert server.ops() == [("query", "ismaster"), ("msg", "ping")]
    first = server.received[0].cmd
    assert first["helloOk"] is True and first["client"]["application"] == {"name": "tests"}
    assert first["client"]["driver"]["name"] == "mongocli-driver"
    assert server.received[1].cmd["$db"] == "admin"


def test_old_server_keeps_op_query(make_server, opened):
    server = make_server(lambda cmd: {**HELLO, "maxWireVersion": 5} if name_of(cmd) == "ismaster" else {"ok": 1})
    conn, _, _ = connect(server, opened)
    assert conn.command("db", {"ping": 1}, sequences={"documents": [{"a": 1}]}) == {"ok": 1}
    assert server.ops() == [("query", "ismaster"), ("query", "ping")]
    assert server.received[1].cmd == {"ping": 1, "documents": [{"a": 1}]}


def test_load_balanced_uses_hello_and_requires_service_id(make_server, opened):
    server = make_server()
    with pytest.raises(ConfigurationError, match="serviceId"):
        connect(server, opened, load_balanced=True)
    assert server.ops() == [("msg", "hello")] and server.received[0].cmd["loadBalanced"] is True
    from bson import ObjectId
    service_id = ObjectId()
    lb = make_server(lambda cmd: {**HELLO, "serviceId": service_id})
    conn, reply, _ = connect(lb, opened, load_balanced=True)
    assert reply["serviceId"] == service_id
    assert conn.service_id == service_id  # the pool keys its per-service generations by it


def test_compression_negotiated_but_never_for_auth(make_server, opened):
    scram = FakeScramServer(mechs=("SCRAM-SHA-1", "SCRAM-SHA-256"))

    def handler(cmd):
        name = name_of(cmd)
        if name == "ismaster":
            return {**HELLO, **scram.hello(None)}
        if name in ("saslstart", "saslcontinue"):
            return scram(cmd["$db"], cmd)
        return {"ok": 1}

    server = make_server(handler, compression=["zlib"])
    cred = SimpleNamespace(username="user", password="pencil", source="admin", mechanism="SCRAM-SHA-1",
                           mechanism_properties=None)
    conn, _, _ = connect(server, opened, credential=cred, compressors=["zlib"])
    assert conn.compressor == "zlib"
    conn.command("admin", {"ping": 1})
    conn.command("admin", {"hello": 1})
    assert [(n, r.compressor) for (_, n), r in zip(server.ops(), server.received)] == [
        ("ismaster", None), ("saslstart", None), ("saslcontinue", None), ("ping", "zlib"), ("hello", None)]
    assert "zlib" in SUPPORTED_COMPRESSORS


def test_speculative_scram_over_the_wire(make_server, opened):
    scram = FakeScramServer()

    def handler(cmd):
        name = name_of(cmd)
        if name == "ismaster":
            return {**HELLO, **scram.hello(cmd.get("speculativeAuthenticate"))}
        return scram(cmd["$db"], cmd)

    server = make_server(handler)
    cred = SimpleNamespace(username="user", password="pencil", source="admin", mechanism=None,
                           mechanism_properties=None)
    connect(server, opened, credential=cred)
    hello = server.received[0].cmd
    assert hello["saslSupportedMechs"] == "admin.user"
    assert hello["speculativeAuthenticate"]["mechanism"] == "SCRAM-SHA-256"
    assert server.ops() == [("query", "ismaster"), ("msg", "saslcontinue")]


def test_wrong_password_closes_connection(make_server, opened):
    scram = FakeScramServer(password="secret")
    server = make_server(lambda cmd: {**HELLO, **scram.hello(None)} if name_of(cmd) == "ismaster"
                         else scram(cmd["$db"], cmd))
    cred = SimpleNamespace(username="user", password="pencil", source="admin", mechanism="SCRAM-SHA-256",
                           mechanism_properties=None)
    with pytest.raises(AuthenticationFailed, match=server.address):
        connect(server, opened, credential=cred)
    assert opened == []


def test_handshake_failure_with_credentials_is_auth_error(make_server, opened):
    server = make_server(lambda cmd: {"ok": 0, "errmsg": "no", "code": 18})
    cred = SimpleNamespace(username="u", password="p", source="admin", mechanism=None, mechanism_properties=None)
    with pytest.raises(AuthenticationFailed, match="handshake"):
        connect(server, opened, credential=cred)
    with pytest.raises(OperationFailure):
        connect(server, opened)


# --- commands ------------------------------------------------------------------------------

def test_ok_zero_raises_operation_failure_with_code_and_labels(make_server, opened):
    failure = {"ok": 0, "errmsg": "boom", "code": 2, "codeName": "BadValue", "errorLabels": ["RetryableWriteError"]}
    server = make_server(lambda cmd: dict(HELLO) if name_of(cmd) == "ismaster" else dict(failure))
    conn, _, _ = connect(server, opened)
    with pytest.raises(OperationFailure, match=rf"boom \(code 2, BadValue\)") as info:
        conn.command("db", {"insert": "c"}, sequences={"documents": [{"_id": 1}]})
    err = info.value
    assert err.code == 2 and err.has_error_label("RetryableWriteError") and server.address in str(err)
    assert conn.command("db", {"x": 1}, check=False)["code"] == 2
    assert server.received[1].cmd["documents"] == [{"_id": 1}]


def test_unacknowledged_sets_more_to_come_and_reads_nothing(make_server, opened):
    server = make_server()
    conn, _, _ = connect(server, opened)
    assert conn.command("db", {"insert": "c"}, unacknowledged=True) is None
    assert conn.command("db", {"ping": 1}) == {"ok": 1, "echo": "ping"}
    assert server.received[1].flags & 2 and not server.received[2].flags & 2


def test_exhaust_stream(make_server, opened):
    server = make_server(lambda cmd: dict(HELLO) if name_of(cmd) == "ismaster"
                         else [{"ok": 1, "n": 1}, {"ok": 1, "n": 2}])
    conn, _, _ = connect(server, opened)
    assert conn.command("admin", {"hello": 1}, exhaust_allowed=True)["n"] == 1
    assert conn.more_to_come and server.received[1].flags & (1 << 16)
    with pytest.raises(ProtocolError, match="exhaust reply stream"):
        conn.command("admin", {"ping": 1})
    assert conn.receive_more()["n"] == 2 and not conn.more_to_come
    with pytest.raises(ProtocolError, match="moreToCome"):
        conn.receive_more()


def test_socket_timeout_is_network_timeout(make_server, opened):
    server = make_server(lambda cmd: dict(HELLO) if name_of(cmd) == "ismaster" else NEVER)
    conn, _, _ = connect(server, opened)
    conn.set_timeout(100)
    with pytest.raises(NetworkTimeout, match=rf"'find' from {server.address} timed out"):
        conn.command("db", {"find": "c"})
    assert conn.closed
    with pytest.raises(ConnectionFailure, match="closed"):
        conn.command("db", {"ping": 1})


def test_close_from_another_thread_wakes_reader(make_server, opened):
    server = make_server(lambda cmd: dict(HELLO) if name_of(cmd) == "ismaster" else NEVER)
    conn, _, _ = connect(server, opened)
    errors = []
    reader = threading.Thread(target=lambda: errors.append(_capture(lambda: conn.command("admin", {"hello": 1}))))
    reader.start()
    server.wait_for(2)  # the hello arrived: the reader is now blocked on the reply
    conn.close()
    reader.join(timeout=5)
    assert not reader.is_alive()
    assert isinstance(errors[0], ConnectionFailure) and not isinstance(errors[0], NetworkTimeout)


class _BlockingSocket:
    """A socket stand-in whose recv blocks until shut down, then until the test lets it return."""

    def __init__(self) -> None:
        self.reading = threading.Event()
        self.shut_down = threading.Event()
        self.let_go = threading.Event()
        self.closes = 0
        self.closed_while_reading = False
        self._inside = False

    def sendall(self, data: bytes) -> None:
        pass

    def recv_into(self, view) -> int:
        self._inside = True
        self.reading.set()
        self.shut_down.wait(10)
        self.let_go.wait(10)  # the reader is still "in the syscall" when close() returns
        self._inside = False
        return 0

    def shutdown(self, how: int) -> None:
        self.shut_down.set()

    def close(self) -> None:
        self.closes += 1
        self.closed_while_reading = self.closed_while_reading or self._inside

    def settimeout(self, timeout) -> None:
        pass


def test_close_from_another_thread_keeps_descriptor_until_reader_leaves():
    # close() from another thread shuts the socket down (waking the reader) but must not free
    # the descriptor under it: the OS could reuse the number for a new socket that the reader
    # would then poll until its timeout. The reader releases it when it leaves.
    sock = _BlockingSocket()
    conn = Connection(sock, "127.0.0.1:1")
    errors = []
    reader = threading.Thread(target=lambda: errors.append(_capture(lambda: conn.command("admin", {"hello": 1}))))
    reader.start()
    assert sock.reading.wait(5)
    conn.close()
    assert sock.shut_down.is_set() and conn.closed
    assert sock.closes == 0, "the descriptor was released while a thread was reading it"
    sock.let_go.set()
    reader.join(timeout=5)
    assert not reader.is_alive()
    assert isinstance(errors[0], ConnectionFailure)
    assert sock.closes == 1 and not sock.closed_while_reading
    conn.close()  # idempotent
    assert sock.closes == 1


def test_close_without_io_releases_at_once():
    sock = _BlockingSocket()
    conn = Connection(sock, "127.0.0.1:1")
    conn.close()
    assert sock.shut_down.is_set() and sock.closes == 1
    with pytest.raises(ConnectionFailure, match="closed"):
        conn.command("admin", {"ping": 1})


def _capture(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - returned for the assertion
        return exc
    return None


def test_server_hangs_up_mid_conversation(make_server, opened):
    server = make_server()
    conn, _, _ = connect(server, opened)
    server.stop()
    with pytest.raises(ConnectionFailure, match=server.address):
        conn.command("admin", {"ping": 1})
    assert conn.closed


def test_garbage_reply_is_protocol_error_and_closes(opened):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    done = threading.Event()

    def serve():
        sock, _ = listener.accept()
        sock.recv(65536)
        sock.sendall(b"\x05\x00\x00\x00garbage-bytes-here")
        done.wait(5)
        sock.close()

    t = threading.Thread(target=serve)
    t.start()
    try:
        conn = Connection.connect(f"127.0.0.1:{port}")
        opened.append(conn)
        with pytest.raises(ProtocolError, match=f"127.0.0.1:{port}"):
            conn.command("admin", {"ping": 1})
        assert conn.closed
    finally:
        done.set()
        t.join()
        listener.close()


# --- connect -------------------------------------------------------------------------------

def test_refused_is_connection_failure_naming_address():
    s = socket.create_server(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ConnectionFailure, match=f"cannot connect to 127.0.0.1:{port}") as info:
        Connection.connect(f"127.0.0.1:{port}")
    assert not isinstance(info.value, NetworkTimeout)


def test_connect_timeout_against_full_backlog():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):  # fill the accept queue; the kernel then drops new SYNs
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", port))
            fillers.append(f)
        started = time.monotonic()
        with pytest.raises(NetworkTimeout, match=f"connecting to 127.0.0.1:{port} timed out.*=200"):
            Connection.connect(f"127.0.0.1:{port}", ConnectionOptions(connect_timeout_ms=200))
        assert 0.15 <= time.monotonic() - started < 3
    finally:
        for f in fillers:
            f.close()
        listener.close()


def test_tls_handshake_bounded_by_connect_timeout(make_server):
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (kernel) but never speaks TLS
    port = silent.getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(NetworkTimeout, match="TLS handshake"):
            Connection.connect(f"127.0.0.1:{port}", ConnectionOptions(connect_timeout_ms=200, tls=True,
                                                                      tls_insecure=True))
        assert time.monotonic() - started < 3
    finally:
        silent.close()


@pytest.mark.parametrize("address, expected", [
    ("localhost:27018", ("localhost", 27018)), ("example.com", ("example.com", 27017)),
    ("[::1]:5", ("::1", 5)), ("[::1]", ("::1", 27017)), (("h", "7"), ("h", 7)),
    ("/tmp/mongodb-27017.sock", ("/tmp/mongodb-27017.sock", 0)),
])
def test_parse_address(address, expected):
    assert parse_address(address) == expected


def test_parse_address_bad_port():
    with pytest.raises(ConfigurationError, match="invalid port"):
        parse_address("h:xx")


def test_options_from_uri_names():
    opts = ConnectionOptions.from_uri_options({"connectTimeoutMS": 1500, "socketTimeoutMS": 0, "tls": True,
                                               "tlsInsecure": True, "maxPoolSize": 5})
    assert (opts.connect_timeout_ms, opts.socket_timeout_ms, opts.tls, opts.tls_insecure) == (1500, 0, True, True)
    assert ConnectionOptions().connect_timeout_ms == 10_000  # the uri-options default, from option_defaults


# --- TLS -----------------------------------------------------------------------------------

def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    d = tmp_path_factory.mktemp("certs")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test-ca",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, san in (("good", "IP:127.0.0.1,DNS:localhost"), ("other", "DNS:other.example")):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                                       "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return d


def _server_ctx(certs, name):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / f"{name}.pem", certs / f"{name}.key")
    return ctx


def _tls_connect(server, **opts):
    return open_connection(server.address, ConnectionOptions(connect_timeout_ms=5000, tls=True, **opts))[0]


def test_tls_verifies_certificate_by_default(make_server, certs):
    server = make_server(tls=_server_ctx(certs, "good"))
    with pytest.raises(ConnectionFailure, match=rf"TLS certificate of {server.address} was rejected.*tlsCAFile"):
        _tls_connect(server)


def test_tls_with_ca_file(make_server, certs, opened):
    server = make_server(tls=_server_ctx(certs, "good"))
    conn = _tls_connect(server, tls_ca_file=str(certs / "ca.pem"))
    opened.append(conn)
    assert isinstance(conn.sock, ssl.SSLSocket) and conn.command("admin", {"ping": 1})["ok"] == 1


def test_tls_checks_hostname_unless_allowed(make_server, certs, opened):
    server = make_server(tls=_server_ctx(certs, "other"))
    ca = str(certs / "ca.pem")
    with pytest.raises(ConnectionFailure, match="rejected"):
        _tls_connect(server, tls_ca_file=ca)
    opened.append(_tls_connect(server, tls_ca_file=ca, tls_allow_invalid_hostnames=True))


@pytest.mark.parametrize("flag", ["tls_insecure", "tls_allow_invalid_certificates"])
def test_tls_insecure_accepts_unknown_ca(make_server, certs, opened, flag):
    server = make_server(tls=_server_ctx(certs, "other"))
    opened.append(_tls_connect(server, **{flag: True}))


def test_tls_context_flags_and_bad_files(certs, tmp_path):
    strict = ssl_context(ConnectionOptions(tls=True))
    assert strict.verify_mode == ssl.CERT_REQUIRED and strict.check_hostname
    loose = ssl_context(ConnectionOptions(tls=True, tls_allow_invalid_hostnames=True))
    assert loose.verify_mode == ssl.CERT_REQUIRED and not loose.check_hostname
    with pytest.raises(ConfigurationError, match="tlsCAFile"):
        ssl_context(ConnectionOptions(tls=True, tls_ca_file=str(tmp_path / "missing.pem")))
    combined = tmp_path / "client.pem"  # tlsCertificateKeyFile holds certificate and key
    combined.write_text((certs / "good.pem").read_text() + (certs / "good.key").read_text())
    client = ssl_context(ConnectionOptions(tls=True, tls_ca_file=str(certs / "ca.pem"),
                                           tls_certificate_key_file=str(combined)))
    assert client.verify_mode == ssl.CERT_REQUIRED
