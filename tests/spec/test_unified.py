"""Unified test format spec runner: one pytest case per test of each unified JSON file, against the sandbox."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Iterator

import pytest

from tests.spec.specfiles import spec_files, spec_id, specs_root
from tests.spec.unified.deployment import DeploymentPool
from tests.spec.unified.expected import RUN_TIMING_TESTS, load_expected_failures, load_timing_sensitive
from tests.spec.unified.runner import (Skip, UnifiedTest, check_schema_version, choose_deployment, load_file,
                                       parse_version)

FOLDERS = (
    "unified-test-format/valid-pass",
    "crud",
    "retryable-writes",
    "retryable-reads",
    "sessions",
    "command-logging-and-monitoring/monitoring",  # the logging tests belong to another runner
    "mongodb-handshake",
    "server-discovery-and-monitoring/unified",
    "transactions/unified",
    "transactions-convenient-api/unified",
    "change-streams/unified",
    "read-write-concern/operation",  # connection-string/ and document/ are pure: test_read_write_concern.py
    "run-command/unified",
    "gridfs",
    "versioned-api",
    "causal-consistency",
    "client-backpressure",
    "collection-management",
    "load-balancers",  # the sandbox has no load-balanced topology: those tests skip by runOnRequirements
    "client-side-operations-timeout",
)


@lru_cache(maxsize=None)
def _doc(rel: str) -> dict:
    return load_file(specs_root() / rel)


def _cases() -> list:
    params = []
    expected = load_expected_failures()
    timing = {} if os.environ.get(RUN_TIMING_TESTS) == "1" else load_timing_sensitive()
    for path in spec_files(*FOLDERS):
        rel = spec_id(path)
        doc = _doc(rel)
        if "tests" not in doc:  # e.g. a non-test JSON file in a folder
            continue
        for index, test in enumerate(doc["tests"]):
            case_id = f"{rel}::{test['description']}"
            # A known failure stays visible as xfail; strict, so a fixed one fails until it is
            # removed from expected_failures.txt.
            marks = [pytest.mark.xfail(strict=True, reason=expected[case_id])] if case_id in expected else []
            if case_id in timing:  # a verdict a busy machine decides: stated, and run on request
                marks = [pytest.mark.skip(reason=f"timing-sensitive on a loaded machine ({RUN_TIMING_TESTS}=1 "
                                                 f"runs it): {timing[case_id]}")]
            params.append(pytest.param(rel, index, id=case_id, marks=marks))
    if not params:
        params.append(pytest.param(None, None, id="unified", marks=pytest.mark.skip(
            reason=f"no unified spec files under {specs_root()} for {FOLDERS}")))
    return params


@pytest.fixture(scope="session")
def deployments() -> Iterator[DeploymentPool]:
    """Sandboxes on free loopback ports, started on first use per topology and server version, shared by every module of
    the session (each test resets its own collections and fail points) and stopped at the end."""
    pool = DeploymentPool()
    try:
        yield pool
    finally:
        pool.stop()


@pytest.mark.parametrize(("rel", "index"), _cases())
def test_unified(deployments: DeploymentPool, rel: str, index: int) -> None:
    doc = _doc(rel)
    check_schema_version(doc)
    test = doc["tests"][index]
    try:
        deployment = deployments.get(*choose_deployment(doc, test, deployments.info))
        deployment.before_test()
        UnifiedTest(deployment, doc, test).run()
    except Skip as reason:
        pytest.skip(str(reason))


def test_cases_cover_every_file() -> None:
    """Every unified file in the folders yields at least one case (none silently dropped)."""
    rels = {spec_id(p) for p in spec_files(*FOLDERS)}
    covered = {p.values[0] for p in _cases()}
    assert rels <= covered | {None}, f"files without cases: {sorted(rels - covered)}"


def test_expected_failures_name_existing_cases() -> None:
    """Every line of expected_failures.txt and timing_sensitive.txt names a case that exists (a
    renamed test is not hidden), and no case is in both."""
    if not spec_files(*FOLDERS):
        pytest.skip(f"no unified spec files under {specs_root()}: the listed cases cannot be checked")
    ids = {p.id for p in _cases()}
    stale = sorted((set(load_expected_failures()) | set(load_timing_sensitive())) - ids)
    assert not stale, f"expected_failures.txt / timing_sensitive.txt name unknown cases: {stale}"
    assert not set(load_expected_failures()) & set(load_timing_sensitive())


# ----- runner self-checks (no sandbox needed) -------------------------------------------------------
def test_requirements_follow_the_spec() -> None:
    """runOnRequirement rules: versions compared per component, "sharded" does not imply
    "sharded-replicaset" unless shards are replica sets, serverParameters compared flexibly."""
    from tests.spec.unified.runner import ServerInfo, requirement_unmet

    info = ServerInfo((8, 0, 0), "sharded", {"enableTestCommands": 1.0}, auth=False)
    assert requirement_unmet({"minServerVersion": "8.0"}, info) is None
    assert requirement_unmet({"maxServerVersion": "8.0"}, info) is None
    assert requirement_unmet({"maxServerVersion": "7.99"}, info)
    assert requirement_unmet({"minServerVersion": "8.0.1"}, info)
    assert requirement_unmet({"topologies": ["sharded-replicaset"]}, info)
    rs_shards = ServerInfo((8, 0, 0), "sharded", {}, sharded_replicaset=True)
    assert requirement_unmet({"topologies": ["sharded-replicaset"]}, rs_shards) is None
    assert requirement_unmet({"serverParameters": {"enableTestCommands": True}}, info)  # bool is no number
    assert requirement_unmet({"serverParameters": {"enableTestCommands": 1}}, info) is None
    assert requirement_unmet({"serverParameters": {"missing": 1}}, info)
    assert requirement_unmet({"auth": False}, info) is None
    assert requirement_unmet({"auth": True}, info)


def test_each_test_runs_on_the_newest_sandbox_version_meeting_its_requirements() -> None:
    """choose_deployment: per test, the first topology at the newest presentable version meeting both
    the file's and the test's runOnRequirements; only candidates are started; Skip says why none does."""
    from mongocli.sandbox.versions import DEFAULT
    from tests.spec.unified.runner import ServerInfo, choose_deployment

    started: list[tuple[str, str]] = []

    def info_for(topology: str, version: str) -> ServerInfo:
        started.append((topology, version))
        return ServerInfo(parse_version(version), topology, {})

    assert choose_deployment({}, {}, info_for) == ("replicaset", DEFAULT)
    old = {"runOnRequirements": [{"maxServerVersion": "4.2.99", "topologies": ["single"]}]}
    assert choose_deployment({}, old, info_for) == ("single", "4.2.25")
    between = {"runOnRequirements": [{"minServerVersion": "8.0", "maxServerVersion": "8.1.99"}]}
    assert choose_deployment({"runOnRequirements": [{"topologies": ["sharded"]}]}, between, info_for) == \
        ("sharded", "8.0.0")
    assert ("replicaset", "8.0.0") not in started  # the file's topology ruled it out before starting
    with pytest.raises(Skip, match="requires server >= 9.0"):
        choose_deployment({}, {"runOnRequirements": [{"minServerVersion": "9.0"}]}, info_for)


def test_sandbox_refusals_are_recognised() -> None:
    """Code 238 or the sandbox's own wording, also inside write errors; other errors are not."""
    from driver.errors import OperationFailure
    from tests.spec.unified.runner import sandbox_unimplemented

    assert sandbox_unimplemented(OperationFailure("x", 238, {"errmsg": "$densify is not supported"}))
    bulk = OperationFailure("bulk", 65, {"writeErrors": [{"code": 2, "errmsg": "$where is not supported by "
                                                                                 "the mongocli sandbox"}]})
    assert "mongocli sandbox" in sandbox_unimplemented(bulk)
    assert sandbox_unimplemented(OperationFailure("duplicate key", 11000, {"errmsg": "E11000"})) is None


