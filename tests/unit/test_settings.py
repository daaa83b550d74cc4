"""Client settings: keyword overrides merged as typed values (no URI text round trip), defaults from one table."""

from __future__ import annotations

import pytest

from driver.client import Client
from driver.errors import ConfigurationError
from driver.option_defaults import DEFAULTS
from driver.settings import client_settings
from driver.write_concern import WriteConcern

URI = "mongodb://127.0.0.1:1"


def test_appname_with_ampersand_stays_verbatim_and_adds_no_option() -> None:
    settings = client_settings(URI, appname="tool&w=0")
    assert settings.app_name == "tool&w=0"
    assert "w" not in settings.options
    assert settings.write_concern == WriteConcern()  # the default, not w=0


def test_client_keeps_app_name_and_default_write_concern() -> None:
    with Client(URI, appname="tool&w=0", serverSelectionTimeoutMS=1) as client:
        assert client.options["appname"] == "tool&w=0"
        assert client.write_concern == WriteConcern() and client.write_concern.acknowledged
    with Client(URI, appname="50%", serverSelectionTimeoutMS=1) as client:  # no percent-decoding
        assert client.options["appname"] == "50%"


def test_percent_and_plus_in_string_values_are_not_decoded() -> None:
    assert client_settings(URI, appname="50%").app_name == "50%"
    assert client_settings(URI, appname="a+b%20c").app_name == "a+b%20c"
    assert client_settings(URI, replicaSet="rs=0&x").topology.replica_set_name == "rs=0&x"


def test_overrides_win_over_the_uri_and_are_typed() -> None:
    settings = client_settings(URI + "/?connectTimeoutMS=100&retryWrites=false&w=2",
                               connectTimeoutMS=250, retryWrites=True, w="majority")
    assert settings.connection.connect_timeout_ms == 250
    assert settings.monitor.connect_timeout_ms == 250
    assert settings.monitor_connection.socket_timeout_ms == 250  # SDAM: monitors read with connectTimeoutMS
    assert settings.retry_writes is True
    assert settings.write_concern == WriteConcern(w="majority")


def test_string_values_are_parsed_by_the_options_own_rules() -> None:
    settings = client_settings(URI, connectTimeoutMS="300", retryReads="false", readPreference="SECONDARY")
    assert settings.connection.connect_timeout_ms == 300
    assert settings.retry_reads is False
    assert settings.read_preference.mode == "secondary"


def test_deprecated_and_mixed_case_names_resolve() -> None:
    settings = client_settings(URI, appName="x", j=True, SERVERSELECTIONTIMEOUTMS=5)
    assert settings.app_name == "x"
    assert settings.write_concern == WriteConcern(j=True)
    assert settings.topology.server_selection_timeout_ms == 5


@pytest.mark.parametrize(("name", "value", "says"), [
    ("connectTimeoutMS", -1, "connectTimeoutMS"),
    ("connectTimeoutMS", True, "expected an integer"),
    ("connectTimeoutMS", 1.5, "expected an integer"),
    ("heartbeatFrequencyMS", 100, ">= 500"),
    ("retryWrites", 1, "True or False"),
    ("retryWrites", "yes", "'true' or 'false'"),
    ("appname", "", "non-empty"),
    ("noSuchOption", 1, "unknown client option 'noSuchOption'"),
    ("compressors", ["lz4"], "unknown compressor"),
])
def test_bad_keyword_values_raise_naming_the_option(name: str, value: object, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        client_settings(URI, **{name: value})


def test_cross_option_rules_run_on_the_merged_options() -> None:
    with pytest.raises(ConfigurationError, match="directConnection=true cannot be used with multiple hosts"):
        client_settings("mongodb://a:1,b:2", directConnection=True)
    with pytest.raises(ConfigurationError, match="tlsInsecure"):
        client_settings(URI + "/?tlsInsecure=true", tlsAllowInvalidCertificates=True)


def test_mapping_and_list_values() -> None:
    settings = client_settings(URI, readPreference="secondary", readPreferenceTags=[{"dc": "ny"}, {}],
                               compressors=["ZLIB"], authMechanismProperties={"SERVICE_NAME": "m"})
    assert settings.read_preference.tag_sets == ({"dc": "ny"}, {})
    assert settings.compressors == ("zlib",)
    assert settings.options["authMechanismProperties"] == {"SERVICE_NAME": "m"}


def test_every_default_comes_from_the_one_table() -> None:
    s = client_settings(URI)
    assert s.connection.connect_timeout_ms == DEFAULTS["connectTimeoutMS"] == 10_000
    assert s.monitor.connect_timeout_ms == DEFAULTS["connectTimeoutMS"]
    assert s.monitor.heartbeat_frequency_ms == s.topology.heartbeat_frequency_ms == DEFAULTS["heartbeatFrequencyMS"]
    assert s.topology.server_selection_timeout_ms == DEFAULTS["serverSelectionTimeoutMS"] == 30_000
    assert s.topology.local_threshold_ms == DEFAULTS["localThresholdMS"] == 15
    assert s.pool.max_pool_size == DEFAULTS["maxPoolSize"] == 100
    assert (s.retry_reads, s.retry_writes) == (True, True)
    assert dict(s.options) == {}  # the defaults are not passed off as options the user gave


def test_settings_are_frozen_and_built_once() -> None:
    s = client_settings(URI)
    assert s.connection is s.connection  # a field, not rebuilt per access (per connection)
    with pytest.raises(Exception):
        s.connection = None  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.options["w"] = 0  # type: ignore[index]


def test_a_client_takes_settings_built_elsewhere_as_they_are() -> None:
    settings = client_settings(URI, appname="built once", serverSelectionTimeoutMS=1)
    with Client(settings=settings) as client:
        assert client.options["appname"] == "built once"
        assert client.topology.settings is settings.topology  # the same objects, not a re-parse
    with pytest.raises(ConfigurationError, match="settings"):
        Client(settings=settings, appname="other")
    with pytest.raises(ConfigurationError, match="settings"):
        Client(URI, settings=settings)


def test_the_command_line_builds_settings_once_and_hands_them_to_the_client(monkeypatch) -> None:
    import driver.settings
    import driver.uri
    from mongocli.service.connect import open_client
    from mongocli.service.options import ConnectOptions

    built: list[str] = []
    real = driver.uri.parse_uri

    def counting(uri: str) -> object:
        built.append(uri)
        return real(uri)

    # Every path from a URI to settings goes through parse_uri: count the parses.
    monkeypatch.setattr(driver.uri, "parse_uri", counting)
    monkeypatch.setattr(driver.settings, "parse_uri", counting)
    options = ConnectOptions(uri=URI + "/?appname=cli&unknownOption=1", connect_timeout_ms=250,
                             server_selection_timeout_ms=1)
    warnings: list[str] = []
    with open_client(options, warn=warnings.append) as client:
        assert client.options["connectTimeoutMS"] == 250 and client.options["appname"] == "cli"
        assert options.settings() is options.settings()  # later checks reuse the one build
    assert built == [URI + "/?appname=cli&unknownOption=1"]
    assert warnings == ["unknown URI option 'unknownOption' ignored"]
    assert options.with_changes(connect_timeout_ms=300).settings().connection.connect_timeout_ms == 300
