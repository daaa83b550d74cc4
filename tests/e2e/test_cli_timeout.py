"""--timeout-ms (timeoutMS) on one-shot commands: a command the server holds up fails with a clear timeout
message and the timeout exit code, no traceback; without a hold-up the same command succeeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Iterator

import pytest

from driver import Client
from mongocli.errors import EXIT_TIMEOUT
from mongocli.sandbox import Sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {**{k: v for k, v in os.environ.items() if k != "MONGODB_URI"},
       "XDG_CONFIG_HOME": os.path.join(ROOT, "no-such-dir")}
# The fail point holds every find this long: far beyond --timeout-ms, and short enough that the
# sandbox's blocked handler ends soon after the test.
BLOCK_MS = 5_000


def mongocli(uri: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mongocli", "--uri", uri, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=ENV)


@pytest.fixture(scope="module")
def standalone() -> Iterator[Sandbox]:
    with Sandbox(topology="standalone", host="127.0.0.1", port=0) as sandbox:
        with Client(sandbox.uri) as client:
            client.get_database("test").get_collection("people").insert_one({"name": "Ann"})
        yield sandbox


def test_timeout_ms_ends_a_blocked_command_with_exit_6(standalone: Sandbox) -> None:
    with Client(standalone.uri) as admin:
        admin.admin.run_command({"configureFailPoint": "failCommand", "mode": "alwaysOn",
                                 "data": {"failCommands": ["find"], "blockConnection": True, "blockTimeMS": BLOCK_MS}})
        try:
            result = mongocli(standalone.uri, "--timeout-ms", "200", "find", "test.people")
        finally:
            admin.admin.run_command({"configureFailPoint": "failCommand", "mode": "off"})
    assert result.returncode == EXIT_TIMEOUT, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("Error: timed out: operation exceeded timeoutMS=200"), result.stderr
    assert "'find'" in first  # the underlying error says which command was waiting
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_timeout_ms_leaves_a_prompt_command_alone(standalone: Sandbox) -> None:
    result = mongocli(standalone.uri, "--timeout-ms", "10000", "--format", "json", "find", "test.people")
    assert result.returncode == 0, result.stderr
    assert [doc["name"] for doc in json.loads(result.stdout)] == ["Ann"]


def test_timeout_ms_rejects_a_negative_value(standalone: Sandbox) -> None:
    result = mongocli(standalone.uri, "--timeout-ms", "-1", "ping")
    assert result.returncode == 2 and "--timeout-ms" in result.stderr and "Traceback" not in result.stderr
