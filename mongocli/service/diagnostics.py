"""Diagnostics: one server's raw hello, the topology view, and driver events as log records."""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

from driver.socket_connection import Connection
from driver.events import sdam as sdam_events
from driver.handshake import client_metadata
from driver.hello import normalize_address
from driver.errors import ConfigurationError
from driver.read_preference import ReadPreference
from driver.sdam import selection
from driver.sdam.description import ServerDescription, ServerType, TopologyDescription
from mongocli.service.results import EventRecord, HelloAllResult, HelloResult, SelectionRow, ServerRow, TopologyView
from mongocli.service.options import ConnectOptions


def hello(options: ConnectOptions, address: str | None = None, *, legacy: bool = False) -> HelloResult:
    """Ask one server hello (OP_MSG) or legacy isMaster (OP_QUERY) on a fresh connection.

    No handshake and no authentication come first: the reply is exactly what the server says
    to that single command. `address` defaults to the URI's first host. The round trip is
    measured around the command alone, not the TCP/TLS connect.
    """
    settings = options.settings()
    target = normalize_address(address) if address else settings.seeds[0]
    # A hello check's socket timeout is connectTimeoutMS, as for SDAM monitoring connections
    # (SDAM monitoring spec, "Timeouts"): a server that accepts and never answers must not
    # hold the command forever (socketTimeoutMS defaults to no timeout).
    conn = Connection.connect(target, settings.monitor_connection)
    try:
        if legacy:
            # Handshake spec: the legacy isMaster travels as OP_QUERY on admin.$cmd.
            body = {"isMaster": 1, "client": client_metadata(settings.get("appname"))}
            started = time.perf_counter()
            reply = conn.legacy_command("admin", body, check=False)
        else:
            body = {"hello": 1, "client": client_metadata(settings.get("appname"))}
            started = time.perf_counter()
            reply = conn.command("admin", body, check=False)
        rtt_ms = (time.perf_counter() - started) * 1000.0
    finally:
        conn.close()
    return HelloResult(address=target, command="isMaster" if legacy else "hello",
                       opcode="OP_QUERY" if legacy else "OP_MSG", rtt_ms=rtt_ms, reply=reply)


# Fields whose values every member should agree on (or, for the role fields, shows who thinks what).
VIEW_FIELDS = ("setName", "setVersion", "electionId", "primary", "hosts", "passives", "arbiters")


def hello_all(options: ConnectOptions, addresses: Sequence[str], *, legacy: bool = False) -> HelloAllResult:
    """hello (or legacy isMaster) of every address, each on its own connection; the fields of
    VIEW_FIELDS on which the members' views differ (hosts compared as sets)."""
    from driver.errors import DriverError
    results: list[HelloResult] = []
    errors: dict[str, str] = {}
    for address in sorted(addresses):
        try:
            results.append(hello(options, address, legacy=legacy))
        except DriverError as exc:
            errors[address] = str(exc)
    differences = []
    for name in VIEW_FIELDS:
        # Only members that report the field (a secondary has no electionId): absent is not a difference.
        values = {_comparable(r.reply[name]) for r in results if r.reply.get(name) is not None}
        if len(values) > 1:
            differences.append(name)
    return HelloAllResult(results=tuple(results), errors=errors, differences=tuple(differences))


def _comparable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(sorted(map(str, value)))
    return str(value) if value is not None else None


def server_row(sd: ServerDescription, primary: ServerDescription | None = None) -> ServerRow:
    """One server's facts for display (setVersion/electionId only for primaries, as SDAM uses them;
    how far a secondary's last write trails the primary's, the basis of max staleness)."""
    is_primary = sd.type is ServerType.RSPrimary
    behind = (_replication_lag_ms(sd, primary) if sd.type is ServerType.RSSecondary and primary is not None
              else None)
    return ServerRow(
        address=sd.address, type=sd.type.value, rtt_ms=sd.round_trip_time_ms,
        set_version=sd.set_version if is_primary else None,
        election_id=str(sd.election_id) if is_primary and sd.election_id is not None else None,
        tags=dict(sd.tags), error=sd.error, behind_ms=behind)


def _replication_lag_ms(secondary: ServerDescription, primary: ServerDescription) -> float | None:
    """How far the secondary's last write trails the primary's, each judged at its own check.

    Comparing the two lastWriteDates directly goes negative when the secondary was checked after
    a write the primary's older check has not reported; the max-staleness spec's formula
    ("Max Staleness", with a primary) subtracts each server's own age instead:
    (S.lastUpdateTime - S.lastWriteDate) - (P.lastUpdateTime - P.lastWriteDate), here without
    the heartbeat term (that bounds the estimate; this column shows the measured part).
    """
    if secondary.last_write_date_ms is None or primary.last_write_date_ms is None:
        return None
    lag = ((secondary.last_update_time_ms - secondary.last_write_date_ms)
           - (primary.last_update_time_ms - primary.last_write_date_ms))
    return max(0.0, lag)


