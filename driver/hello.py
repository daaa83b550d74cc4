"""Turn a hello / legacy isMaster reply into a ServerDescription (SDAM "Parsing a hello response")."""

from __future__ import annotations

import datetime
from typing import Any, Iterable, Mapping

from dataclasses import dataclass

from bson import ObjectId

from driver.errors import ProtocolError
from driver.sdam.description import CheckFailure, ServerDescription, ServerType, TopologyVersion

DEFAULT_PORT = 27017

# Peer-driven sizes are bounded (issue 11): a hostile hello must not make the client allocate or
# spawn without limit. Real servers announce exactly these limits (16 MiB documents, 48 MB
# messages, 100,000 writes per batch); larger values are clamped to them, zero or negative
# ones are a protocol error. A replica set has at most 50 members, so a hello listing more
# than MAX_HOSTS addresses (hosts + passives + arbiters) is refused: each would get a monitor.
MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE_BYTES = 48_000_000
MAX_WRITE_BATCH_SIZE = 100_000
MAX_HOSTS = 100

_INT_FIELDS = ("minWireVersion", "maxWireVersion", "maxBsonObjectSize", "maxMessageSizeBytes",
               "maxWriteBatchSize", "setVersion", "logicalSessionTimeoutMinutes")
_STR_FIELDS = ("setName", "me", "primary", "msg")
_ADDRESS_LIST_FIELDS = ("hosts", "passives", "arbiters")
_LIMITS = {"maxBsonObjectSize": MAX_BSON_OBJECT_SIZE, "maxMessageSizeBytes": MAX_MESSAGE_SIZE_BYTES,
           "maxWriteBatchSize": MAX_WRITE_BATCH_SIZE}


@dataclass(frozen=True)
class HelloLimits:
    """What a connection needs from its handshake reply, typed and bounded (see check_hello)."""

    min_wire_version: int
    max_wire_version: int
    max_bson_object_size: int
    max_message_size_bytes: int
    max_write_batch_size: int
    compression: tuple[str, ...]


def _type_name(value: Any) -> str:
    return type(value).__name__


def check_hello(address: str, reply: Mapping[str, Any]) -> HelloLimits:
    """Check the field types and sizes of a successful hello reply; return its limits.

    Raises ProtocolError naming the field (and the server) when a field has the wrong type, a
    size limit is zero or negative, or the reply lists more than MAX_HOSTS addresses. Limits
    above what any server announces are clamped. Absent (or null) fields take the defaults.
    """
    where = f"hello reply from {address}"
    ints: dict[str, int | None] = {}
    for name in _INT_FIELDS:
        value = reply.get(name)
        if value is None:
            ints[name] = None
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or (
                isinstance(value, float) and not value.is_integer()):
            raise ProtocolError(f"{where}: field {name!r} must be an integer, got {_type_name(value)} {value!r:.40}")
        else:
            ints[name] = int(value)
    for name in _STR_FIELDS:
        value = reply.get(name)
        if value is not None and not isinstance(value, str):
            raise ProtocolError(f"{where}: field {name!r} must be a string, got {_type_name(value)} {value!r:.40}")
    count = 0
    for name in _ADDRESS_LIST_FIELDS + ("compression",):
        value = reply.get(name)
        if value is None:
            continue
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ProtocolError(f"{where}: field {name!r} must be a list of strings, got {value!r:.60}")
        if name in _ADDRESS_LIST_FIELDS:
            count += len(value)
    if count > MAX_HOSTS:
        raise ProtocolError(f"{where} lists {count} hosts (hosts, passives, arbiters); a replica set has at "
                            f"most 50 members and mongocli accepts at most {MAX_HOSTS}: the server is "
                            "misconfigured or not a genuine MongoDB server")
    limits = {}
    for name, cap in _LIMITS.items():
        value = ints[name]
        if value is not None and value <= 0:
            raise ProtocolError(f"{where}: field {name!r} must be positive, got {value}")
        limits[name] = cap if value is None else min(value, cap)
    return HelloLimits(
        min_wire_version=ints["minWireVersion"] or 0,
        max_wire_version=ints["maxWireVersion"] or 0,
        max_bson_object_size=limits["maxBsonObjectSize"],
        max_message_size_bytes=limits["maxMessageSizeBytes"],
        max_write_batch_size=limits["maxWriteBatchSize"],
        compression=tuple(reply.get("compression") or ()),
    )


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
                   topology_version: TopologyVersion | None = None,
                   failure: CheckFailure | None = None) -> ServerDescription:
    """A default ServerDescription of type Unknown (a failed check, or a server marked Unknown);
    `failure` says whether the server was unreachable or answered and was rejected."""
    return ServerDescription(address=normalize_address(address), error=error,
                             topology_version=topology_version, failure=failure)


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
                                 failure=CheckFailure.UNREACHABLE, last_update_time_ms=now_ms)
    if not reply.get("ok"):
        errmsg = reply.get("errmsg") or "hello command failed"
        code = reply.get("code")
        message = f"hello to {address} failed: {errmsg}" + (f" (code {code})" if code is not None else "")
        return ServerDescription(address=address, error=message, failure=CheckFailure.REJECTED,
                                 last_update_time_ms=now_ms, raw_reply=reply)

    try:
        limits = check_hello(address, reply)
    except ProtocolError as exc:
        return ServerDescription(address=address, error=str(exc), failure=CheckFailure.REJECTED,
                                 last_update_time_ms=now_ms, raw_reply=reply)
    server_type = server_type_from_hello(reply)
    last_write = reply.get("lastWrite")
    last_write_ms = _datetime_ms(last_write.get("lastWriteDate")) if isinstance(last_write, Mapping) else None
    op_time = last_write.get("opTime") if isinstance(last_write, Mapping) else None
    me = reply.get("me")
    primary = reply.get("primary")
    election_id = reply.get("electionId")
    service_id = reply.get("serviceId")
    tags = reply.get("tags")
    return ServerDescription(
        address=address,
        type=server_type,
        round_trip_time_ms=rtt_ms,
        min_round_trip_time_ms=rtt_ms,
        last_write_date_ms=last_write_ms,
        last_update_time_ms=now_ms,
        op_time=op_time if isinstance(op_time, Mapping) else None,
        min_wire_version=limits.min_wire_version,
        max_wire_version=limits.max_wire_version,
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
        max_bson_object_size=limits.max_bson_object_size,
        max_message_size_bytes=limits.max_message_size_bytes,
        max_write_batch_size=limits.max_write_batch_size,
        compression=limits.compression,
        raw_reply=reply,
    )
