"""The live topology against a sandbox replica set: discovery, failover, rejoin, and timeouts."""

from __future__ import annotations

import socket
import threading

import pytest

from driver.errors import ServerSelectionTimeout
from driver.events import sdam as sdam_events
from driver.events.listeners import EventBus
from driver.sdam.description import ServerType, TopologyType
from driver.settings import client_settings
from driver.topology_builder import build_topology
from tests.support.topology_watch import wait_for


@pytest.fixture
def open_topology():
    """Factory: open_topology(uri, **options) -> (Topology, recorded events); closed afterwards."""
    opened = []

    def make(uri: str, **options):
        bus = EventBus()
        seen: list = []
        bus.subscribe(seen.append)
        topology = build_topology(client_settings(uri, **options), bus)
        topology.open()
        opened.append(topology)
        return topology, seen

    yield make
    for topology in opened:
        topology.close()


def _set_name(sandbox) -> str:
    return sandbox.uri.split("replicaSet=")[1].split("&")[0]


def _ping(server) -> dict:
    with server.pool.connection() as pooled:
        return pooled.connection.command("admin", {"ping": 1})


def test_discovers_whole_replica_set_from_one_seed(replset, open_topology) -> None:
    seed = replset.addresses[1]
    topology, _ = open_topology(f"mongodb://{seed}/?replicaSet={_set_name(replset)}")
    final = wait_for(topology, lambda td: len(td.servers) == 3 and
                     sum(s.type is ServerType.RSSecondary for s in td.servers.values()) == 2 and
                     td.type is TopologyType.ReplicaSetWithPrimary, what="3 members with a primary")
    assert set(final.servers) == set(replset.addresses)
    primary = topology.select_server("write", timeout_ms=5000)
    assert primary.address == replset.primary
    assert _ping(primary)["ok"] == 1


@pytest.mark.parametrize("mode", ["stream", "poll"])
def test_failover_blocked_write_selection_proceeds_and_old_primary_rejoins(
        start_sandbox, open_topology, mode: str) -> None:
    sandbox = start_sandbox(topology="replset", members=3, election_delay_ms=150)
    topology, seen = open_topology(sandbox.uri, heartbeatFrequencyMS=500, serverMonitoringMode=mode)
    old = topology.select_server("write", timeout_ms=5000).address
    wait_for(topology, lambda td: len(td.known_servers) == 3, what="all members known")

    sandbox.kill(old)
    wait_for(topology, lambda td: td.servers[old].type is ServerType.Unknown, what="old primary Unknown")

    # A write selection made while there is no primary blocks until the election ends.
    result: dict = {}
    done = threading.Event()

    def select() -> None:
        try:
            result["server"] = topology.select_server("write", timeout_ms=10_000)
        except Exception as exc:  # recorded and asserted below
            result["error"] = exc
        done.set()

    threading.Thread(target=select, daemon=True).start()
    assert done.wait(15), "write selection never returned"
    assert "error" not in result, result.get("error")
    new = result["server"].address
    assert new != old and new == sandbox.primary
    assert _ping(result["server"])["ok"] == 1

    sandbox.restart(old)
    wait_for(topology, lambda td: td.servers[old].type is ServerType.RSSecondary,
             what="old primary back as secondary")
    awaited = [e.awaited for e in seen if isinstance(e, sdam_events.ServerHeartbeatSucceededEvent)]
    assert any(awaited) == (mode == "stream")


def test_stopped_server_times_out_with_an_explaining_error(open_topology) -> None:
    with socket.socket() as probe:  # a free port with nothing listening on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    topology, _ = open_topology(f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=300")
    with pytest.raises(ServerSelectionTimeout) as info:
        topology.select_server("write")
    message = str(info.value)
    assert "serverSelectionTimeoutMS=300" in message
    assert f"127.0.0.1:{port}: Unknown" in message
    assert "unreachable: " in message and "refused" in message.lower()  # it never answered (CheckFailure)


def _black_hole() -> tuple[socket.socket, list[socket.socket]]:
    """A listener whose accept queue is full: further SYNs are dropped, connects hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(listener.getsockname())
        fillers.append(filler)
    return listener, fillers


def test_connect_timeout_bounds_each_attempt_to_a_black_holed_server(open_topology) -> None:
    listener, fillers = _black_hole()
    try:
        port = listener.getsockname()[1]
        topology, seen = open_topology(
            f"mongodb://127.0.0.1:{port}/?connectTimeoutMS=200&serverSelectionTimeoutMS=1500")
        with pytest.raises(ServerSelectionTimeout) as info:
            topology.select_server("write")
        failures = [e for e in seen if isinstance(e, sdam_events.ServerHeartbeatFailedEvent)]
        assert failures, "no heartbeat failed"
        assert "timed out" in str(info.value)
        # Each attempt ends at connectTimeoutMS, not at the 1.5 s selection timeout.
        assert all(e.duration_ms < 1000 for e in failures), [e.duration_ms for e in failures]
    finally:
        for s in fillers:
            s.close()
        listener.close()