def topology_view(td: TopologyDescription, read_preferences: Sequence[ReadPreference] = ()) -> TopologyView:
    """The whole description as plain rows, servers sorted by address; with `read_preferences`,
    what each would select now (see selection_row)."""
    primary = next((sd for sd in td.servers.values() if sd.type is ServerType.RSPrimary), None)
    return TopologyView(type=td.type.value, set_name=td.set_name,
                        servers=tuple(server_row(sd, primary) for _a, sd in sorted(td.servers.items())),
                        compatible=td.compatible, compatibility_error=td.compatibility_error,
                        selection=tuple(selection_row(td, rp) for rp in read_preferences))


ALL_MODES = ("primary", "primaryPreferred", "secondary", "secondaryPreferred", "nearest")


def read_preferences(mode: str | None, tag_sets: Sequence[Mapping[str, str]] | None,
                     max_staleness_s: int | None) -> list[ReadPreference]:
    """The read preferences to show: the one asked for, else every mode (ConfigurationError if invalid)."""
    if mode is None and (tag_sets or max_staleness_s is not None):
        mode = "nearest"
    if mode is None:
        return [ReadPreference(mode=m) for m in ALL_MODES]
    return [ReadPreference(mode=mode, tag_sets=tuple(tag_sets) if tag_sets else ({},),
                           max_staleness_seconds=max_staleness_s)]


def selection_row(td: TopologyDescription, rp: ReadPreference) -> SelectionRow:
    """What the driver's selection code (not a copy of it) would pick for `rp` now, and why not the rest."""
    try:
        window = selection.select_servers(td, rp)
    except ConfigurationError as exc:
        window = []
        reasons = {address: f"invalid read preference: {exc}" for address in td.servers}
    else:
        reasons = dict(selection.explain_unsuitable(td, rp))
    rtts = [selection.round_trip_ms(s) for s in window]
    bounds = (min(rtts), min(rtts) + td.settings.local_threshold_ms) if rtts else None
    described: dict[str, Any] = {"mode": rp.mode}
    if any(rp.tag_sets):
        described["tag_sets"] = [dict(t) for t in rp.tag_sets]
    if rp.max_staleness_seconds is not None:
        described["max_staleness_seconds"] = rp.max_staleness_seconds
    return SelectionRow(read_preference=described, selected=tuple(sorted(s.address for s in window)),
                        window_ms=bounds, reasons=reasons)


def _why(previous: ServerDescription, new: ServerDescription) -> str:
    """A short reason for a server description change, from what differs."""
    if new.error and new.type is ServerType.Unknown:
        return new.error
    if previous.type is not new.type:
        if new.type is ServerType.RSPrimary:
            return f"elected (electionId {new.election_id}, setVersion {new.set_version})"
        if previous.type is ServerType.Unknown:
            return "answered hello"
        if previous.type is ServerType.RSPrimary:
            return "no longer primary"
        return f"now reports {new.type.value}"
    if previous.primary != new.primary:
        return f"reports primary {new.primary or 'none'}"
    if previous.election_id != new.election_id:
        return f"new electionId {new.election_id}"
    return "description changed"


def event_record(event: Any, now: float | None = None) -> EventRecord | None:
    """A driver SDAM/heartbeat event as a log record; None for events the log does not show."""
    now = time.time() if now is None else now
    if isinstance(event, sdam_events.ServerHeartbeatStartedEvent):
        return EventRecord(now, "heartbeat_started", event.address, {"awaited": event.awaited})
    if isinstance(event, sdam_events.ServerHeartbeatSucceededEvent):
        return EventRecord(now, "heartbeat_succeeded", event.address,
                           {"awaited": event.awaited, "duration_ms": round(event.duration_ms, 3)})
    if isinstance(event, sdam_events.ServerHeartbeatFailedEvent):
        return EventRecord(now, "heartbeat_failed", event.address,
                           {"awaited": event.awaited, "duration_ms": round(event.duration_ms, 3),
                            "error": str(event.error)})
    if isinstance(event, sdam_events.ServerDescriptionChangedEvent):
        return EventRecord(now, "server_changed", event.address,
                           {"from": event.previous.type.value, "to": event.new.type.value,
                            "why": _why(event.previous, event.new)})
    if isinstance(event, sdam_events.TopologyDescriptionChangedEvent):
        prev, new = event.previous, event.new
        primary = next((a for a, s in sorted(new.servers.items()) if s.type is ServerType.RSPrimary), None)
        facts: dict[str, Any] = {"from": prev.type.value, "to": new.type.value}
        if new.set_name:
            facts["set_name"] = new.set_name
        facts["primary"] = primary
        return EventRecord(now, "topology_changed", None, facts)
    if isinstance(event, sdam_events.ServerOpeningEvent):
        return EventRecord(now, "server_opening", event.address, {})
    if isinstance(event, sdam_events.ServerClosedEvent):
        return EventRecord(now, "server_closed", event.address, {})
    return None


def note(text: str, now: float | None = None, **facts: Any) -> EventRecord:
    """A log line of the tool's own (demo steps, the result of a blocked write...)."""
    return EventRecord(time.time() if now is None else now, "note", None, {"text": text, **facts})
