"""Pure SDAM transitions: (TopologyDescription, ServerDescription) -> new TopologyDescription.

Names follow the SDAM spec, "Updating the TopologyDescription": one handler per TopologyType
(the "TopologyType table") and one function per named action (updateRSFromPrimary, ...).
Every public function returns a new frozen description and never mutates its arguments; the
handlers work on a private `_Draft` copied from the input.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

from bson import ObjectId

from driver.hello import normalize_address, unknown_server
from driver.sdam.description import (CheckFailure, ServerDescription, ServerType, TopologyDescription,
                                     TopologySettings, TopologyType, TopologyVersion)

# Wire protocol range this driver speaks (SDAM "clientMinWireVersion and clientMaxWireVersion").
CLIENT_MIN_WIRE_VERSION = 6    # MongoDB 3.6
CLIENT_MAX_WIRE_VERSION = 25   # MongoDB 8.x

# For the "requires at least ... (MongoDB x.y)" message (SDAM "Checking wire protocol compatibility").
_MONGODB_VERSION_FOR_WIRE = {6: "3.6", 7: "4.0", 8: "4.2", 9: "4.4", 13: "5.0", 17: "6.0",
                             21: "7.0", 25: "8.0"}

_RS_MEMBER_TYPES = (ServerType.RSSecondary, ServerType.RSArbiter, ServerType.RSOther)

STALE_PRIMARY_NEWER_FOUND = "primary marked stale due to discovery of newer primary"
STALE_PRIMARY_MISMATCH = "primary marked stale due to electionId/setVersion mismatch"


# --------------------------------------------------------------------------- helpers
def compare_topology_version(current: TopologyVersion | None, new: TopologyVersion | None) -> int:
    """SDAM "compareTopologyVersion": -1 if current < new, 0 if equal, 1 if current > new.

    A missing version, or a different processId, counts as "new is greater" (-1).
    """
    if current is None or new is None or current.process_id != new.process_id:
        return -1
    if current.counter == new.counter:
        return 0
    return -1 if current.counter < new.counter else 1


def is_stale_server_description(topology: TopologyDescription, server: ServerDescription) -> bool:
    """SDAM "isStaleServerDescription": the stored description has a greater topologyVersion."""
    current = topology.servers.get(server.address)
    if current is None:
        return False
    return compare_topology_version(current.topology_version, server.topology_version) > 0


def _none_less(a, b) -> bool:
    """a < b where None is less than any value (SDAM: null electionId/setVersion compare less)."""
    if a is None:
        return b is not None
    if b is None:
        return False
    return a < b


@dataclass
class _Draft:
    """Mutable working copy of a TopologyDescription, private to one update."""

    type: TopologyType
    servers: dict[str, ServerDescription]
    set_name: str | None
    max_set_version: int | None
    max_election_id: ObjectId | None
    settings: TopologySettings

    @classmethod
    def of(cls, td: TopologyDescription) -> "_Draft":
        return cls(td.type, dict(td.servers), td.set_name, td.max_set_version, td.max_election_id,
                   td.settings)

    def remove(self, address: str) -> None:
        """SDAM "remove": drop the server (its monitor stops when the live topology diffs)."""
        self.servers.pop(address, None)

    def add_members(self, server: ServerDescription) -> None:
        """Add a default Unknown description for each host/passive/arbiter not yet known."""
        for address in server.all_hosts:
            if address not in self.servers:
                self.servers[address] = unknown_server(address)

    def mark_possible_primary(self, server: ServerDescription) -> None:
        """A member names the primary: an Unknown entry for it becomes PossiblePrimary."""
        if server.primary is None:
            return
        candidate = self.servers.get(server.primary)
        if candidate is not None and candidate.type is ServerType.Unknown:
            self.servers[server.primary] = candidate.with_changes(type=ServerType.PossiblePrimary)

    def freeze(self) -> TopologyDescription:
        compatible, error = check_compatibility(self.servers.values())
        return TopologyDescription(
            type=self.type, servers=dict(self.servers), set_name=self.set_name,
            max_set_version=self.max_set_version, max_election_id=self.max_election_id,
            compatible=compatible, compatibility_error=error,
            logical_session_timeout_minutes=logical_session_timeout(self.servers.values()),
            settings=self.settings)


def check_compatibility(servers) -> tuple[bool, str | None]:
    """SDAM "Checking wire protocol compatibility" over every known server."""
    for sd in servers:
        if sd.type in (ServerType.Unknown, ServerType.PossiblePrimary, ServerType.LoadBalancer):
            continue  # no wire version known (Unknown) or never checked (LoadBalancer)
        if sd.min_wire_version > CLIENT_MAX_WIRE_VERSION:
            return False, (f"Server at {sd.address} requires wire version {sd.min_wire_version}, but "
                           f"this version of mongocli only supports up to {CLIENT_MAX_WIRE_VERSION}.")
        if sd.max_wire_version < CLIENT_MIN_WIRE_VERSION:
            mongodb = _MONGODB_VERSION_FOR_WIRE.get(CLIENT_MIN_WIRE_VERSION, "?")
            return False, (f"Server at {sd.address} reports wire version {sd.max_wire_version}, but "
                           f"this version of mongocli requires at least {CLIENT_MIN_WIRE_VERSION} "
                           f"(MongoDB {mongodb}).")
    return True, None


def logical_session_timeout(servers) -> int | None:
    """SDAM "Logical Session Timeout": the minimum over data-bearing servers, None if any is None
    (or if no data-bearing server is known)."""
    values = [sd.logical_session_timeout_minutes for sd in servers if sd.is_data_bearing]
    if not values or any(v is None for v in values):
        return None
    return min(values)


# --------------------------------------------------------------------------- start
def initial_topology(seeds: Sequence[str], settings: TopologySettings) -> TopologyDescription:
    """SDAM "Initial TopologyDescription": one Unknown server per (normalized) seed.

    Initial type: LoadBalanced if loadBalanced, Single if directConnection, ReplicaSetNoPrimary
    if a replicaSet name is given, else Unknown. The normalized seeds are kept in
    `settings.seeds` (updateUnknownWithStandalone needs their number).
    """
    addresses = list(dict.fromkeys(normalize_address(s) for s in seeds))
    settings = replace(settings, seeds=tuple(addresses))
    if settings.load_balanced:
        kind = TopologyType.LoadBalanced
    elif settings.direct_connection:
        kind = TopologyType.Single
    elif settings.replica_set_name is not None:
        kind = TopologyType.ReplicaSetNoPrimary
    else:
        kind = TopologyType.Unknown
    servers = {a: unknown_server(a) for a in addresses}
    set_name = None if settings.load_balanced else settings.replica_set_name
    return _Draft(kind, servers, set_name, None, None, settings).freeze()


def update_topology(topology: TopologyDescription, server: ServerDescription) -> TopologyDescription:
    """Apply one check outcome (SDAM "Updating the TopologyDescription").

    Outcomes for servers no longer in the topology, and outcomes whose topologyVersion is
    older than the stored one, are ignored (the same description is returned). Otherwise the
    server's description is replaced and the handler for the current TopologyType runs.
    """
    if server.address not in topology.servers or is_stale_server_description(topology, server):
        return topology
    draft = _Draft.of(topology)
    draft.servers[server.address] = server
    _HANDLERS[topology.type](draft, server)
    return draft.freeze()


# --------------------------------------------------------------------------- per TopologyType
def update_single(d: _Draft, sd: ServerDescription) -> None:
    """TopologyType Single: keep the one server; a wrong or missing setName (when the user gave
    replicaSet) makes it Unknown (SDAM "Verifying setName with TopologyType Single")."""
    wanted = d.settings.replica_set_name
    if wanted is not None and sd.type is not ServerType.Unknown and sd.set_name != wanted:
        d.servers[sd.address] = unknown_server(
            sd.address, f"server {sd.address} reports setName {sd.set_name!r}, but replicaSet={wanted!r} "
                        "was requested", failure=CheckFailure.REJECTED)


def update_load_balanced(d: _Draft, sd: ServerDescription) -> None:
    """TopologyType LoadBalanced: the description is taken as it is (Load Balancers spec)."""


def update_unknown(d: _Draft, sd: ServerDescription) -> None:
    """TopologyType Unknown row of the TopologyType table."""
    if sd.type is ServerType.Standalone:
        update_unknown_with_standalone(d, sd)
    elif sd.type is ServerType.Mongos:
        d.type = TopologyType.Sharded
    elif sd.type is ServerType.RSPrimary:
        d.type = TopologyType.ReplicaSetWithPrimary
        update_rs_from_primary(d, sd)
    elif sd.type in _RS_MEMBER_TYPES:
        d.type = TopologyType.ReplicaSetNoPrimary
        update_rs_without_primary(d, sd)
    # Unknown and RSGhost: no-op (SDAM "TopologyType remains Unknown when an RSGhost is discovered").


def update_sharded(d: _Draft, sd: ServerDescription) -> None:
    """TopologyType Sharded: keep Unknown and Mongos servers, remove anything else."""
    if sd.type not in (ServerType.Unknown, ServerType.Mongos):
        d.remove(sd.address)


def update_replica_set_no_primary(d: _Draft, sd: ServerDescription) -> None:
    """TopologyType ReplicaSetNoPrimary column of the TopologyType table."""
    if sd.type in (ServerType.Standalone, ServerType.Mongos):
        d.remove(sd.address)
    elif sd.type is ServerType.RSPrimary:
        d.type = TopologyType.ReplicaSetWithPrimary
        update_rs_from_primary(d, sd)
    elif sd.type in _RS_MEMBER_TYPES:
        update_rs_without_primary(d, sd)
    # Unknown and RSGhost are kept: no-op.


def update_replica_set_with_primary(d: _Draft, sd: ServerDescription) -> None:
    """TopologyType ReplicaSetWithPrimary column of the TopologyType table."""
    if sd.type in (ServerType.Standalone, ServerType.Mongos):
        d.remove(sd.address)
        check_if_has_primary(d)
    elif sd.type is ServerType.RSPrimary:
        update_rs_from_primary(d, sd)
    elif sd.type in _RS_MEMBER_TYPES:
        update_rs_with_primary_from_member(d, sd)
    else:  # Unknown, RSGhost: the primary may just have gone away
        check_if_has_primary(d)


# --------------------------------------------------------------------------- spec actions
def update_unknown_with_standalone(d: _Draft, sd: ServerDescription) -> None:
    """SDAM "updateUnknownWithStandalone": Single if it was the only seed, else remove it."""
    if len(d.settings.seeds) == 1:
        d.type = TopologyType.Single
    else:
        d.remove(sd.address)


def update_rs_without_primary(d: _Draft, sd: ServerDescription) -> None:
    """SDAM "updateRSWithoutPrimary": a secondary/arbiter/other while no primary is known."""
    if d.set_name is None:
        d.set_name = sd.set_name
    elif d.set_name != sd.set_name:
        d.remove(sd.address)
        return
    d.add_members(sd)
    d.mark_possible_primary(sd)
    if sd.me is not None and sd.address != sd.me:
        d.remove(sd.address)


def update_rs_with_primary_from_member(d: _Draft, sd: ServerDescription) -> None:
    """SDAM "updateRSWithPrimaryFromMember": a secondary/arbiter/other while a primary is known."""
    if d.set_name != sd.set_name or (sd.me is not None and sd.address != sd.me):
        d.remove(sd.address)
        check_if_has_primary(d)
        return
    if not any(s.type is ServerType.RSPrimary for s in d.servers.values()):
        d.type = TopologyType.ReplicaSetNoPrimary
        d.mark_possible_primary(sd)


def _is_stale_primary(d: _Draft, sd: ServerDescription) -> bool:
    """SDAM "Using electionId and setVersion to detect stale primaries".

    MongoDB 6.0+ (maxWireVersion >= 17): order by (electionId, setVersion), nulls lowest.
    Older servers: order by (setVersion, electionId), only when all four values are known.
    Updates d.max_election_id / d.max_set_version when the primary is not stale.
    """
    if sd.max_wire_version >= 17:
        if _none_less(sd.election_id, d.max_election_id):
            return True
        if sd.election_id == d.max_election_id and _none_less(sd.set_version, d.max_set_version):
            return True
        d.max_election_id, d.max_set_version = sd.election_id, sd.set_version
        return False
    if sd.set_version is not None and sd.election_id is not None:
        if d.max_set_version is not None and d.max_election_id is not None:
            if d.max_set_version > sd.set_version:
                return True
            if d.max_set_version == sd.set_version and d.max_election_id > sd.election_id:
                return True
        d.max_election_id = sd.election_id
    if sd.set_version is not None and (d.max_set_version is None or sd.set_version > d.max_set_version):
        d.max_set_version = sd.set_version
    return False


def update_rs_from_primary(d: _Draft, sd: ServerDescription) -> None:
    """SDAM "updateRSFromPrimary": a primary's view replaces the member list.

    A primary with the wrong setName is removed; a stale primary (older electionId/setVersion)
    becomes Unknown; any other primary is invalidated (Unknown, "discovery of newer primary");
    servers missing from the primary's hosts/passives/arbiters are removed.
    """
    if d.set_name is None:
        d.set_name = sd.set_name
    elif d.set_name != sd.set_name:
        d.remove(sd.address)
        check_if_has_primary(d)
        return
    if _is_stale_primary(d, sd):
        d.servers[sd.address] = unknown_server(
            sd.address, f"{STALE_PRIMARY_MISMATCH}: {sd.address} reported electionId {sd.election_id}, "
                        f"setVersion {sd.set_version}; newest seen electionId {d.max_election_id}, "
                        f"setVersion {d.max_set_version}", failure=CheckFailure.REJECTED)
        check_if_has_primary(d)
        return
    for address, other in list(d.servers.items()):
        if address != sd.address and other.type is ServerType.RSPrimary:
            # Pre-4.2 old primaries also need their pool cleared; the live topology sees the
            # RSPrimary -> Unknown change with this error and decides (SDAM, note on invalidating).
            d.servers[address] = unknown_server(address, f"{STALE_PRIMARY_NEWER_FOUND} {sd.address}")
    d.add_members(sd)
    members = set(sd.all_hosts)
    for address in list(d.servers):
        if address not in members:
            d.remove(address)
    check_if_has_primary(d)


def check_if_has_primary(d: _Draft) -> None:
    """SDAM "checkIfHasPrimary": ReplicaSetWithPrimary iff some server is RSPrimary."""
    has_primary = any(s.type is ServerType.RSPrimary for s in d.servers.values())
    d.type = TopologyType.ReplicaSetWithPrimary if has_primary else TopologyType.ReplicaSetNoPrimary


_HANDLERS: dict[TopologyType, Callable[[_Draft, ServerDescription], None]] = {
    TopologyType.Unknown: update_unknown,
    TopologyType.Single: update_single,
    TopologyType.Sharded: update_sharded,
    TopologyType.ReplicaSetNoPrimary: update_replica_set_no_primary,
    TopologyType.ReplicaSetWithPrimary: update_replica_set_with_primary,
    TopologyType.LoadBalanced: update_load_balanced,
}
