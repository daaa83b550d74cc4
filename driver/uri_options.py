"""The URI option table: canonical names, aliases, value parsers and cross-option rules."""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

from driver.errors import ConfigurationError

# A value parser turns the decoded string into a typed value, or raises _Invalid
# (the uri-options spec: an invalid value WARNS and the option is ignored).


class _Invalid(ValueError):
    """An option value the parser rejects; the caller warns and drops the option."""


_INT_RE = re.compile(r"^[+-]?[0-9]+$")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _bool(value: str) -> bool:
    # Connection-string spec, "Values": true/false are the only booleans we accept;
    # "1", "yes" etc. are invalid and therefore warn (uri-options tests, loadBalanced=1).
    low = value.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    raise _Invalid("expected 'true' or 'false'")


def _int(value: str, *, lo: int | None = None, hi: int | None = None,
         also: tuple[int, ...] = (), bits: int = 32) -> int:
    if not _INT_RE.match(value):
        raise _Invalid("expected an integer")
    return _in_range(int(value), lo=lo, hi=hi, also=also, bits=bits)


def _in_range(n: int, *, lo: int | None = None, hi: int | None = None,
              also: tuple[int, ...] = (), bits: int = 32) -> int:
    lo_bound, hi_bound = (_INT32_MIN, _INT32_MAX) if bits == 32 else (_INT64_MIN, _INT64_MAX)
    if not lo_bound <= n <= hi_bound:
        raise _Invalid(f"expected a {bits}-bit integer")
    if n in also:
        return n
    if lo is not None and n < lo:
        raise _Invalid(f"expected an integer >= {lo}")
    if hi is not None and n > hi:
        raise _Invalid(f"expected an integer <= {hi}")
    return n


class _Ranged:
    """An integer option's parser; `check` applies the same bounds to a Python int (keyword options)."""

    def __init__(self, lo: int | None = None, hi: int | None = None, also: tuple[int, ...] = (),
                 bits: int = 32) -> None:
        self.bounds = {"lo": lo, "hi": hi, "also": also, "bits": bits}

    def __call__(self, value: str) -> int:
        return _int(value, **self.bounds)

    def check(self, value: int) -> int:
        return _in_range(value, **self.bounds)


_ranged = _Ranged


def _string(value: str) -> str:
    if value == "":
        raise _Invalid("expected a non-empty string")
    return value


def _any_string(value: str) -> str:
    return value


def _w(value: str) -> int | str:
    # uri-options: "non-negative integer or string" (e.g. "majority", tag set names).
    if _INT_RE.match(value):
        return _int(value, lo=0)
    return _string(value)


def _choice(*choices: str) -> Callable[[str], str]:
    by_lower = {c.lower(): c for c in choices}

    def parse(value: str) -> str:
        try:
            return by_lower[value.lower()]
        except KeyError:
            raise _Invalid(f"expected one of {', '.join(choices)}") from None

    return parse


def _auth_mechanism(value: str) -> str:
    # auth spec, "Errors": raise as early as possible on an invalid credential value. A
    # mistyped mechanism must not silently fall back to negotiation, so this is an error.
    try:
        return _choice(*AUTH_MECHANISMS)(value)
    except _Invalid as exc:
        raise ConfigurationError(f"authMechanism={value!r} is not supported: {exc}") from None


def _key_value_pairs(value: str) -> dict[str, str]:
    """Parse "k1:v1,k2:v2"; a value may itself hold ':' (split on the first one only)."""
    out: dict[str, str] = {}
    for item in value.split(","):
        key, sep, val = item.partition(":")
        if not sep or not key:
            raise _Invalid(f"{item!r} is not a key:value pair")
        out[key] = val
    return out


def _tag_set(value: str) -> dict[str, str]:
    # An empty value is the empty tag set {} (server-selection spec: matches any server).
    return {} if value == "" else _key_value_pairs(value)


KNOWN_COMPRESSORS = ("snappy", "zlib", "zstd")


