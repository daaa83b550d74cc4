"""Connection settings from the command line and a live topology opened from them."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from driver.client import Client
from driver.errors import ServerSelectionTimeout
from driver.events.listeners import EventBus
from driver.read_preference import ReadPreference
from driver.sdam.description import ServerType, TopologyDescription
from driver.sdam.topology import Topology
from driver.settings import ClientSettings, client_settings
from driver.topology_builder import build_topology

DEFAULT_URI = "mongodb://127.0.0.1:27017"


@dataclass(frozen=True)
class ConnectOptions:
    """What the global options say about connecting; None keeps the URI's (or default) value."""

    uri: str = DEFAULT_URI
    connect_timeout_ms: int | None = None
    server_selection_timeout_ms: int | None = None
    heartbeat_frequency_ms: int | None = None
    monitoring_mode: str | None = None   # serverMonitoringMode: auto | stream | poll

    def with_changes(self, **changes: Any) -> "ConnectOptions":
        from dataclasses import replace
        return replace(self, **changes)

    def settings(self) -> ClientSettings:
        """Parse the URI and apply the command-line overrides (raises InvalidURI/ConfigurationError)."""
        return client_settings(self.uri, **self.overrides())

    def overrides(self) -> dict[str, Any]:
        """The command-line options as URI option names (they win over the URI's)."""
        overrides: dict[str, Any] = {}
        if self.connect_timeout_ms is not None:
            overrides["connectTimeoutMS"] = self.connect_timeout_ms
        if self.server_selection_timeout_ms is not None:
            overrides["serverSelectionTimeoutMS"] = self.server_selection_timeout_ms
        if self.heartbeat_frequency_ms is not None:
            overrides["heartbeatFrequencyMS"] = self.heartbeat_frequency_ms
        if self.monitoring_mode is not None:
            overrides["serverMonitoringMode"] = self.monitoring_mode
        return overrides


@contextmanager
def open_topology(options: ConnectOptions, listener: Callable[[Any], None] | None = None) -> Iterator[Topology]:
    """A live, opened topology for the duration of the block; `listener` sees every driver event."""
    bus = EventBus()
    if listener is not None:
        bus.subscribe(listener)
    topology = build_topology(options.settings(), bus)
    topology.open()
    try:
        yield topology
    finally:
        topology.close()


@contextmanager
def open_client(options: ConnectOptions, listener: Callable[[Any], None] | None = None) -> Iterator[Client]:
    """A driver Client for the block (monitoring started), closed afterwards."""
    client = Client(options.uri, event_listeners=[listener] if listener else (), **options.overrides())
    try:
        yield client
    finally:
        client.close()


def is_settled(td: TopologyDescription) -> bool:
    """Discovery is done when every known address has been checked once (answered or failed).

    PossiblePrimary is a member another member named as primary but not yet checked itself
    (SDAM "updateRSWithoutPrimary"): not settled either.
    """
    unchecked = (ServerType.Unknown, ServerType.PossiblePrimary)
    return bool(td.servers) and all(
        sd.type not in unchecked or sd.error is not None for sd in td.servers.values())


def wait_until(topology: Topology, predicate: Callable[[TopologyDescription], bool],
               timeout_ms: float) -> tuple[TopologyDescription, bool]:
    """Block until predicate(description) holds or timeout_ms passes; woken by topology events.

    Returns (last description, whether the predicate held). Never raises for a timeout.
    """
    changed = threading.Event()
    unsubscribe = topology.events.subscribe(lambda _event: changed.set())
    try:
        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            snapshot = topology.description
            if predicate(snapshot):
                return snapshot, True
            left = deadline - time.monotonic()
            if left <= 0:
                return snapshot, False
            changed.wait(left)
            changed.clear()
    finally:
        unsubscribe()


def discover(topology: Topology) -> TopologyDescription:
    """Wait (up to serverSelectionTimeoutMS) until every known server has been checked once.

    Raises ServerSelectionTimeout, with the topology's per-server explanation, when no server
    answered: a diagnostics command must not show an empty view as if it were fine.
    """
    timeout_ms = topology.settings.server_selection_timeout_ms
    snapshot, settled = wait_until(topology, is_settled, timeout_ms)
    if not snapshot.known_servers:
        # The topology's explanation names each server, its last error and a hint.
        explanation = topology.explain(ReadPreference(mode="nearest"), snapshot, timeout_ms).splitlines()[1:]
        waited = "within serverSelectionTimeoutMS=%g" % timeout_ms if not settled else "when first checked"
        raise ServerSelectionTimeout("\n".join([f"no server answered {waited}; topology is "
                                                f"{snapshot.type.value}."] + explanation))
    return topology.description
