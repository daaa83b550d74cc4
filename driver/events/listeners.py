"""Listener plumbing: publish events to subscribers without letting a subscriber break the driver."""

from __future__ import annotations

import threading
from typing import Any, Callable

from driver.lazy_log import LazyLogger

Listener = Callable[[Any], None]
_log = LazyLogger("driver.events")


class EventBus:
    """Fan-out of driver events; subscribe(callback) returns an unsubscribe function.

    A listener that raises is logged and kept: monitoring must never take the client down.
    Events are published outside any driver lock (callers' contract).
    """

    def __init__(self) -> None:
        self._listeners: tuple[Listener, ...] = ()
        # Whether anyone listens, as a plain attribute: asked several times per operation (check-out,
        # check-in, command monitoring), where a __bool__ call each time is measurable.
        self.listening = False
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners = self._listeners + (listener,)
            self.listening = True

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(l for l in self._listeners if l is not listener)
                self.listening = bool(self._listeners)

        return unsubscribe

    def publish(self, event: Any) -> None:
        for listener in self._listeners:  # a snapshot tuple: safe against concurrent changes
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a broken listener is reported, not fatal
                _log.exception("event listener %r failed on %r", listener, event)

    def __bool__(self) -> bool:
        return self.listening
