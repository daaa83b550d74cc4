"""Wire a live Topology from ClientSettings: servers with pools, monitors and the connections they open."""

from __future__ import annotations

from typing import Any

from driver.errors import AuthenticationFailed, NetworkTimeout, OperationFailure
from driver.establish import open_connection
from driver.events.listeners import EventBus
from driver.pool import Pool
from driver.sdam.app_errors import ErrorKind, Phase, command_error_details
from driver.sdam.server import server_factory
from driver.sdam.topology import Topology
from driver.settings import ClientSettings


def build_topology(settings: ClientSettings, events: EventBus) -> Topology:
    """A Topology whose servers have pools connecting with auth, and monitors without it."""
    app_name = settings.app_name
    compressors = settings.compressors
    load_balanced = settings.topology.load_balanced

    def pool_factory(address: str, topology: Topology) -> Pool:
        def connect(addr: str, connection_id: int) -> Any:
            conn, _reply, _rtt = open_connection(
                addr, settings.connection, settings.credential, app_name=app_name,
                compressors=compressors, load_balanced=load_balanced)
            conn.connection_id = connection_id
            return conn
        def on_populate_error(error: BaseException, pooled: Any) -> None:
            # CMAP "Populating the Pool": errors go to SDAM like any establishment error. A
            # handshake answered with ok: 0 is a command error (SDAM "handleError": a state
            # change error marks the server Unknown); an auth failure is one after the hello.
            details: dict[str, Any] = {}
            if isinstance(error, OperationFailure):
                kind, phase = ErrorKind.COMMAND, Phase.ESTABLISHING
                found = command_error_details(error.details or {"ok": 0, "code": error.code,
                                                                "errmsg": str(error)})
                if found is None:
                    return
                details = {"code": found[0], "message": found[1], "topology_version": found[2]}
            elif isinstance(error, AuthenticationFailed):
                kind, phase = ErrorKind.AUTH, Phase.AUTHENTICATING
            else:
                kind = ErrorKind.TIMEOUT if isinstance(error, NetworkTimeout) else ErrorKind.NETWORK
                phase = Phase.ESTABLISHING
            sd = topology.description.servers.get(address)
            server = topology.server(address)
            # Cleared under the topology lock with the description update (SDAM).
            outcome = topology.handle_application_error(
                address, kind, generation=pooled.generation, pool_generation=pooled.generation,
                max_wire_version=sd.max_wire_version if sd is not None and sd.max_wire_version else None,
                phase=phase, clear_pool=server.pool.clear if server is not None else None, **details)
            if server is None:
                return
            if outcome.request_check:
                server.request_check()

        return Pool(address, settings.pool, connect, listeners=events, on_populate_error=on_populate_error)

    def connect_monitor(address: str):
        def connect(adopt: Any = None) -> Any:
            # `adopt` takes the connection before the handshake (driver.sdam.monitor.ConnectFn).
            return open_connection(address, settings.monitor_connection, None, app_name=app_name,
                                   compressors=compressors, on_connection=adopt)
        return connect

    factory = server_factory(pool_factory=pool_factory,
                             connect_monitor=None if load_balanced else connect_monitor,
                             monitor_settings=settings.monitor, events=events)
    return Topology(settings.seeds, settings.topology, factory, events=events)
