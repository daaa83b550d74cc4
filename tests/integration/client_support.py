"""Shared helpers for the Client integration tests: a client factory and a command-event recorder."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from driver.client import Client
from driver.events.command import CommandFailedEvent, CommandStartedEvent, CommandSucceededEvent
from tests.support.events import EventRecorder


class Recorder(EventRecorder):
    """Command-event views over the shared recorder (started / succeeded / failed by name)."""

    def started(self, name: str | None = None) -> list[CommandStartedEvent]:
        return self.of(CommandStartedEvent, lambda e: name is None or e.command_name == name)

    def succeeded(self, name: str | None = None) -> list[CommandSucceededEvent]:
        return self.of(CommandSucceededEvent, lambda e: name is None or e.command_name == name)

    def failed(self, name: str | None = None) -> list[CommandFailedEvent]:
        return self.of(CommandFailedEvent, lambda e: name is None or e.command_name == name)


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
