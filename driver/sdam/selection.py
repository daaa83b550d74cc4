"""Pure server selection: suitable servers by topology, mode, staleness and tags, then the latency window."""

from __future__ import annotations

import random
from typing import Iterable, Mapping, Sequence, Union

from driver.errors import ConfigurationError
from driver.read_preference import (NEAREST, PRIMARY, PRIMARY_PREFERRED, SECONDARY,
                                    SECONDARY_PREFERRED, ReadPreference, TagSet)
from driver.sdam.description import ServerDescription, ServerType, TopologyDescription, TopologyType

WRITE = "write"
Criteria = Union[ReadPreference, str]  # a ReadPreference for reads, or "write"

_REPLICA_SET_TYPES = (TopologyType.ReplicaSetWithPrimary, TopologyType.ReplicaSetNoPrimary)
# Spec, "Terms / Available": Unknown and PossiblePrimary servers are not available.
_UNAVAILABLE = (ServerType.Unknown, ServerType.PossiblePrimary)


# -- small named filters ------------------------------------------------------------------
def is_available(server: ServerDescription) -> bool:
    """Spec "Available": every server type but Unknown and PossiblePrimary."""
    return server.type not in _UNAVAILABLE


def primaries(servers: Iterable[ServerDescription]) -> list[ServerDescription]:
    return [s for s in servers if s.type is ServerType.RSPrimary]


def secondaries(servers: Iterable[ServerDescription]) -> list[ServerDescription]:
    return [s for s in servers if s.type is ServerType.RSSecondary]


def tag_set_matches(tag_set: TagSet, server_tags: Mapping[str, str]) -> bool:
    """Spec "tag_sets": a read preference tag set matches when it is a subset of the server's tags."""
    return all(k in server_tags and server_tags[k] == v for k, v in tag_set.items())


def filter_by_tag_sets(servers: Sequence[ServerDescription],
                       tag_sets: Sequence[TagSet]) -> list[ServerDescription]:
    """Spec "tag_sets": an empty list keeps all; else the first tag set matching any server wins."""
    if not tag_sets:
        return list(servers)
    for tag_set in tag_sets:
        matched = [s for s in servers if tag_set_matches(tag_set, s.tags)]
        if matched:
            return matched
    return []


def staleness_ms(topology: TopologyDescription, server: ServerDescription) -> float:
    """Spec "maxStalenessSeconds": a secondary's estimated lag behind the primary, in ms.

    Non-secondaries have zero staleness. With a primary P:
    (S.lastUpdateTime - S.lastWriteDate) - (P.lastUpdateTime - P.lastWriteDate) + heartbeat.
    Without one, against the secondary SMax with the newest lastWriteDate:
    SMax.lastWriteDate - S.lastWriteDate + heartbeat. A missing lastWriteDate counts as 0,
    which makes that secondary look maximally stale (the safe direction).
    """
    if server.type is not ServerType.RSSecondary:
        return 0.0
    heartbeat = topology.settings.heartbeat_frequency_ms
    s_write = server.last_write_date_ms or 0.0
    primary = next(iter(primaries(topology.servers.values())), None)
    if topology.type is TopologyType.ReplicaSetWithPrimary and primary is not None:
        p_write = primary.last_write_date_ms or 0.0
        return ((server.last_update_time_ms - s_write)
                - (primary.last_update_time_ms - p_write) + heartbeat)
    newest = max((s.last_write_date_ms or 0.0 for s in secondaries(topology.servers.values())),
                 default=s_write)
    return newest - s_write + heartbeat


def filter_by_max_staleness(topology: TopologyDescription, servers: Sequence[ServerDescription],
                            max_staleness_seconds: int | None) -> list[ServerDescription]:
    """Spec: keep servers whose staleness is <= maxStalenessSeconds (all, when it is unset)."""
    if max_staleness_seconds is None:
        return list(servers)
    limit_ms = max_staleness_seconds * 1000
    return [s for s in servers if staleness_ms(topology, s) <= limit_ms]


