"""Server selection spec tests: server_selection (suitable + latency window), rtt, in_window."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Mapping

import pytest

from driver.errors import ConfigurationError
from driver.read_preference import ReadPreference
from driver.sdam import selection
from driver.sdam.description import (ServerDescription, ServerType, TopologyDescription,
                                     TopologySettings, TopologyType)
from driver.sdam.rtt import next_average_rtt
from tests.spec.specfiles import load, spec_params

FOLDER = "server-selection"


# -- parsing helpers shared with the max-staleness runner ---------------------------------
def _number(value: Any) -> float:
    if isinstance(value, Mapping) and "$numberLong" in value:
        return float(int(value["$numberLong"]))
    return float(value)


def parse_server(doc: Mapping[str, Any]) -> ServerDescription:
    """A ServerDescription from a spec file's server entry."""
    last_write = doc.get("lastWrite")
    return ServerDescription(
        address=doc["address"],
        type=ServerType(doc.get("type", "Unknown")),
        round_trip_time_ms=_number(doc["avg_rtt_ms"]) if "avg_rtt_ms" in doc else None,
        tags=dict(doc.get("tags", {})),
        last_update_time_ms=_number(doc.get("lastUpdateTime", 0)),
        last_write_date_ms=_number(last_write["lastWriteDate"]) if last_write else None,
        max_wire_version=int(doc.get("maxWireVersion", 0)),
    )


def parse_topology(doc: Mapping[str, Any], heartbeat_frequency_ms: int | None = None) -> TopologyDescription:
    """A TopologyDescription from a spec file's topology_description."""
    servers = {s["address"]: parse_server(s) for s in doc.get("servers", [])}
    settings = TopologySettings() if heartbeat_frequency_ms is None else TopologySettings(
        heartbeat_frequency_ms=heartbeat_frequency_ms)
    return TopologyDescription(type=TopologyType(doc["type"]), servers=servers, settings=settings)


def parse_criteria(test: Mapping[str, Any]) -> selection.Criteria:
    """"write" for write operations, else the file's read preference."""
    if test.get("operation", "read") == "write":
        return selection.WRITE
    return ReadPreference.from_document(test.get("read_preference", {}))


def addresses(servers) -> list[str]:
    return sorted(s["address"] if isinstance(s, Mapping) else s.address for s in servers)


def run_selection_file(test: Mapping[str, Any]) -> None:
    """Run one server_selection / max-staleness file: an error, or suitable + in-window sets."""
    topology = parse_topology(test["topology_description"], test.get("heartbeatFrequencyMS"))
    deprioritized = [s["address"] for s in test.get("deprioritized_servers", [])]
    if test.get("error"):
        with pytest.raises(ConfigurationError):
            selection.select_servers(topology, parse_criteria(test), deprioritized=deprioritized)
        return
    criteria = parse_criteria(test)
    if "suitable_servers" in test:
        suitable = selection.suitable_servers(topology, criteria, deprioritized=deprioritized)
        assert addresses(suitable) == addresses(test["suitable_servers"])
    in_window = selection.select_servers(topology, criteria, deprioritized=deprioritized)
    assert addresses(in_window) == addresses(test["in_latency_window"])
    # Every server not returned gets a reason for the ServerSelectionTimeout message.
    reasons = dict(selection.explain_unsuitable(topology, criteria, deprioritized=deprioritized))
    assert set(reasons) == set(topology.servers) - {s.address for s in in_window}
    assert all(reasons.values())


# -- runners ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", spec_params(f"{FOLDER}/server_selection"))
def test_server_selection(path: Path) -> None:
    run_selection_file(load(path))


@pytest.mark.parametrize("path", spec_params(f"{FOLDER}/rtt"))
def test_rtt(path: Path) -> None:
    test = load(path)
    previous = None if test["avg_rtt_ms"] == "NULL" else test["avg_rtt_ms"]
    assert next_average_rtt(previous, test["new_rtt_ms"]) == pytest.approx(test["new_avg_rtt"])


@pytest.mark.parametrize("path", spec_params(f"{FOLDER}/in_window"))
def test_in_window(path: Path) -> None:
    test = load(path)
    topology = parse_topology(test["topology_description"])
    counts = {s["address"]: s["operation_count"] for s in test["mocked_topology_state"]}
    in_window = selection.select_servers(topology, ReadPreference(mode="nearest"))
    rng = random.Random(20240813)
    iterations = test["iterations"]
    tally = {s.address: 0 for s in topology.servers.values()}
    for _ in range(iterations):
        chosen = selection.choose_server(in_window, counts, rng)
        assert chosen is not None
        tally[chosen.address] += 1
    outcome = test["outcome"]
    for address, expected in outcome["expected_frequencies"].items():
        observed = tally.get(address, 0) / iterations
        if expected in (0, 1):
            assert observed == expected, f"{address}: observed {observed}, expected exactly {expected}"
        else:
            assert abs(observed - expected) <= outcome["tolerance"], \
                f"{address}: observed {observed:.3f}, expected {expected} ± {outcome['tolerance']}"


@pytest.mark.parametrize("path", spec_params(f"{FOLDER}/logging"))
def test_logging(path: Path) -> None:
    pytest.skip("server-selection/logging files are in the unified test format; they need the "
                "unified runner and a live deployment, which this pure runner does not have")


# -- behaviour beyond the JSON files: read preference validation, documents, explanations ---
def _rs(*servers: ServerDescription, kind: TopologyType = TopologyType.ReplicaSetWithPrimary,
        heartbeat_frequency_ms: int = 10_000) -> TopologyDescription:
    return TopologyDescription(type=kind, servers={s.address: s for s in servers},
                               settings=TopologySettings(heartbeat_frequency_ms=heartbeat_frequency_ms))


