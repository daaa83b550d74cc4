"""Wire a live Topology from a connection string: settings, pools, monitors and their connections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from driver.connect import open_connection
from driver.connection import ConnectionOptions
from driver.errors import AuthenticationFailed, ConfigurationError, NetworkTimeout, OperationFailure
from driver.credential import Credential, credential_from_uri
from driver.events.listeners import EventBus
from driver.hello import normalize_address
from driver.pool import Pool
from driver.pool_options import PoolOptions
from driver.sdam.app_errors import ErrorKind, Phase, command_error_details
from driver.sdam.description import TopologySettings
from driver.sdam.monitor import MonitorSettings
from driver.sdam.server import server_factory
from driver.sdam.topology import Topology
from driver.uri import ConnectionString, parse_uri


@dataclass(frozen=True)
class ClientSettings:
    """Everything a client reads from its URI and keyword overrides, typed and validated."""

    connection_string: ConnectionString
    options: Mapping[str, Any] = field(default_factory=dict)  # canonical URI option names
    credential: Credential | None = None
    # For tests only (not a URI option): see client_settings(min_heartbeat_frequency_ms=...).
    min_heartbeat_frequency_ms: float | None = None

    @property
    def seeds(self) -> list[str]:
        return [normalize_address(f"{host}:{port}" if port else host)
                for host, port in self.connection_string.hosts]

    def get(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)

    @property
    def topology(self) -> TopologySettings:
        o = self.options
        return TopologySettings(
            replica_set_name=o.get("replicaSet"),
            direct_connection=bool(o.get("directConnection", False)),
            load_balanced=bool(o.get("loadBalanced", False)),
            heartbeat_frequency_ms=int(o.get("heartbeatFrequencyMS", 10_000)),
            local_threshold_ms=int(o.get("localThresholdMS", 15)),
            server_selection_timeout_ms=int(o.get("serverSelectionTimeoutMS", 30_000)),
            srv_max_hosts=int(o.get("srvMaxHosts", 0)),
        )

    @property
    def connection(self) -> ConnectionOptions:
        return ConnectionOptions.from_uri_options(self.options)

    @property
    def monitor_connection(self) -> ConnectionOptions:
        # SDAM: monitoring sockets use connectTimeoutMS for reads too (socketTimeoutMS ignored).
        return ConnectionOptions.from_uri_options(
            self.options, socket_timeout_ms=self.options.get("connectTimeoutMS", 10_000))

    @property
    def pool(self) -> PoolOptions:
        return PoolOptions.from_uri_options(self.options)

    @property
    def monitor(self) -> MonitorSettings:
        return MonitorSettings(
            heartbeat_frequency_ms=self.topology.heartbeat_frequency_ms,
            connect_timeout_ms=float(self.options.get("connectTimeoutMS", 10_000)),
            mode=str(self.options.get("serverMonitoringMode", "auto")),
            min_heartbeat_frequency_ms=self.min_heartbeat_frequency_ms,
        )


def client_settings(uri: str, *, resolver: Any = None, min_heartbeat_frequency_ms: float | None = None,
                    **overrides: Any) -> ClientSettings:
    """Parse the URI (resolving mongodb+srv), then apply keyword overrides (URI option names).

    `min_heartbeat_frequency_ms` is internal, for test runners only: it lowers SDAM's fixed
    minHeartbeatFrequencyMS (500 ms) for this client's monitors, as the unified test format
    permits; it is not a URI option. None keeps the spec's value.
    """
    if min_heartbeat_frequency_ms is not None:
        if isinstance(min_heartbeat_frequency_ms, bool) or not isinstance(min_heartbeat_frequency_ms, (int, float)) \
                or min_heartbeat_frequency_ms < 0:
            raise ConfigurationError("min_heartbeat_frequency_ms must be a number of milliseconds >= 0, "
                                     f"not {min_heartbeat_frequency_ms!r}")
    cs = parse_uri(uri)
    if cs.is_srv:
        # Imported here: dnspython costs ~0.1 s of start-up and only SRV URIs need it.
        from driver.srv import resolve_seedlist

        cs = resolve_seedlist(cs, resolver=resolver)
    options = dict(cs.options)
    if overrides:
        from driver.uri import parse_options_string
        from driver.uri_options import validate_options
        text = "&".join(f"{k}={_uri_value(v)}" for k, v in overrides.items())
        options.update(parse_options_string(text, srv=cs.is_srv))
        validate_options(options, srv=cs.is_srv, n_hosts=len(cs.hosts))
    from dataclasses import replace
    cs = replace(cs, options=options)
    return ClientSettings(cs, options, credential_from_uri(cs),
                          min_heartbeat_frequency_ms=None if min_heartbeat_frequency_ms is None
                          else float(min_heartbeat_frequency_ms))


def _uri_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_topology(settings: ClientSettings, events: EventBus) -> Topology:
    """A Topology whose servers have pools connecting with auth, and monitors without it."""
    app_name = settings.get("appname")
    compressors = settings.get("compressors", [])
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
