"""Connection pool (CMAP) events: one frozen dataclass per event of the CMAP spec's "Events" section."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Union

# CMAP spec, ConnectionClosedEvent.reason.
ClosedReason = Literal["stale", "idle", "error", "poolClosed"]
# CMAP spec, ConnectionCheckOutFailedEvent.reason.
CheckOutFailedReason = Literal["poolClosed", "timeout", "connectionError"]


@dataclass(frozen=True)
class PoolCreated:
    """A pool was created (paused); `options` holds the non-default pool options, by their URI names."""

    address: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PoolReady:
    """The pool was marked ready: check-outs and background population may proceed."""

    address: str


@dataclass(frozen=True)
class PoolCleared:
    """The pool's generation was bumped (for one service in load-balanced mode) and it was paused."""

    address: str
    service_id: Any = None
    interrupt_in_use_connections: bool = False


@dataclass(frozen=True)
class PoolClosed:
    """The pool was closed; its available connections were closed before this event."""

    address: str


@dataclass(frozen=True)
class ConnectionCreated:
    """A connection object was created (pending); it is not yet established."""

    address: str
    connection_id: int


@dataclass(frozen=True)
class ConnectionReady:
    """A connection finished its handshake; `duration_ms` runs from ConnectionCreated to now."""

    address: str
    connection_id: int
    duration_ms: float


@dataclass(frozen=True)
class ConnectionClosed:
    """The pool closed a connection; `reason` is "stale", "idle", "error" or "poolClosed"."""

    address: str
    connection_id: int
    reason: ClosedReason


@dataclass(frozen=True)
class ConnectionCheckOutStarted:
    """A thread started checking out a connection."""

    address: str


@dataclass(frozen=True)
class ConnectionCheckOutFailed:
    """A check-out failed; `duration_ms` runs from ConnectionCheckOutStarted to now."""

    address: str
    reason: CheckOutFailedReason
    duration_ms: float


@dataclass(frozen=True)
class ConnectionCheckedOut:
    """A check-out succeeded; `duration_ms` runs from ConnectionCheckOutStarted to now."""

    address: str
    connection_id: int
    duration_ms: float


@dataclass(frozen=True)
class ConnectionCheckedIn:
    """A connection was handed back to the pool (it may be closed right after, see ConnectionClosed)."""

    address: str
    connection_id: int


PoolEvent = Union[
    PoolCreated,
    PoolReady,
    PoolCleared,
    PoolClosed,
    ConnectionCreated,
    ConnectionReady,
    ConnectionClosed,
    ConnectionCheckOutStarted,
    ConnectionCheckOutFailed,
    ConnectionCheckedOut,
    ConnectionCheckedIn,
]

# The CMAP spec's event names (as used by its test files) for each class.
SPEC_NAMES: Mapping[type, str] = {
    PoolCreated: "ConnectionPoolCreated",
    PoolReady: "ConnectionPoolReady",
    PoolCleared: "ConnectionPoolCleared",
    PoolClosed: "ConnectionPoolClosed",
    ConnectionCreated: "ConnectionCreated",
    ConnectionReady: "ConnectionReady",
    ConnectionClosed: "ConnectionClosed",
    ConnectionCheckOutStarted: "ConnectionCheckOutStarted",
    ConnectionCheckOutFailed: "ConnectionCheckOutFailed",
    ConnectionCheckedOut: "ConnectionCheckedOut",
    ConnectionCheckedIn: "ConnectionCheckedIn",
}
