"""Client settings built once at the edge: URI options plus keyword overrides become one typed, frozen ClientSettings."""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Mapping

from driver.credential import Credential, credential_from_uri
from driver.errors import ConfigurationError
from driver.handshake import check_app_name
from driver.hello import normalize_address
from driver.option_defaults import DEFAULTS
from driver.pool_options import PoolOptions
from driver.read_concern import ReadConcern
from driver.read_preference import ReadPreference
from driver.sdam.description import TopologySettings
from driver.sdam.monitor import MonitorSettings
from driver.server_api import ServerApi
from driver.socket_connection import ConnectionOptions, ssl_context
from driver.uri import ConnectionString, parse_uri
from driver.uri_options import coerce_keyword_options, validate_options
from driver.write_concern import WriteConcern


@dataclass(frozen=True)
class ClientSettings:
    """Everything a client reads from its URI and keyword overrides, typed, validated and built once.

    `options` keeps the effective URI options by canonical name (read-only) for callers that
    show them; the driver itself reads the typed parts: `topology` (SDAM and selection),
    `pool` (CMAP), `connection` (every pooled socket), `monitor_connection` and `monitor`
    (SDAM monitoring). Times are milliseconds everywhere (fields end in `_ms`).
    """

    connection_string: ConnectionString
    options: Mapping[str, Any]
    credential: Credential | None
    seeds: tuple[str, ...]
    topology: TopologySettings
    pool: PoolOptions
    connection: ConnectionOptions
    monitor_connection: ConnectionOptions
    monitor: MonitorSettings
    app_name: str | None
    compressors: tuple[str, ...]
    retry_writes: bool
    retry_reads: bool
    max_adaptive_retries: int
    overload_retargeting: bool
    read_preference: ReadPreference
    write_concern: WriteConcern
    read_concern: ReadConcern
    # CSOT spec: the client-level timeoutMS (None: unset, the deprecated timeouts apply; 0: no limit).
    timeout_ms: int | None = None
    # For tests only (not a URI option): see client_settings(min_heartbeat_frequency_ms=...).
    min_heartbeat_frequency_ms: float | None = None
    # The declared Stable API version (never a URI option: versioned-api spec, "No URI Options").
    server_api: ServerApi | None = None

    @property
    def warnings(self) -> tuple[str, ...]:
        """The URI's warnings: unknown options, invalid values ignored (uri-options spec)."""
        return tuple(self.connection_string.warnings)

    def get(self, name: str, default: Any = None) -> Any:
        """An effective URI option by canonical name (e.g. "appname"), or `default`."""
        return self.options.get(name, default)


def client_settings(uri: str, *, resolver: Any = None, min_heartbeat_frequency_ms: float | None = None,
                    server_api: ServerApi | None = None, **overrides: Any) -> ClientSettings:
    """Parse the URI (resolving mongodb+srv), merge keyword overrides (URI option names), build once.

    The two halves are public for callers that report each step (the CLI's doctor):
    `resolve_connection_string` (parse, then DNS for mongodb+srv) and `settings_for`.
    """
    return settings_for(resolve_connection_string(parse_uri(uri), resolver=resolver),
                        min_heartbeat_frequency_ms=min_heartbeat_frequency_ms, server_api=server_api, **overrides)


def resolve_connection_string(cs: ConnectionString, *, resolver: Any = None) -> ConnectionString:
    """A parsed mongodb+srv URI with its SRV seed list and TXT options (initial-dns-seedlist-discovery
    spec); any other URI as it is (no DNS)."""
    if not cs.is_srv:
        return cs
    # Imported here: dnspython costs ~0.1 s of start-up and only SRV URIs need it.
    from driver.srv import resolve_seedlist

    return resolve_seedlist(cs, resolver=resolver)


