"""The asyncio TCP server of one member: framing via driver.wire, OP_MSG/OP_QUERY dispatch, exhaust."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING, Any

from bson.codec_options import CodecOptions

from driver import wire
from driver.compression import may_compress
from driver.errors import ProtocolError
from mongocli.sandbox import commands

if TYPE_CHECKING:  # pragma: no cover
    from mongocli.sandbox.deployment import Member

log = logging.getLogger(__name__)

MAX_MESSAGE_SIZE = 48_000_000
# Reader bounds (issue 11): memory follows bytes received, not bytes announced, and only a few
# large messages are held at once, so many peers each sending part of a 48 MB message cannot
# add up to gigabytes. A body up to SMALL_BODY is read at once; a larger one waits for one of
# LARGE_BODIES_AT_ONCE slots (the others' transports pause at the stream's 64 KiB limit), is
# read in BODY_CHUNK pieces, and a peer idle for LARGE_BODY_IDLE_S inside one loses its slot.
SMALL_BODY = 1 << 20
BODY_CHUNK = 1 << 20
LARGE_BODIES_AT_ONCE = 2
LARGE_BODY_IDLE_S = 30.0
_CODEC = CodecOptions(tz_aware=True)
_connection_ids = itertools.count(1)


class Connection:
    """Per-connection state: id, peer, client metadata, authentication, current operation."""

    def __init__(self, member: "Member", writer: asyncio.StreamWriter,
                 reader: asyncio.StreamReader | None = None) -> None:
        self.id = next(_connection_ids)
        self.member = member
        self.writer = writer
        self.reader = reader
        peer = writer.get_extra_info("peername") or ("unknown", 0)
        self.peer = f"{peer[0]}:{peer[1]}"
        self.app_name: str | None = None
        self.client_metadata: dict[str, Any] | None = None
        self.users: set[tuple[str, str]] = set()  # authenticated (db, user) pairs
        self.conversation: Any = None
        self.current: dict[str, Any] | None = None
        self.task: asyncio.Task[Any] | None = None

    @property
    def authenticated(self) -> bool:
        return bool(self.users) or not self.member.deployment.auth

    @property
    def hung_up(self) -> bool:
        """Whether the client has closed (or reset) this connection."""
        transport = self.writer.transport
        return (transport is None or transport.is_closing()
                or (self.reader is not None and (self.reader.at_eof() or self.reader.exception() is not None)))

    async def pause(self, seconds: float) -> bool:
        """Hold this connection's operation for `seconds` without blocking other connections;
        False as soon as the client hangs up (a server kills an operation whose client is gone).

        Polls every 20 ms: asyncio streams offer no EOF notification short of reading, and
        reading could swallow the start of a next request."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        with self.member.deployment.state_changed:  # watchers may wait for the held operation
            self.member.deployment.state_changed.notify_all()
        while not self.hung_up:
            left = deadline - loop.time()
            if left <= 0:
                return True
            await asyncio.sleep(min(left, 0.02))
        return False

    def close(self) -> None:
        """Drop the connection at once (no FIN handshake niceties, as a dying process would)."""
        transport = self.writer.transport
        if transport is not None and not transport.is_closing():
            transport.abort()


