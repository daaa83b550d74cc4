"""`mongocli hello`, `topology` (and --watch) and `monitor` against sandbox replica sets."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Iterator

import pytest
from click.testing import CliRunner

from mongocli.cli import cli
from mongocli.sandbox import Sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def replset() -> Iterator[Sandbox]:
    """One 3-member replica set for the read-only tests of this module."""
    with Sandbox(topology="replset", members=3, election_delay_ms=100, host="127.0.0.1", port=0) as sandbox:
        yield sandbox


def invoke(uri: str, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--uri", uri, *args], catch_exceptions=False)


class Lines:
    """A subprocess's stdout lines, read by a thread, waited on with a deadline (never blocks forever)."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "mongocli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, predicate: Callable[[list[dict]], bool], timeout_s: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while not predicate(self.records()):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out; output so far:\n{''.join(self.seen)}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"process ended early ({self.proc.wait()}): {''.join(self.seen)}"
                                     f"{self.proc.stderr.read() if self.proc.stderr else ''}")
            self.seen.append(line)
        return self.records()

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.seen if line.strip()]

    def finish(self, timeout_s: float = 15.0) -> tuple[int, str]:
        code = self.proc.wait(timeout_s)
        stderr = self.proc.stderr.read() if self.proc.stderr else ""
        return code, stderr

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def lines() -> Iterator[Callable[[list[str]], Lines]]:
    started: list[Lines] = []

    def start(args: list[str]) -> Lines:
        started.append(Lines(args))
        return started[-1]

    yield start
    for proc in started:
        proc.kill()


# -- hello -----------------------------------------------------------------------------------
def test_hello_shows_the_raw_op_msg_reply_and_rtt(replset: Sandbox) -> None:
    result = invoke(replset.uri, "--format", "json", "hello", "--address", replset.primary)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["opcode"] == "OP_MSG" and doc["command"] == "hello"
    assert doc["address"] == replset.primary
    assert doc["rtt_ms"] > 0
    assert doc["reply"]["isWritablePrimary"] is True
    assert doc["reply"]["setName"] == "rs0"
    assert sorted(doc["reply"]["hosts"]) == sorted(replset.addresses)