def test_expected_failures_format() -> None:
    """Each line needs a case id and a reason; the writer's output reads back the same."""
    from tests.spec.unified.expected import format_expected_failures, parse_expected_failures

    items = {"crud/unified/a.json::does x": "sandbox: y is missing", "sessions/b.json::z": "driver: w"}
    assert parse_expected_failures(format_expected_failures(items.items())) == items
    with pytest.raises(ValueError, match="reason"):
        parse_expected_failures("crud/unified/a.json::does x\n")


def test_selection_timeout_covers_counted_fail_points() -> None:
    """A client without its own serverSelectionTimeoutMS gets time for every counted fail point
    activation at its check spacing (heartbeatFrequencyMS, at least minHeartbeatFrequencyMS) plus blocks."""
    from tests.spec.unified.runner import (DEFAULT_SELECTION_TIMEOUT_MS, RECOVERY_ALLOWANCE_MS,
                                           TEST_MIN_HEARTBEAT_MS, selection_timeout_ms)

    def test_with(mode: dict | str, data: dict | None = None) -> dict:
        failpoint = {"configureFailPoint": "failCommand", "mode": mode, "data": data or {}}
        return {"operations": [{"name": "failPoint", "object": "testRunner", "arguments": {"failPoint": failpoint}}]}

    base = DEFAULT_SELECTION_TIMEOUT_MS + RECOVERY_ALLOWANCE_MS
    slow = {"uriOptions": {"heartbeatFrequencyMS": 500}}
    assert selection_timeout_ms(test_with({"times": 4}), slow) == base + 4 * 500
    assert selection_timeout_ms(test_with({"times": 2}, {"blockConnection": True, "blockTimeMS": 750}), slow) \
        == base + 2 * (500 + 750)
    assert selection_timeout_ms(test_with({"times": 3}), {}) == base + 3 * TEST_MIN_HEARTBEAT_MS
    assert selection_timeout_ms(test_with("alwaysOn"), slow) == base
    assert selection_timeout_ms(test_with({"times": 4}), {"uriOptions": {"serverSelectionTimeoutMS": 100}}) == 100
    assert selection_timeout_ms({"operations": [{"name": "find"}]}, slow) == DEFAULT_SELECTION_TIMEOUT_MS


def test_refusal_skips_only_when_no_specific_error_is_expected() -> None:
    """A sandbox refusal skips an operation expecting no error or just "some error"; one expecting a
    specific code, message or labels is judged (the refusal may be the wrong error)."""
    from tests.spec.unified.runner import _refusal_is_not_the_point

    assert _refusal_is_not_the_point({"name": "find"})
    assert _refusal_is_not_the_point({"name": "find", "expectError": {"isError": True}})
    assert not _refusal_is_not_the_point({"name": "find", "expectError": {"errorCode": 2}})
    assert not _refusal_is_not_the_point({"name": "find", "expectError": {"errorContains": "x"}})
    assert not _refusal_is_not_the_point({"name": "find", "ignoreResultAndError": True})