class MemberServer:
    """Listens for one member and serves each connection in its own task."""

    def __init__(self, member: "Member") -> None:
        self.member = member
        self.connections: set[Connection] = set()
        self.total_created = 0
        self._server: asyncio.Server | None = None
        self._large_bodies = asyncio.Semaphore(LARGE_BODIES_AT_ONCE)

    async def start(self, port: int) -> int:
        """Bind host:port (0 = a free port) and return the bound port."""
        deployment = self.member.deployment
        self._large_bodies = asyncio.Semaphore(LARGE_BODIES_AT_ONCE)  # bound to this (running) loop
        self._server = await asyncio.start_server(
            self._serve, deployment.host, port, ssl=deployment.ssl_context, reuse_address=True
        )
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every connection (awaiting hellos included)."""
        if self._server is not None:
            self._server.close()
        tasks = []
        for conn in list(self.connections):
            conn.close()
            if conn.task is not None and conn.task is not asyncio.current_task():
                conn.task.cancel()
                tasks.append(conn.task)
        self.connections.clear()
        self._server = None
        # Let the cancelled connection tasks finish so none is left pending when the loop stops.
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(self.member, writer, reader)
        conn.task = asyncio.current_task()
        self.connections.add(conn)
        self.total_created += 1
        try:
            while True:
                header = wire.parse_header(await reader.readexactly(wire.HEADER_SIZE), max_message_size=MAX_MESSAGE_SIZE)
                message = await self._read_body(reader, header)
                if isinstance(message, wire.OpMsg):
                    if not await self._on_op_msg(conn, reader, header, message):
                        break
                elif isinstance(message, wire.OpQuery):
                    if not await self._on_op_query(conn, header, message):
                        break
                else:
                    raise ProtocolError(f"sandbox {self.member.address}: clients may not send opcode {header.op_code}")
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        except ProtocolError as exc:
            log.info("sandbox %s: closing connection %d: %s", self.member.address, conn.id, exc)
        except Exception:  # a bug in the sandbox: log it and drop this connection only
            log.exception("sandbox %s: connection %d failed", self.member.address, conn.id)
        finally:
            self.connections.discard(conn)
            conn.close()
            # Threads waiting on the deployment (tests, the CLI) may watch connections go away.
            with self.member.deployment.state_changed:
                self.member.deployment.state_changed.notify_all()

    async def _read_body(self, reader: asyncio.StreamReader, header: Any) -> Any:
        """Read and parse the body `header` announces, within the reader bounds above."""
        size = header.message_length - wire.HEADER_SIZE
        if size <= SMALL_BODY:
            return wire.parse_body(header, await reader.readexactly(size), codec_options=_CODEC)
        async with self._large_bodies:  # held until parsed: the raw bytes are freed only then
            payload = bytearray()
            while len(payload) < size:
                chunk = min(BODY_CHUNK, size - len(payload))
                try:
                    payload += await asyncio.wait_for(reader.readexactly(chunk), LARGE_BODY_IDLE_S)
                except asyncio.TimeoutError:
                    raise ProtocolError(f"peer sent {len(payload)} of a {size}-byte message body and then "
                                        f"nothing for {LARGE_BODY_IDLE_S:.0f} s") from None
            return wire.parse_body(header, payload, codec_options=_CODEC)

    async def _on_op_msg(self, conn: Connection, reader: asyncio.StreamReader, header: Any, message: Any) -> bool:
        """Run one OP_MSG command; returns False when the connection must close."""
        command = message.command()
        reply = await commands.run_command(conn, command)
        if reply is None:
            return False
        if message.more_to_come:
            # moreToCome from a client (w:0): the server sends nothing back (OP_MSG spec).
            return True
        if message.exhaust_allowed and next(iter(command), "") == "getMore":
            return await self._stream_get_more(conn, header.request_id, message.compressor, command, reply)
        if not (message.exhaust_allowed and commands.is_awaitable_hello(command) and reply.get("ok")):
            data = wire.encode_op_msg(wire.next_request_id(), reply, response_to=header.request_id)
            await self._send(conn, _compressed(data, message.compressor, command))
            return True
        # Exhaust hello: keep answering with moreToCome, each reply responding to the previous
        # one, whenever topologyVersion changes or maxAwaitTimeMS passes (SDAM streaming protocol).
        # The client sends nothing while streaming, so any read completing means it hung up (or
        # broke the protocol): stop at once rather than at the next maxAwaitTimeMS.
        hangup = asyncio.ensure_future(reader.read(1))
        running: asyncio.Future[Any] | None = None
        response_to = header.request_id
        try:
            while True:
                request_id = wire.next_request_id()
                data = wire.encode_op_msg(request_id, reply, response_to=response_to, more_to_come=True)
                await self._send(conn, _compressed(data, message.compressor, command))
                response_to = request_id
                command = dict(command, topologyVersion=reply["topologyVersion"])
                running = asyncio.ensure_future(commands.run_command(conn, command))
                await asyncio.wait({running, hangup}, return_when=asyncio.FIRST_COMPLETED)
                if hangup.done():
                    return False
                reply = running.result()
                if reply is None:
                    return False
                if not reply.get("ok"):
                    # A failed hello (e.g. failCommand) ends the exhaust stream: the error is
                    # the last reply, without moreToCome, as mongod answers it.
                    data = wire.encode_op_msg(wire.next_request_id(), reply, response_to=response_to)
                    await self._send(conn, _compressed(data, message.compressor, command))
                    return True
        finally:
            # Also on cancellation (the member was killed): leave no task pending.
            pending = [t for t in (hangup, running) if t is not None and not t.done()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _stream_get_more(self, conn: Connection, response_to: int, compressor: Any,
                               command: dict, reply: dict) -> bool:
        """An exhaust cursor (OP_MSG spec, exhaustAllowed): while the cursor stays open each
        batch goes out with moreToCome, answering the previous reply, and the next getMore runs
        with no request; the batch that closes the cursor (or an error) ends the stream."""
        while True:
            more = bool(reply.get("ok")) and bool((reply.get("cursor") or {}).get("id"))
            request_id = wire.next_request_id()
            data = wire.encode_op_msg(request_id, reply, response_to=response_to, more_to_come=more)
            await self._send(conn, _compressed(data, compressor, command))
            if not more:
                return True
            response_to = request_id
            next_reply = await commands.run_command(conn, command)
            if next_reply is None:
                return False
            reply = next_reply

    async def _on_op_query(self, conn: Connection, header: Any, query: Any) -> bool:
        """Legacy OP_QUERY: only the handshake (isMaster/hello on admin.$cmd) is accepted."""
        name = next(iter(query.query), "")
        spec = query.query
        if "$query" in spec:  # wrapped form {$query: {...}, $readPreference: ...}
            spec = spec["$query"]
            name = next(iter(spec), "")
        if query.full_collection_name.endswith(".$cmd") and name.lower() in ("ismaster", "hello"):
            db = query.full_collection_name[: -len(".$cmd")]
            reply = await commands.run_command(conn, dict(spec, **{"$db": db}), legacy=True)
            if reply is None:
                return False
        else:
            reply = {
                "ok": 0.0,
                "code": 352,
                "codeName": "UnsupportedOpQueryCommand",
                "errmsg": f"Unsupported OP_QUERY command: {name}. The client driver may require an upgrade.",
            }
        data = wire.encode_op_reply(wire.next_request_id(), header.request_id, [reply])
        await self._send(conn, _compressed(data, query.compressor, {name: 1}))
        return True

    async def _send(self, conn: Connection, data: bytes) -> None:
        conn.writer.write(data)
        await conn.writer.drain()


def _compressed(data: bytes, compressor: str | None, command: Any) -> bytes:
    """The reply as sent: compressed with the request's compressor unless the command forbids it.

    OP_COMPRESSED spec: a server replies with the compressor the request used, and never
    compresses handshake or authentication replies ("Messages not allowed to be compressed").
    """
    if compressor is None or not may_compress(next(iter(command), "")):
        return data
    return wire.compress_message(data, compressor)
