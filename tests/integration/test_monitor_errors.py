"""Server monitors against a sandbox: failed checks, pool clearing, cancellation and monitoring modes."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest

from driver.client import Client
from driver.errors import ConnectionFailure
from driver.events import pool as pool_events
from driver.events import sdam as sdam_events
from driver.sdam.description import ServerType
from driver.sdam.monitor import streaming_enabled
from tests.support.events import EventRecorder as Recorder


@pytest.fixture
def client_factory():
    clients: list[Client] = []

    def make(uri: str, **options: Any) -> tuple[Client, Recorder]:
        recorder = Recorder()
        client = Client(uri, event_listeners=[recorder], **options)
        clients.append(client)
        return client, recorder

    yield make
    for client in clients:
        client.close()


def _unknown(e: Any) -> bool:
    return e.new.type is ServerType.Unknown and e.previous.type is not ServerType.Unknown


def _fail_hello(internal: Any, app_name: str, times: int = 1, **data: Any) -> None:
    internal.admin.command({"configureFailPoint": "failCommand", "mode": {"times": times},
                            "data": {"failCommands": ["hello", "isMaster"], "appName": app_name, **data}})


@pytest.mark.parametrize("mode", ["stream", "poll"])
def test_command_error_on_check_marks_unknown_at_once_and_clears_pool(
        standalone, mongo_client, client_factory, mode: str) -> None:
    # SDAM monitoring, "Network or command error during server check": one failed check is
    # enough (no hidden retry); the pool is cleared without interrupting in-use connections.
    internal = mongo_client(standalone.uri)
    client, seen = client_factory(standalone.uri, appname=f"cmdErr-{mode}", heartbeatFrequencyMS=500,
                                  serverMonitoringMode=mode)
    client["db"]["c"].insert_one({"_id": 1})
    # Three activations: in stream mode the RTT monitor's hellos (same appName) may take some.
    _fail_hello(internal, f"cmdErr-{mode}", times=3, errorCode=91)
    changed = seen.wait(sdam_events.ServerDescriptionChangedEvent, _unknown)
    internal.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    assert "91" in changed.new.error
    cleared = seen.wait(pool_events.PoolCleared)
    assert cleared.interrupt_in_use_connections is False
    # The server is rediscovered by the next check and usable again.
    client["db"]["c"].insert_one({"_id": 2})
    assert len(seen.of(sdam_events.ServerDescriptionChangedEvent, _unknown)) == 1
    awaited = {e.awaited for e in seen.of(sdam_events.ServerHeartbeatStartedEvent)}
    assert awaited == ({False, True} if mode == "stream" else {False})


def test_network_error_on_known_server_rechecks_immediately(standalone, mongo_client, client_factory) -> None:
    # A known server failing with a network error is checked again at once, not after
    # heartbeatFrequencyMS (60 s here): the next check's success follows within a second.
    internal = mongo_client(standalone.uri)
    client, seen = client_factory(standalone.uri, appname="netErr", heartbeatFrequencyMS=60_000,
                                  serverMonitoringMode="poll")
    client["db"]["c"].insert_one({"_id": 1})
    _fail_hello(internal, "netErr", closeConnection=True)
    client.topology.server(standalone.addresses[0]).request_check()  # poll now instead of in 60 s
    failed_at = time.monotonic()
    seen.wait(sdam_events.ServerDescriptionChangedEvent, _unknown)
    seen.wait(sdam_events.ServerDescriptionChangedEvent,
              lambda e: e.previous.type is ServerType.Unknown and e.new.type is ServerType.Standalone
              and e.previous.error is not None, timeout_s=5)
    assert time.monotonic() - failed_at < 5


def test_monitor_timeout_clears_pool_interrupting_in_use_connections(
        standalone, mongo_client, client_factory) -> None:
    # A network timeout on the monitor clears the pool with interruptInUseConnections=true:
    # an operation blocked on an in-use connection fails at once instead of finishing.
    internal = mongo_client(standalone.uri)
    client, seen = client_factory(standalone.uri, appname="interrupt", heartbeatFrequencyMS=500,
                                  connectTimeoutMS=500, retryReads=False)
    coll = client["db"]["c"]
    coll.insert_one({"_id": 1})
    # One fail point (the server keeps one per name) blocks the find and the monitor's hellos
    # for 5 s; the monitor's awaitable hello times out after connectTimeoutMS + heartbeat.
    # Several activations: the RTT monitor's hellos (same appName) may take some first.
    internal.admin.command({"configureFailPoint": "failCommand", "mode": {"times": 5},
                            "data": {"failCommands": ["find", "hello", "isMaster"], "appName": "interrupt",
                                     "blockConnection": True, "blockTimeMS": 5000}})
    outcome: dict = {}
    done = threading.Event()

    def find() -> None:
        started = time.monotonic()
        try:
            outcome["docs"] = list(coll.find({}))
        except Exception as exc:  # asserted below
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - started
        done.set()

    threading.Thread(target=find, daemon=True).start()
    cleared = seen.wait(pool_events.PoolCleared)
    assert cleared.interrupt_in_use_connections is True
    assert done.wait(10)
    assert isinstance(outcome.get("error"), ConnectionFailure), outcome
    assert outcome["seconds"] < 4.5, "the in-use connection was not interrupted"


def test_application_network_error_cancels_the_check(standalone, mongo_client, client_factory) -> None:
    # SDAM "cancelCheck": after an application network error marks the server Unknown, the
    # monitor's in-flight streaming check is cancelled and reports nothing of its own.
    internal = mongo_client(standalone.uri)
    client, seen = client_factory(standalone.uri, appname="cancel", heartbeatFrequencyMS=500,
                                  retryWrites=False, serverMonitoringMode="stream")
    coll = client["db"]["c"]
    coll.insert_one({"_id": 1})
    seen.wait(sdam_events.ServerHeartbeatStartedEvent, lambda e: e.awaited)
    internal.admin.command({"configureFailPoint": "failCommand", "mode": {"times": 1},
                            "data": {"failCommands": ["insert"], "appName": "cancel", "closeConnection": True}})
    with pytest.raises(ConnectionFailure):
        coll.insert_one({"_id": 2})
    seen.wait(sdam_events.ServerHeartbeatFailedEvent, lambda e: e.awaited)
    seen.wait(sdam_events.ServerDescriptionChangedEvent,
              lambda e: e.previous.type is ServerType.Unknown and e.new.type is ServerType.Standalone)
    # Only the application error's Unknown: the cancelled check published no description.
    unknowns = seen.of(sdam_events.ServerDescriptionChangedEvent, lambda e: e.new.type is ServerType.Unknown)
    assert len(unknowns) == 1, [e.new.error for e in unknowns]
    assert "(established)" in unknowns[0].new.error  # app_errors' wording for an in-use connection
    assert len(seen.of(pool_events.PoolCleared)) == 1


def test_poll_mode_never_streams(standalone, client_factory) -> None:
    client, seen = client_factory(standalone.uri, heartbeatFrequencyMS=500, serverMonitoringMode="poll")
    client["db"]["c"].insert_one({"_id": 1})
    monitor = client.topology.server(standalone.addresses[0]).monitor
    seen.wait(sdam_events.ServerHeartbeatSucceededEvent, lambda e: not e.awaited and
              len(seen.of(sdam_events.ServerHeartbeatSucceededEvent)) >= 2)
    assert not monitor.streaming and monitor._rtt_monitor is None
    assert not any(e.awaited for e in seen.of(sdam_events.ServerHeartbeatStartedEvent))


def test_auto_mode_polls_on_faas() -> None:
    assert streaming_enabled("auto", {}) is True
    assert streaming_enabled("auto", {"AWS_EXECUTION_ENV": "AWS_Lambda_python3.12"}) is False
    assert streaming_enabled("auto", {"FUNCTIONS_WORKER_RUNTIME": "python"}) is False
    assert streaming_enabled("stream", {"AWS_EXECUTION_ENV": "AWS_Lambda_python3.12"}) is True
    assert streaming_enabled("poll", {}) is False
