"""CMAP spec runner: every connection-monitoring-and-pooling/cmap-format file against driver.pool.Pool.

Connections come from a fake factory (the README allows a mock Connection for pool behaviour).
"integration" files carry a failCommand fail point on hello/isMaster; the fake factory plays
that fail point in its simulated handshake (block for blockTimeMS, close the connection, or
answer errorCode), which is all of the server those files touch. A fail point the simulator
cannot play is skipped with that reason (it would need a real server or the sandbox).
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import pytest

from driver.errors import ConnectionFailure, OperationFailure, PoolClearedError, PoolClosedError, WaitQueueTimeout
from driver.events.pool import SPEC_NAMES
from driver.pool import Pool
from driver.pool_options import URI_NAMES, PoolOptions
from tests.spec.specfiles import load, spec_params
from tests.support.events import EventRecorder

ADDRESS = "localhost:27017"
WAIT_S = 10.0  # bound for waitForEvent / waitForThread without their own timeout: generous, never reached
SPEC_ERRORS = {"WaitQueueTimeoutError": WaitQueueTimeout, "PoolClosedError": PoolClosedError,
               "PoolClearedError": PoolClearedError}
EVENT_FIELDS = {"address": "address", "connectionId": "connection_id", "duration": "duration_ms",
                "options": "options", "reason": "reason", "serviceId": "service_id",
                "interruptInUseConnections": "interrupt_in_use_connections"}


class EventLog(EventRecorder):
    """Every pool event in order, with waiting for the n-th event of a type (by spec name)."""

    def count(self, name: str) -> int:
        return sum(1 for e in self.events if SPEC_NAMES[type(e)] == name)

    def wait_for_count(self, name: str, count: int, timeout_s: float) -> None:
        self.wait_for(lambda _events: self.count(name) >= count, timeout_s,
                      what=f"waitForEvent: {count} {name} (saw {self.count(name)})")


class FakeConnection:
    """Stands in for driver.socket_connection.Connection: an id and close()."""

    def __init__(self, connection_id: int) -> None:
        self.id = connection_id
        self.closed = False

    def close(self) -> None:
        self.closed = True


class SimulatedHandshake:
    """connect(address, connection_id) that applies a failCommand fail point to the hello it 'sends'."""

    def __init__(self, fail_point: dict | None, app_name: str | None) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._rule: dict | None = None
        self._times: int | None = None
        if fail_point:
            data = fail_point.get("data", {})
            mode = fail_point.get("mode")
            if fail_point.get("configureFailPoint") != "failCommand":
                raise _Unplayable(f"fail point {fail_point.get('configureFailPoint')!r}")
            if not {"hello", "isMaster"} & set(data.get("failCommands", ())):
                return  # the handshake is unaffected
            if data.get("appName") not in (None, app_name):
                return
            if mode == "alwaysOn":
                self._times = None
            elif isinstance(mode, dict) and set(mode) == {"times"}:
                self._times = int(mode["times"])
            elif mode == "off":
                return
            else:
                raise _Unplayable(f"fail point mode {mode!r}")
            self._rule = data

    def __call__(self, address: str, connection_id: int) -> FakeConnection:
        with self._lock:
            rule = self._rule
            if rule is not None and self._times is not None:
                if self._times <= 0:
                    rule = None
                else:
                    self._times -= 1
        if rule is not None:
            if rule.get("blockConnection") and self._stop.wait(rule.get("blockTimeMS", 0) / 1000):
                raise ConnectionFailure(f"simulated hello to {address} aborted: the test ended")
            if rule.get("closeConnection"):
                raise ConnectionFailure(f"simulated hello to {address}: server closed the connection")
            if "errorCode" in rule:
                raise OperationFailure(f"simulated hello to {address} failed (fail point)", code=rule["errorCode"])
        return FakeConnection(connection_id)

    def stop(self) -> None:
        """Release every blocked handshake (they fail) so the test ends fast."""
        self._stop.set()


class _Unplayable(Exception):
    pass


class OpThread:
    """A named runner thread executing the operations scheduled to it, in order."""

    _STOP = object()

    def __init__(self, name: str, run_op) -> None:
        self.error: BaseException | None = None
        self._ops: queue.Queue = queue.Queue()
        self._run_op = run_op
        self._thread = threading.Thread(target=self._loop, name=f"cmap-{name}", daemon=True)
        self._thread.start()

    def schedule(self, op: dict) -> None:
        self._ops.put(op)

    def finish(self, timeout_s: float) -> None:
        self._ops.put(self._STOP)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise AssertionError(f"thread {self._thread.name} did not finish within {timeout_s}s")

    def _loop(self) -> None:
        while True:
            op = self._ops.get()
            if op is self._STOP:
                return
            if self.error is None:
                try:
                    self._run_op(op)
                except BaseException as exc:  # noqa: BLE001 - propagated by waitForThread
                    self.error = exc


def matches(actual: Any, expected: Any) -> bool:
    """The README's MATCH: 42/"42" mean "any value present"; objects match as subsets."""
    if expected in (42, "42") and not isinstance(expected, bool):
        return actual is not None
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and matches(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) >= len(expected) and all(
            matches(a, e) for a, e in zip(actual, expected))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    return actual == expected


