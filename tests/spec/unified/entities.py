"""Unified test format: the entity map, client entities that record events, and event-to-document views."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

# Unified test format, "entity_client": ignoreCommandMonitoringEvents is applied "in addition to
# configureFailPoint and any commands containing sensitive information" (Command Logging and
# Monitoring spec, "Security").
SENSITIVE_COMMANDS = frozenset({"authenticate", "saslstart", "saslcontinue", "getnonce", "createuser",
                                "updateuser", "copydbgetnonce", "copydbsaslstart", "copydb"})
ALWAYS_IGNORED = frozenset({"configureFailPoint"})

# Unified test format, "expectedEventsForClient.eventType": which events each kind covers.
COMMAND_EVENTS = ("commandStartedEvent", "commandSucceededEvent", "commandFailedEvent")
CMAP_EVENTS = ("poolCreatedEvent", "poolReadyEvent", "poolClearedEvent", "poolClosedEvent",
               "connectionCreatedEvent", "connectionReadyEvent", "connectionClosedEvent",
               "connectionCheckOutStartedEvent", "connectionCheckOutFailedEvent",
               "connectionCheckedOutEvent", "connectionCheckedInEvent")
SDAM_EVENTS = ("serverDescriptionChangedEvent", "serverHeartbeatStartedEvent", "serverHeartbeatSucceededEvent",
               "serverHeartbeatFailedEvent", "topologyDescriptionChangedEvent", "topologyOpeningEvent",
               "topologyClosedEvent", "serverOpeningEvent", "serverClosedEvent")
EVENT_KIND = {**{n: "command" for n in COMMAND_EVENTS}, **{n: "cmap" for n in CMAP_EVENTS},
              **{n: "sdam" for n in SDAM_EVENTS}}

# driver event class name -> unified format event name. Pool classes are named after the CMAP spec
# (driver/events/pool.py SPEC_NAMES) without the trailing "Event"; SDAM classes keep it.
_CLASS_TO_SPEC = {
    "CommandStartedEvent": "commandStartedEvent", "CommandSucceededEvent": "commandSucceededEvent",
    "CommandFailedEvent": "commandFailedEvent",
    "PoolCreated": "poolCreatedEvent", "PoolReady": "poolReadyEvent", "PoolCleared": "poolClearedEvent",
    "PoolClosed": "poolClosedEvent", "ConnectionCreated": "connectionCreatedEvent",
    "ConnectionReady": "connectionReadyEvent", "ConnectionClosed": "connectionClosedEvent",
    "ConnectionCheckOutStarted": "connectionCheckOutStartedEvent",
    "ConnectionCheckOutFailed": "connectionCheckOutFailedEvent",
    "ConnectionCheckedOut": "connectionCheckedOutEvent", "ConnectionCheckedIn": "connectionCheckedInEvent",
    "ServerDescriptionChangedEvent": "serverDescriptionChangedEvent",
    "ServerHeartbeatStartedEvent": "serverHeartbeatStartedEvent",
    "ServerHeartbeatSucceededEvent": "serverHeartbeatSucceededEvent",
    "ServerHeartbeatFailedEvent": "serverHeartbeatFailedEvent",
    "TopologyDescriptionChangedEvent": "topologyDescriptionChangedEvent",
    "TopologyOpeningEvent": "topologyOpeningEvent", "TopologyClosedEvent": "topologyClosedEvent",
    "ServerOpeningEvent": "serverOpeningEvent", "ServerClosedEvent": "serverClosedEvent",
}


class PoolFill:
    """Counts each server's established pooled connections from CMAP events, so the runner can wait
    for minPoolSize (unified format, "entity_client.awaitMinPoolSizeMS") on events, not a clock."""

    def __init__(self) -> None:
        self._ready: dict[str, int] = {}
        self._cond = threading.Condition()

    def __call__(self, event: Any) -> None:
        kind = type(event).__name__
        with self._cond:
            if kind == "ConnectionReady":
                self._ready[event.address] = self._ready.get(event.address, 0) + 1
            elif kind == "ConnectionClosed":
                self._ready[event.address] = self._ready.get(event.address, 0) - 1
            self._cond.notify_all()  # any event (topology changes too) may complete the picture

    def wait(self, servers: Callable[[], list[str]], minimum: int, timeout_s: float) -> bool:
        """True once every server `servers()` names (at least one) has `minimum` ready connections."""
        def filled() -> bool:
            names = servers()
            return bool(names) and all(self._ready.get(a, 0) >= minimum for a in names)
        with self._cond:
            return self._cond.wait_for(filled, timeout_s)


class EntityError(AssertionError):
    """A test file refers to an entity that is missing, duplicated or of the wrong kind."""


class EntityMap:
    """Entities by name with their kind ("client", "session", "cursor", ...); safe across threads
    (unified test format, "Entity Map": thread entities share it)."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, Any]] = {}
        self._lock = threading.Lock()

    def add(self, name: str, kind: str, value: Any) -> None:
        """Store a new entity; a duplicate name is an error (spec: names are unique)."""
        with self._lock:
            if name in self._items:
                raise EntityError(f"entity {name!r} already exists (a {self._items[name][0]})")
            self._items[name] = (kind, value)

    def get(self, name: str, kind: str | None = None) -> Any:
        """The entity called `name`, checked to be of `kind` when given."""
        with self._lock:
            if name not in self._items:
                raise EntityError(f"no entity named {name!r}; known: {sorted(self._items)}")
            found_kind, value = self._items[name]
        if kind is not None and found_kind != kind:
            raise EntityError(f"entity {name!r} is a {found_kind}, not a {kind}")
        return value

    def kind(self, name: str) -> str:
        with self._lock:
            if name not in self._items:
                raise EntityError(f"no entity named {name!r}; known: {sorted(self._items)}")
            return self._items[name][0]

    def __contains__(self, name: str) -> bool:
        with self._lock:
            return name in self._items

    def items(self) -> list[tuple[str, str, Any]]:
        with self._lock:
            return [(n, k, v) for n, (k, v) in self._items.items()]

    def values_for_matching(self) -> dict[str, Any]:
        """Name -> value, for $$matchesEntity and $$sessionLsid in the matcher."""
        with self._lock:
            return {n: v for n, (_k, v) in self._items.items()}


