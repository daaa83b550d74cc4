"""Client.close() is prompt even when a monitor (or the RTT monitor) is blocked on the server."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from driver.client import Client
from driver.events import sdam as sdam_events

# Client.close() must not wait for Monitor.stop()'s 5 s join safety net; well below it.
PROMPT_CLOSE_S = 2.0
BLOCK_MS = 20_000  # the fail point holds hellos far longer than any bound below


def _wait_for(predicate: Callable[[], Any], timeout_s: float = 10.0, what: str = "") -> Any:
    """Wait for server-side state that no event announces (re-checked every 10 ms, bounded)."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        pause.wait(0.01)


def _blocked_hellos(internal: Any, app_name: str) -> list[dict]:
    ops = internal.admin.command({"currentOp": 1, "$all": True})["inprog"]
    return [op for op in ops if op.get("appName") == app_name and op.get("active")
            and next(iter(op.get("command", {})), "") in ("hello", "isMaster")]


def _monitor_threads(address: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name in (f"monitor-{address}", f"rtt-{address}") and t.is_alive()]


def _block_hellos(internal: Any, app_name: str, mode: Any) -> None:
    internal.admin.command({"configureFailPoint": "failCommand", "mode": mode,
                            "data": {"failCommands": ["hello", "isMaster"], "appName": app_name,
                                     "blockConnection": True, "blockTimeMS": BLOCK_MS}})


def test_close_interrupts_a_monitor_blocked_in_its_handshake(standalone, mongo_client) -> None:
    internal = mongo_client(standalone.uri)
    app_name = "closeDuringHandshake"
    _block_hellos(internal, app_name, {"times": 1})
    events: list[Any] = []
    client = Client(standalone.uri, appname=app_name, event_listeners=[events.append],
                    serverMonitoringMode="poll")
    address = standalone.addresses[0]
    try:
        blocked = _wait_for(lambda: _blocked_hellos(internal, app_name), what="the monitor's handshake to block")
        assert "client" in blocked[0]["command"], "the blocked hello is the handshake (it carries metadata)"
        started = time.monotonic()
        client.close()
        took = time.monotonic() - started
    finally:
        client.close()
        internal.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    assert took < PROMPT_CLOSE_S, f"close() took {took:.2f}s with the monitor blocked in its handshake"
    assert _monitor_threads(address) == [], "the monitor thread outlived close()"
    # The interrupted handshake is the check that failed, and it ended before the topology closed.
    kinds = [type(e) for e in events]
    failed = kinds.index(sdam_events.ServerHeartbeatFailedEvent)
    assert sdam_events.ServerHeartbeatSucceededEvent not in kinds
    assert failed < kinds.index(sdam_events.TopologyClosedEvent)


def test_close_interrupts_an_rtt_monitor_blocked_in_its_handshake(standalone, mongo_client) -> None:
    # Streaming: after the monitor's handshake (let through by skip: 1) both the awaitable hello
    # and the RTT monitor's own handshake block on the server; close() must end both at once.
    internal = mongo_client(standalone.uri)
    app_name = "closeDuringRttHandshake"
    _block_hellos(internal, app_name, {"skip": 1})
    client = Client(standalone.uri, appname=app_name, serverMonitoringMode="stream")
    address = standalone.addresses[0]
    try:
        blocked = _wait_for(
            lambda: [op for op in _blocked_hellos(internal, app_name) if "client" in op["command"]],
            what="the RTT monitor's handshake to block")
        assert blocked
        assert any(t.name == f"rtt-{address}" for t in _monitor_threads(address))
        started = time.monotonic()
        client.close()
        took = time.monotonic() - started
    finally:
        client.close()
        internal.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    assert took < PROMPT_CLOSE_S, f"close() took {took:.2f}s with the RTT monitor blocked in its handshake"
    assert _monitor_threads(address) == [], "a monitor thread outlived close()"