def _compressors(value: str) -> list[str]:
    names = [c.strip().lower() for c in value.split(",") if c.strip()]
    if not names:
        raise _Invalid("expected a comma separated list of compressors")
    return names


AUTH_MECHANISMS = ("SCRAM-SHA-1", "SCRAM-SHA-256", "MONGODB-CR", "MONGODB-X509", "GSSAPI",
                   "PLAIN", "MONGODB-AWS", "MONGODB-OIDC")

READ_PREFERENCE_MODES = ("primary", "primaryPreferred", "secondary", "secondaryPreferred",
                         "nearest")

# Canonical name -> value parser. Names are the uri-options spec's, spelled as its table does.
PARSERS: dict[str, Callable[[str], Any]] = {
    "appname": _string,
    "authMechanism": _auth_mechanism,
    "authMechanismProperties": _key_value_pairs,
    "authSource": _any_string,  # empty is an error, checked in validate (auth spec)
    "compressors": _compressors,
    "connectTimeoutMS": _ranged(lo=0),
    "directConnection": _bool,
    "enableOverloadRetargeting": _bool,
    "heartbeatFrequencyMS": _ranged(lo=500),
    "journal": _bool,
    "loadBalanced": _bool,
    "localThresholdMS": _ranged(lo=0),
    "maxAdaptiveRetries": _ranged(lo=0),
    "maxConnecting": _ranged(lo=1),
    "maxIdleTimeMS": _ranged(lo=0),
    "maxPoolSize": _ranged(lo=0),
    "maxStalenessSeconds": _ranged(lo=1, also=(-1,)),
    "minPoolSize": _ranged(lo=0),
    "proxyHost": _string,
    "proxyPassword": _string,
    "proxyPort": _ranged(lo=0, hi=65535),
    "proxyUsername": _string,
    "readConcernLevel": _string,
    "readPreference": _choice(*READ_PREFERENCE_MODES),
    "readPreferenceTags": _tag_set,
    "replicaSet": _string,
    "retryReads": _bool,
    "retryWrites": _bool,
    "serverMonitoringMode": _choice("stream", "poll", "auto"),
    "serverSelectionTimeoutMS": _ranged(lo=0),
    "serverSelectionTryOnce": _bool,
    "socketTimeoutMS": _ranged(lo=0),
    "srvMaxHosts": _ranged(lo=0),
    "srvServiceName": _string,
    "timeoutMS": _ranged(lo=0),
    "tls": _bool,
    "tlsAllowInvalidCertificates": _bool,
    "tlsAllowInvalidHostnames": _bool,
    "tlsCAFile": _string,
    "tlsCertificateKeyFile": _string,
    "tlsCertificateKeyFilePassword": _string,
    "tlsDisableCertificateRevocationCheck": _bool,
    "tlsDisableOCSPEndpointCheck": _bool,
    "tlsInsecure": _bool,
    "w": _w,
    "waitQueueTimeoutMS": _ranged(lo=1),
    "wTimeoutMS": _ranged(lo=0, bits=64),
    "zlibCompressionLevel": _ranged(lo=-1, hi=9),
}

# Deprecated spellings that other drivers and old connection strings use. They warn and
# yield to the canonical option when both are given (connection-string tests:
# "Deprecated (or unknown) options are ignored if replacement exists").
DEPRECATED_ALIASES: dict[str, str] = {
    "j": "journal",
    "wtimeout": "wTimeoutMS",
    "sslallowinvalidcertificates": "tlsAllowInvalidCertificates",
    "sslallowinvalidhostnames": "tlsAllowInvalidHostnames",
    "sslcafile": "tlsCAFile",
    "sslpemkeyfile": "tlsCertificateKeyFile",
    "sslpemkeypassword": "tlsCertificateKeyFilePassword",
}

# "ssl" is a full alias of "tls" (not deprecated): uri-options spec, "Conflicting TLS options" 8.
SILENT_ALIASES: dict[str, str] = {"ssl": "tls"}

