"""Turn a hello / legacy isMaster reply into a ServerDescription (SDAM "Parsing a hello response")."""

from __future__ import annotations

import datetime
from typing import Any, Iterable, Mapping

from bson import ObjectId

from driver.sdam.description import ServerDescription, ServerType, TopologyVersion

DEFAULT_PORT = 27017


def normalize_address(address: str) -> str:
    """'Host:Port' with the host lower-cased and the default port added (SDAM "Hostnames are
    normalized to lower-case"). IPv6 literals keep their brackets: '[::1]:27017'."""
    address = address.strip().lower()
    if address.startswith("["):
        close = address.find("]")
        if close == -1:
            return address
        return address if address[close + 1:].startswith(":") else f"{address}:{DEFAULT_PORT}"
    if address.count(":") == 1 or address.endswith(".sock"):
        return address
    if ":" in address:  # a bare IPv6 literal without brackets
        return f"[{address}]:{DEFAULT_PORT}"
    return f"{address}:{DEFAULT_PORT}"


def unknown_server(address: str, error: str | None = None,
                   topology_version: TopologyVersion | None = None) -> ServerDescription:
    """A default ServerDescription of type Unknown (a failed check, or a server marked Unknown)."""
    return ServerDescription(address=normalize_address(address), error=error,
                             topology_version=topology_version)


def load_balancer_server(address: str) -> ServerDescription:
    """Load Balancers spec: in load-balanced mode the single server is a LoadBalancer at once,
    with only its address set; it is never monitored."""
    return ServerDescription(address=normalize_address(address), type=ServerType.LoadBalancer)


def parse_topology_version(value: Any) -> TopologyVersion | None:
    """A reply's {processId, counter} document as a TopologyVersion, or None if absent/malformed."""
    if not isinstance(value, Mapping):
        return None
    process_id, counter = value.get("processId"), value.get("counter")
    if not isinstance(process_id, ObjectId) or not isinstance(counter, int):
        return None
    return TopologyVersion(process_id=process_id, counter=int(counter))


def server_type_from_hello(reply: Mapping[str, Any]) -> ServerType:
    """SDAM "ServerType" from a successful reply (isWritablePrimary or legacy ismaster)."""
    if reply.get("msg") == "isdbgrid":
        return ServerType.Mongos
    if reply.get("setName") is not None:
        if reply.get("hidden"):
            return ServerType.RSOther
        if reply.get("isWritablePrimary") or reply.get("ismaster"):
            return ServerType.RSPrimary
        if reply.get("secondary"):
            return ServerType.RSSecondary
        if reply.get("arbiterOnly"):
            return ServerType.RSArbiter
        return ServerType.RSOther
    if reply.get("isreplicaset"):
        return ServerType.RSGhost
    return ServerType.Standalone


def _addresses(values: Any) -> tuple[str, ...]:
    if not isinstance(values, Iterable) or isinstance(values, (str, bytes, Mapping)):
        return ()
    return tuple(normalize_address(str(v)) for v in values)


def _datetime_ms(value: Any) -> float | None:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp() * 1000.0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def server_description_from_hello(address: str, reply: Mapping[str, Any] | None, *,
                                  rtt_ms: float | None, error: str | None = None,
                                  now_ms: float = 0.0) -> ServerDescription:
    """The ServerDescription a check of `address` yields.

    `reply` None (or `error` set) means the check failed: an Unknown description carrying the
    error. A reply with ok != 1 is likewise Unknown, with the server's errmsg. Otherwise every
    field the spec and the driver read is parsed here, host names lower-cased, and the reply
    is kept as `raw_reply`. `rtt_ms` is the round trip time to record; `now_ms` the client's
    monotonic clock at the check (lastUpdateTime).
    """
    address = normalize_address(address)
    if reply is None or error is not None:
        return ServerDescription(address=address, error=error or "no hello reply",
                                 last_update_time_ms=now_ms)
    if not reply.get("ok"):
        errmsg = reply.get("errmsg") or "hello command failed"
        code = reply.get("code")
        message = f"hello to {address} failed: {errmsg}" + (f" (code {code})" if code is not None else "")
        return ServerDescription(address=address, error=message, last_update_time_ms=now_ms,
                                 raw_reply=reply)

    server_type = server_type_from_hello(reply)
    last_write = reply.get("lastWrite")
    last_write_ms = _datetime_ms(last_write.get("lastWriteDate")) if isinstance(last_write, Mapping) else None
    op_time = last_write.get("opTime") if isinstance(last_write, Mapping) else None
    me = reply.get("me")
    primary = reply.get("primary")
    election_id = reply.get("electionId")
    service_id = reply.get("serviceId")
    tags = reply.get("tags")
    compression = reply.get("compression")
    return ServerDescription(
        address=address,
        type=server_type,
        round_trip_time_ms=rtt_ms,
        min_round_trip_time_ms=rtt_ms,
        last_write_date_ms=last_write_ms,
        last_update_time_ms=now_ms,
        op_time=op_time if isinstance(op_time, Mapping) else None,
        min_wire_version=_int_or_none(reply.get("minWireVersion")) or 0,
        max_wire_version=_int_or_none(reply.get("maxWireVersion")) or 0,
        me=normalize_address(str(me)) if me else None,
        hosts=_addresses(reply.get("hosts", ())),
        passives=_addresses(reply.get("passives", ())),
        arbiters=_addresses(reply.get("arbiters", ())),
        tags=dict(tags) if isinstance(tags, Mapping) else {},
        set_name=reply.get("setName"),
        set_version=_int_or_none(reply.get("setVersion")),
        election_id=election_id if isinstance(election_id, ObjectId) else None,
        primary=normalize_address(str(primary)) if primary else None,
        logical_session_timeout_minutes=_int_or_none(reply.get("logicalSessionTimeoutMinutes")),
        topology_version=parse_topology_version(reply.get("topologyVersion")),
        hello_ok=bool(reply.get("helloOk", False)),
        service_id=service_id if isinstance(service_id, ObjectId) else None,
        max_bson_object_size=_int_or_none(reply.get("maxBsonObjectSize")) or 16 * 1024 * 1024,
        max_message_size_bytes=_int_or_none(reply.get("maxMessageSizeBytes")) or 48_000_000,
        max_write_batch_size=_int_or_none(reply.get("maxWriteBatchSize")) or 100_000,
        compression=tuple(str(c) for c in compression) if isinstance(compression, (list, tuple)) else (),
        raw_reply=reply,
    )
