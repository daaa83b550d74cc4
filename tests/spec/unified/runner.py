"""Unified test format runner: load files, check requirements, create entities, run and assert one test."""

from __future__ import annotations

import re
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

from bson import json_util
from bson.json_util import JSONOptions

from tests.spec.unified.entities import (ClientEntity, EntityMap, EventRecorder, PoolFill, ThreadEntity)

# Highest schema version whose fields this runner interprets (unified test format, "Test Runner
# Support": a file is compatible when its version <= ours within the same major version).
SUPPORTED_SCHEMA = (1, 26)
SANDBOX_TOPOLOGIES = ("replicaset", "single", "sharded")  # tried in this order for each test
# Entity clients without their own serverSelectionTimeoutMS get a short one (a broken driver fails in
# about a second, not 30 s): the initial discovery on loopback takes milliseconds...
DEFAULT_SELECTION_TIMEOUT_MS = 1_000
# ...and a test that may make a server Unknown (fail points, stepdowns) adds the time a driver needs
# to re-discover it: an immediate check, spaced at most minHeartbeatFrequencyMS (500 ms) from the last.
RECOVERY_ALLOWANCE_MS = 1_000
_DISRUPTIVE_OPERATIONS = frozenset({"failPoint", "targetedFailPoint"})
# Unified format, "Executing a Test": a test that might run configureFailPoint MAY lower
# minHeartbeatFrequencyMS for its clients (SDAM: "drivers MAY allow tests to set a lower value"),
# but MUST NOT for a client that sets heartbeatFrequencyMS. Immediate re-checks after a failure then
# take ~50 ms instead of 500 ms, which is most of the retryable-reads/writes run time. The driver
# takes it per client (Client(..., min_heartbeat_frequency_ms=...), test-only keyword).
TEST_MIN_HEARTBEAT_MS = 50
SDAM_MIN_HEARTBEAT_MS = 500  # SDAM minHeartbeatFrequencyMS when not lowered

_JSON = JSONOptions(document_class=dict, tz_aware=True, uuid_representation=4)


class Skip(Exception):
    """This test cannot run here; the message names what is missing."""


# Prefix of the skip reason for a command the sandbox answers with NotImplemented; the summary
# tallies these apart from the other skips.
SANDBOX_UNIMPLEMENTED = "sandbox does not implement: "
_NOT_IMPLEMENTED_CODE = 238  # NotImplemented
# The sandbox's own wording when it lacks a feature ("... is not supported by the sandbox engine",
# "$where is not supported by the mongocli sandbox (it runs no JavaScript)", "the mongocli sandbox
# does not support multi-document transactions"), and CommandNotFound naming a command the
# sandbox does not answer yet ("no such command: 'bulkWrite'"): against a real server these would
# be driver bugs, against the sandbox they say what it lacks.
_NOT_IMPLEMENTED_TEXT = re.compile(r"not supported by the (?:mongocli )?sandbox|mongocli sandbox does not support"
                                   r"|^no such command: ")


def sandbox_unimplemented(exc: BaseException) -> str | None:
    """The server's errmsg when `exc` is the sandbox refusing something it does not implement
    (code 238 NotImplemented, or its "not supported by the sandbox engine" message), else None.
    Looks at the error itself, its write errors and its write concern error (driver or PyMongo)."""
    details = getattr(exc, "details", None) or {}
    candidates = [{"code": getattr(exc, "code", None), "errmsg": str(exc)}]
    if isinstance(details, dict):
        candidates.append(details)
        candidates.extend(e for e in details.get("writeErrors", []) if isinstance(e, dict))
        if isinstance(details.get("writeConcernError"), dict):
            candidates.append(details["writeConcernError"])
    for item in candidates:
        message = str(item.get("errmsg", ""))
        if item.get("code") == _NOT_IMPLEMENTED_CODE or _NOT_IMPLEMENTED_TEXT.search(message):
            return message.split(", full error:")[0]  # PyMongo appends the whole reply
    return None


def load_file(path: Path) -> dict:
    """A test file parsed as Extended JSON ($oid, $numberLong, $date, ... become BSON types)."""
    return json_util.loads(path.read_text(encoding="utf-8"), json_options=_JSON)


def parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in str(text).split("."))


