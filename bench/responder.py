"""A minimal MongoDB responder for client benchmarks: prebuilt replies, raw documents, no query engine.

Run: python -m bench.responder [--port 0]   (prints the port on the first stdout line; stops when
stdin closes, so it never outlives the benchmark that started it)

It answers what the driver benchmark needs from a standalone 7.0 server, cheaply enough that the
clients, not the server, dominate the figures: the handshake (isMaster over OP_QUERY, hello over
OP_MSG), ping, buildInfo, create/drop/dropDatabase, listCollections, insert, find (empty filter or `_id`
equality), getMore, aggregate (a pipeline of `$match: {}` stages only), count, killCursors and
endSessions. Documents are kept as the raw BSON bytes the client sent and sent back as such:
only the command document is decoded, and a find by `_id` answers from a reply built once per
document (until the next insert into that collection).
Anything else gets a real-looking CommandNotFound / error reply, never a fake ok.
No topologyVersion in hello: clients poll every heartbeatFrequencyMS instead of streaming.
"""

from __future__ import annotations

import argparse
import itertools
import socket
import struct
import sys
import threading
from typing import Any

import bson
from bson.raw_bson import RawBSONDocument

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
CHECKSUM_PRESENT, MORE_TO_COME = 1, 2
MAX_BSON_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE = 48_000_000
MAX_WRITE_BATCH = 100_000
DEFAULT_FIRST_BATCH = 101  # find/aggregate without batchSize (server default)

_HEADER = struct.Struct("<iiii")
_INT32 = struct.Struct("<i")


def _hello_reply(connection_id: int) -> dict[str, Any]:
    return {
        "helloOk": True, "isWritablePrimary": True, "ismaster": True,
        "maxBsonObjectSize": MAX_BSON_SIZE, "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
        "maxWriteBatchSize": MAX_WRITE_BATCH, "localTime": bson.datetime.datetime.now(bson.datetime.timezone.utc),
        "logicalSessionTimeoutMinutes": 30, "connectionId": connection_id,
        "minWireVersion": 0, "maxWireVersion": 21, "readOnly": False, "ok": 1.0,
    }


def _error(code: int, name: str, message: str) -> bytes:
    return bson.encode({"ok": 0.0, "errmsg": message, "code": code, "codeName": name})


_OK = bson.encode({"ok": 1.0})


def _array(docs: list[bytes]) -> bytes:
    """A BSON array of raw documents, built by concatenation (no decoding, no re-encoding)."""
    parts = [b"\x03%d\x00%s" % (i, d) for i, d in enumerate(docs)]
    body = b"".join(parts)
    return _INT32.pack(len(body) + 5) + body + b"\x00"


def _cursor_reply(batch_key: str, docs: list[bytes], cursor_id: int, ns: str) -> bytes:
    """{cursor: {<batch_key>: [...], id: cursor_id, ns: ns}, ok: 1.0}, assembled from raw pieces."""
    ns_bytes = ns.encode()
    cursor = (b"\x04" + batch_key.encode() + b"\x00" + _array(docs)
              + b"\x12id\x00" + struct.pack("<q", cursor_id)
              + b"\x02ns\x00" + _INT32.pack(len(ns_bytes) + 1) + ns_bytes + b"\x00")
    cursor = _INT32.pack(len(cursor) + 5) + cursor + b"\x00"
    body = b"\x03cursor\x00" + cursor + b"\x01ok\x00" + struct.pack("<d", 1.0)
    return _INT32.pack(len(body) + 5) + body + b"\x00"


def _split_documents(data: memoryview) -> list[bytes]:
    """Raw documents of an OP_MSG kind-1 sequence, cut at their length prefixes."""
    docs, pos, end = [], 0, len(data)
    while pos < end:
        (size,) = _INT32.unpack_from(data, pos)
        docs.append(bytes(data[pos:pos + size]))
        pos += size
    return docs


