"""Connecting: fail fast, configuration errors at once (exit 2), URI warnings, secrets, mongosh-style options."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Iterator

import pytest

from mongocli.errors import EXIT_AUTH, EXIT_SERVER, EXIT_UNREACHABLE, EXIT_USAGE
from mongocli.sandbox import Sandbox
from tests.support import ports

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mongocli(*args: str, env: dict | None = None, input: str | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    return subprocess.run([sys.executable, "-m", "mongocli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**environ, "XDG_CONFIG_HOME": os.path.join(ROOT, "no-such-dir"),
                                                **(env or {})}, input=input)


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    return ports.closed_port()


@pytest.fixture(scope="module")
def server() -> Iterator[Sandbox]:
    with Sandbox(topology="standalone", host="127.0.0.1", port=0) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def auth_server() -> Iterator[Sandbox]:
    with Sandbox(topology="standalone", host="127.0.0.1", port=0, auth=("admin", "p%ss:w@rd")) as sandbox:
        yield sandbox


# -- fail fast (issue 10 item 1) ---------------------------------------------------------------
def test_refused_port_fails_fast_naming_address_and_refusal(closed_port: int) -> None:
    started = time.monotonic()
    result = mongocli("--uri", f"mongodb://127.0.0.1:{closed_port}/", "ping")
    elapsed = time.monotonic() - started
    assert result.returncode == EXIT_UNREACHABLE, result.stderr
    assert f"127.0.0.1:{closed_port}" in result.stderr and "refused" in result.stderr.lower()
    assert "Traceback" not in result.stderr and result.stdout == ""
    # Fail fast means "after the first failed check", not "after serverSelectionTimeoutMS (30 s)".
    # The bound only separates those two on a loaded machine; the under-2-s goal is a
    # benchmark (python -m bench.startup), not a timed test.
    assert elapsed < 20.0, elapsed


def test_servers_that_never_answer_cost_one_selection_timeout_not_two() -> None:
    """Accepted, never answered: not a hopeless first check (it may come up), so the command waits
    serverSelectionTimeoutMS once, in the first-check wait, and stops there with its explanation;
    before, the operation's own selection then waited a second full timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        address = "127.0.0.1:%d" % listener.getsockname()[1]
        result = mongocli("--uri", f"mongodb://{address}/?serverSelectionTimeoutMS=1500&connectTimeoutMS=300",
                          "ping")
    assert result.returncode == EXIT_UNREACHABLE, result.stderr
    assert "no server answered within serverSelectionTimeoutMS=1500" in result.stderr, result.stderr
    assert f"{address}: Unknown" in result.stderr and "timed out" in result.stderr
    assert "No server selected within" not in result.stderr  # the second wait never started


def test_unresolvable_host_fails_fast() -> None:
    result = mongocli("--uri", "mongodb://no-such-host.invalid:27017/", "ping")
    assert result.returncode == EXIT_UNREACHABLE
    assert "no-such-host.invalid:27017" in result.stderr and "resolve" in result.stderr


def test_wait_keeps_waiting_until_server_selection_timeout(closed_port: int) -> None:
    result = mongocli("--uri", f"mongodb://127.0.0.1:{closed_port}/", "--server-selection-timeout-ms", "700", "ping")
    assert result.returncode == EXIT_UNREACHABLE
    assert "No server selected within serverSelectionTimeoutMS=700" in result.stderr


def test_wrong_replica_set_name_says_members_were_removed(server: Sandbox) -> None:
    result = mongocli("--uri", f"mongodb://{server.addresses[0]}/?replicaSet=wrongname", "ping")
    assert result.returncode == EXIT_UNREACHABLE, result.stderr
    assert "answered but was removed" in result.stderr
    assert f"{server.addresses[0]}: Standalone" in result.stderr
    assert "replicaSet='wrongname'" in result.stderr
    assert "no server answered" not in result.stderr.lower()