def round_trip_ms(server: ServerDescription) -> float:
    """A server's average RTT for the latency window; none measured (load balancer) counts as 0."""
    return server.round_trip_time_ms if server.round_trip_time_ms is not None else 0.0


def latency_window(servers: Sequence[ServerDescription],
                   local_threshold_ms: float) -> list[ServerDescription]:
    """Spec "Filtering suitable servers based on the latency window": keep A <= RTT <= A + threshold."""
    if not servers:
        return []
    fastest = min(round_trip_ms(s) for s in servers)
    return [s for s in servers if round_trip_ms(s) <= fastest + local_threshold_ms]


# -- selection by topology type -----------------------------------------------------------
def _eligible_secondaries(topology: TopologyDescription, servers: Sequence[ServerDescription],
                          rp: ReadPreference) -> list[ServerDescription]:
    # Spec: mode first, then maxStalenessSeconds, then tag_sets.
    fresh = filter_by_max_staleness(topology, secondaries(servers), rp.max_staleness_seconds)
    return filter_by_tag_sets(fresh, rp.tag_sets)


def replica_set_read_servers(topology: TopologyDescription, servers: Sequence[ServerDescription],
                             rp: ReadPreference) -> list[ServerDescription]:
    """Spec "Topology types: ReplicaSetWithPrimary or ReplicaSetNoPrimary / Read operations"."""
    if rp.mode == PRIMARY:
        return primaries(servers)
    if rp.mode == SECONDARY:
        return _eligible_secondaries(topology, servers, rp)
    if rp.mode == PRIMARY_PREFERRED:
        return primaries(servers) or _eligible_secondaries(topology, servers, rp)
    if rp.mode == SECONDARY_PREFERRED:
        return _eligible_secondaries(topology, servers, rp) or primaries(servers)
    # nearest: primary and secondaries are candidates alike.
    candidates = [s for s in servers if s.type in (ServerType.RSPrimary, ServerType.RSSecondary)]
    fresh = filter_by_max_staleness(topology, candidates, rp.max_staleness_seconds)
    return filter_by_tag_sets(fresh, rp.tag_sets)


def write_servers(topology: TopologyDescription,
                  servers: Sequence[ServerDescription]) -> list[ServerDescription]:
    """Spec: the primary (RS with primary), every mongos (Sharded), the one available server
    (Single), the load balancer (LoadBalanced); nothing for Unknown or RS without primary."""
    kind = topology.type
    if kind is TopologyType.ReplicaSetWithPrimary:
        return primaries(servers)
    if kind is TopologyType.Sharded:
        return [s for s in servers if s.type is ServerType.Mongos]
    if kind is TopologyType.Single:
        return [s for s in servers if is_available(s)]
    if kind is TopologyType.LoadBalanced:
        return [s for s in servers if s.type is ServerType.LoadBalancer]
    return []


def read_servers(topology: TopologyDescription, servers: Sequence[ServerDescription],
                 rp: ReadPreference) -> list[ServerDescription]:
    """Suitable servers for a read: read preference is applied only to replica sets; mongos,
    single servers and load balancers ignore it for selection (it is passed through)."""
    kind = topology.type
    if kind in _REPLICA_SET_TYPES:
        return replica_set_read_servers(topology, servers, rp)
    return write_servers(topology, servers)


def _check_criteria(topology: TopologyDescription, criteria: Criteria) -> None:
    if isinstance(criteria, ReadPreference):
        # Spec "maxStalenessSeconds": too small a value is an error for replica sets only.
        if topology.type in _REPLICA_SET_TYPES:
            criteria.check_max_staleness(topology.settings.heartbeat_frequency_ms)
    elif criteria != WRITE:
        raise ConfigurationError(
            f"selection criteria must be a ReadPreference or 'write', got {criteria!r}")


