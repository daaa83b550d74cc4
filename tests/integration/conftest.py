"""Fixtures that start sandbox deployments on free loopback ports and stop them afterwards."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from mongocli.sandbox import Sandbox


@pytest.fixture
def start_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """Factory: start_sandbox(topology=..., members=..., ...) -> a running Sandbox (port 0)."""
    started: list[Sandbox] = []

    def start(**kwargs: Any) -> Sandbox:
        kwargs.setdefault("port", 0)
        kwargs.setdefault("host", "127.0.0.1")
        sandbox = Sandbox(**kwargs).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in reversed(started):
        sandbox.stop()


@pytest.fixture
def standalone(start_sandbox: Callable[..., Sandbox]) -> Sandbox:
    """A running standalone sandbox."""
    return start_sandbox(topology="standalone")


@pytest.fixture
def replset(start_sandbox: Callable[..., Sandbox]) -> Sandbox:
    """A running 3-member replica set with a 100 ms election delay."""
    return start_sandbox(topology="replset", members=3, election_delay_ms=100)


@pytest.fixture
def mongo_client() -> Iterator[Callable[..., Any]]:
    """Factory for PyMongo clients (a test-only peer) that are closed after the test."""
    import pymongo

    clients: list[Any] = []

    def make(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("serverSelectionTimeoutMS", 5000)
        client = pymongo.MongoClient(*args, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


class RawConnection:
    """A bare socket speaking OP_MSG through driver.wire, for what PyMongo will not send."""

    def __init__(self, address: str) -> None:
        import socket

        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("the sandbox closed the connection")
            data += chunk
        return data

    def receive(self) -> tuple[Any, Any]:
        """(header, parsed message) of the next message from the server."""
        from driver import wire

        header = wire.parse_header(self._read(wire.HEADER_SIZE))
        return header, wire.parse_body(header, self._read(header.message_length - wire.HEADER_SIZE))

    def command(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send one OP_MSG command and return the reply body."""
        from driver import wire

        request_id = wire.next_request_id()
        self.send(wire.encode_op_msg(request_id, body))
        header, message = self.receive()
        assert header.response_to == request_id
        return message.body

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_connection() -> Iterator[Callable[[str], RawConnection]]:
    """Factory for raw wire-protocol connections, closed after the test."""
    opened: list[RawConnection] = []

    def connect(address: str) -> RawConnection:
        conn = RawConnection(address)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()
