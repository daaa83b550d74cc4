"""SDAM and heartbeat events (SDAM Logging and Monitoring spec) and the pure diff that yields them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Mapping, Union

from driver.sdam.description import ServerDescription, ServerType, TopologyDescription, TopologyType


@dataclass(frozen=True)
class TopologyOpeningEvent:
    """Published first, when a topology (client) starts monitoring."""

    topology_id: Hashable = None


@dataclass(frozen=True)
class TopologyClosedEvent:
    """Published last, when the topology is closed."""

    topology_id: Hashable = None


@dataclass(frozen=True)
class TopologyDescriptionChangedEvent:
    """The topology description changed from `previous` to `new`."""

    previous: TopologyDescription
    new: TopologyDescription
    topology_id: Hashable = None


@dataclass(frozen=True)
class ServerOpeningEvent:
    """A server was added to the topology and will be monitored."""

    address: str
    topology_id: Hashable = None


@dataclass(frozen=True)
class ServerClosedEvent:
    """A server was removed from the topology; its monitor and pool stop."""

    address: str
    topology_id: Hashable = None


@dataclass(frozen=True)
class ServerDescriptionChangedEvent:
    """A server's description changed (only fired when not `equivalent_to` the previous one)."""

    address: str
    previous: ServerDescription
    new: ServerDescription
    topology_id: Hashable = None


@dataclass(frozen=True)
class ServerHeartbeatStartedEvent:
    """A monitor is about to send hello; `awaited` is True for streaming (awaitable) hello."""

    address: str
    awaited: bool = False


@dataclass(frozen=True)
class ServerHeartbeatSucceededEvent:
    """A monitor's hello succeeded after `duration_ms` milliseconds."""

    address: str
    duration_ms: float
    reply: Mapping[str, Any]
    awaited: bool = False


@dataclass(frozen=True)
class ServerHeartbeatFailedEvent:
    """A monitor's hello failed after `duration_ms` milliseconds; `error` is the exception or message."""

    address: str
    duration_ms: float
    error: Any
    awaited: bool = False


SdamEvent = Union[TopologyOpeningEvent, TopologyClosedEvent, TopologyDescriptionChangedEvent,
                  ServerOpeningEvent, ServerClosedEvent, ServerDescriptionChangedEvent]
HeartbeatEvent = Union[ServerHeartbeatStartedEvent, ServerHeartbeatSucceededEvent,
                       ServerHeartbeatFailedEvent]


def empty_topology(topology: TopologyDescription) -> TopologyDescription:
    """The 'previous' description of the first TopologyDescriptionChangedEvent: Unknown, no servers."""
    return TopologyDescription(type=TopologyType.Unknown, servers={}, settings=topology.settings)


def events_for_opening(initial: TopologyDescription, topology_id: Hashable = None) -> list[SdamEvent]:
    """Events published when a topology opens (SDAM monitoring spec, event order).

    TopologyOpening, then TopologyDescriptionChanged (empty Unknown -> initial), then one
    ServerOpening per seed, in seed order.
    """
    events: list[SdamEvent] = [
        TopologyOpeningEvent(topology_id),
        TopologyDescriptionChangedEvent(empty_topology(initial), initial, topology_id),
    ]
    events.extend(ServerOpeningEvent(address, topology_id) for address in initial.servers)
    return events


def events_for_closing(topology: TopologyDescription, topology_id: Hashable = None) -> list[SdamEvent]:
    """Events published when the topology closes: ServerClosed for each server, then TopologyClosed."""
    events: list[SdamEvent] = [ServerClosedEvent(a, topology_id) for a in topology.servers]
    events.append(TopologyClosedEvent(topology_id))
    return events


def _topology_fields(td: TopologyDescription) -> tuple:
    return (td.type, td.set_name, td.max_set_version, td.max_election_id, td.compatible,
            td.compatibility_error, td.logical_session_timeout_minutes)


def _same_for_events(old: ServerDescription, new: ServerDescription) -> bool:
    """Equal per SDAM "Server Description Equality", with PossiblePrimary counted as Unknown:
    the spec calls them synonymous for multi-threaded clients, so marking a member
    PossiblePrimary publishes no ServerDescriptionChangedEvent (monitoring tests)."""
    unknownish = (ServerType.Unknown, ServerType.PossiblePrimary)
    if old.type in unknownish and new.type in unknownish:
        old = old.with_changes(type=ServerType.Unknown)
        new = new.with_changes(type=ServerType.Unknown)
    return old.equivalent_to(new)


def events_for_change(previous_topology: TopologyDescription, new_topology: TopologyDescription,
                      topology_id: Hashable = None) -> list[SdamEvent]:
    """The events one topology update publishes, in spec order.

    ServerDescriptionChanged for each surviving server whose description is not
    `equivalent_to` its previous one, ServerClosed for removed servers, one
    TopologyDescriptionChanged if anything changed at all, then ServerOpening for added
    servers. With `previous_topology` = `empty_topology(initial)` this is the start-up
    sequence after TopologyOpening.
    An update that changes nothing publishes nothing ("suppress equal description changes").
    """
    events: list[SdamEvent] = []
    old_servers, new_servers = previous_topology.servers, new_topology.servers
    for address, new_sd in new_servers.items():
        old_sd = old_servers.get(address)
        if old_sd is not None and not _same_for_events(old_sd, new_sd):
            events.append(ServerDescriptionChangedEvent(address, old_sd, new_sd, topology_id))
    events.extend(ServerClosedEvent(a, topology_id) for a in old_servers if a not in new_servers)
    opened = [ServerOpeningEvent(a, topology_id) for a in new_servers if a not in old_servers]
    if events or opened or _topology_fields(previous_topology) != _topology_fields(new_topology):
        events.append(TopologyDescriptionChangedEvent(previous_topology, new_topology, topology_id))
    # Openings follow the TopologyDescriptionChanged event, as at start-up (monitoring tests).
    events.extend(opened)
    return events