def _suitable_from(topology: TopologyDescription, servers: Sequence[ServerDescription],
                   criteria: Criteria) -> list[ServerDescription]:
    if criteria == WRITE:
        return write_servers(topology, servers)
    assert isinstance(criteria, ReadPreference)
    return read_servers(topology, servers, criteria)


def _addresses(deprioritized: Iterable[str | ServerDescription]) -> frozenset[str]:
    return frozenset(d.address if isinstance(d, ServerDescription) else d for d in deprioritized)


def suitable_servers(topology: TopologyDescription, criteria: Criteria, *,
                     deprioritized: Iterable[str | ServerDescription] = ()) -> list[ServerDescription]:
    """Every suitable server before the latency window (order of topology.servers).

    Spec "Server Selection Algorithm" step 3: first without the deprioritized addresses (servers
    that failed an earlier attempt of a retried operation); if that leaves nothing, again with them.
    Raises ConfigurationError when maxStalenessSeconds is too small for a replica set.
    """
    _check_criteria(topology, criteria)
    everything = list(topology.servers.values())
    avoid = _addresses(deprioritized)
    if avoid:
        preferred = _suitable_from(topology, [s for s in everything if s.address not in avoid],
                                   criteria)
        if preferred:
            return preferred
    return _suitable_from(topology, everything, criteria)


def select_servers(topology: TopologyDescription, criteria: Criteria, *,
                   local_threshold_ms: float | None = None, now_ms: float | None = None,
                   deprioritized: Iterable[str | ServerDescription] = ()) -> list[ServerDescription]:
    """The suitable servers inside the latency window; pick one with `choose_server`.

    `criteria` is a ReadPreference or "write". `local_threshold_ms` defaults to the topology's
    settings. `now_ms` is accepted for callers that pass the clock but is not needed: the spec's
    staleness formulas use only differences of each server's own lastUpdateTime/lastWriteDate.
    """
    del now_ms  # see docstring
    threshold = (topology.settings.local_threshold_ms if local_threshold_ms is None
                 else local_threshold_ms)
    return latency_window(suitable_servers(topology, criteria, deprioritized=deprioritized),
                          threshold)


def choose_server(in_window: Sequence[ServerDescription], operation_count: Mapping[str, int],
                  rng: random.Random | None = None) -> ServerDescription | None:
    """Spec "power of two random choices": of two random servers in the window, the one with
    fewer operations in flight (ties: either). One server is returned as is; none gives None."""
    if not in_window:
        return None
    if len(in_window) == 1:
        return in_window[0]
    first, second = (rng or random).sample(list(in_window), 2)
    # The sample order is random, so keeping `first` on a tie is an arbitrary choice.
    if operation_count.get(second.address, 0) < operation_count.get(first.address, 0):
        return second
    return first


# -- explanations -------------------------------------------------------------------------
def _describe_criteria(criteria: Criteria) -> str:
    return "a write" if criteria == WRITE else f"read preference {criteria}"


def _type_reason(topology: TopologyDescription, server: ServerDescription,
                 criteria: Criteria) -> str | None:
    """Why this server's type (or the topology's) rules it out, or None if the type is fine."""
    kind = topology.type
    if not is_available(server):
        return f"server type {server.type.value}: not available (not yet checked or unreachable)"
    if kind is TopologyType.Unknown:
        return "topology type is Unknown: no server is suitable until discovery completes"
    if criteria == WRITE or kind not in _REPLICA_SET_TYPES:
        if kind is TopologyType.ReplicaSetNoPrimary:
            return "replica set has no primary: writes need one"
        if server in write_servers(topology, [server]):
            return None
        wanted = {TopologyType.ReplicaSetWithPrimary: "RSPrimary", TopologyType.Sharded: "Mongos",
                  TopologyType.LoadBalanced: "LoadBalancer"}.get(kind, "an available server")
        return f"server type {server.type.value} cannot serve {_describe_criteria(criteria)} " \
               f"in a {kind.value} topology (needs {wanted})"
    assert isinstance(criteria, ReadPreference)
    mode = criteria.mode
    allowed = {PRIMARY: (ServerType.RSPrimary,), SECONDARY: (ServerType.RSSecondary,)}.get(
        mode, (ServerType.RSPrimary, ServerType.RSSecondary))
    if server.type not in allowed:
        return f"server type {server.type.value} is not a candidate for mode {mode}"
    return None