def check_schema_version(doc: dict) -> None:
    """Unified test format, "Test Runner Support": an incompatible file is an error, never skipped."""
    version = parse_version(doc["schemaVersion"])
    if version[0] != SUPPORTED_SCHEMA[0] or version[:2] > SUPPORTED_SCHEMA:
        raise AssertionError(f"schemaVersion {doc['schemaVersion']} is not supported by this runner "
                             f"(supports {SUPPORTED_SCHEMA[0]}.0 to {'.'.join(map(str, SUPPORTED_SCHEMA))})")


# ----- runOnRequirements -------------------------------------------------------------------------
class ServerInfo:
    """What a sandbox deployment reports: version (buildInfo), topology, getParameter values, whether
    auth is enabled and (sharded only) whether every shard is a replica set (config.shards)."""

    def __init__(self, version: tuple[int, ...], topology: str, parameters: dict, auth: bool = False,
                 sharded_replicaset: bool = False) -> None:
        self.version = version
        self.topology = topology
        self.parameters = parameters
        self.auth = auth
        self.sharded_replicaset = sharded_replicaset


def _version_cmp(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """Compare versions component-wise, missing components as 0 ("8.0" == "8.0.0")."""
    width = max(len(a), len(b))
    a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    return (a > b) - (a < b)


def _topology_ok(wanted: list[str], info: ServerInfo) -> bool:
    # runOnRequirement.topologies: "sharded" accepts any sharded cluster; "sharded-replicaset" only
    # one whose shards are all replica sets ("Determining if a Sharded Cluster Uses Replica Sets").
    if info.topology in wanted:
        return True
    return "sharded-replicaset" in wanted and info.topology == "sharded" and info.sharded_replicaset


def _parameter_equal(expected: Any, actual: Any) -> bool:
    from tests.spec.unified.matching import MISSING, match

    if actual is MISSING:
        return False  # "If a server does not support a parameter ... treat the comparison as not equal"
    try:
        match(expected, actual)  # flexible numeric comparisons, as the spec requires
    except AssertionError:
        return False
    return True


def requirement_unmet(req: dict, info: ServerInfo) -> str | None:
    """Why one runOnRequirement is not met by `info`, or None (unified format, "runOnRequirement")."""
    from tests.spec.unified.matching import MISSING

    if "minServerVersion" in req and _version_cmp(info.version, parse_version(req["minServerVersion"])) < 0:
        return f"requires server >= {req['minServerVersion']}"
    if "maxServerVersion" in req and _version_cmp(info.version, parse_version(req["maxServerVersion"])) > 0:
        return f"requires server <= {req['maxServerVersion']}"
    if "topologies" in req and not _topology_ok(req["topologies"], info):
        if info.topology == "sharded" and "sharded-replicaset" in req["topologies"]:
            return "requires topology sharded-replicaset (config.shards does not list replica-set shards)"
        return f"requires topology {' or '.join(req['topologies'])}"
    if req.get("serverless") == "require":
        return "requires serverless"
    if "auth" in req and bool(req["auth"]) != info.auth:
        return "requires auth" if req["auth"] else "requires auth to be disabled"
    if "authMechanism" in req:
        mechanisms = [str(m).lower() for m in info.parameters.get("authenticationMechanisms", [])]
        if str(req["authMechanism"]).lower() not in mechanisms:
            return f"requires auth mechanism {req['authMechanism']}"
    if req.get("csfle") is True:
        return "requires csfle (client-side field level encryption)"
    for name, value in req.get("serverParameters", {}).items():
        if not _parameter_equal(value, info.parameters.get(name, MISSING)):
            return f"requires server parameter {name}={value!r} (sandbox has {info.parameters.get(name)!r})"
    return None


def requirements_unmet(reqs: list[dict] | None, info: ServerInfo) -> str | None:
    """None when any requirement is met (or there are none), else the reasons joined."""
    if not reqs:
        return None
    reasons = [requirement_unmet(r, info) for r in reqs]
    if any(r is None for r in reasons):
        return None
    return " / ".join(dict.fromkeys(r for r in reasons if r))


def choose_deployment(file_doc: dict, test: dict,
                      info_for: Callable[[str, str], ServerInfo]) -> tuple[str, str]:
    """The (topology, server version) of the sandbox to run a test on: the first topology, at the
    newest version the sandbox can present, meeting both file and test requirements (a sandbox
    started as that version behaves as it: mongocli/sandbox/versions.py). Skip naming what failed."""
    from mongocli.sandbox.versions import DEFAULT, SUPPORTED

    reasons: list[str] = []
    requirements = (file_doc.get("runOnRequirements"), test.get("runOnRequirements"))
    for topology in SANDBOX_TOPOLOGIES:
        if not all(_could_match(reqs, topology) for reqs in requirements):
            reasons.append(_topology_reason(file_doc, test, topology))
            continue
        # Versions whose number could do; the default stands in when none can, to name why not.
        candidates = [v for v in SUPPORTED if all(_could_match(reqs, topology, v) for reqs in requirements)]
        for version in candidates or [DEFAULT]:
            info = info_for(topology, version)
            why = requirements_unmet(requirements[0], info) or requirements_unmet(requirements[1], info)
            if why is None:
                return topology, version
            reasons.append(why)
    raise Skip("runOnRequirements not met: " + "; ".join(dict.fromkeys(reasons)))


def _could_match(reqs: list[dict] | None, topology: str, version: str | None = None) -> bool:
    # Topology (and version, when given) alone decide whether starting that sandbox is worth it.
    return not reqs or any(_topology_could_match(r, topology) and (version is None or _version_ok(r, version))
                           for r in reqs)


def _topology_could_match(req: dict, topology: str) -> bool:
    return "topologies" not in req or topology in req["topologies"] \
        or (topology == "sharded" and "sharded-replicaset" in req["topologies"])


def _version_ok(req: dict, version: str) -> bool:
    parts = parse_version(version)
    return not ("minServerVersion" in req and _version_cmp(parts, parse_version(req["minServerVersion"])) < 0) \
        and not ("maxServerVersion" in req and _version_cmp(parts, parse_version(req["maxServerVersion"])) > 0)


def _topology_reason(file_doc: dict, test: dict, topology: str) -> str:
    for reqs in (file_doc.get("runOnRequirements"), test.get("runOnRequirements")):
        if reqs and not _could_match(reqs, topology):
            wanted = sorted({t for r in reqs for t in r.get("topologies", ())})
            return f"requires topology {' or '.join(wanted)}"
    return f"not {topology}"


# ----- one test ------------------------------------------------------------------------------------
class UnifiedTest:
    """Executes one test of a file against a running sandbox (unified format, "Executing a Test")."""

    def __init__(self, deployment: Any, file_doc: dict, test: dict) -> None:
        self.deployment = deployment          # tests.spec.test_unified.SandboxDeployment
        self.file = file_doc
        self.test = test
        self.entities = EntityMap()
        self.failpoints: list[tuple[str | None, str]] = []   # (address or None=all, name) to disable
        self.failpoint_block_ms = 0                             # longest blockTimeMS configured so far
        self.topology_records: dict[str, Any] = {}

    # -- lifecycle ---------------------------------------------------------------------------------
    def run(self) -> None:
        if "skipReason" in self.test:
            raise Skip(f"test file says: {self.test['skipReason']}")
        if "expectLogMessages" in self.test:
            raise Skip("expectLogMessages: log messages (logging spec) are not checked by this runner")
        from tests.spec.unified import preflight

        preflight.check(self.file, self.test)  # skip before any client exists, not after
        try:
            self.load_initial_data()
            self.create_entities(self.file.get("createEntities", []))
            for op in self.test["operations"]:
                self.run_operation(op)
            self.check_expected_events(self.test.get("expectEvents", []))
            self.check_outcome(self.test.get("outcome", []))
        finally:
            self.close()

    def close(self) -> None:
        """Disable fail points, end sessions, close cursors and clients, stop threads."""
        errors: list[str] = []  # cleanup trouble is secondary to the test's own verdict
        for address, name in self.failpoints:
            try:
                self.deployment.disable_failpoint(name, address)
            except Exception as exc:  # noqa: BLE001 - keep cleaning up
                errors.append(f"disabling fail point {name}: {exc}")
        order = {"thread": 0, "cursor": 1, "changeStream": 1, "session": 2, "client": 3}
        for name, kind, value in sorted(self.entities.items(), key=lambda t: order.get(t[1], 9)):
            try:
                if kind == "thread":
                    value.stop()
                elif kind in ("cursor", "changeStream"):
                    value.close()
                elif kind == "session":
                    value.end_session()
                elif kind == "client":
                    value.close()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"closing {kind} {name}: {exc}")
        self.cleanup_errors = errors

    def load_initial_data(self) -> None:
        """initialData: drop each collection, create it (createOptions), insert its documents."""
        for item in self.file.get("initialData", []):
            try:
                self.deployment.reset_collection(item["databaseName"], item["collectionName"],
                                                 item.get("documents", []), item.get("createOptions"))
            except Exception as exc:  # noqa: BLE001 - e.g. createOptions the sandbox lacks
                unimplemented = sandbox_unimplemented(exc)
                if unimplemented is None:
                    raise
                raise Skip(SANDBOX_UNIMPLEMENTED + unimplemented) from exc

    # -- entities ----------------------------------------------------------------------------------
    def create_entities(self, specs: list[dict]) -> None:
        """createEntities: client, database, collection, session, thread; bucket/clientEncryption skip."""
        from tests.spec.unified.preflight import entity_unsupported

        for spec in specs:
            ((kind, body),) = spec.items()
            name = body["id"]
            why = entity_unsupported(kind, body)
            if why:
                raise Skip(why)
            if kind == "client":
                self.entities.add(name, "client", self._make_client(body))
            elif kind == "database":
                client = self.entities.get(body["client"], "client").client
                self.entities.add(name, "database",
                                  client.get_database(body["databaseName"],
                                                      **self._coll_options(body.get("databaseOptions"))))
            elif kind == "collection":
                database = self.entities.get(body["database"], "database")
                self.entities.add(name, "collection",
                                  database.get_collection(body["collectionName"],
                                                          **self._coll_options(body.get("collectionOptions"))))
            elif kind == "session":
                entity = self.entities.get(body["client"], "client")
                self.entities.add(name, "session", self._make_session(entity.client, body))
            elif kind == "thread":
                thread = ThreadEntity(name, self.run_operation)
                thread.start()
                self.entities.add(name, "thread", thread)

    def _make_client(self, body: dict) -> ClientEntity:
        from driver.client import Client  # the driver under test; an ImportError fails the test

        options = dict(body.get("uriOptions", {}))
        options["serverSelectionTimeoutMS"] = selection_timeout_ms(self.test, body)
        uri = self.deployment.client_uri(body.get("useMultipleMongoses"),
                                         direct=bool(options.get("directConnection")))
        recorder = EventRecorder(body.get("observeEvents", []), body.get("ignoreCommandMonitoringEvents", []),
                                 bool(body.get("observeSensitiveCommands")))
        # The driver's test-only keyword: a lowered minHeartbeatFrequencyMS for this client only.
        min_heartbeat = client_min_heartbeat_ms(self.test, body)
        extra: dict[str, Any] = {} if min_heartbeat is None else {"min_heartbeat_frequency_ms": min_heartbeat}
        if "serverApi" in body:  # entity_client.serverApi: the declared Stable API version
            from driver.server_api import ServerApi

            api = body["serverApi"]
            extra["server_api"] = ServerApi(api["version"], strict=api.get("strict"),
                                            deprecation_errors=api.get("deprecationErrors"))
        fill = PoolFill() if body.get("awaitMinPoolSizeMS") and options.get("minPoolSize") else None
        client = Client(uri, event_listeners=(recorder,) if fill is None else (recorder, fill), **extra, **options)
        if fill is not None:
            self._await_min_pool_size(client, fill, int(options["minPoolSize"]), body["awaitMinPoolSizeMS"])
        return ClientEntity(client, recorder, body)

    @staticmethod
    def _await_min_pool_size(client: Any, fill: Any, minimum: int, timeout_ms: int) -> None:
        """awaitMinPoolSizeMS: wait until each data-bearing server's pool holds minPoolSize connections."""
        def servers() -> list[str]:
            description = client.topology_description
            return [address for address, sd in description.servers.items() if sd.is_data_bearing]

        if not fill.wait(servers, minimum, timeout_ms / 1000):
            raise AssertionError(f"pools did not reach minPoolSize={minimum} within awaitMinPoolSizeMS={timeout_ms}")

    def _coll_options(self, opts: dict | None) -> dict[str, Any]:
        from tests.spec.unified.operations import read_preference_from, write_concern_from

        out: dict[str, Any] = {}
        for key, value in (opts or {}).items():
            if key == "readConcern":
                out["read_concern"] = dict(value)
            elif key == "writeConcern":
                out["write_concern"] = write_concern_from(value)
            elif key == "readPreference":
                out["read_preference"] = read_preference_from(value)
            elif key == "timeoutMS":
                out["timeout_ms"] = value
            else:
                raise Skip(f"collection/database option {key!r} is unsupported by this runner")
        return out

    def _make_session(self, client: Any, body: dict) -> Any:
        opts = body.get("sessionOptions", {})
        kwargs: dict[str, Any] = {}
        if "causalConsistency" in opts:
            kwargs["causal_consistency"] = opts["causalConsistency"]
        if "defaultTransactionOptions" in opts:
            kwargs["default_transaction_options"] = opts["defaultTransactionOptions"]
        if "snapshot" in opts:
            import inspect

            if "snapshot" not in inspect.signature(client.start_session).parameters:
                raise Skip("session option snapshot: the driver has no snapshot sessions")
            kwargs["snapshot"] = opts["snapshot"]
        if "defaultTimeoutMS" in opts:
            kwargs["default_timeout_ms"] = opts["defaultTimeoutMS"]
        if "snapshotTime" in opts:  # the name of a saved getSnapshotTime result
            kwargs["snapshot_time"] = self.entities.get(opts["snapshotTime"])
        return client.start_session(**kwargs)

    # -- operations --------------------------------------------------------------------------------
    def run_operation(self, op: dict, *, propagate_errors: bool = False) -> None:
        """One operation with its expectError / expectResult / saveResultAsEntity handling.

        `propagate_errors`: an expected error, once judged, is raised again (operations inside
        withTransaction's callback: the driver must see the callback fail, as in other runners)."""
        from tests.spec.unified import operations

        name, obj = op["name"], op["object"]
        args = op.get("arguments", {})
        if obj == "testRunner":
            fn = operations.TEST_RUNNER.get(name)
            if fn is None:
                raise Skip(f"unsupported testRunner operation {name!r}")
            try:
                fn(self, args)
            except Skip:
                raise  # e.g. from an operation on a thread, already worded
            except Exception as exc:  # noqa: BLE001 - e.g. a fail point mode the sandbox lacks
                unimplemented = sandbox_unimplemented(exc)
                if unimplemented is None:
                    raise
                raise Skip(SANDBOX_UNIMPLEMENTED + unimplemented) from exc
            return
        kind = self.entities.kind(obj)
        fn = operations.lookup(kind, name)
        target = self.entities.get(obj)
        try:
            result = fn(self, target, args)
        except Skip:
            raise
        except Exception as exc:  # noqa: BLE001 - judged against expectError below
            unimplemented = sandbox_unimplemented(exc)
            if unimplemented is not None and _refusal_is_not_the_point(op):
                # The sandbox cannot do what this test needs: a skip, not a driver failure. When the
                # test expects a specific error it is judged as usual (the refusal may be the wrong error).
                raise Skip(SANDBOX_UNIMPLEMENTED + unimplemented) from exc
            if "expectError" in op and _raised_by_driver(exc):
                self.check_error(op["expectError"], exc, op)
                if propagate_errors:
                    raise
                return
            if op.get("ignoreResultAndError") and _raised_by_driver(exc):
                return
            raise
        if "expectError" in op:
            raise AssertionError(f"operation {name} on {obj} was expected to fail with {op['expectError']} "
                                 f"but returned {result!r}")
        if op.get("ignoreResultAndError"):
            return
        if "expectResult" in op:
            # "Allowing Extra Fields in Root-level Documents": a returned document and each document
            # of an iterable result are root documents; distinct returns plain values (nested rules).
            self.assert_match(op["expectResult"], operations.result_document(result),
                              f"result of {name} on {obj}", root=name != "distinct", each_root=name != "distinct")
        if "saveResultAsEntity" in op:
            self.entities.add(op["saveResultAsEntity"], operations.entity_kind(name, result), result)

    def check_error(self, expected: dict, exc: BaseException, op: dict) -> None:
        """expectError (unified format, "expectedError") against the raised exception."""
        from driver import errors

        where = f"error of {op['name']} on {op['object']} ({type(exc).__name__}: {exc})"
        server_error = isinstance(exc, errors.OperationFailure)
        if "isClientError" in expected:
            # "Client error": did not come from the server; network errors count as client errors.
            assert expected["isClientError"] == (not server_error), \
                f"{where}: isClientError should be {expected['isClientError']}"
        if "isTimeoutError" in expected:
            is_timeout = isinstance(exc, (errors.OperationTimeout, errors.NetworkTimeout, errors.ServerSelectionTimeout,
                                          errors.WaitQueueTimeout)) or "Timeout" in type(exc).__name__
            assert expected["isTimeoutError"] == is_timeout, f"{where}: isTimeoutError should be " \
                                                             f"{expected['isTimeoutError']}"
        if "errorContains" in expected:
            assert expected["errorContains"].lower() in str(exc).lower(), \
                f"{where}: message should contain {expected['errorContains']!r}"
        if "errorCode" in expected:
            assert getattr(exc, "code", None) == expected["errorCode"], \
                f"{where}: code should be {expected['errorCode']}, is {getattr(exc, 'code', None)}"
        if "errorCodeName" in expected:
            assert getattr(exc, "code_name", None) == expected["errorCodeName"], \
                f"{where}: codeName should be {expected['errorCodeName']}, is {getattr(exc, 'code_name', None)}"
        labels = set(getattr(exc, "error_labels", ()))
        for label in expected.get("errorLabelsContain", []):
            assert label in labels, f"{where}: labels {sorted(labels)} should contain {label!r}"
        for label in expected.get("errorLabelsOmit", []):
            assert label not in labels, f"{where}: labels {sorted(labels)} should omit {label!r}"
        if "errorResponse" in expected:
            self.assert_match(expected["errorResponse"], getattr(exc, "details", {}), f"{where}: errorResponse")
        if "expectResult" in expected:
            from tests.spec.unified.operations import partial_result_document

            self.assert_match(expected["expectResult"], partial_result_document(exc), f"{where}: partial result")
        if "writeErrors" in expected or "writeConcernErrors" in expected:
            from tests.spec.unified.client_bulk_ops import check_error_parts

            check_error_parts(self, expected, exc, where)

    # -- assertions --------------------------------------------------------------------------------
    def assert_match(self, expected: Any, actual: Any, where: str, *, root: bool = True,
                     each_root: bool = False) -> None:
        """Evaluate expected against actual with the shared matcher; AssertionError names `where`."""
        from tests.spec.unified.matching import match, match_each_root

        entities = self.entities.values_for_matching()
        try:
            if each_root:
                match_each_root(expected, actual, entities=entities)
            else:
                match(expected, actual, root=root, entities=entities)
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}\n  expected: {_brief(expected)}\n  actual:   {_brief(actual)}") \
                from None

    def check_expected_events(self, specs: list[dict]) -> None:
        """expectEvents: per client and eventType, in order; ignoreExtraEvents allows a longer tail."""
        for spec in specs:
            entity = self.entities.get(spec["client"], "client")
            kind = spec.get("eventType", "command")
            actual = entity.recorder.of_kind(kind)
            expected = spec["events"]
            listing = "\n".join(f"    {e.name} {_brief(e.doc)}" for e in actual)
            if spec.get("ignoreExtraEvents"):
                assert len(actual) >= len(expected), \
                    f"{spec['client']}: expected at least {len(expected)} {kind} events, got {len(actual)}:\n{listing}"
                actual = actual[:len(expected)]
            else:
                assert len(actual) == len(expected), \
                    f"{spec['client']}: expected {len(expected)} {kind} events, got {len(actual)}:\n{listing}"
            for i, (exp, act) in enumerate(zip(expected, actual)):
                self.match_event(exp, act, f"{spec['client']} {kind} event #{i}")

    def match_event(self, expected: dict, recorded: Any, where: str) -> None:
        """One expectedEvent: same name, each given field matched (command/reply as root documents)."""
        ((name, fields),) = expected.items()
        assert recorded.name == name, f"{where}: expected {name}, got {recorded.name} {_brief(recorded.doc)}"
        for key, value in (fields or {}).items():
            if key not in recorded.doc:
                raise Skip(f"event field {name}.{key} is not supported by this runner")
            self.assert_match(value, recorded.doc[key], f"{where} {name}.{key}",
                              root=key in ("command", "reply", "previousDescription", "newDescription"))

    def check_outcome(self, outcome: list[dict]) -> None:
        """outcome: each collection's documents, sorted by _id, must match exactly (no extra fields)."""
        for item in outcome:
            actual = self.deployment.read_collection(item["databaseName"], item["collectionName"])
            self.assert_match(item["documents"], actual,
                              f"outcome of {item['databaseName']}.{item['collectionName']}", root=False)


