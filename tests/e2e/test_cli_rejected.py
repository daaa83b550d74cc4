"""A server that answers with a hello mongocli rejects: the CLI says so at once, per server.

Before, `mongocli ping` waited the whole serverSelectionTimeoutMS (31 s at the default) and then
said "no server answered ... check the address, that the server runs, and firewalls".
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mongocli.errors import EXIT_UNREACHABLE
from tests.hostile.server import HostileServer
from tests.support.ports import closed_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Selection would wait ten minutes: a command that waits for it is killed at the deadline below,
# so the test fails when the CLI does not stop at the first rejected check.
NEVER = "serverSelectionTimeoutMS=600000"
DEADLINE_S = 120


def mongocli(*args: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    return subprocess.run([sys.executable, "-m", "mongocli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=DEADLINE_S, env={**environ, "XDG_CONFIG_HOME": os.path.join(ROOT, "no-such-dir")})


@pytest.mark.parametrize("mode, reason", [("wrong_types", "field 'maxWireVersion' must be an integer"),
                                          ("many_hosts", "lists 10000 hosts")])
def test_rejected_hello_is_reported_as_answered_and_fails_at_once(mode: str, reason: str) -> None:
    with HostileServer(mode, set_name="rs0" if mode == "many_hosts" else None) as server:
        result = mongocli("--uri", server.uri(NEVER), "ping")
    assert result.returncode == EXIT_UNREACHABLE, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert f"{server.address}: answered but was rejected: " in result.stderr and reason in result.stderr
    assert "no server answered" not in result.stderr
    assert "unreachable" not in result.stderr.splitlines()[0]


def test_mixed_seeds_say_which_answered_and_which_did_not() -> None:
    closed = f"127.0.0.1:{closed_port()}"
    with HostileServer("wrong_types") as server:
        result = mongocli("--uri", f"mongodb://{server.address},{closed}/?{NEVER}", "ping")
    assert result.returncode == EXIT_UNREACHABLE, result.stderr
    lines = result.stderr.splitlines()
    assert any(line.strip().startswith(f"{server.address}: answered but was rejected") for line in lines), lines
    assert any(line.strip().startswith(f"{closed}:") and "refused" in line for line in lines), lines
    assert "1 other server(s) did not answer" in result.stderr


def test_topology_waits_its_discovery_and_names_the_rejected_server() -> None:
    with HostileServer("wrong_types") as server:
        result = mongocli("--uri", server.uri(NEVER), "topology")
    assert result.returncode == EXIT_UNREACHABLE, result.stderr
    assert "no usable server when first checked" in result.stderr, result.stderr
    assert f"{server.address}: Unknown, rtt n/a, answered but was rejected: " in result.stderr


@pytest.mark.parametrize("mode, reason", [("wrong_types", "field 'maxWireVersion' must be an integer"),
                                          ("many_hosts", "lists 10000 hosts")])
def test_doctor_fails_the_hello_step_with_the_rejection(mode: str, reason: str) -> None:
    # Before: wrong_types crashed doctor ("unexpected error: TypeError"); many_hosts went on to check
    # the 10,000 advertised members one by one.
    with HostileServer(mode, set_name="rs0" if mode == "many_hosts" else None) as server:
        result = mongocli("--uri", server.uri(NEVER), "doctor")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"step 'hello {server.address}' failed: " in result.stderr and reason in result.stderr, result.stderr
    assert "unexpected error" not in result.stderr and "member " not in result.stdout
