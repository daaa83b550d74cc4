"""Error paths: a clear one-line message (plus explanations), a non-zero exit code, no traceback unless --debug."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mongocli.cli import cli
from mongocli.errors import EXIT_UNREACHABLE, EXIT_USAGE
from tests.support import ports

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    return ports.closed_port()


def mongocli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mongocli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, env={**os.environ, **(env or {})})


def test_bad_uri_scheme_is_a_usage_error_without_traceback() -> None:
    result = mongocli("--uri", "http://example.com", "ping")
    assert result.returncode == EXIT_USAGE
    assert result.stderr.startswith("Error: invalid connection string:")
    assert "mongodb://" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_bad_port_in_uri_names_it() -> None:
    result = CliRunner().invoke(cli, ["--uri", "mongodb://127.0.0.1:notaport", "topology"])
    assert result.exit_code == EXIT_USAGE
    assert result.output.startswith("Error: invalid connection string:")
    assert "notaport" in result.output and "Traceback" not in result.output


def test_no_server_explains_each_server_and_exits_3(closed_port: int) -> None:
    result = mongocli("--uri", f"mongodb://127.0.0.1:{closed_port}", "--server-selection-timeout-ms", "300", "ping")
    assert result.returncode == EXIT_UNREACHABLE
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: no suitable server: No server selected within serverSelectionTimeoutMS=300")
    assert any(line.strip().startswith(f"127.0.0.1:{closed_port}: Unknown") and "refused" in line.lower()
               for line in lines[1:])
    assert "Traceback" not in result.stderr


def test_no_server_for_topology_and_hello(closed_port: int) -> None:
    uri = f"mongodb://127.0.0.1:{closed_port}"
    topology = CliRunner().invoke(cli, ["--uri", uri, "topology"])
    assert topology.exit_code == EXIT_UNREACHABLE
    assert "no server answered" in topology.output and f"127.0.0.1:{closed_port}: Unknown" in topology.output
    hello = CliRunner().invoke(cli, ["--uri", uri, "hello"])
    assert hello.exit_code == EXIT_UNREACHABLE
    assert hello.output.startswith(f"Error: connection failed: cannot connect to 127.0.0.1:{closed_port}")


def test_debug_shows_the_traceback(closed_port: int) -> None:
    result = mongocli("--uri", f"mongodb://127.0.0.1:{closed_port}", "--server-selection-timeout-ms", "200",
                      "--debug", "ping")
    assert result.returncode == EXIT_UNREACHABLE
    assert "Traceback (most recent call last)" in result.stderr
    assert "ServerSelectionTimeout" in result.stderr
    lines = result.stderr.splitlines()
    headline = next(i for i, line in enumerate(lines) if line.startswith("Error: no suitable server"))
    assert lines.index("Traceback (most recent call last):") < headline


def test_uri_from_environment(closed_port: int) -> None:
    result = mongocli("--server-selection-timeout-ms", "200", "ping",
                      env={"MONGODB_URI": f"mongodb://127.0.0.1:{closed_port}"})
    assert result.returncode == EXIT_UNREACHABLE
    assert f"127.0.0.1:{closed_port}" in result.stderr


def test_unknown_command_is_click_usage_error() -> None:
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code == EXIT_USAGE
    assert "No such command" in result.output