def selection_timeout_ms(test: dict, client_body: dict) -> int:
    """A client entity's serverSelectionTimeoutMS: its own, else short, plus time to recover a server
    when the test may disrupt one (a fail point, a stepdown or shutdown command), plus the time the
    test's counted fail points can keep failing this client's server checks (failpoint_recovery_ms)."""
    own = (client_body.get("uriOptions") or {}).get("serverSelectionTimeoutMS")
    if own is not None:
        return int(own)
    if not _may_disrupt(test):
        return DEFAULT_SELECTION_TIMEOUT_MS
    return DEFAULT_SELECTION_TIMEOUT_MS + RECOVERY_ALLOWANCE_MS + failpoint_recovery_ms(test, client_body)


def failpoint_recovery_ms(test: dict, client_body: dict) -> int:
    """Upper bound on how long the test's fail points may keep this client's server Unknown.

    A fail point with mode {times: n} may fail n consecutive checks of a server (a handshake or
    hello failing, SDAM "Network or command error during server check"), and the monitor spaces
    the checks it retries by max(heartbeatFrequencyMS, minHeartbeatFrequencyMS) (SDAM, "Monitoring"):
    each activation costs one such interval plus the fail point's blockTimeMS. Modes without a
    count (alwaysOn, off, skip) add nothing: the test itself turns those off."""
    options = client_body.get("uriOptions") or {}
    min_heartbeat = client_min_heartbeat_ms(test, client_body) or SDAM_MIN_HEARTBEAT_MS
    interval = max(int(options.get("heartbeatFrequencyMS") or min_heartbeat), min_heartbeat)
    total = 0
    for failpoint in _failpoints(test):
        mode = failpoint.get("mode")
        times = int(mode.get("times", 0)) if isinstance(mode, dict) else 0
        data = failpoint.get("data") or {}
        block = int(data.get("blockTimeMS", 0)) if data.get("blockConnection") else 0
        total += times * (interval + block)
    return total


