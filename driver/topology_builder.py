"""Wire a live Topology from ClientSettings: servers with pools, monitors and the connections they open."""

from __future__ import annotations

from typing import Any

from driver.establish import open_connection
from driver.events.listeners import EventBus
from driver.handshake import ClientMetadata
from driver.pool import Pool
from driver.sdam.app_errors import Phase
from driver.sdam.server import server_factory
from driver.sdam.topology import Topology
from driver.settings import ClientSettings


def build_topology(settings: ClientSettings, events: EventBus, metadata: ClientMetadata | None = None) -> Topology:
    """A Topology whose servers have pools connecting with auth, and monitors without it.

    Every new connection sends `metadata`'s current `client` document (the appName alone when
    None); a Client passes its own so that append_metadata reaches later connections."""
    metadata = metadata if metadata is not None else ClientMetadata(settings.app_name)
    compressors = settings.compressors
    load_balanced = settings.topology.load_balanced

    def pool_factory(address: str, topology: Topology) -> Pool:
        def connect(addr: str, connection_id: int) -> Any:
            conn, _reply, _rtt = open_connection(
                addr, settings.connection, settings.credential, metadata=metadata.document(),
                compressors=compressors, load_balanced=load_balanced, server_api=settings.server_api)
            conn.connection_id = connection_id
            return conn
        def on_populate_error(error: BaseException, pooled: Any) -> None:
            # CMAP "Populating the Pool": errors go to SDAM like any establishment error.
            topology.handle_application_error(address, error, phase=Phase.ESTABLISHING, generation=pooled.generation)

        return Pool(address, settings.pool, connect, listeners=events, on_populate_error=on_populate_error)

    def connect_monitor(address: str):
        def connect(adopt: Any = None) -> Any:
            # `adopt` takes the connection before the handshake (driver.sdam.monitor.ConnectFn).
            return open_connection(address, settings.monitor_connection, None, metadata=metadata.document(),
                                   compressors=compressors, server_api=settings.server_api, on_connection=adopt)
        return connect

    factory = server_factory(pool_factory=pool_factory,
                             connect_monitor=None if load_balanced else connect_monitor,
                             monitor_settings=settings.monitor, events=events)
    return Topology(settings.seeds, settings.topology, factory, events=events)