# ----- events as documents ------------------------------------------------------------------------
def spec_name(event: Any) -> str | None:
    """The unified-format name of a driver event object, or None for events the format lacks."""
    return _CLASS_TO_SPEC.get(type(event).__name__)


def _get(event: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        if hasattr(event, name):
            return getattr(event, name)
    return default


def _type_name(value: Any) -> str:
    kind = getattr(value, "type", value)
    return getattr(kind, "value", str(kind))


def event_document(name: str, event: Any) -> dict[str, Any]:
    """The event's fields as the unified format's expectedEvent names them."""
    doc: dict[str, Any] = {}
    if name in COMMAND_EVENTS:
        doc["commandName"] = _get(event, "command_name")
        doc["databaseName"] = _get(event, "database_name")
        if name == "commandStartedEvent":
            doc["command"] = _get(event, "command", default={})
        if name == "commandSucceededEvent":
            doc["reply"] = _get(event, "reply", default={})
        doc["hasServiceId"] = _get(event, "service_id") is not None
        doc["hasServerConnectionId"] = _get(event, "server_connection_id") is not None
    elif name == "poolClearedEvent":
        doc["hasServiceId"] = _get(event, "service_id") is not None
        doc["interruptInUseConnections"] = bool(_get(event, "interrupt_in_use_connections", default=False))
    elif name in ("connectionClosedEvent", "connectionCheckOutFailedEvent"):
        doc["reason"] = _get(event, "reason")
    elif name in ("serverDescriptionChangedEvent", "topologyDescriptionChangedEvent"):
        doc["previousDescription"] = {"type": _type_name(_get(event, "previous", "previous_description"))}
        doc["newDescription"] = {"type": _type_name(_get(event, "new", "new_description"))}
    elif name.startswith("serverHeartbeat"):
        doc["awaited"] = bool(_get(event, "awaited", default=False))
    return doc


@dataclass
class Recorded:
    """One observed event: its unified-format name, kind and field document (plus the raw object)."""

    name: str
    kind: str
    doc: dict[str, Any]
    raw: Any = field(repr=False, default=None)


class EventRecorder:
    """Subscribes to a driver client and keeps the events its entity observes (observeEvents),
    dropping ignored and sensitive command events; waiters are woken on each new event."""

    def __init__(self, observe: list[str], ignore_commands: list[str], observe_sensitive: bool) -> None:
        self.observe = frozenset(observe)
        self.ignore = ALWAYS_IGNORED | frozenset(ignore_commands)
        self.observe_sensitive = observe_sensitive
        self.events: list[Recorded] = []
        self.cond = threading.Condition()

    def _sensitive(self, event: Any) -> bool:
        command_name = str(_get(event, "command_name", default=""))
        if command_name.lower() in SENSITIVE_COMMANDS:
            return True
        if command_name.lower() in ("hello", "ismaster"):
            # Command Logging and Monitoring spec, "Security": hello with speculativeAuthenticate.
            command = _get(event, "command")
            return bool(_get(event, "speculative_authenticate", default=False)) or (
                isinstance(command, dict) and "speculativeAuthenticate" in command)
        return False

    def __call__(self, event: Any) -> None:
        name = spec_name(event)
        if name is None or name not in self.observe:
            return
        if name in COMMAND_EVENTS:
            if _get(event, "command_name") in self.ignore:
                return
            if not self.observe_sensitive and self._sensitive(event):
                return
        rec = Recorded(name, EVENT_KIND[name], event_document(name, event), event)
        with self.cond:
            self.events.append(rec)
            self.cond.notify_all()

    def of_kind(self, kind: str) -> list[Recorded]:
        with self.cond:
            return [e for e in self.events if e.kind == kind]

    def snapshot(self) -> list[Recorded]:
        with self.cond:
            return list(self.events)

    def wait_for(self, predicate: Callable[[list[Recorded]], bool], timeout: float) -> bool:
        """Block until predicate(events) holds or `timeout` seconds pass; True if it held."""
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self.events), timeout)


@dataclass
class ClientEntity:
    """A driver client created for a test, with the recorder its observeEvents configured."""

    client: Any
    recorder: EventRecorder
    spec: dict[str, Any]
    last_lsids: list[Any] = field(default_factory=list)

    def close(self) -> None:
        self.client.close()


@dataclass
class ThreadEntity:
    """A test-runner thread: operations queued to it run in order on a worker thread."""

    name: str
    run_one: Callable[[dict], None]
    _queue: list = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _errors: list = field(default_factory=list)
    _busy: int = 0
    _stop: bool = False
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"unified-{self.name}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._stop)
                if not self._queue:
                    return
                op = self._queue.pop(0)
            try:
                self.run_one(op)
            except BaseException as exc:  # noqa: BLE001 - reported by waitForThread
                with self._cond:
                    self._errors.append(exc)
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()

    def submit(self, op: dict) -> None:
        with self._cond:
            self._busy += 1
            self._queue.append(op)
            self._cond.notify_all()

    def join(self, timeout: float) -> None:
        """Wait until every queued operation ran; re-raise the first error one raised."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._busy == 0, timeout):
                raise AssertionError(f"thread {self.name!r} did not finish its operations within {timeout:g}s")
            if self._errors:
                raise self._errors[0]

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5)
