"""Incident tools as a user runs them: hello --all, topology's selection view, doctor, monitor, --trace,
and the scripting subcommands (count, aggregate, update, delete, indexes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Iterator

import pytest

from mongocli.errors import EXIT_FAILURE, EXIT_INTERRUPTED
from mongocli.sandbox import Sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {**{k: v for k, v in os.environ.items() if k != "MONGODB_URI"},
       "XDG_CONFIG_HOME": os.path.join(ROOT, "no-such-dir"), "COLUMNS": "80"}


def mongocli(uri: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mongocli", "--uri", uri, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, input=input, env=ENV)


@pytest.fixture(scope="module")
def replset() -> Iterator[Sandbox]:
    with Sandbox(topology="replset", members=3, host="127.0.0.1", port=0) as sandbox:
        yield sandbox


def test_hello_all_shows_every_member(replset: Sandbox) -> None:
    result = mongocli(replset.uri, "--format", "json", "hello", "--all")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert sorted(m["address"] for m in doc["members"]) == sorted(replset.addresses)
    assert all(m["rtt_ms"] >= 0 and m["reply"]["setName"] == "rs0" for m in doc["members"])
    assert doc["differences"] == [] and doc["unreachable"] == []
    table = mongocli(replset.uri, "--format", "table", "hello", "--all")
    assert "all members agree" in table.stdout and all(a in table.stdout for a in replset.addresses)


def test_topology_selection_view_uses_the_driver_reasons(replset: Sandbox) -> None:
    result = mongocli(replset.uri, "--format", "json", "topology")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    modes = [row["read_preference"]["mode"] for row in doc["selection"]]
    assert modes == ["primary", "primaryPreferred", "secondary", "secondaryPreferred", "nearest"]
    primary = next(row for row in doc["selection"] if row["read_preference"]["mode"] == "primary")
    assert primary["selected"] == [replset.primary]
    assert all("not a candidate for mode primary" in s["reason"] for s in primary["servers"] if not s["selected"])
    secondary = mongocli(replset.uri, "--format", "json", "topology", "--read-preference", "secondary",
                         "--tag-sets", '[{"dc": "mars"}]')
    row = json.loads(secondary.stdout)["selection"][0]
    assert row["read_preference"] == {"mode": "secondary", "tag_sets": [{"dc": "mars"}]}
    assert row["selected"] == [] and all(s["reason"] for s in row["servers"])


def test_pretty_topology_on_80_columns_keeps_addresses_whole(replset: Sandbox) -> None:
    result = mongocli(replset.uri, "--format", "pretty", "topology")
    assert result.returncode == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    for address in replset.addresses:
        assert address in result.stdout  # never folded across two lines


def test_doctor_passes_and_names_a_failing_step(replset: Sandbox) -> None:
    result = mongocli(replset.uri, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    for step in ("URI parse", "TCP", "hello", "replica set name", "server selection"):
        assert step in result.stdout
    bad = mongocli(replset.uri, "doctor", f"mongodb://{replset.addresses[0]}/?replicaSet=other")
    assert bad.returncode == EXIT_FAILURE
    assert "step 'replica set name' failed" in bad.stderr and "try:" in bad.stderr
    doc = json.loads(mongocli(replset.uri, "--format", "json", "doctor").stdout)
    assert doc["passed"] is True and all(s["verdict"] in ("ok", "skip", "warn") for s in doc["steps"])


def test_monitor_jsonl_then_ctrl_c_exits_130_without_logging_its_own_shutdown(replset: Sandbox) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "mongocli", "--uri", replset.uri, "--format", "jsonl", "monitor",
                             "--heartbeat-frequency-ms", "500", "--connect-timeout-ms", "2000"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # wait for every member's first successful heartbeat (an event, not a clock)
        seen.append(json.loads(line))
        if {e["address"] for e in seen if e["kind"] == "heartbeat_succeeded"} >= set(replset.addresses):
            break
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, err
    after = [json.loads(line) for line in rest.splitlines()]
    assert not [e for e in after if e["kind"] in ("heartbeat_failed", "server_closed")], after
    assert all("address" in e for e in seen)


def test_trace_logs_commands_with_secrets_redacted() -> None:
    with Sandbox(topology="standalone", host="127.0.0.1", port=0, auth=("root", "s3cret-pw")) as sandbox:
        result = mongocli(f"mongodb://{sandbox.addresses[0]}/", "-u", "root", "-p", "s3cret-pw", "--trace",
                          "--format", "json", "run", "admin",
                          '{"ping": 1, "comment": {"pwd": "other-secret"}}')
    assert result.returncode == 0, result.stderr
    assert " -> " in result.stderr and " <- " in result.stderr and sandbox.addresses[0] in result.stderr
    assert "s3cret-pw" not in result.stderr and "other-secret" not in result.stderr


def test_scripting_subcommands(replset: Sandbox) -> None:
    docs = "".join(json.dumps({"_id": i, "city": "Oslo" if i % 2 else "Rome"}) + "\n" for i in range(6))
    assert mongocli(replset.uri, "import", "s.c", "-", "--drop", input=docs).returncode == 0
    count = mongocli(replset.uri, "--format", "json", "count", "s.c", "--filter", "{city: 'Oslo'}")
    assert json.loads(count.stdout)["count"] == 3
    agg = mongocli(replset.uri, "--format", "jsonl", "aggregate", "s.c",
                   '[{$group: {_id: "$city", n: {$sum: 1}}}, {$sort: {_id: 1}}]')
    assert [json.loads(line) for line in agg.stdout.splitlines()] == [{"_id": "Oslo", "n": 3}, {"_id": "Rome", "n": 3}]
    upd = mongocli(replset.uri, "--format", "json", "update", "s.c", "--filter", "{city: 'Rome'}",
                   "--update", "{$set: {big: true}}", "--many")
    assert json.loads(upd.stdout)["modified"] == 3
    dele = mongocli(replset.uri, "--format", "json", "delete", "s.c", "--filter", "{big: true}")
    assert json.loads(dele.stdout)["deleted"] == 1
    made = mongocli(replset.uri, "--format", "json", "indexes", "s.c", "--create", "{city: 1}")
    assert json.loads(made.stdout)["created"] == "city_1"
    listed = mongocli(replset.uri, "--format", "jsonl", "indexes", "s.c")
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["_id_", "city_1"]
