"""Topology.handle_application_error: the pool is cleared atomically with marking the server Unknown."""

from __future__ import annotations

import threading
from typing import Any

from driver.errors import ConnectionFailure, NetworkTimeout, OperationFailure, PoolClearedError
from driver.hello import server_description_from_hello
from driver.sdam.app_errors import Phase
from driver.sdam.description import ServerType, TopologySettings
from driver.sdam.topology import Topology

ADDRESS = "a:27017"


class FakeServer:
    def __init__(self, address: str) -> None:
        self.address = address
        self.operation_count = 0
        self.pool_generation = 0
        self.descriptions: list[Any] = []
        self.calls: list[str] = []
        self.on_clear: Any = None

    def open(self) -> None: ...
    def close(self) -> None: ...

    def request_check(self) -> None:
        self.calls.append("request_check")

    def cancel_check(self, *, only_if_streaming: bool = False) -> None:
        self.calls.append("cancel_check" + (" if streaming" if only_if_streaming else ""))

    def clear_pool(self) -> None:
        self.calls.append("clear_pool")
        if self.on_clear is not None:
            self.on_clear()

    def on_description(self, description: Any) -> None:
        self.descriptions.append(description)


def _standalone_topology() -> Topology:
    topology = Topology([ADDRESS], TopologySettings(direct_connection=True), lambda addr, _t: FakeServer(addr))
    topology.open()
    topology.on_server_description(server_description_from_hello(
        ADDRESS, {"ok": 1, "isWritablePrimary": True, "maxWireVersion": 21, "minWireVersion": 0}, rtt_ms=1))
    assert topology.description.servers[ADDRESS].type is ServerType.Standalone
    return topology


def test_pool_clear_runs_under_the_topology_lock_with_the_unknown_marking():
    # SDAM: "Clearing the connection pool for a server MUST be synchronized with the update to
    # the corresponding ServerDescription". Had a monitor been able to report the server (and
    # ready its pool) between the two steps, the pool would stay paused under a selectable
    # server and a retry would fail with PoolClearedError.
    topology = _standalone_topology()
    seen: dict[str, Any] = {}

    def clear_pool() -> None:
        other_thread_got_lock: list[bool] = []
        probe = threading.Thread(target=lambda: other_thread_got_lock.append(topology._cond.acquire(blocking=False)))
        probe.start()
        probe.join()
        if other_thread_got_lock[0]:
            topology._cond.release()
        seen["monitor_could_interleave"] = other_thread_got_lock[0]

    topology.server(ADDRESS).on_clear = clear_pool
    outcome = topology.handle_application_error(ADDRESS, ConnectionFailure("reset"), phase=Phase.ESTABLISHED,
                                                generation=0)
    assert outcome.clear_pool and seen == {"monitor_could_interleave": False}
    assert topology.description.servers[ADDRESS].type is ServerType.Unknown
    assert topology.server(ADDRESS).calls == ["clear_pool", "cancel_check"]  # SDAM: network error cancels the check


def test_pool_is_not_cleared_when_the_error_is_stale_or_changes_nothing():
    topology = _standalone_topology()
    server = topology.server(ADDRESS)
    server.pool_generation = 1
    stale = topology.handle_application_error(ADDRESS, ConnectionFailure("reset"), phase=Phase.ESTABLISHED,
                                              generation=0)
    timeout = topology.handle_application_error(ADDRESS, NetworkTimeout("slow"), phase=Phase.ESTABLISHED,
                                                generation=1)
    refused = topology.handle_application_error(ADDRESS, PoolClearedError("paused"), phase=Phase.ESTABLISHING,
                                                generation=1)
    assert stale.ignored and timeout.ignored and refused.ignored and server.calls == []
    assert topology.description.servers[ADDRESS].type is ServerType.Standalone


def test_establishment_failure_gets_backpressure_labels_and_changes_nothing():
    topology = _standalone_topology()
    error = ConnectionFailure("connection refused")
    outcome = topology.handle_application_error(ADDRESS, error, phase=Phase.ESTABLISHING, generation=0)
    assert outcome.ignored and error.has_error_label("SystemOverloadedError") and error.has_error_label("RetryableError")
    assert topology.description.servers[ADDRESS].type is ServerType.Standalone


def test_state_change_error_from_a_reply_or_an_exception_marks_unknown_and_requests_a_check():
    # The same door for the executor's unchecked reply and for a handshake refused in pool population.
    for error, reply in ((None, {"ok": 0, "code": 10107, "errmsg": "not primary"}),
                         (OperationFailure("hello failed", 10107, {"ok": 0, "code": 10107, "errmsg": "not primary"}),
                          None)):
        topology = _standalone_topology()
        phase = Phase.ESTABLISHED if error is None else Phase.ESTABLISHING
        outcome = topology.handle_application_error(ADDRESS, error, phase=phase, generation=0, reply=reply)
        assert outcome.request_check and not outcome.clear_pool  # wire 21: no clear for "not primary"
        assert topology.description.servers[ADDRESS].type is ServerType.Unknown
        assert topology.server(ADDRESS).calls == ["request_check", "cancel_check if streaming"]
