"""Frozen server and topology descriptions (SDAM spec, "Data structures")."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from bson import ObjectId

from driver.option_defaults import DEFAULTS


class ServerType(str, enum.Enum):
    """SDAM spec, "ServerType"."""

    Unknown = "Unknown"
    Standalone = "Standalone"
    Mongos = "Mongos"
    PossiblePrimary = "PossiblePrimary"
    RSPrimary = "RSPrimary"
    RSSecondary = "RSSecondary"
    RSArbiter = "RSArbiter"
    RSOther = "RSOther"
    RSGhost = "RSGhost"
    LoadBalancer = "LoadBalancer"

    @property
    def is_data_bearing(self) -> bool:
        """Spec: 'data-bearing' server types (may answer reads)."""
        return self in (ServerType.Standalone, ServerType.Mongos, ServerType.RSPrimary,
                        ServerType.RSSecondary, ServerType.LoadBalancer)


class TopologyType(str, enum.Enum):
    """SDAM spec, "TopologyType"."""

    Unknown = "Unknown"
    Single = "Single"
    ReplicaSetNoPrimary = "ReplicaSetNoPrimary"
    ReplicaSetWithPrimary = "ReplicaSetWithPrimary"
    Sharded = "Sharded"
    LoadBalanced = "LoadBalanced"


class CheckFailure(str, enum.Enum):
    """Why a server is Unknown with an error: it never answered, or it answered and was set aside.

    Data for messages (the CLI tells "nothing listens there" from "something answered, but not
    a server we can use"); SDAM's rules never read it.
    """

    UNREACHABLE = "unreachable"  # no reply: connect refused or timed out, connection lost, network error
    REJECTED = "rejected"        # a reply came and was refused: hello ok: 0, invalid hello, auth, state change


@dataclass(frozen=True)
class TopologyVersion:
    """A server's {processId, counter}; orders states of one process (SDAM "topologyVersion")."""

    process_id: ObjectId
    counter: int


@dataclass(frozen=True)
class ServerDescription:
    """What the client knows about one server after its last check (SDAM "ServerDescription").

    Units are explicit in the names: milliseconds everywhere. `address` is "host:port",
    host lower-cased. Defaults describe an Unknown server that has never been checked.
    """

    address: str
    type: ServerType = ServerType.Unknown
    error: str | None = None
    failure: CheckFailure | None = None         # with `error`: unreachable or answered-but-rejected
    round_trip_time_ms: float | None = None      # EWMA average, SDAM "roundTripTime"
    min_round_trip_time_ms: float | None = None  # CSOT: minimum over the last samples
    last_write_date_ms: float | None = None      # lastWrite.lastWriteDate, ms since epoch
    last_update_time_ms: float = 0.0             # client monotonic clock at the check
    op_time: Mapping[str, Any] | None = None
    min_wire_version: int = 0
    max_wire_version: int = 0
    me: str | None = None
    hosts: tuple[str, ...] = ()
    passives: tuple[str, ...] = ()
    arbiters: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    set_name: str | None = None
    set_version: int | None = None
    election_id: ObjectId | None = None
    primary: str | None = None
    logical_session_timeout_minutes: int | None = None
    topology_version: TopologyVersion | None = None
    hello_ok: bool = False
    service_id: ObjectId | None = None          # load-balanced mode
    max_bson_object_size: int = 16 * 1024 * 1024
    max_message_size_bytes: int = 48_000_000
    max_write_batch_size: int = 100_000
    compression: tuple[str, ...] = ()
    raw_reply: Mapping[str, Any] | None = None  # the hello reply as received, for the CLI

    @property
    def all_hosts(self) -> tuple[str, ...]:
        """hosts + passives + arbiters, the members this server reports."""
        return self.hosts + self.passives + self.arbiters

    @property
    def is_data_bearing(self) -> bool:
        return self.type.is_data_bearing

    @property
    def is_writable(self) -> bool:
        return self.type in (ServerType.RSPrimary, ServerType.Standalone, ServerType.Mongos,
                             ServerType.LoadBalancer)

    def with_changes(self, **changes: Any) -> "ServerDescription":
        return replace(self, **changes)

    def equivalent_to(self, other: "ServerDescription") -> bool:
        """SDAM "Server Description Equality": the fields that decide whether an event fires."""
        return _equality_key(self) == _equality_key(other)


def _equality_key(sd: ServerDescription) -> tuple:
    return (sd.address, sd.type, sd.min_wire_version, sd.max_wire_version, sd.me,
            frozenset(sd.hosts), frozenset(sd.passives), frozenset(sd.arbiters),
            tuple(sorted(sd.tags.items())), sd.set_name, sd.set_version, sd.election_id,
            sd.primary, sd.logical_session_timeout_minutes, sd.error, sd.topology_version)


@dataclass(frozen=True)
class TopologySettings:
    """Client settings the SDAM and selection rules read (URI options)."""

    replica_set_name: str | None = None
    direct_connection: bool = False
    load_balanced: bool = False
    heartbeat_frequency_ms: int = DEFAULTS["heartbeatFrequencyMS"]
    local_threshold_ms: int = DEFAULTS["localThresholdMS"]
    server_selection_timeout_ms: int = DEFAULTS["serverSelectionTimeoutMS"]
    srv_max_hosts: int = DEFAULTS["srvMaxHosts"]
    seeds: tuple[str, ...] = ()                 # normalized seed list (updateUnknownWithStandalone)


@dataclass(frozen=True)
class TopologyDescription:
    """The client's whole view of the deployment at one moment (SDAM "TopologyDescription")."""

    type: TopologyType
    servers: Mapping[str, ServerDescription]
    set_name: str | None = None
    max_set_version: int | None = None
    max_election_id: ObjectId | None = None
    compatible: bool = True
    compatibility_error: str | None = None
    logical_session_timeout_minutes: int | None = None
    settings: TopologySettings = TopologySettings()

    def with_changes(self, **changes: Any) -> "TopologyDescription":
        return replace(self, **changes)

    @property
    def known_servers(self) -> list[ServerDescription]:
        return [s for s in self.servers.values() if s.type is not ServerType.Unknown]

    @property
    def has_writable_server(self) -> bool:
        return any(s.is_writable for s in self.servers.values())