class Collection:
    """Raw documents in insertion order plus an `_id` index built lazily on the first lookup."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.docs: list[bytes] = []
        self._by_id: dict[Any, bytes] | None = None
        self._id_replies: dict[Any, bytes] = {}  # _id -> the whole find reply: {firstBatch: [doc], id: 0}

    def insert(self, docs: list[bytes]) -> None:
        self.docs.extend(docs)
        self._by_id = None
        self._id_replies.clear()

    def by_id(self, value: Any) -> bytes | None:
        if self._by_id is None:
            self._by_id = {RawBSONDocument(d)["_id"]: d for d in self.docs}
        return self._by_id.get(value)

    def reply_for_id(self, value: Any) -> bytes:
        """The find reply for `{_id: value}` when the whole result fits the first batch."""
        reply = self._id_replies.get(value)
        if reply is None:
            doc = self.by_id(value)
            reply = self._id_replies[value] = _cursor_reply("firstBatch", [] if doc is None else [doc], 0, self.ns)
        return reply


class Store:
    """All databases: namespace -> Collection, plus open cursors. One lock; work under it is tiny."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.collections: dict[str, Collection] = {}
        self.cursors: dict[int, tuple[str, list[bytes], int, int]] = {}  # id -> ns, docs, pos, left
        self._ids = itertools.count(1)

    def collection(self, ns: str) -> Collection:
        """The collection `ns`, created empty on first use (as a server creates it on insert)."""
        coll = self.collections.get(ns)
        if coll is None:
            coll = self.collections[ns] = Collection(ns)
        return coll

    def open_cursor(self, ns: str, docs: list[bytes], first: int, limit: int) -> tuple[list[bytes], int]:
        """Return the first batch and a cursor id (0 when everything fits in it)."""
        if limit:
            docs = docs[:limit]
        batch = docs[:first]
        if len(batch) == len(docs):
            return batch, 0
        cursor_id = next(self._ids)
        self.cursors[cursor_id] = (ns, docs, len(batch), 0)
        return batch, cursor_id

    def next_batch(self, cursor_id: int, batch_size: int) -> tuple[list[bytes], int] | None:
        state = self.cursors.get(cursor_id)
        if state is None:
            return None
        ns, docs, pos, _ = state
        end, size = pos, 0
        # No batchSize: up to 16 MiB per batch, as a server does.
        while end < len(docs) and (end - pos < batch_size if batch_size else size < MAX_BSON_SIZE):
            size += len(docs[end])
            end += 1
        if end >= len(docs):
            del self.cursors[cursor_id]
            return docs[pos:end], 0
        self.cursors[cursor_id] = (ns, docs, end, 0)
        return docs[pos:end], cursor_id