def event_matches(actual: Any, expected: dict) -> bool:
    if SPEC_NAMES[type(actual)] != expected["type"]:
        return False
    for key, value in expected.items():
        if key == "type":
            continue
        if key not in EVENT_FIELDS:
            raise AssertionError(f"unknown event field {key!r} in spec file")
        if not matches(getattr(actual, EVENT_FIELDS[key]), value):
            return False
    return True


class Runner:
    """Runs one cmap-format file."""

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        options = dict(spec.get("poolOptions", {}))
        app_name = options.pop("appName", None)
        interval = options.pop("backgroundThreadIntervalMS", None)
        unknown = set(options) - set(URI_NAMES)
        assert not unknown, f"pool options this runner does not know: {unknown}"
        extra = {} if interval is None else {"background_interval_ms": interval}
        self.log = EventLog()
        self.connect = SimulatedHandshake(spec.get("failPoint"), app_name)
        # The SDAM stand-in: an error while populating happens before the handshake completed,
        # which SDAM answers by marking the server Unknown and clearing its pool.
        self.pool = Pool(ADDRESS, PoolOptions.from_uri_options(options, **extra), self.connect,
                         listeners=[self.log], on_populate_error=lambda error, pooled: self.pool.clear())
        self.threads: dict[str, OpThread] = {}
        self.labels: dict[str, Any] = {}

    def run_op(self, op: dict) -> None:
        name = op["name"]
        if name == "start":
            self.threads[op["target"]] = OpThread(op["target"], self.run_op)
        elif name == "wait":
            time.sleep(op["ms"] / 1000)  # the spec operation is literally "sleep ms"
        elif name == "waitForThread":
            thread = self.threads[op["target"]]
            thread.finish(WAIT_S)
            if thread.error is not None:
                raise thread.error
        elif name == "waitForEvent":
            timeout = op.get("timeout")
            self.log.wait_for_count(op["event"], op["count"], timeout / 1000 if timeout else WAIT_S)
        elif name == "checkOut":
            conn = self.pool.checkout()
            if "label" in op:
                self.labels[op["label"]] = conn
        elif name == "checkIn":
            self.pool.checkin(self.labels[op["connection"]])
        elif name == "clear":
            self.pool.clear(interrupt_in_use_connections=op.get("interruptInUseConnections", False))
        elif name == "close":
            self.pool.close()
        elif name == "ready":
            self.pool.ready()
        else:
            raise AssertionError(f"unknown operation {name!r}")

    def run(self) -> tuple[BaseException | None, list[Any]]:
        error = None
        try:
            for op in self.spec["operations"]:
                if "thread" in op:
                    self.threads[op["thread"]].schedule(op)
                else:
                    self.run_op(op)
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001 - compared with the file's "error"
            error = exc
        return error, self.log.snapshot()

    def teardown(self) -> None:
        self.connect.stop()
        for thread in self.threads.values():
            thread.finish(WAIT_S)
        self.pool.close()


@pytest.mark.parametrize("path", spec_params("connection-monitoring-and-pooling/cmap-format"))
def test_cmap(path) -> None:
    spec = load(path)
    try:
        runner = Runner(spec)
    except _Unplayable as exc:
        pytest.skip(f"needs a real server or the sandbox: the simulated handshake cannot play {exc}")
    try:
        error, events = runner.run()
    finally:
        runner.teardown()

    expected_error = spec.get("error")
    if expected_error:
        assert error is not None, f"expected {expected_error}, no error was raised"
        assert isinstance(error, SPEC_ERRORS[expected_error["type"]]), f"expected {expected_error}, got {error!r}"
        # Our messages start with (or contain) the spec's text, then add counts and advice.
        assert expected_error.get("message", "") in str(error)
    elif error is not None:
        raise error

    ignore = set(spec.get("ignore", ()))
    actual = [e for e in events if SPEC_NAMES[type(e)] not in ignore]
    for idx, expected in enumerate(spec.get("events", ())):
        assert idx < len(actual), f"event #{idx} {expected} missing; got {actual}"
        assert event_matches(actual[idx], expected), f"event #{idx}: expected {expected}, got {actual[idx]}\nall: {actual}"


def test_runner_matcher_rejects_mismatches() -> None:
    """The runner's MATCH must be able to fail, or the spec tests above prove nothing."""
    from driver.events.pool import ConnectionClosed, PoolCleared

    closed = ConnectionClosed(ADDRESS, 1, "stale")
    assert event_matches(closed, {"type": "ConnectionClosed", "connectionId": 42, "reason": "stale"})
    assert not event_matches(closed, {"type": "ConnectionClosed", "reason": "idle"})
    assert not event_matches(closed, {"type": "ConnectionClosed", "connectionId": 2})
    assert not event_matches(closed, {"type": "ConnectionCheckedIn"})
    cleared = PoolCleared(ADDRESS, None, False)
    assert not event_matches(cleared, {"type": "ConnectionPoolCleared", "interruptInUseConnections": True})
    assert not matches(0, False) and matches({"a": 1, "b": 2}, {"a": 1}) and not matches({"a": 1}, {"a": 1, "b": 2})
