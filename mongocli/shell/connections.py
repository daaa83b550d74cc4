"""The shell's connections: the one it started with (number 0) and those `new Mongo(uri)` / `connect(uri)` open."""

from __future__ import annotations

import itertools
from contextlib import AbstractContextManager, ExitStack
from typing import Any, Callable

__all__ = ["Connections", "ConnectionClosed"]


class ConnectionClosed(Exception):
    """A request named a connection that was closed (or never opened)."""


def _open_client(uri: str) -> AbstractContextManager[Any]:
    # As a command connects: options checked first, fail fast on refused/unresolvable seeds,
    # authentication verified at once (a wrong password is an error here, not at first use).
    from mongocli.service.connect import open_client
    from mongocli.service.options import ConnectOptions
    return open_client(ConnectOptions(uri=uri), verify=True)


class Connections:
    """Clients by number; the first is the shell's own and is never closed here (its owner closes it)."""

    def __init__(self, client: Any, uri: str, opener: Callable[[str], AbstractContextManager[Any]] = _open_client) -> None:
        self._clients: dict[int, Any] = {0: client}
        self._uris: dict[int, str] = {0: uri}
        self._stacks: dict[int, ExitStack] = {}
        self._opener = opener
        self._numbers = itertools.count(1)

    def get(self, number: int | None) -> Any:
        """The client for a request's `conn` (None: the shell's own)."""
        client = self._clients.get(number or 0)
        if client is None:
            raise ConnectionClosed(f"connection {number} was closed")
        return client

    def uri(self, number: int | None) -> str:
        self.get(number)
        return self._uris[number or 0]

    def open(self, uri: str) -> tuple[int, Any]:
        """Connect to `uri` (raises the connect error as a command would); (its number, its client)."""
        with ExitStack() as stack:
            client = stack.enter_context(self._opener(uri))
            number = next(self._numbers)
            self._stacks[number] = stack.pop_all()
        self._clients[number], self._uris[number] = client, uri
        return number, client

    def close(self, number: int) -> None:
        """Close a connection `open` made (0, the shell's own, stays open)."""
        if not number:
            return
        stack = self._stacks.pop(number, None)
        self._clients.pop(number, None)
        self._uris.pop(number, None)
        if stack is not None:
            stack.close()

    def close_all(self) -> None:
        for number in list(self._stacks):
            self.close(number)
