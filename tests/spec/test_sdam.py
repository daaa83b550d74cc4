"""SDAM spec runner: replays hello replies and application errors through the pure transitions."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qsl

import pytest
from bson import json_util

from driver.events import sdam as ev
from driver.hello import load_balancer_server, normalize_address, server_description_from_hello
from driver.sdam.app_errors import ErrorKind, Phase, command_error_details, handle_application_error
from driver.sdam.description import ServerDescription, TopologyDescription, TopologySettings
from driver.sdam.transitions import initial_topology, update_topology
from tests.spec.specfiles import spec_params

FOLDERS = tuple(f"server-discovery-and-monitoring/{name}"
                for name in ("single", "rs", "sharded", "load-balanced", "errors", "monitoring"))

# The spec tests' "when" values; "before the handshake completes" is connection establishment.
PHASES = {"beforeHandshakeCompletes": Phase.ESTABLISHING, "afterHandshakeCompletes": Phase.ESTABLISHED}


def parse_test_uri(uri: str) -> tuple[list[str], TopologySettings]:
    """Just enough of a mongodb:// URI for these tests: seeds, replicaSet, directConnection,
    loadBalanced (the real parser lives in driver/uri.py)."""
    rest = uri.split("://", 1)[1]
    hosts, _, query = rest.partition("/")
    query = query.lstrip("?")
    opts = {k.lower(): v for k, v in parse_qsl(query)}
    settings = TopologySettings(
        replica_set_name=opts.get("replicaset"),
        direct_connection=opts.get("directconnection") == "true",
        load_balanced=opts.get("loadbalanced") == "true")
    return [normalize_address(h) for h in hosts.split(",")], settings


class FakePools:
    """One generation counter per server, created and dropped with the topology's servers."""

    def __init__(self) -> None:
        self.generation: dict[str, int] = {}

    def sync(self, topology: TopologyDescription) -> None:
        for address in topology.servers:
            self.generation.setdefault(address, 0)
        for address in [a for a in self.generation if a not in topology.servers]:
            del self.generation[address]

    def clear(self, address: str) -> None:
        self.generation[address] += 1


class Replay:
    """The state a test file's phases are replayed against, with the events each step yields."""

    def __init__(self, uri: str) -> None:
        seeds, settings = parse_test_uri(uri)
        self.topology = initial_topology(seeds, settings)
        self.pools = FakePools()
        self.pools.sync(self.topology)
        self.events: list = ev.events_for_opening(self.topology)
        if settings.load_balanced:
            for address in list(self.topology.servers):
                self._apply(update_topology(self.topology, load_balancer_server(address)))

    def _apply(self, new: TopologyDescription) -> None:
        self.events.extend(ev.events_for_change(self.topology, new))
        self.topology = new
        self.pools.sync(new)

    def response(self, address: str, reply: Mapping[str, Any]) -> None:
        if reply:
            sd = server_description_from_hello(address, reply, rtt_ms=1.0)
        else:  # an empty reply stands for a failed check (network error)
            sd = server_description_from_hello(address, None, rtt_ms=None, error="network error")
        self._apply(update_topology(self.topology, sd))

    def application_error(self, spec: Mapping[str, Any]) -> None:
        address = normalize_address(spec["address"])
        pool_generation = self.pools.generation.get(address, 0)
        code, message, topology_version = None, "", None
        if spec["type"] == "command":
            details = command_error_details(spec.get("response"))
            if details is None:
                return  # not an error at all (e.g. only writeErrors)
            code, message, topology_version = details
        outcome = handle_application_error(
            self.topology, address, ErrorKind(spec["type"]),
            generation=spec.get("generation", pool_generation), pool_generation=pool_generation,
            max_wire_version=spec.get("maxWireVersion"), code=code, message=message,
            topology_version=topology_version, phase=PHASES[spec["when"]])
        if outcome.clear_pool:
            self.pools.clear(address)
        self._apply(outcome.topology)

    def take_events(self) -> list:
        events, self.events = self.events, []
        return events


# ------------------------------------------------------------------ expectations
def _check_topology_version(actual, expected, where: str) -> None:
    if expected is None:
        assert actual is None, f"{where}: topologyVersion {actual} != null"
        return
    assert actual is not None, f"{where}: topologyVersion is null, expected {expected}"
    assert (actual.process_id, actual.counter) == (expected["processId"], int(expected["counter"])), where


