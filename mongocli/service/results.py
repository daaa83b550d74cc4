"""Plain result objects the service returns and the renderers draw; no formatting here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class HelloResult:
    """One server's raw hello/isMaster reply, how it was asked, and the measured round trip."""

    address: str
    command: str            # "hello" (OP_MSG) or "isMaster" (OP_QUERY)
    opcode: str             # "OP_MSG" or "OP_QUERY"
    rtt_ms: float
    reply: Mapping[str, Any]


@dataclass(frozen=True)
class ServerRow:
    """One server as the client sees it."""

    address: str
    type: str
    rtt_ms: float | None = None
    set_version: int | None = None
    election_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    behind_ms: float | None = None  # a secondary's lastWriteDate behind the primary's (max staleness)


@dataclass(frozen=True)
class SelectionRow:
    """Which servers one read preference would select now (the latency window), and why not the others."""

    read_preference: Mapping[str, Any]            # {"mode": ..., "tag_sets": [...], "max_staleness_seconds": ...}
    selected: tuple[str, ...]                      # in the latency window: one is picked per operation
    window_ms: tuple[float, float] | None          # (fastest RTT, fastest + localThresholdMS)
    reasons: Mapping[str, str] = field(default_factory=dict)   # address -> why not selected


@dataclass(frozen=True)
class TopologyView:
    """The client's view of the deployment at one moment."""

    type: str
    set_name: str | None
    servers: tuple[ServerRow, ...]
    compatible: bool = True
    compatibility_error: str | None = None
    selection: tuple[SelectionRow, ...] = ()

    @property
    def primary(self) -> str | None:
        return next((s.address for s in self.servers if s.type == "RSPrimary"), None)


@dataclass(frozen=True)
class HelloAllResult:
    """Every known member's raw hello, side by side, and the fields on which their views differ."""

    results: tuple[HelloResult, ...]
    errors: Mapping[str, str]                 # address -> why it did not answer
    differences: tuple[str, ...]              # compared fields whose values are not all equal


@dataclass(frozen=True)
class EventRecord:
    """One line of the live log: wall-clock time, a kind, the server it concerns, and facts.

    kind is one of: heartbeat_started, heartbeat_succeeded, heartbeat_failed, server_changed,
    topology_changed, server_opening, server_closed, note.
    """

    time: float                      # seconds since the epoch
    kind: str
    address: str | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandResult:
    """A command's reply document, the server that answered, and the time it took."""

    reply: Mapping[str, Any]
    address: str
    duration_ms: float


@dataclass(frozen=True)
class FindResult:
    """Documents returned by a find, in order, and the server that answered."""

    namespace: str
    documents: tuple[Mapping[str, Any], ...]
    address: str


@dataclass(frozen=True)
class InsertReport:
    """Which input lines were inserted and which were refused, with reasons (nothing lost)."""

    namespace: str
    inserted_lines: tuple[int, ...]
    inserted_ids: tuple[Any, ...]
    bad_lines: tuple[tuple[int, str], ...] = ()      # (line number, what is wrong) - not parsed
    failed_lines: tuple[tuple[int, str], ...] = ()   # (line number, server error) - not inserted

    @property
    def ok(self) -> bool:
        return not self.bad_lines and not self.failed_lines
