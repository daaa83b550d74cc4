"""The command line's connection options (mongosh-style flags over a URI), checked once, up front.

Light at import time (no driver import until `settings()`), since the root group
builds a ConnectOptions for every command, `--help` included.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from driver.settings import ClientSettings
    from driver.uri import ConnectionString

DEFAULT_URI = "mongodb://127.0.0.1:27017"

# Command-line field -> URI option name (uri-options spec); these override the URI's values.
_URI_OPTION_NAMES = {
    "connect_timeout_ms": "connectTimeoutMS",
    "server_selection_timeout_ms": "serverSelectionTimeoutMS",
    "timeout_ms": "timeoutMS",
    "heartbeat_frequency_ms": "heartbeatFrequencyMS",
    "monitoring_mode": "serverMonitoringMode",
    "auth_source": "authSource",
    "auth_mechanism": "authMechanism",
    "tls": "tls",
    "tls_ca_file": "tlsCAFile",
    "tls_certificate_key_file": "tlsCertificateKeyFile",
    "tls_allow_invalid_certificates": "tlsAllowInvalidCertificates",
    "read_preference": "readPreference",
}


@dataclass(frozen=True)
class ConnectOptions:
    """What the global options say about connecting; None keeps the URI's (or the default) value.

    `wait` means the user asked to wait for servers (--wait, or an explicit
    --server-selection-timeout-ms): then a refused first check does not fail fast.
    """

    uri: str = DEFAULT_URI
    username: str | None = None
    password: str | None = None
    connect_timeout_ms: int | None = None
    server_selection_timeout_ms: int | None = None
    timeout_ms: int | None = None        # timeoutMS (CSOT): bounds each operation as a whole
    heartbeat_frequency_ms: int | None = None
    monitoring_mode: str | None = None   # serverMonitoringMode: auto | stream | poll
    auth_source: str | None = None
    auth_mechanism: str | None = None
    tls: bool | None = None
    tls_ca_file: str | None = None
    tls_certificate_key_file: str | None = None
    tls_allow_invalid_certificates: bool | None = None
    read_preference: str | None = None
    # The declared Stable API (--apiVersion/--apiStrict/--apiDeprecationErrors): never a URI
    # option (versioned-api spec), so not in _URI_OPTION_NAMES.
    api_version: str | None = None
    api_strict: bool | None = None
    api_deprecation_errors: bool | None = None
    wait: bool = False
    # What these (immutable) options build, once each: the parsed URI, the SRV-resolved one and
    # the settings (see connection_string(), resolved_connection_string(), settings()).
    _built: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def with_changes(self, **changes: Any) -> "ConnectOptions":
        return replace(self, **changes)

    @property
    def fail_fast(self) -> bool:
        """Stop at once when every seed refuses or does not resolve (issue 10 item 1)."""
        return not self.wait and self.server_selection_timeout_ms is None

    def connection_uri(self) -> str:
        """The URI with -u/-p placed in its user info (percent-encoded, so any character works)."""
        if self.username is None and self.password is None:
            return self.uri
        from urllib.parse import quote
        scheme, sep, rest = self.uri.partition("://")
        if not sep:
            return self.uri  # not a URI: the parser reports it
        authority, slash, tail = rest.partition("/")
        old_user, at, hosts = authority.rpartition("@")
        old_name, _colon, old_password = old_user.partition(":") if at else ("", "", "")
        user = quote(self.username, safe="") if self.username is not None else old_name
        password = quote(self.password, safe="") if self.password is not None else old_password
        userinfo = user + (f":{password}" if password else "")
        return f"{scheme}://{userinfo}@{hosts}{slash}{tail}"

    def overrides(self) -> dict[str, Any]:
        """The command-line options as URI option names (they win over the URI's)."""
        return {name: getattr(self, field) for field, name in _URI_OPTION_NAMES.items()
                if getattr(self, field) is not None}

    def secrets(self) -> tuple[str, ...]:
        """Every form of the password the user gave (raw, percent-encoded, decoded): never printed."""
        from urllib.parse import quote, unquote
        found: set[str] = set()
        if self.password:
            found.update({self.password, quote(self.password, safe="")})
        _scheme, sep, rest = self.uri.partition("://")
        userinfo, at, _hosts = rest.partition("/")[0].rpartition("@")
        if sep and at and ":" in userinfo:
            raw = userinfo.partition(":")[2]
            if raw:
                found.update({raw, unquote(raw)})
        return tuple(sorted((s for s in found if s), key=len, reverse=True))

    def server_api(self) -> Any:
        """The declared driver.ServerApi, or None; --apiStrict/--apiDeprecationErrors need --apiVersion."""
        from driver.errors import ConfigurationError
        from driver.server_api import ServerApi

        if self.api_version is None:
            if self.api_strict is not None or self.api_deprecation_errors is not None:
                raise ConfigurationError("--apiStrict and --apiDeprecationErrors need --apiVersion")
            return None
        return ServerApi(self.api_version, strict=self.api_strict, deprecation_errors=self.api_deprecation_errors)

    def _once(self, key: str, build: Callable[[], Any]) -> Any:
        """What `build` returns, built on the first call only (these options are immutable)."""
        if key not in self._built:
            self._built[key] = build()
        return self._built[key]

    def connection_string(self) -> ConnectionString:
        """The URI (with -u/-p) parsed once; an invalid option value is an error here (see settings())."""
        def parse() -> ConnectionString:
            from driver.uri import parse_uri
            return _refuse_invalid_values(parse_uri(self.connection_uri()))
        return self._once("parsed", parse)

    def resolved_connection_string(self) -> ConnectionString:
        """connection_string() with a mongodb+srv seed list and TXT options looked up once (DNS)."""
        def resolve() -> ConnectionString:
            from driver.settings import resolve_connection_string
            return _refuse_invalid_values(resolve_connection_string(self.connection_string()))
        return self._once("resolved", resolve)

    def settings(self) -> ClientSettings:
        """The driver's ClientSettings, built once from the URI and the flags (later calls return
        the same object), checked as far as possible without a server; connect.py hands them to
        `Client(settings=...)` / `build_topology`, so nothing parses the URI a second time.

        Raises the driver's InvalidURI/ConfigurationError (exit 2) at once for an invalid option
        value (`tls=ture`, `readPreference=bogus`, `connectTimeoutMS=abc`), an unreadable TLS
        file or a too-long appname: otherwise they surface after serverSelectionTimeoutMS as
        "no suitable server" or, worse, are dropped (issue 11 item 4). The URI's other warnings
        (unknown options) are `settings.warnings`.
        """
        def build() -> ClientSettings:
            from driver.settings import settings_for
            # settings_for itself rejects a missing/bad tlsCAFile and a too-long appname.
            return settings_for(self.resolved_connection_string(), server_api=self.server_api(), **self.overrides())
        return self._once("settings", build)


def uri_from_host(host: str, port: int | None) -> str:
    """mongosh's --host/--port: "h", "h:p", "h1,h2" or "setName/h1,h2" -> a mongodb:// URI."""
    from urllib.parse import quote
    set_name, slash, hosts = host.rpartition("/") if "/" in host else ("", "", host)
    names = [h.strip() for h in hosts.split(",") if h.strip()]
    if port is not None:
        names = [h if (":" in h and not h.endswith("]")) else f"{h}:{port}" for h in names]
    uri = "mongodb://" + ",".join(names) + "/"
    return uri + (f"?replicaSet={quote(set_name, safe='')}" if slash and set_name else "")


def _refuse_invalid_values(cs: ConnectionString) -> ConnectionString:
    """`cs` unless it has an invalid option value. uri-options spec: those are warnings for a
    library; a command line that was told `tls=ture` must not connect in plain text."""
    invalid = [w for w in cs.warnings if w.startswith("invalid value")]
    if invalid:
        from driver.errors import ConfigurationError
        raise ConfigurationError("; ".join(invalid).replace(" ignored:", ":"))
    return cs
