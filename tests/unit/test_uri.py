"""Unit tests for driver.uri / driver.uri_options / driver.credential beyond the spec JSON."""

from __future__ import annotations

import pytest

from driver.credential import credential_from_uri
from driver.errors import ConfigurationError, InvalidURI
from driver.uri import parse_options_string, parse_uri
from driver.uri_options import validate_options


def test_warn_callback_receives_each_warning_in_order():
    seen: list[str] = []
    cs = parse_uri("mongodb://h/?foo=1&maxPoolSize=x&replicaSet=a", warn=seen.append)
    assert len(seen) == 2 and "foo" in seen[0] and "maxPoolSize" in seen[1] and "'x'" in seen[1]
    assert cs.warnings == tuple(seen)
    assert cs.options == {"replicaSet": "a"}


def test_option_names_are_case_insensitive_and_canonical():
    cs = parse_uri("mongodb://h/?REPLICASET=rs&maxpoolsize=7&AppName=x&ReadPreference=SECONDARY")
    assert cs.options == {"replicaSet": "rs", "maxPoolSize": 7, "appname": "x",
                          "readPreference": "secondary"}


def test_deprecated_alias_maps_to_canonical_and_warns():
    cs = parse_uri("mongodb://h/?j=true&sslCAFile=/ca.pem")
    assert cs.options == {"journal": True, "tlsCAFile": "/ca.pem"}
    assert len(cs.warnings) == 2


@pytest.mark.parametrize("query", ["wtimeout=5&wTimeoutMS=10", "wTimeoutMS=10&wtimeout=5"])
def test_canonical_name_wins_over_deprecated_alias_in_any_order(query):
    cs = parse_uri("mongodb://h/?" + query)
    assert cs.options == {"wTimeoutMS": 10}
    assert cs.warnings


def test_typed_values():
    cs = parse_uri("mongodb://h/?w=majority&wTimeoutMS=5000000000&compressors=zstd,ZLIB"
                   "&readPreferenceTags=dc:ny,rack:1&readPreferenceTags=&zlibCompressionLevel=-1"
                   "&authMechanismProperties=A:b:c,D:")
    assert cs.options["w"] == "majority"
    assert cs.options["wTimeoutMS"] == 5_000_000_000  # 64-bit per uri-options
    assert cs.options["compressors"] == ["zstd", "zlib"]
    assert cs.options["readPreferenceTags"] == [{"dc": "ny", "rack": "1"}, {}]
    assert cs.options["zlibCompressionLevel"] == -1
    assert cs.options["authMechanismProperties"] == {"A": "b:c", "D": ""}
    assert parse_uri("mongodb://h/?w=0").options["w"] == 0


def test_unknown_compressor_is_dropped_with_warning():
    cs = parse_uri("mongodb://h/?compressors=lz4,zlib")
    assert cs.options["compressors"] == ["zlib"]
    assert any("lz4" in w for w in cs.warnings)


def test_32_bit_overflow_warns():
    cs = parse_uri("mongodb://h/?maxPoolSize=2147483648")
    assert "maxPoolSize" not in cs.options and cs.warnings


def test_hosts_are_lowercased_and_ipv6_unbracketed():
    cs = parse_uri("mongodb://EXAMPLE.com:1,[FE80::1]:2,%2Ftmp%2FS.sock")
    assert cs.hosts == (("example.com", 1), ("fe80::1", 2), ("/tmp/S.sock", None))


@pytest.mark.parametrize("uri, fragment", [
    ("mongodb://%2Ftmp%2Fsocket", ".sock"),
    ("mongodb://[::1", "']'"),
    ("mongodb://[nothex]:1", "IPv6"),
    ("mongodb://a,,b", "empty host"),
    ("mongodb://h/db$x", "database name"),
    ("mongodb://h/?w", "'w'"),
    ("mongodb+srv://[::1]", "DNS name"),
    ("http://h", "mongodb://"),
])
def test_malformed_uris_raise_invalid_uri_naming_the_part(uri, fragment):
    with pytest.raises(InvalidURI, match=None) as info:
        parse_uri(uri)
    assert fragment in str(info.value)


def test_srv_uri():
    cs = parse_uri("mongodb+srv://Cluster0.Example.com/db?srvServiceName=mongo&srvMaxHosts=3")
    assert cs.is_srv and cs.hosts == (("cluster0.example.com", None),)
    assert cs.options == {"srvServiceName": "mongo", "srvMaxHosts": 3}
    with pytest.raises(ConfigurationError, match="directConnection"):
        parse_uri("mongodb+srv://a.example.com/?directConnection=true")
    assert not parse_uri("mongodb://h").is_srv


def test_conflict_errors_name_options_and_values():
    with pytest.raises(ConfigurationError, match="tlsInsecure=true.*tlsDisableOCSPEndpointCheck=false"):
        parse_uri("mongodb://h/?tlsInsecure=true&tlsDisableOCSPEndpointCheck=false")
    with pytest.raises(ConfigurationError, match="tls=true.*ssl=false"):
        parse_uri("mongodb://h/?tls=true&ssl=false")
    with pytest.raises(ConfigurationError, match="minPoolSize"):
        parse_uri("mongodb://h/?minPoolSize=5&maxPoolSize=2")
    assert parse_uri("mongodb://h/?minPoolSize=5&maxPoolSize=0").options["minPoolSize"] == 5


def test_parse_options_string_for_txt_records():
    assert parse_options_string("replicaSet=rs0&authSource=admin", srv=True) == {
        "replicaSet": "rs0", "authSource": "admin"}
    with pytest.raises(ConfigurationError):
        parse_options_string("loadBalanced=true&replicaSet=x", srv=True)
    seen: list[str] = []
    assert parse_options_string("bogus=1", srv=True, warn=seen.append) == {} and seen


def test_validate_options_on_merged_options():
    # After SRV/TXT resolution the merged options are checked again, with the real host count.
    with pytest.raises(ConfigurationError, match="multiple hosts"):
        validate_options({"directConnection": True}, srv=False, n_hosts=2)
    assert validate_options({"loadBalanced": True}, srv=True) == {"loadBalanced": True}


def test_repr_hides_secrets():
    cs = parse_uri("mongodb://u:s3cret@h/?proxyHost=p&proxyUsername=a&proxyPassword=pw2")
    assert "s3cret" not in repr(cs) and "pw2" not in repr(cs)
    assert cs.password == "s3cret"
    assert "s3cret" not in repr(credential_from_uri(cs))


def test_credential_defaults_and_errors():
    cred = credential_from_uri(parse_uri("mongodb://u:p@h/app?authMechanism=scram-sha-256"))
    assert (cred.mechanism, cred.source, cred.mechanism_properties) == ("SCRAM-SHA-256", "app", None)
    cred = credential_from_uri(parse_uri("mongodb://u%40R@h/?authMechanism=GSSAPI"
                                         "&authMechanismProperties=service_realm:R"))
    assert cred.mechanism_properties == {"SERVICE_NAME": "mongodb", "SERVICE_REALM": "R"}
    assert credential_from_uri(parse_uri("mongodb://h/db?authSource=x")) is None
    with pytest.raises(ConfigurationError, match="password is required"):
        credential_from_uri(parse_uri("mongodb://u@h"))
    with pytest.raises(ConfigurationError, match="takes no authMechanismProperties"):
        credential_from_uri(parse_uri("mongodb://u:p@h/?authMechanismProperties=A:b"))
    with pytest.raises(ConfigurationError):
        parse_uri("mongodb://u:p@h/?authMechanism=BOGUS")