def test_hello_to_a_server_that_never_answers_ends_at_connect_timeout() -> None:
    """A listener that accepts and stays silent: hello's socket timeout is connectTimeoutMS (as for
    monitoring), so the command ends with a timeout error instead of waiting forever."""
    import socket
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # accepted by the kernel, never read or answered
        address = "127.0.0.1:%d" % listener.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "mongocli", "--uri", f"mongodb://{address}/",
                                 "--connect-timeout-ms", "300", "hello"], cwd=ROOT, capture_output=True,
                                text=True, timeout=120)  # a hang would end here, far beyond 300 ms
    assert result.returncode == 3, result.stderr
    assert address in result.stderr and "timed out" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_hello_legacy_sends_is_master_over_op_query(replset: Sandbox) -> None:
    secondary = next(a for a in replset.addresses if a != replset.primary)
    result = invoke(replset.uri, "hello", "--legacy", "--address", secondary, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["opcode"] == "OP_QUERY" and doc["command"] == "isMaster"
    assert doc["reply"]["ismaster"] is False and doc["reply"]["secondary"] is True


def test_hello_table_lists_reply_fields(replset: Sandbox) -> None:
    result = invoke(replset.uri, "hello", "--format", "table")
    assert result.exit_code == 0, result.output
    assert "via OP_MSG" in result.output
    assert any(line.split()[:2] == ["setName", "rs0"] for line in result.output.splitlines())


# -- topology --------------------------------------------------------------------------------
def test_topology_json_after_discovery(replset: Sandbox) -> None:
    result = invoke(replset.uri, "topology", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["type"] == "ReplicaSetWithPrimary" and doc["set_name"] == "rs0"
    servers = {s["address"]: s for s in doc["servers"]}
    assert set(servers) == set(replset.addresses)
    primary = servers[replset.primary]
    assert primary["type"] == "RSPrimary" and primary["set_version"] == 1 and primary["election_id"]
    for address, server in servers.items():
        assert server["rtt_ms"] is not None and server["error"] is None
        if address != replset.primary:
            assert server["type"] == "RSSecondary" and server["election_id"] is None


def test_topology_from_one_seed_discovers_all_members(replset: Sandbox) -> None:
    seed = replset.addresses[2]
    result = invoke(f"mongodb://{seed}/?replicaSet=rs0", "topology", "--format", "table")
    assert result.exit_code == 0, result.output
    assert "topology ReplicaSetWithPrimary, replica set 'rs0', 3 server(s)" in result.output
    rows = {line.split()[0]: line.split()[1] for line in result.output.splitlines()[2:]}
    assert rows[replset.primary] == "RSPrimary"
    assert sorted(rows.values()).count("RSSecondary") == 2


def test_topology_watch_redraws_on_a_step_down(lines) -> None:
    with Sandbox(topology="replset", members=3, election_delay_ms=50, host="127.0.0.1", port=0) as sandbox:
        old = sandbox.primary
        # --duration only bounds a run the test forgets; Ctrl-C below ends it.
        watch = lines(["--uri", sandbox.uri, "--format", "jsonl", "topology", "--watch", "--duration", "300"])
        watch.wait_for(lambda views: any(v["type"] == "ReplicaSetWithPrimary" for v in views), timeout_s=60)
        sandbox.step_down(seconds=300)

        def settled(view: dict) -> bool:
            """The new primary is seen and the old one is back as a secondary (in either order)."""
            types = {s["address"]: s["type"] for s in view["servers"]}
            return types.get(old) == "RSSecondary" and any(
                t == "RSPrimary" and a != old for a, t in types.items())

        views = watch.wait_for(lambda views: any(settled(v) for v in views), timeout_s=60)
        views = views[: next(i for i, v in enumerate(views) if settled(v)) + 1]
        watch.proc.send_signal(signal.SIGINT)  # Ctrl-C ends a watch normally
        code, stderr = watch.finish(60)
        assert code == 0, stderr
        types_of_old = [s["type"] for v in views for s in v["servers"] if s["address"] == old]
        # Redrawn from primary to secondary (views before discovery may show it Unknown first).
        assert "RSPrimary" in types_of_old and types_of_old[-1] == "RSSecondary", types_of_old


# -- monitor ---------------------------------------------------------------------------------
def test_monitor_poll_logs_heartbeats_and_discovery(replset: Sandbox) -> None:
    result = invoke(replset.uri, "--format", "jsonl", "monitor", "--mode", "poll", "--heartbeat-ms", "500",
                    "--duration", "1.2")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    ok = [r for r in records if r["kind"] == "heartbeat_succeeded"]
    assert {r["address"] for r in ok} == set(replset.addresses)
    assert not any(r["awaited"] for r in ok)
    assert all(r["duration_ms"] >= 0 for r in ok)
    # A second round of polls came after heartbeatFrequencyMS.
    assert len([r for r in records if r["kind"] == "heartbeat_started"]) >= 6
    changes = [r for r in records if r["kind"] == "server_changed"]
    assert {(r["address"], r["to"]) for r in changes} >= {(replset.primary, "RSPrimary")}
    assert all(r["time"].endswith("+00:00") for r in records)


def test_monitor_stream_mode_uses_awaited_heartbeats(replset: Sandbox) -> None:
    result = invoke(replset.uri, "monitor", "--mode", "stream", "--heartbeat-ms", "500", "--duration", "1.5",
                    "--format", "jsonl")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert any(r["kind"] == "heartbeat_succeeded" and r["awaited"] for r in records)


def test_monitor_plain_lines_on_a_pipe(replset: Sandbox) -> None:
    result = invoke(replset.uri, "monitor", "--duration", "0.5")
    assert result.exit_code == 0, result.output
    assert "server changed" in result.output and "-> RSPrimary" in result.output


def test_monitor_shows_a_killed_member_failing_then_ctrl_c(lines) -> None:
    with Sandbox(topology="replset", members=3, election_delay_ms=100, host="127.0.0.1", port=0) as sandbox:
        mon = lines(["--uri", sandbox.uri, "--connect-timeout-ms", "1000", "monitor", "--heartbeat-ms", "500",
                     "--format", "jsonl"])
        mon.wait_for(lambda rs: len({r["address"] for r in rs if r["kind"] == "server_changed"}) == 3)
        victim = sandbox.kill(next(a for a in sandbox.addresses if a != sandbox.primary))
        records = mon.wait_for(lambda rs: any(
            r["kind"] == "server_changed" and r["address"] == victim and r["to"] == "Unknown" for r in rs))
        mon.proc.send_signal(signal.SIGINT)
        code, stderr = mon.finish()
        assert code == 130, stderr  # Ctrl-C: 128 + SIGINT, as the exit-code table says
        assert "Traceback" not in stderr
        failed = [r for r in records if r["kind"] == "heartbeat_failed" and r["address"] == victim]
        assert failed and failed[-1]["error"]
        change = next(r for r in records if r["kind"] == "server_changed" and r["to"] == "Unknown")
        assert change["from"] == "RSSecondary" and change["why"]