class Responder:
    """A threaded TCP server: one thread per connection, replies built from raw bytes."""

    def __init__(self, port: int = 0) -> None:
        self.store = Store()
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self._conn_ids = itertools.count(1)

    def serve_forever(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return  # closed
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(sock, next(self._conn_ids)), daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    # -- one connection --------------------------------------------------------------------
    def _serve(self, sock: socket.socket, connection_id: int) -> None:
        hello = bson.encode(_hello_reply(connection_id))
        header = bytearray(16)
        try:
            while True:
                if not _recv_into(sock, memoryview(header)):
                    return
                length, request_id, _, op_code = _HEADER.unpack(header)
                body = bytearray(length - 16)
                if not _recv_into(sock, memoryview(body)):
                    return
                if op_code == OP_QUERY:
                    sock.sendall(_op_reply(request_id, hello))
                elif op_code == OP_MSG:
                    flags = _INT32.unpack_from(body, 0)[0]
                    reply = self._op_msg(memoryview(body), flags, hello)
                    if not flags & MORE_TO_COME:
                        sock.sendall(_op_msg(request_id, reply))
                else:
                    return  # unsupported opcode: hang up, as a server does
        except OSError:
            return
        finally:
            sock.close()

    def _op_msg(self, data: memoryview, flags: int, hello: bytes) -> bytes:
        end = len(data) - (4 if flags & CHECKSUM_PRESENT else 0)
        pos, command, sequences = 4, None, {}
        while pos < end:
            kind = data[pos]
            pos += 1
            (size,) = _INT32.unpack_from(data, pos)
            if kind == 0:
                command = bson.decode(data[pos:pos + size])  # small: decoding it whole is cheapest
                pos += size
            else:
                name_end = bytes(data[pos + 4:pos + size]).index(b"\x00") + pos + 4
                name = bytes(data[pos + 4:name_end]).decode()
                sequences[name] = _split_documents(data[name_end + 1:pos + size])
                pos += size
        if command is None:
            return _error(2, "BadValue", "OP_MSG without a kind-0 body")
        try:
            return self._dispatch(command, sequences, hello)
        except Exception as exc:  # a bug here must show as an error reply, not a hang
            return _error(8000, "BenchResponderError", f"bench responder: {exc!r}")

    def _dispatch(self, cmd: dict[str, Any], sequences: dict[str, list[bytes]], hello: bytes) -> bytes:
        name = next(iter(cmd))
        db = cmd.get("$db", "test")
        store = self.store
        if name in ("hello", "isMaster", "ismaster"):
            return hello
        if name in ("ping", "endSessions"):
            return _OK
        if name == "create":
            with store.lock:
                store.collection(f"{db}.{cmd['create']}")
            return _OK
        if name == "buildInfo":
            return bson.encode({"version": "7.0.0", "versionArray": [7, 0, 0, 0], "ok": 1.0})
        if name == "insert":
            docs = sequences.get("documents") or [bson.encode(d) for d in cmd.get("documents", [])]
            with store.lock:
                store.collection(f"{db}.{cmd['insert']}").insert(docs)
            return bson.encode({"n": len(docs), "ok": 1.0})
        if name == "drop":
            with store.lock:
                store.collections.pop(f"{db}.{cmd['drop']}", None)
            return _OK
        if name == "dropDatabase":
            with store.lock:
                for ns in [ns for ns in store.collections if ns.startswith(db + ".")]:
                    del store.collections[ns]
            return _OK
        if name == "count":
            coll = store.collections.get(f"{db}.{cmd['count']}")
            return bson.encode({"n": len(coll.docs) if coll else 0, "ok": 1.0})
        if name == "find":
            return self._find(db, cmd)
        if name == "listCollections":
            return self._list_collections(db, cmd)
        if name == "aggregate":
            return self._aggregate(db, cmd)
        if name == "getMore":
            ns = f"{db}.{cmd['collection']}"
            with store.lock:
                found = store.next_batch(int(cmd["getMore"]), int(cmd.get("batchSize", 0)))
            if found is None:
                return _error(43, "CursorNotFound", f"cursor id {cmd['getMore']} not found")
            return _cursor_reply("nextBatch", found[0], found[1], ns)
        if name == "killCursors":
            ids = list(cmd.get("cursors", []))
            with store.lock:
                killed = [i for i in ids if store.cursors.pop(int(i), None) is not None]
            return bson.encode({"cursorsKilled": killed, "cursorsNotFound": [i for i in ids if i not in killed],
                                "cursorsAlive": [], "cursorsUnknown": [], "ok": 1.0})
        return _error(59, "CommandNotFound", f"no such command: '{name}' (bench responder)")

    def _find(self, db: str, cmd: dict[str, Any]) -> bytes:
        ns = f"{db}.{cmd['find']}"
        flt = cmd.get("filter") or {}
        by_id = list(flt) == ["_id"] and not isinstance(flt["_id"], dict)
        if flt and not by_id:
            return _error(2, "BadValue", "bench responder: only {} or {_id: value} filters")
        limit = abs(int(cmd.get("limit", 0)))
        first = int(cmd.get("batchSize", DEFAULT_FIRST_BATCH))
        if cmd.get("singleBatch"):
            first = limit or first
        coll = self.store.collections.get(ns)
        with self.store.lock:
            if by_id and first and coll:  # at most one document: the whole result is the first batch
                return coll.reply_for_id(flt["_id"])
            if by_id:
                doc = coll.by_id(flt["_id"]) if coll else None
                docs = [doc] if doc is not None else []
            else:
                docs = list(coll.docs) if coll else []
            batch, cursor_id = self.store.open_cursor(ns, docs, first, limit)
            if cmd.get("singleBatch") and cursor_id:
                self.store.cursors.pop(cursor_id)
                cursor_id = 0
        return _cursor_reply("firstBatch", batch, cursor_id, ns)

    def _list_collections(self, db: str, cmd: dict[str, Any]) -> bytes:
        wanted = (cmd.get("filter") or {}).get("name")
        with self.store.lock:
            names = [ns.split(".", 1)[1] for ns in self.store.collections if ns.startswith(db + ".")]
        docs = [bson.encode({"name": n, "type": "collection", "options": {}, "info": {"readOnly": False}})
                for n in names if wanted is None or n == wanted]
        return _cursor_reply("firstBatch", docs, 0, f"{db}.$cmd.listCollections")

    def _aggregate(self, db: str, cmd: dict[str, Any]) -> bytes:
        ns = f"{db}.{cmd['aggregate']}"
        for stage in cmd.get("pipeline", []):
            if list(stage) != ["$match"] or stage["$match"]:
                return _error(2, "BadValue", "bench responder: only $match: {} stages")
        first = int((cmd.get("cursor") or {}).get("batchSize", DEFAULT_FIRST_BATCH))
        with self.store.lock:
            coll = self.store.collections.get(ns)
            batch, cursor_id = self.store.open_cursor(ns, list(coll.docs) if coll else [], first, 0)
        return _cursor_reply("firstBatch", batch, cursor_id, ns)


def _recv_into(sock: socket.socket, view: memoryview) -> bool:
    """Fill `view` from the socket; False when the peer hung up first."""
    while len(view):
        n = sock.recv_into(view)
        if not n:
            return False
        view = view[n:]
    return True


def _op_msg(response_to: int, doc: bytes) -> bytes:
    length = 16 + 4 + 1 + len(doc)
    return _HEADER.pack(length, 0, response_to, OP_MSG) + b"\x00\x00\x00\x00\x00" + doc


def _op_reply(response_to: int, doc: bytes) -> bytes:
    length = 16 + 20 + len(doc)
    return _HEADER.pack(length, 0, response_to, OP_REPLY) + struct.pack("<iqii", 0, 0, 0, 1) + doc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.responder", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    args = parser.parse_args(argv)
    responder = Responder(args.port)
    threading.Thread(target=responder.serve_forever, daemon=True).start()
    print(responder.port, flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or dies)
    responder.close()


if __name__ == "__main__":
    main()
