"""Large messages leave by sendmsg (scatter-gather, no join, no copy of the documents) and arrive whole;
TLS and compression still get one joined message."""

from __future__ import annotations

import socket

import bson
import pytest

from driver import socket_connection
from driver.establish import open_connection
from driver.ops.write import encode_insert, with_id
from driver.socket_connection import ConnectionOptions
from driver.wire.encode import COALESCE_BELOW, EncodedDocuments, SplicedDocument, coalesce, op_msg_buffers
from tests.unit.test_connection import _server_ctx, certs, make_server, opened  # noqa: F401 (fixtures)


def _large_documents(n: int) -> list[dict]:
    """Documents without _id, each above COALESCE_BELOW once encoded (so each is sent uncopied)."""
    return [{"i": i, "text": f"{i:06d}" * (COALESCE_BELOW // 6 + 100)} for i in range(n)]


def _connect(server, conns, compressors=(), **options):
    conn, _, _ = open_connection(server.address, ConnectionOptions(connect_timeout_ms=5000, socket_timeout_ms=20000,
                                                                   **options), compressors=compressors)
    conns.append(conn)
    return conn


def _insert(conn, documents):
    encoded = [encode_insert(d) for d in documents]
    reply = conn.command("db", {"insert": "c"}, sequences={"documents": EncodedDocuments([e for e, _ in encoded])})
    return reply, [_id for _, _id in encoded]


def _expected(documents, ids):
    return [with_id({"_id": _id, **d})[0] for d, _id in zip(documents, ids)]


class _SendmsgSpy:
    """Wraps socket.socket.sendmsg: records each call's buffers; optionally sends at most `cap` bytes a call."""

    def __init__(self, monkeypatch, cap: int | None = None) -> None:
        self.calls: list[list] = []
        original = socket.socket.sendmsg
        spy = self

        def sendmsg(sock, buffers, *args):
            buffers = list(buffers)
            spy.calls.append(buffers)
            if cap is not None:  # a partial send, as a full socket buffer under a timeout gives
                kept, room = [], cap
                for buf in buffers:
                    if room <= 0:
                        break
                    kept.append(memoryview(buf)[:room])
                    room -= len(kept[-1])
                buffers = kept
            return original(sock, buffers, *args)

        monkeypatch.setattr(socket.socket, "sendmsg", sendmsg)


def test_a_large_insert_in_more_buffers_than_iov_max_round_trips_uncopied(make_server, opened, monkeypatch):
    server = make_server()
    conn = _connect(server, opened)
    monkeypatch.setattr(socket_connection, "IOV_MAX", 4)  # the message below needs ~25 buffers
    spy = _SendmsgSpy(monkeypatch)
    documents = _large_documents(12)
    reply, ids = _insert(conn, documents)
    assert reply["ok"] == 1
    server.wait_for(2)
    assert server.received[-1].cmd["documents"] == _expected(documents, ids)
    assert len(spy.calls) >= 25 // 4 and all(len(call) <= 4 for call in spy.calls)
    sent = [buf for call in spy.calls for buf in call]
    large = [buf for buf in sent if len(buf) >= COALESCE_BELOW]
    # Each document's encoded bytes went out as a view of the encoder's output: never joined.
    assert len(large) == 12 and all(isinstance(buf, memoryview) for buf in large)


def test_partial_sends_continue_where_they_stopped(make_server, opened, monkeypatch):
    server = make_server()
    conn = _connect(server, opened)
    spy = _SendmsgSpy(monkeypatch, cap=10_000)  # every call sends at most 10 kB of what it is given
    documents = _large_documents(3)
    reply, ids = _insert(conn, documents)
    assert reply["ok"] == 1
    server.wait_for(2)
    assert server.received[-1].cmd["documents"] == _expected(documents, ids)
    total = sum(len(b) for b in op_msg_buffers(1, {"insert": "c", "$db": "db"},
                                               {"documents": [bson.decode(bytes(encode_insert(d)[0]))
                                                              for d in documents]}))
    assert len(spy.calls) >= total // 10_000


def test_small_messages_are_one_sendall(make_server, opened, monkeypatch):
    server = make_server()
    conn = _connect(server, opened)
    spy = _SendmsgSpy(monkeypatch)
    assert conn.command("db", {"insert": "c"}, sequences={"documents": [{"a": 1}] * 100})["ok"] == 1
    assert spy.calls == []


def test_tls_sends_a_large_insert_joined(make_server, opened, certs):  # noqa: F811 (fixture)
    server = make_server(tls=_server_ctx(certs, "good"))
    conn = _connect(server, opened, tls=True, tls_ca_file=str(certs / "ca.pem"))
    assert type(conn.sock) is not socket.socket  # an SSLSocket: sendmsg raises NotImplementedError there
    documents = _large_documents(3)
    reply, ids = _insert(conn, documents)
    assert reply["ok"] == 1
    server.wait_for(2)
    assert server.received[-1].cmd["documents"] == _expected(documents, ids)


def test_compressed_large_insert_round_trips(make_server, opened):
    server = make_server(compression=["zlib"])
    conn = _connect(server, opened, compressors=["zlib"])
    assert conn.compressor == "zlib"
    documents = _large_documents(2)
    reply, ids = _insert(conn, documents)
    assert reply["ok"] == 1
    server.wait_for(2)
    assert server.received[-1].compressor == "zlib"
    assert server.received[-1].cmd["documents"] == _expected(documents, ids)


def test_large_document_without_id_is_spliced_not_copied() -> None:
    document = _large_documents(1)[0]
    encoded, _id = encode_insert(document)
    assert isinstance(encoded, SplicedDocument) and len(encoded) == len(bytes(encoded))
    assert bytes(encoded) == bson.encode({"_id": _id, **document})
    head, tail = encoded.buffers
    assert len(head) == 21 and isinstance(tail, memoryview)
    # Readers that need a document get one (command monitoring, OP_QUERY, error reports).
    assert dict(EncodedDocuments([encoded])[0]) == {"_id": _id, **document}


@pytest.mark.parametrize("sizes, expected", [
    ([], []),
    ([3, 4], [7]),
    ([3, 100, 4], [3, 100, 4]),
    ([100, 1, 2, 100, 5], [100, 3, 100, 5]),
    ([1, 2, 3], [6]),
])
def test_coalesce_joins_runs_of_small_buffers_only(sizes, expected) -> None:
    buffers = [bytes([i]) * n for i, n in enumerate(sizes)]
    out = coalesce(buffers, small=10)
    assert [len(b) for b in out] == expected and b"".join(out) == b"".join(buffers)
    kept = [b for b in buffers if len(b) >= 10]
    assert all(any(o is b for o in out) for b in kept)  # large ones are the same objects
