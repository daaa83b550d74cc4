"""Parse and validate mongodb:// and mongodb+srv:// connection strings (connection-string spec)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from driver.errors import ConfigurationError, InvalidURI
from driver.uri_options import (
    KNOWN_COMPRESSORS,
    LIST_OPTIONS,
    PROXY_OPTIONS,
    parse_value,
    resolve_name,
    validate_options,
)

__all__ = ["ConnectionString", "parse_uri", "parse_options_string", "validate_options"]

SCHEMES = ("mongodb", "mongodb+srv")
DEFAULT_PORT = 27017

_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Connection-string spec, "Auth database": characters a database name cannot hold.
_BAD_DB_CHARS = frozenset('/\\ "$\x00')
# Characters a host name can never hold (they delimit other URI parts or are whitespace).
_BAD_HOST_CHARS = frozenset("@/?#[]% \t\r\n\x00")


@dataclass(frozen=True)
class ConnectionString:
    """A parsed connection string: what the user wrote, typed and validated, nothing resolved."""

    scheme: str
    hosts: tuple[tuple[str, int | None], ...]
    username: str | None = None
    password: str | None = None
    database: str | None = None
    # hash=False: the options dict is not hashable; equal URIs still compare equal.
    options: dict[str, Any] = field(default_factory=dict, hash=False)
    warnings: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never print the password (logs, tracebacks)
        hidden = None if self.password is None else "***"
        return (f"ConnectionString(scheme={self.scheme!r}, hosts={self.hosts!r}, "
                f"username={self.username!r}, password={hidden!r}, database={self.database!r}, "
                f"options={_masked(self.options)!r}, warnings={self.warnings!r})")

    @property
    def is_srv(self) -> bool:
        """True for mongodb+srv:// (the single host is an SRV name to resolve)."""
        return self.scheme == "mongodb+srv"


_SECRET_OPTIONS = ("proxyPassword", "tlsCertificateKeyFilePassword")


def _masked(options: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k in _SECRET_OPTIONS else v) for k, v in options.items()}


def _decode(text: str, what: str) -> str:
    """Percent-decode `text`; a '%' not followed by two hex digits is an error."""
    if _PERCENT_RE.search(text):
        raise InvalidURI(f"{what} {text!r} holds a '%' that is not a percent-escape (write %25)")
    try:
        return bytes(_unquote_bytes(text)).decode("utf-8")
    except UnicodeError:  # bad UTF-8 after decoding, or a lone surrogate in the text
        raise InvalidURI(f"{what} {text!r} is not valid UTF-8 once percent-decoded") from None


def _unquote_bytes(text: str) -> bytearray:
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            out.append(int(text[i + 1:i + 3], 16))
            i += 3
        else:
            out.extend(ch.encode("utf-8"))
            i += 1
    return out


