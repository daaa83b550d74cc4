"""Monitor settings: the test-only min_heartbeat_frequency_ms client option and its default."""

from __future__ import annotations

import threading
import time

import pytest

from driver.errors import ConfigurationError, ConnectionFailure
from driver.sdam import monitor as monitor_module
from driver.sdam.monitor import Monitor, MonitorSettings
from driver.settings import client_settings


def test_default_is_the_spec_constant_read_at_each_wait(monkeypatch):
    settings = MonitorSettings()
    assert settings.min_heartbeat_ms == monitor_module.MIN_HEARTBEAT_FREQUENCY_MS == 500
    monkeypatch.setattr(monitor_module, "MIN_HEARTBEAT_FREQUENCY_MS", 123)
    assert settings.min_heartbeat_ms == 123  # None means "the module constant", not a frozen copy


def test_client_option_flows_into_monitor_settings():
    settings = client_settings("mongodb://127.0.0.1:1/?heartbeatFrequencyMS=700", min_heartbeat_frequency_ms=25)
    assert settings.monitor.min_heartbeat_ms == 25
    assert settings.monitor.heartbeat_frequency_ms == 700
    assert "min_heartbeat_frequency_ms" not in settings.options  # not a URI option
    assert client_settings("mongodb://127.0.0.1:1").monitor.min_heartbeat_frequency_ms is None


@pytest.mark.parametrize("bad", [-1, "50", True])
def test_invalid_values_are_refused(bad):
    with pytest.raises(ConfigurationError, match="min_heartbeat_frequency_ms"):
        client_settings("mongodb://127.0.0.1:1", min_heartbeat_frequency_ms=bad)


def _failing_monitor(settings: MonitorSettings, checks_wanted: int):
    """A monitor whose every check fails at once; returns it, the check times and a done event."""
    times: list[float] = []
    done = threading.Event()

    def connect(adopt):
        times.append(time.monotonic())
        if len(times) >= checks_wanted:
            done.set()
        raise ConnectionFailure("refused (test)")

    return Monitor("127.0.0.1:1", connect, lambda sd: None, settings), times, done


def test_lowered_minimum_spaces_requested_checks_by_it():
    # heartbeatFrequencyMS is long: only request_check() can make the 2nd check happen soon,
    # and then no sooner than minHeartbeatFrequencyMS after the 1st.
    settings = MonitorSettings(heartbeat_frequency_ms=60_000, min_heartbeat_frequency_ms=30)
    monitor, times, done = _failing_monitor(settings, 3)
    stop_requests = threading.Event()

    def keep_requesting():
        while not stop_requests.is_set():
            monitor.request_check()
            stop_requests.wait(0.005)

    requester = threading.Thread(target=keep_requesting, daemon=True)
    monitor.start()
    requester.start()
    try:
        assert done.wait(10), "requested checks never ran"
    finally:
        stop_requests.set()
        requester.join()
        monitor.stop()
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(gap >= 0.030 for gap in gaps[:2]), gaps
    # The spec's 500 ms would make each gap at least half a second.
    assert all(gap < 0.45 for gap in gaps[:2]), gaps
