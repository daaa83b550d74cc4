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
