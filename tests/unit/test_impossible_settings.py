"""Settings no connection could use fail at construction as ConfigurationError, naming the setting (issue 11)."""

from __future__ import annotations

import time

import pytest

from driver.errors import ConfigurationError
from driver.settings import client_settings


def test_a_missing_tls_ca_file_is_a_configuration_error_at_once(tmp_path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    started = time.monotonic()
    with pytest.raises(ConfigurationError, match="tlsCAFile"):
        client_settings(f"mongodb://127.0.0.1:1/?tls=true&tlsCAFile={missing}")
    assert time.monotonic() - started < 5  # no connection attempt, no selection timeout


def test_a_too_long_app_name_is_a_configuration_error_at_once() -> None:
    with pytest.raises(ConfigurationError, match="the handshake allows at most 128"):
        client_settings("mongodb://127.0.0.1:1/?appname=" + "a" * 129)
    assert client_settings("mongodb://127.0.0.1:1/?appname=" + "a" * 128).app_name == "a" * 128
