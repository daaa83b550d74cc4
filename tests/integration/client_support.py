"""Shared helpers for the Client integration tests: a client factory and a command-event recorder."""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator

import pytest

from driver.client import Client
from driver.events.command import CommandFailedEvent, CommandStartedEvent, CommandSucceededEvent


class Recorder:
    """Collects command events; `wait_for(predicate)` blocks on a condition, never sleeps."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def started(self, name: str | None = None) -> list[CommandStartedEvent]:
        return [e for e in list(self.events) if isinstance(e, CommandStartedEvent)
                and (name is None or e.command_name == name)]

    def succeeded(self, name: str | None = None) -> list[CommandSucceededEvent]:
        return [e for e in list(self.events) if isinstance(e, CommandSucceededEvent)
                and (name is None or e.command_name == name)]

    def failed(self, name: str | None = None) -> list[CommandFailedEvent]:
        return [e for e in list(self.events) if isinstance(e, CommandFailedEvent)
                and (name is None or e.command_name == name)]

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout: float = 10.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.events), timeout):
                raise AssertionError(f"condition not met within {timeout}s; saw {[type(e).__name__ for e in self.events][-20:]}")

    def clear(self) -> None:
        with self._cond:
            self.events.clear()


@pytest.fixture
def make_client() -> Iterator[Callable[..., tuple[Client, Recorder]]]:
    """make_client(uri, **options) -> (Client, Recorder); every client is closed after the test."""
    clients: list[Client] = []

    def make(uri: str, **options: Any) -> tuple[Client, Recorder]:
        recorder = Recorder()
        options.setdefault("serverSelectionTimeoutMS", 5000)
        client = Client(uri, event_listeners=[recorder], **options)
        clients.append(client)
        return client, recorder

    yield make
    for client in clients:
        client.close()


def fail_command(client: Client, mode: Any, **data: Any) -> None:
    """configureFailPoint failCommand through our own client."""
    client.admin.run_command({"configureFailPoint": "failCommand", "mode": mode, "data": data})
