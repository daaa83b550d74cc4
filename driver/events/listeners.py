"""Listener plumbing: publish events to subscribers without letting a subscriber break the driver."""

from __future__ import annotations

import threading
from typing import Any, Callable

from driver.errors import ConfigurationError
from driver.lazy_log import LazyLogger

Listener = Callable[[Any], None]
_log = LazyLogger("driver.events")

# The event families a listener may name in its optional `listens_to` attribute (a collection of
# them): command monitoring, connection pool (CMAP), SDAM and heartbeats. A listener without it
# listens to every family.
COMMAND, POOL, SDAM = "command", "pool", "sdam"
FAMILIES = frozenset((COMMAND, POOL, SDAM))


def listens_to(listener: Listener) -> frozenset[str]:
    """The event families `listener` asked for (every family unless it says); ConfigurationError for an unknown one."""
    families = getattr(listener, "listens_to", None)
    if families is None:
        return FAMILIES
    if isinstance(families, str) or not set(families) <= FAMILIES:
        raise ConfigurationError(f"event listener {listener!r}: listens_to must be a collection of "
                                 f"{sorted(FAMILIES)}, got {families!r}")
    return frozenset(families)


class EventBus:
    """Fan-out of driver events; subscribe(callback) returns an unsubscribe function.

    A listener that raises is logged and kept: monitoring must never take the client down.
    Events are published outside any driver lock (callers' contract). Every listener receives
    every event published; its `listens_to` only says which events must be built at all (command
    events are built per operation, and a command listener keeps a large reply's batch from
    staying encoded): `commands_listened` is True while a listener asks for command events.
    """

    def __init__(self) -> None:
        self._listeners: tuple[Listener, ...] = ()
        # Whether anyone listens, as a plain attribute: asked several times per operation (check-out,
        # check-in, command monitoring), where a __bool__ call each time is measurable.
        self.listening = False
        self.commands_listened = False
        self._command_listeners: tuple[Listener, ...] = ()
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        wants_commands = COMMAND in listens_to(listener)
        with self._lock:
            self._listeners = self._listeners + (listener,)
            if wants_commands:
                self._command_listeners = self._command_listeners + (listener,)
            self.listening = True
            self.commands_listened = bool(self._command_listeners)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(l for l in self._listeners if l is not listener)
                self._command_listeners = tuple(l for l in self._command_listeners if l is not listener)
                self.listening = bool(self._listeners)
                self.commands_listened = bool(self._command_listeners)

        return unsubscribe

    def publish(self, event: Any) -> None:
        for listener in self._listeners:  # a snapshot tuple: safe against concurrent changes
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a broken listener is reported, not fatal
                _log.exception("event listener %r failed on %r", listener, event)

    def __bool__(self) -> bool:
        return self.listening
