"""The fast paths of issue 12 give exactly what the plain paths gave: same bytes, same choices."""

from __future__ import annotations

import socket
import struct
import threading
from collections import OrderedDict

import bson
import pytest
from bson import ObjectId
from bson.raw_bson import RawBSONDocument
from bson.son import SON

from driver.errors import ConfigurationError
from driver.ops.write import encode_insert, with_id
from driver.socket_connection import READ_AHEAD, Connection
from driver.wire.encode import encode_op_msg


@pytest.mark.parametrize("document", [
    {"a": 1, "b": {"c": [1, 2]}},
    {"a": 1, "_id": 7},  # _id present but not first
    {"_id": "x", "a": 1},
    SON([("z", 1), ("_id", 2.5)]),
    OrderedDict([("a", None)]),
    RawBSONDocument(bson.encode({"a": "raw"})),
    {},
])
def test_encode_insert_gives_the_bytes_of_with_id_without_copying_or_mutating(document) -> None:
    before = bson.encode(document)
    fixed = ObjectId()
    encoded, _id = encode_insert(document, lambda: fixed)
    expected_doc, expected_id = with_id(document) if "_id" in document else with_id({"_id": fixed, **document})
    assert _id == expected_id
    assert encoded == bson.encode(expected_doc)
    assert list(bson.decode(encoded))[0] == "_id"
    assert bson.encode(document) == before  # not mutated


def test_encode_insert_names_a_non_document() -> None:
    with pytest.raises(ConfigurationError, match="document"):
        encode_insert([("a", 1)])


def test_encode_insert_generates_a_fresh_object_id_by_default() -> None:
    first, a = encode_insert({"k": 1})
    second, b = encode_insert({"k": 1})
    assert isinstance(a, ObjectId) and a != b and bson.decode(first)["_id"] == a


# -- replies read ahead: one recv can hold a header, a body and the start of the next message --

def _serve_once(server: socket.socket, replies) -> threading.Thread:
    """Read one request, then send `replies(request_id)` (a list of byte chunks, sent one by one)."""
    def run() -> None:
        header = b""
        while len(header) < 16:
            header += server.recv(16 - len(header))
        length, request_id = struct.unpack("<ii", header[:8])
        left = length - 16
        while left:
            left -= len(server.recv(left))
        for chunk in replies(request_id):
            server.sendall(chunk)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_two_replies_in_one_read_are_both_delivered_in_order() -> None:
    client, server = socket.socketpair()
    conn = Connection(client, "pair")
    try:
        def replies(request_id: int):
            first = encode_op_msg(900, {"n": 1, "ok": 1.0}, response_to=request_id, more_to_come=True)
            second = encode_op_msg(901, {"n": 2, "ok": 1.0}, response_to=900)
            return [first + second]  # one send: the first recv takes both
        thread = _serve_once(server, replies)
        assert conn.command("admin", {"hello": 1}, exhaust_allowed=True)["n"] == 1
        assert conn.more_to_come
        assert conn.receive_more()["n"] == 2 and not conn.more_to_come
        thread.join(5)
    finally:
        conn.close()
        server.close()


def test_a_large_reply_split_across_reads_arrives_whole() -> None:
    client, server = socket.socketpair()
    conn = Connection(client, "pair")
    big = "x" * (3 * READ_AHEAD)
    try:
        def replies(request_id: int):
            message = encode_op_msg(7, {"s": big, "ok": 1.0}, response_to=request_id)
            return [message[:10], message[10:40], message[40:READ_AHEAD + 5], message[READ_AHEAD + 5:]]
        thread = _serve_once(server, replies)
        assert conn.command("admin", {"ping": 1})["s"] == big
        thread.join(5)
    finally:
        conn.close()
        server.close()