def explain_unsuitable(topology: TopologyDescription, criteria: Criteria, *,
                       local_threshold_ms: float | None = None,
                       deprioritized: Iterable[str | ServerDescription] = ()) -> list[tuple[str, str]]:
    """For each server that `select_servers` would not return: (address, human reason).

    Reasons name the rule and the figures: wrong type, mode preference, staleness against
    maxStalenessSeconds, tag mismatch, or RTT outside the latency window. An invalid read
    preference gives the ConfigurationError message for every server instead of raising.
    """
    try:
        suitable = suitable_servers(topology, criteria, deprioritized=deprioritized)
    except ConfigurationError as exc:  # max staleness too small, or bad criteria
        return [(a, f"invalid selection criteria: {exc}") for a in topology.servers]
    threshold = (topology.settings.local_threshold_ms if local_threshold_ms is None
                 else local_threshold_ms)
    window = latency_window(suitable, threshold)
    chosen = {s.address for s in window}
    suitable_addresses = {s.address for s in suitable}
    avoid = _addresses(deprioritized)
    fastest = min((round_trip_ms(s) for s in suitable), default=0.0)
    reasons: list[tuple[str, str]] = []
    for address, server in topology.servers.items():
        if address in chosen:
            continue
        if address in suitable_addresses:
            reasons.append((address, f"average RTT {round_trip_ms(server):.1f} ms is outside the "
                            f"latency window {fastest:.1f}-{fastest + threshold:.1f} ms (fastest "
                            f"{fastest:.1f} ms + localThresholdMS {threshold:g})"))
            continue
        reasons.append((address, _read_reason(topology, server, criteria, suitable, avoid)))
    return reasons


def _read_reason(topology: TopologyDescription, server: ServerDescription, criteria: Criteria,
                 suitable: Sequence[ServerDescription], avoid: frozenset[str]) -> str:
    type_reason = _type_reason(topology, server, criteria)
    if type_reason is not None:
        return type_reason
    if server.address in avoid:
        return "deprioritized: it failed an earlier attempt and other servers are suitable"
    if criteria == WRITE or not isinstance(criteria, ReadPreference):
        return "not selected"
    rp = criteria
    others = ", ".join(s.address for s in suitable) or "none"
    if server.type is ServerType.RSSecondary and rp.mode == PRIMARY_PREFERRED and any(
            s.type is ServerType.RSPrimary for s in suitable):
        return f"mode primaryPreferred uses the available primary ({others})"
    if server.type is ServerType.RSPrimary and rp.mode == SECONDARY_PREFERRED:
        return f"mode secondaryPreferred uses eligible secondaries ({others}) while any exist"
    if rp.max_staleness_seconds is not None:
        stale = staleness_ms(topology, server)
        if stale > rp.max_staleness_seconds * 1000:
            return (f"too stale: estimated staleness {stale / 1000:.1f} s exceeds "
                    f"maxStalenessSeconds {rp.max_staleness_seconds} (heartbeatFrequencyMS "
                    f"{topology.settings.heartbeat_frequency_ms} included)")
    if rp.tag_sets and not any(tag_set_matches(t, server.tags) for t in rp.tag_sets):
        return (f"tags {dict(server.tags)} match none of the tag sets "
                f"{[dict(t) for t in rp.tag_sets]}")
    if rp.tag_sets:
        first = next(t for t in rp.tag_sets if tag_set_matches(t, server.tags))
        return (f"tags {dict(server.tags)} match tag set {dict(first)}, but an earlier tag set "
                f"matched other servers ({others})")
    return "not selected"