# -- configuration errors at once (issue 11 item 4) ------------------------------------------------
@pytest.mark.parametrize("option, named", [
    ("tls=ture", "'tls'"), ("readPreference=bogus", "'readPreference'"), ("connectTimeoutMS=abc", "'connectTimeoutMS'"),
    ("appname=" + "a" * 200, "appName"), ("tls=true&tlsCAFile=/no/such/ca.pem", "tlsCAFile"),
])
def test_impossible_settings_are_configuration_errors_at_once(server: Sandbox, option: str, named: str) -> None:
    started = time.monotonic()
    result = mongocli("--uri", f"{server.uri.split('?')[0].rstrip('/')}/?{option}", "ping")
    assert result.returncode == EXIT_USAGE, result.stderr
    assert result.stderr.startswith("Error: configuration error:") and named in result.stderr
    assert time.monotonic() - started < 10  # not serverSelectionTimeoutMS (30 s) later


def test_unknown_uri_option_is_a_warning_on_stderr(server: Sandbox) -> None:
    result = mongocli("--uri", f"mongodb://{server.addresses[0]}/?fooBar=1", "--format", "json", "ping")
    assert result.returncode == 0, result.stderr
    assert "Warning: unknown URI option 'fooBar' ignored" in result.stderr
    assert '"ok"' in result.stdout and "Warning" not in result.stdout


def test_tls_allow_invalid_certificates_warns(closed_port: int) -> None:
    result = mongocli("--port", str(closed_port), "--tls", "--tlsAllowInvalidCertificates", "ping")
    assert "Warning: --tlsAllowInvalidCertificates" in result.stderr


# -- credentials ---------------------------------------------------------------------------------
def test_username_password_options_authenticate(auth_server: Sandbox) -> None:
    host, port = auth_server.addresses[0].rsplit(":", 1)
    result = mongocli("--host", host, "--port", port, "-u", "admin", "-p", "p%ss:w@rd", "--format", "json", "ping")
    assert result.returncode == 0, result.stderr


def test_wrong_password_exits_4_and_never_shows_it(auth_server: Sandbox) -> None:
    result = mongocli("--uri", f"mongodb://{auth_server.addresses[0]}/", "-u", "admin", "-p", "wr%ng-Secret", "ping")
    assert result.returncode == EXIT_AUTH, result.stderr
    assert "wr%ng-Secret" not in result.stderr and "wr%25ng-Secret" not in result.stderr


def test_password_with_a_bad_percent_is_masked_in_the_uri_error() -> None:
    result = mongocli("--uri", "mongodb://bob:s3cr%zzet@127.0.0.1:1/", "ping")
    assert result.returncode == EXIT_USAGE
    assert "s3cr" not in result.stderr and "***" in result.stderr


def test_password_prompted_when_given_without_a_value(auth_server: Sandbox) -> None:
    result = mongocli("--uri", f"mongodb://{auth_server.addresses[0]}/", "-u", "admin", "-p", "--format", "json",
                      "ping", input="p%ss:w@rd\n")
    assert result.returncode == 0, result.stderr
    assert "p%ss:w@rd" not in result.stdout + result.stderr