def check_server(actual: ServerDescription, expected: Mapping[str, Any], pools: FakePools, where: str) -> None:
    fields = {"type": lambda s: s.type.value, "setName": lambda s: s.set_name,
              "setVersion": lambda s: s.set_version, "electionId": lambda s: s.election_id,
              "logicalSessionTimeoutMinutes": lambda s: s.logical_session_timeout_minutes}
    for key, get in fields.items():
        if key in expected:
            assert get(actual) == expected[key], f"{where}: {key} {get(actual)!r} != {expected[key]!r}"
    for key, value in (("minWireVersion", actual.min_wire_version), ("maxWireVersion", actual.max_wire_version)):
        if key in expected:  # null in the test means "never reported", our default 0
            assert value == (expected[key] or 0), f"{where}: {key} {value} != {expected[key]}"
    if "topologyVersion" in expected:
        _check_topology_version(actual.topology_version, expected["topologyVersion"], where)
    if "error" in expected:
        assert actual.error and expected["error"] in actual.error, \
            f"{where}: error {actual.error!r} lacks {expected['error']!r}"
    if "pool" in expected:
        generation = pools.generation[actual.address]
        assert generation == expected["pool"]["generation"], \
            f"{where}: pool generation {generation} != {expected['pool']['generation']}"


def check_outcome(replay: Replay, outcome: Mapping[str, Any], where: str) -> None:
    td = replay.topology
    if "topologyType" in outcome:
        assert td.type.value == outcome["topologyType"], f"{where}: topologyType"
    simple = {"setName": td.set_name, "logicalSessionTimeoutMinutes": td.logical_session_timeout_minutes,
              "compatible": td.compatible, "maxSetVersion": td.max_set_version,
              "maxElectionId": td.max_election_id}
    for key, value in simple.items():
        if key in outcome:
            assert value == outcome[key], f"{where}: {key} {value!r} != {outcome[key]!r}"
    if "compatible" in outcome and not outcome["compatible"]:
        assert td.compatibility_error, f"{where}: incompatible without a compatibilityError"
    if "servers" in outcome:
        assert set(td.servers) == set(outcome["servers"]), f"{where}: servers {sorted(td.servers)}"
        for address, expected in outcome["servers"].items():
            check_server(td.servers[address], expected, replay.pools, f"{where} [{address}]")
    if "events" in outcome:
        check_events(replay.take_events(), outcome["events"], where)


def _server_matches(actual: ServerDescription, expected: Mapping[str, Any]) -> bool:
    return (actual.address == expected["address"] and actual.type.value == expected["type"]
            and set(actual.hosts) == set(expected.get("hosts", []))
            and set(actual.passives) == set(expected.get("passives", []))
            and set(actual.arbiters) == set(expected.get("arbiters", []))
            and actual.primary == expected.get("primary")
            and actual.set_name == expected.get("setName"))


def _topology_matches(actual: TopologyDescription, expected: Mapping[str, Any]) -> bool:
    if actual.type.value != expected["topologyType"] or actual.set_name != expected.get("setName"):
        return False
    servers = {s["address"]: s for s in expected["servers"]}
    return set(actual.servers) == set(servers) and all(
        _server_matches(actual.servers[a], s) for a, s in servers.items())


def check_events(actual: list, expected: list, where: str) -> None:
    names = {ev.TopologyOpeningEvent: "topology_opening_event",
             ev.TopologyDescriptionChangedEvent: "topology_description_changed_event",
             ev.ServerOpeningEvent: "server_opening_event", ev.ServerClosedEvent: "server_closed_event",
             ev.ServerDescriptionChangedEvent: "server_description_changed_event",
             ev.TopologyClosedEvent: "topology_closed_event"}
    actual_names = [names[type(e)] for e in actual]
    expected_names = [next(iter(e)) for e in expected]
    assert actual_names == expected_names, f"{where}: events {actual_names} != {expected_names}"
    for got, want in zip(actual, expected):
        name, body = next(iter(want.items()))
        if "address" in body:
            assert got.address == body["address"], f"{where}: {name} address"
        if isinstance(got, ev.ServerDescriptionChangedEvent):
            assert _server_matches(got.previous, body["previousDescription"]), f"{where}: {name} previous"
            assert _server_matches(got.new, body["newDescription"]), f"{where}: {name} new {got.new}"
        if isinstance(got, ev.TopologyDescriptionChangedEvent):
            assert _topology_matches(got.previous, body["previousDescription"]), f"{where}: {name} previous"
            assert _topology_matches(got.new, body["newDescription"]), f"{where}: {name} new"


@pytest.mark.parametrize("path", spec_params(*FOLDERS))
def test_sdam(path: Path) -> None:
    spec = json_util.loads(path.read_text(encoding="utf-8"))
    replay = Replay(spec["uri"])
    for number, phase in enumerate(spec["phases"]):
        where = f"phase {number} ({phase.get('description', '')})"
        for address, reply in phase.get("responses", []):
            replay.response(address, reply)
        for error in phase.get("applicationErrors", []):
            replay.application_error(error)
        check_outcome(replay, phase["outcome"], where)


# ------------------------------------------------------------------ behaviour the JSON files leave out
def _rs(seeds=("a", "b"), name="rs") -> TopologyDescription:
    return initial_topology(list(seeds), TopologySettings(replica_set_name=name))


