"""A standalone sandbox answers PyMongo and raw wire-protocol clients like a real mongod."""

from __future__ import annotations

import socket

import bson
import pytest
from pymongo.errors import OperationFailure

from driver import wire


def _raw_connect(address: str) -> socket.socket:
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    return sock


def _read_message(sock: socket.socket) -> object:
    def read(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            assert chunk, "server closed the connection"
            data += chunk
        return data

    header = wire.parse_header(read(wire.HEADER_SIZE))
    return header, wire.parse_body(header, read(header.message_length - wire.HEADER_SIZE))


def test_ping_insert_find(standalone, mongo_client) -> None:
    client = mongo_client(standalone.uri)
    assert client.admin.command("ping")["ok"] == 1.0
    client.shop.items.insert_many([{"sku": "a", "qty": 1}, {"sku": "b", "qty": 5}])
    found = list(client.shop.items.find({"qty": {"$gt": 2}}, {"_id": 0}))
    assert found == [{"sku": "b", "qty": 5}]


def test_hello_fields(standalone, mongo_client) -> None:
    client = mongo_client(standalone.uri)
    hello = client.admin.command("hello")
    assert hello["isWritablePrimary"] is True
    assert hello["maxWireVersion"] == 27 and hello["minWireVersion"] == 0  # the default, 8.2
    assert hello["maxMessageSizeBytes"] == 48_000_000
    assert hello["maxWriteBatchSize"] == 100_000
    assert hello["logicalSessionTimeoutMinutes"] == 30
    assert set(hello["topologyVersion"]) == {"processId", "counter"}
    assert "setName" not in hello
    legacy = client.admin.command("isMaster")
    assert legacy["ismaster"] is True and "isWritablePrimary" not in legacy
    info = client.admin.command("buildInfo")
    assert info["version"] == "8.2.1" and info["versionArray"][:3] == [8, 2, 1]


def test_unknown_command_is_code_59(standalone, mongo_client) -> None:
    client = mongo_client(standalone.uri)
    with pytest.raises(OperationFailure) as caught:
        client.admin.command("noSuchThing")
    assert caught.value.code == 59
    assert caught.value.details["codeName"] == "CommandNotFound"
    assert caught.value.details["errmsg"] == "no such command: 'noSuchThing'"


def test_w0_insert_gets_no_reply_and_connection_keeps_working(standalone) -> None:
    sock = _raw_connect(standalone.addresses[0])
    try:
        insert = {"insert": "c", "documents": [{"_id": 1}], "writeConcern": {"w": 0}, "$db": "t"}
        sock.sendall(wire.encode_op_msg(101, insert, more_to_come=True))
        sock.sendall(wire.encode_op_msg(102, {"find": "c", "filter": {}, "$db": "t"}))
        header, reply = _read_message(sock)
        # The first reply on the socket answers the find: the w:0 insert got none.
        assert header.response_to == 102
        assert reply.body["cursor"]["firstBatch"] == [{"_id": 1}]
    finally:
        sock.close()


def test_legacy_op_query_handshake(standalone) -> None:
    sock = _raw_connect(standalone.addresses[0])
    try:
        sock.sendall(wire.encode_op_query(7, "admin.$cmd", {"isMaster": 1, "helloOk": True}))
        header, reply = _read_message(sock)
        assert header.op_code == wire.OP_REPLY and header.response_to == 7
        assert reply.documents[0]["ismaster"] is True and reply.documents[0]["helloOk"] is True
        sock.sendall(wire.encode_op_query(8, "admin.$cmd", {"ping": 1}))
        _, reply = _read_message(sock)
        assert reply.documents[0]["code"] == 352
    finally:
        sock.close()


def test_server_level_commands(standalone, mongo_client) -> None:
    client = mongo_client(standalone.uri)
    status = client.admin.command("serverStatus")
    assert status["process"] == "mongod" and status["connections"]["current"] >= 1
    assert client.admin.command("whatsmyuri")["you"].startswith("127.0.0.1:")
    assert client.admin.command("getParameter", 1, featureCompatibilityVersion=1)["featureCompatibilityVersion"] == {"version": "8.2"}
    assert client.admin.command("hostInfo")["system"]["numCores"] >= 1
    assert "--port" in client.admin.command("getCmdLineOpts")["argv"]
    with pytest.raises(OperationFailure) as caught:
        client.admin.command("replSetGetStatus")
    assert caught.value.code == 76
    with pytest.raises(OperationFailure) as caught:
        client.test.command("getLog", "global")
    assert caught.value.code == 13  # admin-only command on another database


def test_data_persists_across_connections(standalone, mongo_client) -> None:
    mongo_client(standalone.uri).db.c.insert_one({"x": bson.Int64(7)})
    assert mongo_client(standalone.uri).db.c.find_one({}, {"_id": 0}) == {"x": 7}