def settings_for(cs: ConnectionString, *, min_heartbeat_frequency_ms: float | None = None,
                 server_api: ServerApi | None = None, **overrides: Any) -> ClientSettings:
    """The settings of a resolved connection string (see `resolve_connection_string`) and overrides.

    Overrides are typed Python values merged into the parsed options as a mapping (no
    "k=v&..." text is built), then the cross-option rules run once on the result.
    `min_heartbeat_frequency_ms` is internal, for test runners only: it lowers SDAM's fixed
    minHeartbeatFrequencyMS (500 ms) for this client's monitors, as the unified test format
    permits; it is not a URI option. None keeps the spec's value. `server_api` declares a
    Stable API version (a `ServerApi`; the spec forbids it in the URI).
    """
    if server_api is not None and not isinstance(server_api, ServerApi):
        raise ConfigurationError(f"server_api must be a driver.ServerApi, not {type(server_api).__name__}")
    if min_heartbeat_frequency_ms is not None:
        if isinstance(min_heartbeat_frequency_ms, bool) or not isinstance(min_heartbeat_frequency_ms, (int, float)) \
                or min_heartbeat_frequency_ms < 0:
            raise ConfigurationError("min_heartbeat_frequency_ms must be a number of milliseconds >= 0, "
                                     f"not {min_heartbeat_frequency_ms!r}")
    if overrides:
        options = {**cs.options, **coerce_keyword_options(overrides)}
        validate_options(options, srv=cs.is_srv, n_hosts=len(cs.hosts))
        cs = replace(cs, options=options)
    settings = build_settings(cs, min_heartbeat_frequency_ms=None if min_heartbeat_frequency_ms is None
                              else float(min_heartbeat_frequency_ms))
    return settings if server_api is None else replace(settings, server_api=server_api)


def build_settings(cs: ConnectionString, *, min_heartbeat_frequency_ms: float | None = None) -> ClientSettings:
    """The typed settings of a parsed (and resolved) connection string; defaults from option_defaults."""
    o = {**DEFAULTS, **cs.options}
    topology = TopologySettings(
        replica_set_name=o.get("replicaSet"),
        direct_connection=o["directConnection"],
        load_balanced=o["loadBalanced"],
        heartbeat_frequency_ms=o["heartbeatFrequencyMS"],
        local_threshold_ms=o["localThresholdMS"],
        server_selection_timeout_ms=o["serverSelectionTimeoutMS"],
        srv_max_hosts=o["srvMaxHosts"],
    )
    connection = ConnectionOptions.from_uri_options(o)
    # Settings no connection could use are configuration errors now, at construction, not a
    # server selection timeout 30 s later (issue 11): unreadable TLS files, an appName too long.
    if connection.tls:
        ssl_context(connection)  # cached: the first connection reuses it
    check_app_name(o.get("appname"))
    read_preference = ReadPreference.from_uri_options(cs.options)
    read_preference.check_max_staleness(topology.heartbeat_frequency_ms)
    return ClientSettings(
        connection_string=cs,
        options=MappingProxyType(dict(cs.options)),
        credential=credential_from_uri(cs),
        seeds=tuple(normalize_address(f"{host}:{port}" if port else host) for host, port in cs.hosts),
        topology=topology,
        pool=PoolOptions.from_uri_options(o),
        connection=connection,
        # SDAM monitoring, "Connection establishment": monitoring sockets use connectTimeoutMS
        # for reads too (socketTimeoutMS is ignored).
        monitor_connection=replace(connection, socket_timeout_ms=connection.connect_timeout_ms),
        monitor=MonitorSettings(
            heartbeat_frequency_ms=topology.heartbeat_frequency_ms,
            connect_timeout_ms=o["connectTimeoutMS"],
            mode=o["serverMonitoringMode"],
            min_heartbeat_frequency_ms=min_heartbeat_frequency_ms,
        ),
        app_name=o.get("appname"),
        compressors=tuple(o.get("compressors", ())),
        retry_writes=o["retryWrites"],
        retry_reads=o["retryReads"],
        max_adaptive_retries=o["maxAdaptiveRetries"],
        overload_retargeting=o["enableOverloadRetargeting"],
        read_preference=read_preference,
        write_concern=WriteConcern.from_uri_options(cs.options),
        read_concern=ReadConcern(cs.options.get("readConcernLevel")),
        timeout_ms=cs.options.get("timeoutMS"),
        min_heartbeat_frequency_ms=min_heartbeat_frequency_ms,
    )