def _failpoints(node: Any) -> Iterator[dict]:
    """Every configureFailPoint document in a test, also nested (runOnThread, loop, runCommand)."""
    if isinstance(node, dict):
        if "configureFailPoint" in node:
            yield node
            return
        for value in node.values():
            yield from _failpoints(value)
    elif isinstance(node, list):
        for value in node:
            yield from _failpoints(value)


def client_min_heartbeat_ms(test: dict, client_body: dict) -> int | None:
    """The lowered minHeartbeatFrequencyMS for this client entity, or None to keep the driver's.

    Unified format, "Executing a Test": when the test might configure a fail point the runner MAY
    lower it, but not for a client that sets heartbeatFrequencyMS itself."""
    if _may_disrupt(test) and "heartbeatFrequencyMS" not in (client_body.get("uriOptions") or {}):
        return TEST_MIN_HEARTBEAT_MS
    return None


def _may_disrupt(test: dict) -> bool:
    text = repr(test)  # operations may be nested (runOnThread, loop): search the whole test
    return any(f"'{name}'" in text for name in _DISRUPTIVE_OPERATIONS) or \
        any(word in text for word in ("'replSetStepDown'", "'shutdown'", "'configureFailPoint'"))


# expectError keys that say which error is meant; without any, "some error" is expected (e.g. a
# query interrupted by a pool clear), and a sandbox refusal would satisfy it without testing anything.
_SPECIFIC_ERROR_KEYS = ("errorCode", "errorCodeName", "errorContains", "errorResponse", "errorLabelsContain")


def _refusal_is_not_the_point(op: dict) -> bool:
    """True when a sandbox refusal of `op` cannot be what the test checks: the operation expects no
    error, or only an unspecific one (isError / isClientError / isTimeoutError)."""
    if op.get("ignoreResultAndError"):
        return False
    expected = op.get("expectError")
    return expected is None or not any(key in expected for key in _SPECIFIC_ERROR_KEYS)


def _brief(doc: dict) -> str:
    text = repr(doc)
    return text if len(text) < 300 else text[:300] + "..."


def _raised_by_driver(exc: BaseException) -> bool:
    """True for errors the driver raised on purpose or from its own code; False for runner bugs
    (a TypeError from calling the driver with a wrong argument has its last frame in the runner)."""
    from driver.errors import DriverError

    if isinstance(exc, DriverError):
        return True
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and "/driver/" in frames[-1].filename.replace("\\", "/")

