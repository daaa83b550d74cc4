"""A PyMongo command listener for tests that drive the sandbox with PyMongo as a peer client."""

from __future__ import annotations

import threading
from typing import Any

from pymongo import monitoring


class StartedCommands(monitoring.CommandListener):
    """Records every command PyMongo starts; `of(name)` lists those commands' bodies in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        with self._lock:
            self._started.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def of(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [body for started, body in self._started if started == name]