def test_primary_with_tags_or_staleness_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="cannot have tag sets"):
        ReadPreference("primary", tag_sets=[{"dc": "ny"}])
    with pytest.raises(ConfigurationError, match="cannot have maxStalenessSeconds"):
        ReadPreference("primary", max_staleness_seconds=120)
    assert ReadPreference("primary", tag_sets=[{}]).document() == {"mode": "primary"}


@pytest.mark.parametrize("bad", [0, -2, 1.5, "120", True])
def test_max_staleness_must_be_positive_or_minus_one(bad) -> None:
    with pytest.raises(ConfigurationError, match="maxStalenessSeconds"):
        ReadPreference("nearest", max_staleness_seconds=bad)


def test_too_small_max_staleness_names_the_numbers() -> None:
    rp = ReadPreference("secondary", max_staleness_seconds=100)
    rp.check_max_staleness(10_000)
    with pytest.raises(ConfigurationError) as info:
        rp.check_max_staleness(95_000)
    message = str(info.value)
    assert "maxStalenessSeconds=100" in message and "at least 105" in message and "95000" in message


def test_document_round_trip_and_mode_spelling() -> None:
    rp = ReadPreference.from_document({"mode": "SECONDARYPREFERRED", "tags": [{"dc": "ny"}, {}],
                                       "maxStalenessSeconds": 120})
    assert rp.mode == "secondaryPreferred"
    doc = rp.document()
    assert doc == {"mode": "secondaryPreferred", "tags": [{"dc": "ny"}, {}], "maxStalenessSeconds": 120}
    assert ReadPreference.from_document(doc) == rp
    assert hash(ReadPreference.from_document(doc)) == hash(rp)
    assert ReadPreference("nearest").document() == {"mode": "nearest"}
    with pytest.raises(ConfigurationError, match="unknown read preference field"):
        ReadPreference.from_document({"mode": "nearest", "tagz": []})
    with pytest.raises(ConfigurationError, match="invalid read preference mode"):
        ReadPreference("closest")


def test_from_uri_options() -> None:
    rp = ReadPreference.from_uri_options({"readpreference": "primaryPreferred",
                                          "readPreferenceTags": ["dc:ny,rack:1", "dc:ny", ""],
                                          "maxStalenessSeconds": "120"})
    assert rp == ReadPreference("primaryPreferred",
                                tag_sets=[{"dc": "ny", "rack": "1"}, {"dc": "ny"}, {}],
                                max_staleness_seconds=120)
    assert ReadPreference.from_uri_options({}) == ReadPreference()
    with pytest.raises(ConfigurationError, match="key:value"):
        ReadPreference.from_uri_options({"readPreference": "secondary", "readPreferenceTags": "dc"})


def test_explain_unsuitable_gives_figures() -> None:
    primary = ServerDescription("a:1", ServerType.RSPrimary, round_trip_time_ms=5.0,
                                tags={"dc": "ny"}, last_write_date_ms=1_000_000.0)
    stale = ServerDescription("b:1", ServerType.RSSecondary, round_trip_time_ms=5.0,
                              tags={"dc": "ny"}, last_write_date_ms=1_000_000.0 - 200_000)
    far = ServerDescription("c:1", ServerType.RSSecondary, round_trip_time_ms=60.0,
                            tags={"dc": "ny"}, last_write_date_ms=1_000_000.0)
    tokyo = ServerDescription("d:1", ServerType.RSSecondary, round_trip_time_ms=5.0,
                              tags={"dc": "tokyo"}, last_write_date_ms=1_000_000.0)
    down = ServerDescription("e:1", error="connection refused")
    near = ServerDescription("f:1", ServerType.RSSecondary, round_trip_time_ms=6.0,
                             tags={"dc": "ny"}, last_write_date_ms=1_000_000.0)
    topology = _rs(primary, stale, far, tokyo, down, near)
    rp = ReadPreference("secondary", tag_sets=[{"dc": "ny"}], max_staleness_seconds=120)
    assert [s.address for s in selection.select_servers(topology, rp)] == ["f:1"]
    reasons = dict(selection.explain_unsuitable(topology, rp))
    assert set(reasons) == {"a:1", "b:1", "c:1", "d:1", "e:1"}
    assert "not a candidate for mode secondary" in reasons["a:1"]
    assert "210.0 s exceeds maxStalenessSeconds 120" in reasons["b:1"]
    assert "60.0 ms is outside the latency window 6.0-21.0 ms" in reasons["c:1"]
    assert "'tokyo'" in reasons["d:1"] and "match none" in reasons["d:1"]
    assert "not available" in reasons["e:1"]
    writes = dict(selection.explain_unsuitable(_rs(stale, kind=TopologyType.ReplicaSetNoPrimary), "write"))
    assert "no primary" in writes["b:1"]


def test_explain_reports_invalid_staleness_instead_of_raising() -> None:
    topology = _rs(ServerDescription("a:1", ServerType.RSPrimary, round_trip_time_ms=1.0))
    reasons = selection.explain_unsuitable(topology, ReadPreference("nearest", max_staleness_seconds=30))
    assert reasons == [("a:1", reasons[0][1])] and "too small" in reasons[0][1]


def test_choose_server_prefers_fewer_operations_and_handles_small_windows() -> None:
    a = ServerDescription("a:1", ServerType.Mongos, round_trip_time_ms=1.0)
    b = ServerDescription("b:1", ServerType.Mongos, round_trip_time_ms=1.0)
    assert selection.choose_server([], {}) is None
    assert selection.choose_server([a], {"a:1": 99}) is a
    rng = random.Random(1)
    assert {selection.choose_server([a, b], {"a:1": 3, "b:1": 1}, rng).address for _ in range(50)} == {"b:1"}
