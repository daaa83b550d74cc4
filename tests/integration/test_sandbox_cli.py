"""`mongocli sandbox` in the foreground: URI first on stdout, clean stop on SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mongocli.sandbox.cli_command import sandbox_command

_RUN = "from mongocli.sandbox.cli_command import sandbox_command; sandbox_command()"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_first_line_is_uri_and_signal_stops(mongo_client, sig) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUN, "--topology", "replset", "--members", "3", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        uri = proc.stdout.readline().strip()
        assert uri.startswith("mongodb://127.0.0.1:") and uri.endswith("/?replicaSet=rs0"), uri
        assert uri.count(",") == 2
        client = mongo_client(uri)
        client.db.c.insert_one({"x": 1})
        assert client.db.c.count_documents({}) == 1
        client.close()
        proc.send_signal(sig)
        assert proc.wait(10) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_bad_auth_option() -> None:
    result = CliRunner().invoke(sandbox_command, ["--auth", "nopassword", "--port", "0"])
    assert result.exit_code == 2 and "USER:PASSWORD" in result.output


def test_standalone_with_members_is_refused() -> None:
    result = CliRunner().invoke(sandbox_command, ["--members", "2", "--port", "0"])
    assert result.exit_code == 1 and "cannot have 2 member(s)" in result.output