def _parse_port(text: str, host: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise InvalidURI(f"port {text!r} of host {host!r} is not a number")
    port = int(text)
    if not 1 <= port <= 65535:
        raise InvalidURI(f"port {port} of host {host!r} is out of range 1-65535")
    return port


def _parse_host(raw: str) -> tuple[str, int | None]:
    """One host of the host list: hostname[:port], [ipv6][:port] or a %2F-encoded socket path."""
    if raw == "":
        raise InvalidURI("the host list holds an empty host (check for stray commas)")
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0:
            raise InvalidURI(f"IPv6 host {raw!r} lacks its closing ']'")
        literal, rest = raw[1:end], raw[end + 1:]
        try:
            ipaddress.IPv6Address(literal.split("%", 1)[0])
        except ValueError:
            raise InvalidURI(f"{literal!r} in {raw!r} is not an IPv6 address") from None
        if rest == "":
            return literal.lower(), None
        if not rest.startswith(":"):
            raise InvalidURI(f"unexpected {rest!r} after IPv6 host {raw!r}")
        return literal.lower(), _parse_port(rest[1:], raw)
    decoded = _decode(raw, "host")
    if "/" in decoded:
        # Connection-string spec, "Host": a Unix domain socket path is percent-encoded
        # and ends in ".sock"; it has no port.
        if not decoded.endswith(".sock"):
            raise InvalidURI(f"Unix domain socket path {decoded!r} must end with '.sock'")
        return decoded, None
    if decoded.count(":") > 1:
        raise InvalidURI(f"host {raw!r} has more than one ':' (put IPv6 addresses in [brackets])")
    host, sep, port_text = decoded.partition(":")
    if host == "":
        raise InvalidURI(f"host {raw!r} has an empty host name")
    bad = sorted(set(host) & _BAD_HOST_CHARS)
    if bad:
        raise InvalidURI(f"host name {host!r} holds characters {''.join(bad)!r} that need escaping")
    return host.lower(), (_parse_port(port_text, raw) if sep else None)


def _parse_userinfo(userinfo: str) -> tuple[str, str | None]:
    # Connection-string spec, "Userinfo": ':' '@' '/' and '%' must be percent-encoded.
    if "@" in userinfo:
        raise InvalidURI("the user name or password holds an unescaped '@' (write %40)")
    user, sep, password = userinfo.partition(":")
    if ":" in password:
        raise InvalidURI("the password holds an unescaped ':' (write %3A)")
    return _decode(user, "user name"), (_decode(password, "password") if sep else None)


def _split_pairs(query: str) -> list[tuple[str, str]]:
    pairs = []
    for item in query.split("&"):
        if item == "":
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidURI(f"URI option {item!r} has no '=value'")
        if key == "":
            raise InvalidURI(f"URI option {item!r} has no name")
        pairs.append((_decode(key, "option name"), _decode(value, f"value of option {key!r}")))
    return pairs


def parse_options_string(s: str, *, srv: bool,
                         warn: Callable[[str], None] | None = None) -> dict:
    """Parse "k=v&k=v" into canonical, typed options; unknown or invalid values warn.

    Cross-option rules that need no host list are checked too (TLS conflicts, srv-only
    options, proxies, ...). Raises InvalidURI/ConfigurationError for errors.
    """
    options, _warnings = _parse_options(s, srv=srv, warn=warn)
    return validate_options(options, srv=srv)


def _parse_options(query: str, *, srv: bool,
                   warn: Callable[[str], None] | None) -> tuple[dict, list[str]]:
    warnings: list[str] = []

    def warning(msg: str) -> None:
        warnings.append(msg)
        if warn is not None:
            warn(msg)

    options: dict[str, Any] = {}
    from_alias: set[str] = set()   # canonical names set by a deprecated spelling
    seen: set[str] = set()         # canonical names seen once already
    tls_values: dict[str, str] = {}  # raw tls/ssl values, for rule 8 of "Conflicting TLS options"
    for raw_key, raw_value in _split_pairs(query):
        name, deprecated = resolve_name(raw_key)
        if name is None:
            warning(f"unknown URI option {raw_key!r} ignored")
            continue
        if name == "tls":
            previous = tls_values.setdefault("value", f"{raw_key}={raw_value}")
            if previous.partition("=")[2].lower() != raw_value.lower():
                raise ConfigurationError(
                    f"URI options {previous} and {raw_key}={raw_value} conflict: every tls/ssl "
                    "option must have the same value")
        elif name in PROXY_OPTIONS and name in seen:
            raise ConfigurationError(f"URI option {name} is given more than once")
        elif name in seen and name not in LIST_OPTIONS:
            if deprecated is not None and name not in from_alias:
                # The canonical spelling wins over a deprecated one.
                warning(f"deprecated URI option {raw_key!r} ignored in favour of {name!r}")
                continue
            if deprecated is not None or name not in from_alias:
                warning(f"URI option {name!r} is repeated; the last value is used")
        try:
            value = parse_value(name, raw_value)
        except ValueError as exc:
            warning(f"invalid value {raw_value!r} for URI option {name!r} ignored: {exc}")
            continue
        seen.add(name)
        if deprecated is not None:
            warning(f"URI option {raw_key!r} is deprecated; use {name!r}")
            from_alias.add(name)
        else:
            from_alias.discard(name)
        if name == "compressors":
            value = _known_compressors(value, warning)
            if not value:
                continue
        if name in LIST_OPTIONS:
            options.setdefault(name, []).append(value)
        else:
            options[name] = value
    return options, warnings


def _known_compressors(names: list[str], warning: Callable[[str], None]) -> list[str]:
    # compression spec: an unsupported compressor is ignored with a warning.
    known = []
    for name in names:
        if name in KNOWN_COMPRESSORS:
            known.append(name)
        else:
            warning(f"unknown compressor {name!r} ignored")
    return known


def parse_uri(uri: str, *, warn: Callable[[str], None] | None = None) -> ConnectionString:
    """Parse a connection string into a ConnectionString.

    Unknown options and invalid option values warn (call `warn`, record in `.warnings`)
    and are dropped; malformed URIs and conflicting options raise InvalidURI or
    ConfigurationError naming the part at fault. Nothing is resolved (no DNS).
    """
    if not isinstance(uri, str):
        raise InvalidURI(f"a connection string must be a str, not {type(uri).__name__}")
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise InvalidURI(
            f"connection string {uri[:40]!r} must begin with 'mongodb://' or 'mongodb+srv://'")
    scheme = scheme.lower()
    srv = scheme == "mongodb+srv"

    # The authority ends at the first '/' or '?' (spec: "Missing delimiting slash" is fine).
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    path, _, query = tail.partition("?")
    path, _, _fragment = path.partition("#")
    query, _, _fragment = query.partition("#")

    username = password = None
    if "@" in authority:
        userinfo, _, authority = authority.rpartition("@")
        username, password = _parse_userinfo(userinfo)
    if authority == "":
        raise InvalidURI("the connection string names no host")
    hosts = tuple(_parse_host(h) for h in authority.split(","))

    if srv:
        # initial-dns-seedlist-discovery spec, "Seedlist Discovery": one host, no port.
        if len(hosts) != 1:
            raise InvalidURI("a mongodb+srv:// URI must name exactly one host")
        host, port = hosts[0]
        if port is not None:
            raise InvalidURI("a mongodb+srv:// URI must not give a port")
        if "/" in host or ":" in host:
            raise InvalidURI("a mongodb+srv:// URI needs a DNS name, not a socket or IP literal")

    database = None
    if path not in ("", "/"):
        database = _decode(path[1:], "database name")
        bad = sorted(set(database) & _BAD_DB_CHARS)
        if bad:
            raise InvalidURI(f"database name {database!r} holds invalid characters {''.join(bad)!r}")
        if database == "":
            database = None

    options, warnings = _parse_options(query, srv=srv, warn=warn)
    validate_options(options, srv=srv, n_hosts=len(hosts))
    return ConnectionString(scheme=scheme, hosts=hosts, username=username, password=password,
                            database=database, options=options, warnings=tuple(warnings))