def _hello(address: str, **fields) -> ServerDescription:
    reply = {"ok": 1, "setName": "rs", "minWireVersion": 0, "maxWireVersion": 21, **fields}
    return server_description_from_hello(address, reply, rtt_ms=1.0)


def test_secondary_with_mismatched_me_is_removed_without_primary():
    td = update_topology(_rs(), _hello("a", secondary=True, me="c:27017", hosts=["c:27017"]))
    assert set(td.servers) == {"b:27017", "c:27017"}
    assert td.type.value == "ReplicaSetNoPrimary"


def test_update_never_mutates_its_input():
    before = _rs()
    servers_before = dict(before.servers)
    after = update_topology(before, _hello("a", isWritablePrimary=True, hosts=["a:27017", "c:27017"]))
    assert dict(before.servers) == servers_before and before.type.value == "ReplicaSetNoPrimary"
    assert set(after.servers) == {"a:27017", "c:27017"}


def test_incompatible_server_explains_itself():
    single = initial_topology(["a"], TopologySettings(direct_connection=True))
    old = update_topology(single, server_description_from_hello(
        "a", {"ok": 1, "isWritablePrimary": True, "maxWireVersion": 1}, rtt_ms=1.0))
    assert not old.compatible and "a:27017" in old.compatibility_error and "requires at least" in old.compatibility_error
    new = update_topology(single, server_description_from_hello(
        "a", {"ok": 1, "isWritablePrimary": True, "minWireVersion": 99, "maxWireVersion": 100}, rtt_ms=1.0))
    assert not new.compatible and "only supports up to" in new.compatibility_error


def _primary_topology() -> TopologyDescription:
    return update_topology(_rs(("a",)), _hello("a", isWritablePrimary=True, hosts=["a:27017"]))


def test_timeout_on_established_connection_changes_nothing():
    td = _primary_topology()
    out = handle_application_error(td, "a:27017", ErrorKind.TIMEOUT, generation=0, pool_generation=0,
                                   max_wire_version=21, phase=Phase.ESTABLISHED)
    assert out.topology is td and not out.clear_pool and out.ignored


def test_connection_establishment_failure_applies_backpressure():
    td = _primary_topology()
    out = handle_application_error(td, "a:27017", ErrorKind.NETWORK, generation=0, pool_generation=0,
                                   max_wire_version=21, phase=Phase.ESTABLISHING)
    assert out.topology is td and not out.clear_pool
    assert set(out.error_labels) == {"SystemOverloadedError", "RetryableError"}


@pytest.mark.parametrize("kind", [ErrorKind.NETWORK, ErrorKind.TIMEOUT, ErrorKind.AUTH])
def test_failure_during_authentication_marks_unknown_and_clears(kind):
    out = handle_application_error(_primary_topology(), "a:27017", kind, generation=0, pool_generation=0,
                                   max_wire_version=21, message="boom", phase=Phase.AUTHENTICATING)
    assert out.clear_pool and out.topology.servers["a:27017"].type.value == "Unknown"
    assert "boom" in out.topology.servers["a:27017"].error
    assert out.topology.type.value == "ReplicaSetNoPrimary"


def test_load_balanced_errors_clear_the_pool_but_keep_the_load_balancer():
    lb = initial_topology(["a"], TopologySettings(load_balanced=True))
    lb = update_topology(lb, load_balancer_server("a"))
    net = handle_application_error(lb, "a", ErrorKind.NETWORK, generation=0, pool_generation=0,
                                   max_wire_version=21)
    assert net.clear_pool and net.topology.servers["a:27017"].type.value == "LoadBalancer"
    shutdown = handle_application_error(lb, "a", ErrorKind.COMMAND, generation=0, pool_generation=0,
                                        max_wire_version=21, code=91, message="shutting down")
    assert shutdown.clear_pool and shutdown.topology.servers["a:27017"].type.value == "LoadBalancer"


def test_state_change_error_by_message_when_there_is_no_code():
    out = handle_application_error(_primary_topology(), "a", ErrorKind.COMMAND, generation=0,
                                   pool_generation=0, max_wire_version=21, message="not master")
    assert out.topology.servers["a:27017"].type.value == "Unknown" and out.request_check
    assert not out.clear_pool


def test_events_suppress_equal_updates_and_order_openings_after_the_topology_change():
    td = _rs(("a",))
    assert ev.events_for_change(td, td) == []
    new = update_topology(td, _hello("a", isWritablePrimary=True, hosts=["a:27017", "b:27017"]))
    kinds = [type(e).__name__ for e in ev.events_for_change(td, new)]
    assert kinds == ["ServerDescriptionChangedEvent", "TopologyDescriptionChangedEvent", "ServerOpeningEvent"]
    closing = [type(e).__name__ for e in ev.events_for_closing(new)]
    assert closing == ["ServerClosedEvent", "ServerClosedEvent", "TopologyClosedEvent"]
