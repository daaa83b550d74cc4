"""The shell end to end against a sandbox: --eval, scripts, piped input, the REPL, Ctrl-C in a pseudo-terminal."""

from __future__ import annotations

import io
import os
import re
import select
import signal
import stat
import subprocess
import sys
import threading
import time
from typing import Iterator

import pytest
from click.testing import CliRunner

from driver import Client
from mongocli.sandbox import Sandbox
from mongocli.shell.app import Shell
from mongocli.shell.command import shell_command
from tests.shell.signalling import SignallingOutput

SHELL = [sys.executable, "-m", "mongocli", "shell"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(topology="standalone", port=0, host="127.0.0.1").start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def shell(sandbox: Sandbox) -> Iterator[tuple[Shell, io.StringIO, io.StringIO]]:
    client = Client(sandbox.uri, serverSelectionTimeoutMS=5000)
    out, err = io.StringIO(), io.StringIO()
    sh = Shell(client, sandbox.uri, out, err, db_name="e2e_shell")
    try:
        yield sh, out, err
    finally:
        sh.close()
        client.close()


def run(uri: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(SHELL + [uri, *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_eval_prints_only_the_last_value_as_one_program(sandbox: Sandbox) -> None:
    proc = run(sandbox.uri, "--db", "e2e_eval", "--eval", "db.c.drop(); db.c.insertMany([{a: 1}, {a: 2}])",
               "--eval", "var n = db.c.countDocuments({}); n * 2")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "4\n", "")


def test_eval_json_modes(sandbox: Sandbox) -> None:
    code = "db.j.drop(); db.j.insertOne({_id: 1, l: NumberLong('7'), when: ISODate('2024-01-02T03:04:05Z')}); db.j.find()"
    relaxed = run(sandbox.uri, "--db", "e2e_json", "--eval", code, "--json")
    assert relaxed.returncode == 0, relaxed.stderr
    assert relaxed.stdout.replace(" ", "").replace("\n", "") == \
        '[{"_id":1,"l":7,"when":{"$date":"2024-01-02T03:04:05Z"}}]'
    canonical = run(sandbox.uri, "--db", "e2e_json", "--eval", code, "--json=canonical")
    assert '"$numberLong": "7"' in canonical.stdout and '"$numberInt": "1"' in canonical.stdout
    lines = subprocess.run([sys.executable, "-m", "mongocli", "--format", "jsonl", "shell", sandbox.uri, "--db",
                            "e2e_json", "--eval", "db.j.find({}, {_id: 1})"], capture_output=True, text=True,
                           timeout=120)
    assert lines.stdout == '{"_id":1}\n'


def test_eval_errors_exit_1_with_position_and_quit_sets_the_code(sandbox: Sandbox) -> None:
    proc = run(sandbox.uri, "--eval", "var a = 1;\na.b.c")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("TypeError:") and "at <eval>:2:" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert run(sandbox.uri, "--eval", "quit(3)").returncode == 3
    syntax = run(sandbox.uri, "--eval", "db.c.find(")
    assert syntax.returncode == 1 and "SyntaxError" in syntax.stderr


def test_server_errors_are_mongosh_style(sandbox: Sandbox) -> None:
    proc = run(sandbox.uri, "--eval", "db.runCommand({noSuchCommand: 1})")
    assert proc.returncode == 1
    assert re.match(r"MongoServerError: .*noSuchCommand", proc.stderr)
    unknown = run(sandbox.uri, "--eval", "db.c.fnd()")
    assert unknown.stderr.startswith("TypeError: db.c.fnd is not a function")


def test_script_files_run_like_mongosh_and_load_works(sandbox: Sandbox, tmp_path) -> None:
    lib = tmp_path / "lib.js"
    lib.write_text("function double(x) { return x * 2 }\n")
    script = tmp_path / "main.js"
    script.write_text(f"load({str(lib)!r});\nprint(double(21));\n42\n")
    proc = run(sandbox.uri, str(script))
    assert (proc.returncode, proc.stdout) == (0, "42\n")  # a script's last value is not printed
    bad = tmp_path / "bad.js"
    bad.write_text("print('before');\nundefinedThing();\nprint('after');\n")
    proc = run(sandbox.uri, "--file", str(bad))
    assert proc.returncode == 1 and proc.stdout == "before\n"
    assert f"at {bad}:2:1" in proc.stderr


def test_piped_input_runs_like_the_repl(sandbox: Sandbox) -> None:
    docs = ", ".join(f"{{n: {i}}}" for i in range(25))
    script = f"""use e2e_pipe
db.items.drop()
db.items.insertMany([{docs}]).acknowledged
db.items.find({{n: {{$gte: 0}}}}, {{_id: 0}}).sort({{n: 1}})
it
it
show collections
db.items.find({{}}).toArray().length
"""
    proc = run(sandbox.uri, stdin=script)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("switched to db e2e_pipe\n")
    first, rest = out.split('Type "it" for more\n', 1)
    assert re.findall(r"\{ n: (\d+) \}", first) == [str(i) for i in range(20)]
    second, after = rest.split("no cursor\n", 1)
    assert re.findall(r"\{ n: (\d+) \}", second) == [str(i) for i in range(20, 25)]
    assert after == "items\n25\n"


def test_click_command_with_file_and_db(sandbox: Sandbox, tmp_path) -> None:
    script = tmp_path / "seed.js"
    script.write_text("db.f.drop();\ndb.f.insertOne({_id: 1, when: ISODate('2024-01-02T03:04:05Z')});\n"
                      "printjson(db.f.findOne())\n")
    result = CliRunner().invoke(shell_command, [sandbox.uri, "--db", "e2e_file", "--file", str(script)])
    assert result.exit_code == 0, result.output
    assert result.output == "{\n  _id: 1,\n  when: ISODate('2024-01-02T03:04:05.000Z')\n}\n"  # printjson: a field a line


def test_a_javascript_exception_never_kills_the_session(shell) -> None:
    sh, out, err = shell
    assert sh.execute("throw new Error('boom')")
    assert sh.execute("let kept = 41; kept + 1")
    assert sh.execute("(function f() { return f() })()")  # stack overflow is an error, not a crash
    assert sh.execute("kept")
    assert out.getvalue() == "42\n41\n"
    assert "Error: boom" in err.getvalue() and "RangeError" in err.getvalue()


def test_interactive_session_with_multiline_input_and_private_history(sandbox: Sandbox, tmp_path) -> None:
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    client = Client(sandbox.uri, serverSelectionTimeoutMS=5000)
    out, err = io.StringIO(), io.StringIO()
    sh = Shell(client, sandbox.uri, out, err, db_name="e2e_repl", interactive=True)
    history = tmp_path / "no-such-dir" / "mongocli" / "history"
    try:
        with create_pipe_input() as pipe:
            pipe.send_text("db.r.drop()\r")
            pipe.send_text("db.r.insertOne({_id: 7,\r  v: 'multi'})\r")
            pipe.send_text("db.r.findOne()\r")
            pipe.send_text("db.createUser({user: 'u', pwd: 'secret', roles: []})\r")
            pipe.send_text("exit\r")
            assert sh.run_interactive(str(history), output=DummyOutput(), input=pipe) == 0
    finally:
        sh.close()
        client.close()
    assert "{ acknowledged: true, insertedId: 7 }" in out.getvalue()
    assert "{ _id: 7, v: 'multi' }" in out.getvalue()
    text = history.read_text()
    assert "db.r.findOne()" in text and "secret" not in text
    assert stat.S_IMODE(history.stat().st_mode) == 0o600


def _read_until(fd: int, pattern: str, deadline_s: float = 60.0) -> str:
    """Read the pty until `pattern` (a regex) matches what was read; fail after a generous deadline."""
    seen = ""
    end = time.monotonic() + deadline_s
    while not re.search(pattern, seen):
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {pattern!r} within {deadline_s} s; read: {seen[-2000:]!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise AssertionError(f"the shell exited before {pattern!r}; read: {seen[-2000:]!r}")
            seen += chunk.decode("utf-8", "replace")
    return seen


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal (POSIX)")
def test_ctrl_c_interrupts_a_runaway_loop_in_a_pty(sandbox: Sandbox, tmp_path) -> None:
    import pty
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path), PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm", NO_COLOR="1")
    pid, fd = pty.fork()
    if pid == 0:  # the child: the shell on the pty as its controlling terminal
        os.execve(sys.executable, SHELL + [sandbox.uri], env)
    import fcntl
    import struct
    import termios
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        _read_until(fd, r"test>")
        os.write(fd, b"let before = 5; print('loop' + 'ing'); while (true) {}\r")
        _read_until(fd, r"looping")
        os.write(fd, b"\x03")
        _read_until(fd, r"MongoshInterruptedError: execution was interrupted[\s\S]*test>")
        os.write(fd, b"before * 2 + 0.5\r")
        _read_until(fd, r"10\.5[\s\S]*test>")  # the session and its variables survived; the prompt is back
        os.write(fd, b"\x12before *")  # Ctrl-R: reverse search finds the line just run
        _read_until(fd, r"before \*")
        os.write(fd, b"\r\r")  # Enter accepts the found line (it used to empty it), Enter runs it
        _read_until(fd, r"10\.5")
        os.write(fd, b"exit\r")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        pid = 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)


@pytest.mark.parametrize("blocking", ["sleep(600000)", "db.getSiblingDB('admin').runCommand({sleep: 1, secs: 600})"])
def test_ctrl_c_abandons_a_blocking_call(sandbox: Sandbox, blocking: str) -> None:
    client = Client(sandbox.uri, serverSelectionTimeoutMS=5000)
    out, err = SignallingOutput("started"), io.StringIO()
    sh = Shell(client, sandbox.uri, out, err)

    def interrupt() -> None:
        if out.seen.wait(60):
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    try:
        assert sh.execute(f"print('started'); {blocking}; print('not reached')")
        assert "MongoshInterruptedError: execution was interrupted" in err.getvalue()
        assert "not reached" not in out.getvalue()
        assert sh.execute("1 + 1") and out.getvalue().endswith("2\n")
    finally:
        sh.close()
        client.close()