CANONICAL: dict[str, str] = {name.lower(): name for name in PARSERS}

# Keys that may legitimately repeat: each occurrence is another tag set.
LIST_OPTIONS = frozenset({"readPreferenceTags"})

# SOCKS5 spec, "MongoClient Configuration": a repeated proxy option is an error, not a warning.
PROXY_OPTIONS = ("proxyHost", "proxyPort", "proxyUsername", "proxyPassword")

# uri-options spec, "Conflicting TLS options" 1-7: these may not appear together.
_TLS_CONFLICTS = (
    ("tlsInsecure", "tlsAllowInvalidCertificates"),
    ("tlsInsecure", "tlsAllowInvalidHostnames"),
    ("tlsInsecure", "tlsDisableOCSPEndpointCheck"),
    ("tlsInsecure", "tlsDisableCertificateRevocationCheck"),
    ("tlsAllowInvalidCertificates", "tlsDisableOCSPEndpointCheck"),
    ("tlsAllowInvalidCertificates", "tlsDisableCertificateRevocationCheck"),
    ("tlsDisableOCSPEndpointCheck", "tlsDisableCertificateRevocationCheck"),
)


def resolve_name(raw_key: str) -> tuple[str | None, str | None]:
    """Map a URI key (any case) to (canonical name, deprecated spelling or None).

    Returns (None, None) for an unknown key.
    """
    low = raw_key.lower()
    if low in CANONICAL:
        return CANONICAL[low], None
    if low in SILENT_ALIASES:
        return SILENT_ALIASES[low], None
    if low in DEPRECATED_ALIASES:
        return DEPRECATED_ALIASES[low], raw_key
    return None, None


def parse_value(name: str, value: str) -> Any:
    """Parse one option value; raises ValueError (a warning, per uri-options) when invalid."""
    return PARSERS[name](value)


