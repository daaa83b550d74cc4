"""Topology.handle_application_error: the pool is cleared atomically with marking the server Unknown."""

from __future__ import annotations

import threading
from typing import Any

from driver.hello import server_description_from_hello
from driver.sdam.app_errors import ErrorKind, Phase
from driver.sdam.description import ServerType, TopologySettings
from driver.sdam.topology import Topology

ADDRESS = "a:27017"


class FakeServer:
    def __init__(self, address: str) -> None:
        self.address = address
        self.operation_count = 0
        self.descriptions: list[Any] = []

    def open(self) -> None: ...
    def close(self) -> None: ...
    def request_check(self) -> None: ...

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

    outcome = topology.handle_application_error(ADDRESS, ErrorKind.NETWORK, generation=0, pool_generation=0,
                                                max_wire_version=21, phase=Phase.ESTABLISHED,
                                                clear_pool=clear_pool)
    assert outcome.clear_pool and seen == {"monitor_could_interleave": False}
    assert topology.description.servers[ADDRESS].type is ServerType.Unknown


def test_pool_is_not_cleared_when_the_error_is_stale_or_changes_nothing():
    topology = _standalone_topology()
    calls: list[str] = []
    stale = topology.handle_application_error(ADDRESS, ErrorKind.NETWORK, generation=0, pool_generation=1,
                                              max_wire_version=21, phase=Phase.ESTABLISHED,
                                              clear_pool=lambda: calls.append("stale"))
    timeout = topology.handle_application_error(ADDRESS, ErrorKind.TIMEOUT, generation=1, pool_generation=1,
                                                max_wire_version=21, phase=Phase.ESTABLISHED,
                                                clear_pool=lambda: calls.append("timeout"))
    assert stale.ignored and timeout.ignored and calls == []
    assert topology.description.servers[ADDRESS].type is ServerType.Standalone