# -- config file ---------------------------------------------------------------------------------
def test_config_file_profile_and_format(server: Sandbox, tmp_path) -> None:
    (tmp_path / "mongocli").mkdir()
    (tmp_path / "mongocli" / "config.toml").write_text(
        f'format = "jsonl"\n[profiles.local]\nuri = "{server.uri}"\n', encoding="utf-8")
    result = mongocli("--profile", "local", "ping", env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and '"ok": 1' in result.stdout.replace('"ok": 1.0', '"ok": 1')


def test_config_file_errors_name_the_key(tmp_path) -> None:
    (tmp_path / "mongocli").mkdir()
    (tmp_path / "mongocli" / "config.toml").write_text('formatt = "json"\n', encoding="utf-8")
    result = mongocli("ping", env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert result.returncode == EXIT_USAGE
    assert "unknown key 'formatt'" in result.stderr and "config.toml" in result.stderr


# -- start-up (issue 12 item 5) ------------------------------------------------------------------
HEAVY = ("rich", "prompt_toolkit", "mongomock", "driver", "bson", "dns", "mongocli.shell", "mongocli.sandbox")


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["ping", "--help"]])
def test_version_and_help_import_nothing_heavy(argv: list[str]) -> None:
    probe = ("import atexit, sys\n"
             f"sys.argv = ['mongocli', *{argv!r}]\n"
             f"heavy = {HEAVY!r}\n"
             "atexit.register(lambda: sys.stderr.write('LOADED ' + ' '.join(sorted(m for m in sys.modules\n"
             "    if m.startswith(heavy) and (m in heavy or m.startswith(tuple(h + '.' for h in heavy))))) + '\\n'))\n"
             "from mongocli.cli import main\n"
             "main()\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = result.stderr.strip().splitlines()[-1]
    assert loaded == "LOADED", loaded


# -- the shell shares the connect layer and the exit-code table -----------------------------------
def test_shell_wrong_password_exits_4_at_connect(auth_server: Sandbox) -> None:
    result = mongocli("--uri", f"mongodb://{auth_server.addresses[0]}/", "-u", "admin", "-p", "nope",
                      "shell", "--eval", "db.runCommand({ping: 1})")
    assert result.returncode == EXIT_AUTH, result.stdout + result.stderr
    assert "authentication failed" in result.stderr and "nope" not in result.stderr


def test_shell_refused_port_fails_fast_with_exit_3(closed_port: int) -> None:
    result = mongocli("--uri", f"mongodb://127.0.0.1:{closed_port}/", "shell", "--eval", "1")
    assert result.returncode == EXIT_UNREACHABLE and "refused" in result.stderr.lower()


def test_host_option_wins_over_the_environment_but_not_over_uri(closed_port: int) -> None:
    result = mongocli("--host", "127.0.0.1", "--port", str(closed_port), "ping",
                      env={"MONGODB_URI": "mongodb://elsewhere.invalid:1/"})
    assert result.returncode == EXIT_UNREACHABLE and f"127.0.0.1:{closed_port}" in result.stderr
    both = mongocli("--uri", "mongodb://a:1/", "--host", "b", "ping")
    assert both.returncode == EXIT_USAGE and "either --uri or --host" in both.stderr


def test_tls_ca_file_option_that_does_not_exist_is_a_configuration_error(closed_port: int) -> None:
    result = mongocli("--port", str(closed_port), "--tls", "--tlsCAFile", "/no/such/ca.pem", "ping")
    assert result.returncode == EXIT_USAGE
    assert result.stderr.startswith("Error: configuration error:") and "tlsCAFile" in result.stderr


@pytest.mark.parametrize("args", [["ping", "--frobnicate"], ["--frobnicate", "ping"], ["import", "a.b", "-", "--mode", "sideways"]])
def test_unknown_options_and_choices_are_usage_errors(args: list[str]) -> None:
    result = mongocli(*args)
    assert result.returncode == EXIT_USAGE
    assert "No such option" in result.stderr or "Invalid value" in result.stderr
    assert "Traceback" not in result.stderr


# -- Stable API (mongosh's --apiVersion/--apiStrict/--apiDeprecationErrors) ------------------------
def test_api_version_is_declared_and_enforced(server: Sandbox) -> None:
    ok = mongocli("--uri", server.uri, "--apiVersion", "1", "--apiStrict", "run", "admin", '{"ping": 1}')
    assert ok.returncode == 0, ok.stderr
    refused = mongocli("--uri", server.uri, "--apiVersion", "1", "--apiStrict", "run", "admin", '{"buildInfo": 1}')
    assert refused.returncode == EXIT_SERVER and "not in API Version 1" in refused.stderr
    loose = mongocli("--uri", server.uri, "--apiVersion", "1", "run", "admin", '{"buildInfo": 1}')
    assert loose.returncode == 0, loose.stderr  # without --apiStrict the server runs it


def test_api_strict_without_a_version_is_a_usage_error(server: Sandbox) -> None:
    result = mongocli("--uri", server.uri, "--apiStrict", "ping")
    assert result.returncode == EXIT_USAGE and "--apiVersion" in result.stderr
    result = mongocli("--uri", server.uri, "--apiVersion", "2", "ping")
    assert result.returncode == EXIT_USAGE and "'2' is not" in result.stderr