def coerce_keyword_options(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword options (`Client(uri, appname=..., w=...)`) as canonical, typed options.

    Each value is checked by the rules its URI text would meet, but as the Python value it
    is: a str is the option's value itself (never split on '&' nor percent-decoded, so
    appname="tool&w=0" stays one app name), a bool is a boolean, an int an integer in the
    option's range, a mapping a key:value option. Unlike a URI (uri-options spec: invalid
    values warn), a program's own arguments are not guessed at: an unknown name or a value
    of the wrong type or range raises ConfigurationError naming the option.
    """
    out: dict[str, Any] = {}
    for raw_name, value in overrides.items():
        name, _deprecated = resolve_name(str(raw_name))
        if name is None:
            raise ConfigurationError(f"unknown client option {raw_name!r}: use a URI option name "
                                     "(connection-string / uri-options specs), e.g. appname or connectTimeoutMS")
        try:
            typed = _coerce(name, value)
        except _Invalid as exc:
            raise ConfigurationError(f"invalid value {value!r} for client option {raw_name!r}: {exc}") from None
        if name == "compressors":
            typed = _known_compressors_only(typed)
            if not typed:
                continue
        out[name] = typed
    return out


def _coerce(name: str, value: Any) -> Any:
    parser = PARSERS[name]
    if name in LIST_OPTIONS:  # readPreferenceTags: one tag set or a list of them
        items = value if isinstance(value, (list, tuple)) else [value]
        return [_coerce_one(parser, item) for item in items]
    return _coerce_one(parser, value)


def _coerce_one(parser: Callable[[str], Any], value: Any) -> Any:
    if isinstance(value, str):
        return parser(value)
    if isinstance(value, bool):
        if parser is _bool:
            return value
        raise _Invalid("expected " + _expected(parser))
    if isinstance(value, int):
        if isinstance(parser, _Ranged):
            return parser.check(value)
        if parser is _w:
            return _in_range(value, lo=0)
        raise _Invalid("expected " + _expected(parser))
    if isinstance(value, Mapping) and parser in (_key_value_pairs, _tag_set):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and parser is _compressors:
        if not value or not all(isinstance(v, str) for v in value):
            raise _Invalid("expected a list of compressor names")
        return [v.strip().lower() for v in value]
    raise _Invalid("expected " + _expected(parser))


def _expected(parser: Callable[[str], Any]) -> str:
    if parser is _bool:
        return "True or False"
    if isinstance(parser, _Ranged) or parser is _w:
        return "an integer"
    if parser in (_key_value_pairs, _tag_set):
        return "a mapping (or 'key:value,...' text)"
    if parser is _compressors:
        return "a list of compressor names"
    return "a string"


def _known_compressors_only(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in KNOWN_COMPRESSORS]
    if unknown:
        raise ConfigurationError(f"unknown compressor(s) {', '.join(unknown)} in client option 'compressors'; "
                                 f"supported: {', '.join(KNOWN_COMPRESSORS)}")
    return names


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def validate_options(options: dict, *, srv: bool, n_hosts: int | None = None) -> dict:
    """Check the cross-option rules of the specs on canonical, typed options.

    Raises ConfigurationError naming the options in conflict; returns `options` unchanged.
    `n_hosts` is the number of seeds in the URI (None when unknown, e.g. for TXT options).
    """
    def has(name: str) -> bool:
        return name in options

    for a, b in _TLS_CONFLICTS:
        if has(a) and has(b):
            raise ConfigurationError(
                f"URI options {a}={_show(options[a])} and {b}={_show(options[b])} cannot both "
                f"be given (uri-options spec, 'Conflicting TLS options'); keep one of them")

    # uri-options spec, "directConnection URI option with multiple seeds or SRV URI".
    if options.get("directConnection") is True:
        if srv:
            raise ConfigurationError("directConnection=true cannot be used with a mongodb+srv:// URI")
        if n_hosts is not None and n_hosts > 1:
            raise ConfigurationError("directConnection=true cannot be used with multiple hosts")

    # load-balancers spec, "URI Validation".
    if options.get("loadBalanced") is True:
        if n_hosts is not None and n_hosts > 1:
            raise ConfigurationError("loadBalanced=true cannot be used with multiple hosts")
        if options.get("directConnection") is True:
            raise ConfigurationError("loadBalanced=true cannot be used with directConnection=true")
        if has("replicaSet"):
            raise ConfigurationError(
                f"loadBalanced=true cannot be used with replicaSet={options['replicaSet']}")

    # initial-dns-seedlist-discovery spec, "URI Validation".
    if not srv:
        for name in ("srvServiceName", "srvMaxHosts"):
            if has(name):
                raise ConfigurationError(
                    f"{name}={options[name]} is only allowed with a mongodb+srv:// URI")
    if options.get("srvMaxHosts", 0) > 0:
        if has("replicaSet"):
            raise ConfigurationError(
                f"srvMaxHosts={options['srvMaxHosts']} cannot be used with replicaSet")
        if options.get("loadBalanced") is True:
            raise ConfigurationError(
                f"srvMaxHosts={options['srvMaxHosts']} cannot be used with loadBalanced=true")

    # SOCKS5 spec, "MongoClient Configuration".
    if not has("proxyHost"):
        for name in ("proxyPort", "proxyUsername", "proxyPassword"):
            if has(name):
                raise ConfigurationError(f"{name} requires proxyHost")
    if has("proxyUsername") != has("proxyPassword"):
        raise ConfigurationError("proxyUsername and proxyPassword must be given together")

    # auth spec: an empty authSource is an error even without credentials.
    if options.get("authSource") == "":
        raise ConfigurationError("authSource must not be empty")

    max_pool = options.get("maxPoolSize")
    min_pool = options.get("minPoolSize")
    if max_pool and min_pool is not None and min_pool > max_pool:
        raise ConfigurationError(
            f"minPoolSize ({min_pool}) cannot be greater than maxPoolSize ({max_pool})")
    return options
