"""The unified runner's internal client: commands to a sandbox by PyMongo, or over a plain OP_MSG socket
for a release PyMongo no longer speaks (its floor is maxWireVersion 9, MongoDB 4.4)."""

from __future__ import annotations

import socket
import struct
from typing import Any, Iterator

import bson

_OP_MSG = 2013
_HEADER = struct.Struct("<iiii")


class CommandFailed(Exception):
    """The server answered ok: 0."""

    def __init__(self, reply: dict) -> None:
        super().__init__(reply.get("errmsg", "command failed"))
        self.code = reply.get("code")
        self.reply = reply


class Unreachable(Exception):
    """No connection to the member (e.g. a test shut it down)."""


class PyMongoCommands:
    """Commands through PyMongo: the deployment's client, and one direct client per member."""

    def __init__(self, uri: str) -> None:
        import pymongo

        self._pymongo = pymongo
        self._client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
        self._direct: dict[str, Any] = {}

    def run(self, db: str, command: dict, address: str | None = None) -> dict:
        """`command` on the primary (or the given member); CommandFailed / Unreachable."""
        errors = self._pymongo.errors
        client = self._client if address is None else self._member(address)
        try:
            return client.get_database(db).command(command)
        except errors.OperationFailure as exc:
            raise CommandFailed(exc.details or {"errmsg": str(exc), "code": exc.code}) from exc
        except errors.ConnectionFailure as exc:
            raise Unreachable(str(exc)) from exc

    def _member(self, address: str) -> Any:
        if address not in self._direct:
            self._direct[address] = self._pymongo.MongoClient(address, directConnection=True,
                                                              serverSelectionTimeoutMS=2000)
        return self._direct[address]

    def close(self) -> None:
        for client in [self._client, *self._direct.values()]:
            client.close()


class WireCommands:
    """Commands as OP_MSG on one socket per member, to the sandbox's current primary by default.

    Each reply is decoded as PyMongo's defaults decode it, so outcome documents compare the same
    whichever internal client read them."""

    def __init__(self, sandbox: Any) -> None:
        self._sandbox = sandbox
        self._sockets: dict[str, socket.socket] = {}
        self._request_id = 0

    def run(self, db: str, command: dict, address: str | None = None) -> dict:
        address = address or self._sandbox.wait_for_primary(10)
        try:
            reply = self._round_trip(address, {**command, "$db": db})
        except OSError as exc:
            self._drop(address)
            raise Unreachable(f"{address}: {exc}") from exc
        if not reply.get("ok"):
            raise CommandFailed(reply)
        return reply

    def _round_trip(self, address: str, document: dict) -> dict:
        sock = self._sockets.get(address)
        if sock is None:
            host, port = address.rsplit(":", 1)
            sock = self._sockets[address] = socket.create_connection((host, int(port)), timeout=30)
        self._request_id += 1
        body = struct.pack("<iB", 0, 0) + bson.encode(document)
        sock.sendall(_HEADER.pack(_HEADER.size + len(body), self._request_id, 0, _OP_MSG) + body)
        length, _, _, op_code = _HEADER.unpack(_read(sock, _HEADER.size))
        payload = _read(sock, length - _HEADER.size)
        if op_code != _OP_MSG or payload[4] != 0:
            raise OSError(f"unexpected reply (opCode {op_code})")
        return bson.decode(payload[5:])

    def _drop(self, address: str) -> None:
        sock = self._sockets.pop(address, None)
        if sock is not None:
            sock.close()

    def close(self) -> None:
        for address in list(self._sockets):
            self._drop(address)


def _read(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise OSError("connection closed")
        chunks += chunk
    return bytes(chunks)


def documents(commands: Any, db: str, command: dict) -> Iterator[dict]:
    """Every document of a cursor command's result (find, listCollections, listIndexes), via getMore."""
    cursor = commands.run(db, command)["cursor"]
    yield from cursor["firstBatch"]
    collection = cursor["ns"].split(".", 1)[1]
    while cursor["id"]:
        cursor = commands.run(db, {"getMore": cursor["id"], "collection": collection})["cursor"]
        yield from cursor["nextBatch"]
