"""A scripted hostile MongoDB server on 127.0.0.1: one mode per fault, switchable live to "good".

It speaks just enough of the wire protocol (OP_QUERY/OP_MSG in, OP_REPLY/OP_MSG out) and of
SCRAM-SHA-256 (user "u", password "pw") to lead a client into each fault, and to serve it
correctly again once the mode is "good", so tests can check that pool and monitor recover.
It shares no code with driver/: a bug in our codec must not hide a bug in our client.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import os
import socket
import struct
import threading
import time
import zlib
from typing import Any

import bson
from bson import Int64
from bson.binary import Binary

USER, PASSWORD = "u", "pw"
OP_REPLY, OP_QUERY, OP_COMPRESSED, OP_MSG = 1, 2004, 2012, 2013
MORE_TO_COME = 1 << 1
TWO_GB = 2**31 - 1

# Faults of the handshake/monitoring hello (every hello answers them).
HELLO_MODES = ("hello_huge_limits", "many_hosts", "wire_999", "wrong_types")
# Faults of the SCRAM conversation (the URI carries u:pw).
AUTH_MODES = ("scram_huge_int", "scram_iterations")
# Faults of the reply to an ordinary command (ping); hellos stay well-formed.
REPLY_MODES = ("trickle", "silent", "more_to_come", "truncated", "negative_length", "huge_length",
               "wrong_response_to", "bad_bson", "unknown_opcode", "bad_compressor", "zlib_bomb",
               "reset_mid_reply")
MODES = ("good",) + HELLO_MODES + AUTH_MODES + REPLY_MODES

TRICKLE_INTERVAL_S = 0.25  # one byte per interval: a reply of ~400 bytes takes ~100 s
MANY_HOSTS = 10_000
SCRAM_ITERATIONS = 4096


def _header(length: int, request_id: int, response_to: int, op_code: int) -> bytes:
    return struct.pack("<iiii", length, request_id, response_to, op_code)


def op_msg(doc: dict, request_id: int, response_to: int, flags: int = 0) -> bytes:
    body = struct.pack("<I", flags) + b"\x00" + bson.encode(doc)
    return _header(16 + len(body), request_id, response_to, OP_MSG) + body


def op_reply(doc: dict, request_id: int, response_to: int) -> bytes:
    body = struct.pack("<iqii", 0, 0, 0, 1) + bson.encode(doc)
    return _header(16 + len(body), request_id, response_to, OP_REPLY) + body


def op_compressed(plain: bytes, compressor_id: int, data: bytes, declared_size: int | None = None) -> bytes:
    """Wrap `plain` (a whole message) as OP_COMPRESSED carrying `data` as its compressed bytes."""
    length, request_id, response_to, op_code = struct.unpack_from("<iiii", plain)
    size = declared_size if declared_size is not None else length - 16
    body = struct.pack("<iiB", op_code, size, compressor_id) + data
    return _header(16 + len(body), request_id, response_to, OP_COMPRESSED) + body


def zlib_bomb(inflated_bytes: int) -> bytes:
    """zlib data inflating to `inflated_bytes` zeros, built a MiB at a time (little memory here)."""
    deflater = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    parts = [deflater.compress(chunk) for _ in range(inflated_bytes >> 20)]
    parts.append(deflater.flush())
    return b"".join(parts)


class _Scram:
    """Server side of SCRAM-SHA-256 for USER/PASSWORD (RFC 5802/7677), for the "good" mode."""

    def __init__(self) -> None:
        self.salt = os.urandom(28)
        salted = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), self.salt, SCRAM_ITERATIONS)
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        self.stored_key = hashlib.sha256(client_key).digest()
        self.server_key = hmac.digest(salted, b"Server Key", "sha256")

    def first(self, client_first: bytes, iterations: int = SCRAM_ITERATIONS) -> tuple[str, str]:
        """(client-first-bare, server-first) for a client-first-message."""
        bare = client_first.decode()[3:]  # drop the "n,," GS2 header
        nonce = dict(part.split("=", 1) for part in bare.split(","))["r"]
        server_first = f"r={nonce}{base64.b64encode(os.urandom(18)).decode()},s={base64.b64encode(self.salt).decode()},i={iterations}"
        return bare, server_first

    def final(self, bare: str, server_first: str, client_final: bytes) -> bytes:
        text = client_final.decode()
        without_proof, _, proof = text.rpartition(",p=")
        auth_message = f"{bare},{server_first},{without_proof}".encode()
        signature = hmac.digest(self.stored_key, auth_message, "sha256")
        client_key = bytes(a ^ b for a, b in zip(base64.b64decode(proof), signature))
        if hashlib.sha256(client_key).digest() != self.stored_key:
            raise ValueError("bad proof")
        return b"v=" + base64.b64encode(hmac.digest(self.server_key, auth_message, "sha256"))


class HostileServer:
    """`with HostileServer("trickle") as server:` ... `server.mode = "good"` ... (mode read per message)."""

    def __init__(self, mode: str = "good", *, set_name: str | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
        self.mode = mode
        self.set_name = set_name  # answer as the primary of this replica set (hosts: itself)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._scram = _Scram()
        self._request_ids = iter(range(1, 2**31))
        # Built before serving: 64 MiB of zeros in ~64 KB, inflating past the 40 MB it declares.
        self._bomb = zlib_bomb(64 << 20) if mode == "zlib_bomb" else b""
        self.connections_accepted = 0
        self._accepter = threading.Thread(target=self._accept, name=f"hostile-{self.port}", daemon=True)
        self._accepter.start()

    def uri(self, *options: str, auth: bool = False) -> str:
        user = f"{USER}:{PASSWORD}@" if auth else ""
        query = "&".join(options)
        return f"mongodb://{user}{self.address}/" + (f"?{query}" if query else "")

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        self._closed.set()
        # close() alone does not wake a thread blocked in accept() on Linux (the accepter then
        # held every close() for its 10 s join); shutdown() makes that accept() fail at once.
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._accepter.join(10)
        for thread in list(self._threads):
            thread.join(10)

    def open_connections(self) -> int:
        """Client connections currently open to this server."""
        with self._lock:
            return len(self._sockets)

    def wait_until_no_connections(self, timeout_s: float) -> bool:
        """Wait (by joining their threads) until every client connection has ended; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                threads = [t for t in self._threads if t.is_alive()]
            if not threads:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            threads[0].join(left)

    def __enter__(self) -> "HostileServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.add(sock)
                self.connections_accepted += 1
                thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
                self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    # -- one connection ---------------------------------------------------------------------
    def _serve(self, sock: socket.socket) -> None:
        state: dict[str, Any] = {}
        try:
            while not self._closed.is_set():
                head = self._recv(sock, 16)
                if head is None:
                    return
                length, request_id, _, op_code = struct.unpack("<iiii", head)
                body = self._recv(sock, length - 16)
                if body is None:
                    return
                legacy, command = self._parse(op_code, body)
                if command is None:  # fire-and-forget (moreToCome from the client) or unparsable
                    continue
                if not self._answer(sock, state, request_id, legacy, command):
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._sockets.discard(sock)
            sock.close()

    @staticmethod
    def _recv(sock: socket.socket, size: int) -> bytes | None:
        data = bytearray()
        while len(data) < size:
            chunk = sock.recv(min(size - len(data), 1 << 20))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    @staticmethod
    def _parse(op_code: int, body: bytes) -> tuple[bool, dict | None]:
        if op_code == OP_COMPRESSED:
            original, size, compressor_id = struct.unpack_from("<iiB", body)
            data = body[9:]
            body = zlib.decompress(data) if compressor_id == 2 else data
            op_code = original
        if op_code == OP_QUERY:
            name_end = body.index(b"\x00", 4)
            start = name_end + 1 + 8
            size = struct.unpack_from("<i", body, start)[0]
            return True, bson.decode(body[start:start + size])
        if op_code == OP_MSG:
            flags = struct.unpack_from("<I", body)[0]
            pos = 4
            while pos < len(body):
                kind = body[pos]
                size = struct.unpack_from("<i", body, pos + 1)[0]
                if kind == 0:
                    doc = bson.decode(body[pos + 1:pos + 1 + size])
                    return False, (None if flags & MORE_TO_COME else doc)
                pos += 1 + size
        return False, None

    def _next_id(self) -> int:
        with self._lock:
            return next(self._request_ids)

    def _reply(self, doc: dict, response_to: int, legacy: bool, flags: int = 0) -> bytes:
        if legacy:
            return op_reply(doc, self._next_id(), response_to)
        return op_msg(doc, self._next_id(), response_to, flags)

    def _answer(self, sock: socket.socket, state: dict, request_id: int, legacy: bool, command: dict) -> bool:
        """Send the reply (or the fault) for `command`; False ends the connection."""
        mode = self.mode
        name = next(iter(command)).lower()
        if name in ("hello", "ismaster"):
            sock.sendall(self._reply(self._hello(mode, command), request_id, legacy))
            return True
        if name in ("saslstart", "saslcontinue"):
            sock.sendall(self._reply(self._sasl(mode, state, name, command), request_id, legacy))
            return True
        if mode == "hello_huge_limits" and name != "endsessions":
            return self._send_huge_header(sock, request_id)
        if name == "endsessions" or mode not in REPLY_MODES:
            sock.sendall(self._reply({"ok": 1.0}, request_id, legacy))
            return True
        return self._fault(sock, mode, request_id, legacy)

    def _hello(self, mode: str, command: dict) -> dict:
        reply: dict[str, Any] = {
            "helloOk": True, "isWritablePrimary": True, "ismaster": True,
            "maxBsonObjectSize": 16 * 1024 * 1024, "maxMessageSizeBytes": 48_000_000,
            "maxWriteBatchSize": 100_000, "localTime": datetime.datetime.now(datetime.timezone.utc),
            "logicalSessionTimeoutMinutes": 30, "connectionId": 1,
            "minWireVersion": 0, "maxWireVersion": 21, "readOnly": False, "ok": 1.0,
        }
        if self.set_name:
            reply.update(setName=self.set_name, hosts=[self.address], me=self.address, primary=self.address,
                         setVersion=1)
        if "saslSupportedMechs" in command:
            reply["saslSupportedMechs"] = ["SCRAM-SHA-256"]
        if mode == "hello_huge_limits":
            reply.update(maxMessageSizeBytes=TWO_GB, maxBsonObjectSize=TWO_GB, maxWriteBatchSize=TWO_GB)
        elif mode == "many_hosts":
            hosts = [self.address] + [f"127.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255 or 1}:1"
                                      for i in range(1, MANY_HOSTS)]
            reply.update(setName=self.set_name or "rs0", hosts=hosts, me=self.address, primary=self.address,
                         setVersion=1)
        elif mode == "wire_999":
            reply.update(minWireVersion=999, maxWireVersion=999)
        elif mode == "wrong_types":
            reply.update(maxWireVersion="x", maxBsonObjectSize="big", hosts=5)
        return reply

    def _sasl(self, mode: str, state: dict, name: str, command: dict) -> dict:
        if name == "saslstart":
            payload = bytes(command["payload"])
            if mode == "scram_huge_int":
                return {"conversationId": 1, "done": False, "payload": Int64(10**10), "ok": 1.0}
            iterations = 2_000_000_000 if mode == "scram_iterations" else SCRAM_ITERATIONS
            state["bare"], state["first"] = self._scram.first(payload, iterations)
            return {"conversationId": 1, "done": False, "payload": Binary(state["first"].encode()), "ok": 1.0}
        if not command.get("payload"):
            return {"conversationId": 1, "done": True, "payload": Binary(b""), "ok": 1.0}
        try:
            final = self._scram.final(state["bare"], state["first"], bytes(command["payload"]))
        except (KeyError, ValueError):
            return {"ok": 0.0, "code": 18, "codeName": "AuthenticationFailed", "errmsg": "Authentication failed."}
        return {"conversationId": 1, "done": True, "payload": Binary(final), "ok": 1.0}

    def _send_huge_header(self, sock: socket.socket, request_id: int) -> bool:
        """A 2 GB length header, a MiB of body, then silence: a trusting client allocates 2 GB."""
        sock.sendall(_header(TWO_GB, self._next_id(), request_id, OP_MSG) + bytes(1 << 20))
        self._closed.wait()  # until the server closes; the client's close ends our recv anyway
        return False

    def _fault(self, sock: socket.socket, mode: str, request_id: int, legacy: bool) -> bool:
        good = {"ok": 1.0, "pad": "x" * 400} if mode == "trickle" else {"ok": 1.0}
        data = self._reply(good, request_id, legacy)
        if mode == "trickle":
            for byte in data:
                if self._closed.wait(TRICKLE_INTERVAL_S):
                    return False
                sock.sendall(bytes([byte]))
            return True
        if mode == "silent":
            self._silence(sock)
            return False
        if mode == "more_to_come":
            sock.sendall(self._reply({"ok": 1.0}, request_id, legacy, flags=MORE_TO_COME))
            return True
        if mode in ("truncated", "reset_mid_reply"):
            sock.sendall(data[: len(data) // 2])
            if mode == "reset_mid_reply":  # RST instead of FIN: SO_LINGER with a zero timeout
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if mode == "negative_length":
            sock.sendall(_header(-5, self._next_id(), request_id, OP_MSG))
            self._silence(sock)
            return False
        if mode == "huge_length":
            sock.sendall(_header(TWO_GB, self._next_id(), request_id, OP_MSG) + bytes(1024))
            self._silence(sock)
            return False
        if mode == "wrong_response_to":
            sock.sendall(self._reply({"ok": 1.0}, request_id + 1000, legacy))
            return True
        if mode == "bad_bson":
            doc = bytearray(bson.encode({"ok": 1.0, "s": "abc"}))
            doc[4 + 1 + 3 + 8] = 0x99  # the second element's type byte: no such BSON type
            body = struct.pack("<I", 0) + b"\x00" + bytes(doc)
            sock.sendall(_header(16 + len(body), self._next_id(), request_id, OP_MSG) + body)
            return True
        if mode == "unknown_opcode":
            body = bytes(20)
            sock.sendall(_header(16 + len(body), self._next_id(), request_id, 9999) + body)
            return True
        if mode == "bad_compressor":
            sock.sendall(op_compressed(data, 7, data[16:]))
            return True
        if mode == "zlib_bomb":
            sock.sendall(op_compressed(data, 2, self._bomb, declared_size=40_000_000))
            return True
        raise AssertionError(mode)

    def _silence(self, sock: socket.socket) -> None:
        """Answer nothing until the client hangs up or the server closes."""
        sock.settimeout(0.5)
        while not self._closed.is_set():
            try:
                if not sock.recv(1 << 16):
                    return
            except socket.timeout:
                continue
