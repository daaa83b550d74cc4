"""Fuzz parse_uri: any input gives a ConnectionString or a DriverError, never another exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driver.credential import Credential, credential_from_uri
from driver.errors import DriverError
from driver.uri import ConnectionString, parse_uri
from driver.uri_options import CANONICAL, DEPRECATED_ALIASES

_SETTINGS = settings(max_examples=300, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])

# Pieces that sit near the edges of the grammar: delimiters, escapes, brackets.
_TRICKY = st.sampled_from(["", ":", "@", "/", "?", "&", "=", ",", "%", "%2F", "%25", "%zz",
                           "[", "]", "[::1]", "::", ".sock", " ", "\x00", "é", "+", "#"])
_WORD = st.text(alphabet="abcXYZ019-._~", max_size=8)
_PIECE = st.one_of(_WORD, _TRICKY)
_OPTION_NAMES = st.sampled_from(sorted(CANONICAL.values()) + sorted(DEPRECATED_ALIASES)
                                + ["ssl", "foo", "W", "TLS", "authmechanism"])
_OPTION_VALUES = st.one_of(
    st.sampled_from(["true", "false", "0", "-1", "-2", "1", "500", "90", "2147483648",
                     "majority", "primary", "nearest", "dc:ny,rack:1", "dc", "SCRAM-SHA-256",
                     "GSSAPI", "MONGODB-X509", "MONGODB-AWS", "MONGODB-OIDC", "PLAIN",
                     "ENVIRONMENT:test", "SERVICE_NAME:x,CANONICALIZE_HOST_NAME:none",
                     "zlib,snappy,zstd,lz", "$external", ""]),
    st.lists(_PIECE, max_size=3).map("".join),
)


@st.composite
def near_uris(draw) -> str:
    """Strings shaped like connection strings, with tricky pieces mixed in."""
    scheme = draw(st.sampled_from(["mongodb://"] * 6 + ["mongodb+srv://"] * 2
                                  + ["MongoDB://", "mongodb:/", ""]))
    userinfo = ""
    if draw(st.integers(0, 3)) == 0:
        user = "".join(draw(st.lists(_PIECE, max_size=3)))
        pwd = draw(st.one_of(st.none(), st.lists(_PIECE, max_size=3).map("".join)))
        userinfo = user + ("" if pwd is None else ":" + pwd) + "@"
    host = st.one_of(
        st.sampled_from(["localhost"] * 8),
        st.sampled_from(["localhost", "127.0.0.1", "[::1]", "%2Ftmp%2Fm.sock", "a.b.c",
                         "example.com:27017", "h:0", "h:65536", "[fe80::1]:1"]),
        st.lists(_PIECE, min_size=1, max_size=3).map("".join))
    hosts = ",".join(draw(st.lists(host, min_size=draw(st.sampled_from([0, 1, 1, 1])), max_size=3)))
    path = draw(st.sampled_from(["", "/", "/db", "/a.b", "/my%3Ddb", "/$x", "/%"]))
    pairs = draw(st.lists(st.tuples(_OPTION_NAMES, _OPTION_VALUES), max_size=5))
    query = ""
    if pairs or draw(st.booleans()):
        query = "?" + "&".join(f"{k}={v}" for k, v in pairs)
    return scheme + userinfo + hosts + path + query


def _parse_and_check(uri: str) -> None:
    warnings: list[str] = []
    try:
        cs = parse_uri(uri, warn=warnings.append)
    except DriverError as exc:
        assert str(exc)  # every error says something
        return
    assert isinstance(cs, ConnectionString)
    assert cs.hosts and list(cs.warnings) == warnings
    for host, port in cs.hosts:
        assert host and (port is None or 1 <= port <= 65535)
    assert set(cs.options) <= set(CANONICAL.values())
    try:
        cred = credential_from_uri(cs)
    except DriverError:
        return
    assert cred is None or isinstance(cred, Credential)


@_SETTINGS
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_driver_error(text):
    _parse_and_check(text)


@_SETTINGS
@given(st.text(max_size=100).map(lambda t: "mongodb://" + t))
def test_any_text_after_scheme_parses_or_raises_driver_error(text):
    _parse_and_check(text)


@_SETTINGS
@given(near_uris())
def test_near_uris_parse_or_raise_driver_error(uri):
    _parse_and_check(uri)
