"""The shell end to end against a sandbox: piped scripts (subprocess), --eval, the script runner, the REPL."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
import threading
from typing import Iterator

import pytest
from click.testing import CliRunner

from driver.client import Client
from mongocli.sandbox import Sandbox
from mongocli.shell.app import Shell, run_in_worker
from mongocli.shell.command import shell_command
from mongocli.shell.render import ShellPrinter

SHELL = [sys.executable, "-m", "mongocli.shell.command"]


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
    try:
        yield Shell(client, ShellPrinter(out, err, width=200)), out, err
    finally:
        client.close()


def run_piped(uri: str, script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(SHELL + [uri, *args], input=script, capture_output=True, text=True, timeout=60)


def test_piped_script_use_insert_find_it_show(sandbox: Sandbox) -> None:
    docs = ", ".join(f"{{n: {i}}}" for i in range(25))
    script = f"""use e2e_pipe
db.items.insertMany([{docs}])
db.items.find({{n: {{$gte: 0}}}}, {{_id: 0}}).sort({{n: 1}})
it
it
show collections
show dbs
db.items.countDocuments({{n: {{$lt: 3}}}})
"""
    proc = run_piped(sandbox.uri, script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    assert out.startswith("switched to db e2e_pipe\n")
    first, rest = out.split('Type "it" for more\n', 1)
    assert re.findall(r"\{ n: (\d+) \}", first) == [str(i) for i in range(20)]
    second, after = rest.split("no cursor\n", 1)
    assert re.findall(r"\{ n: (\d+) \}", second) == [str(i) for i in range(20, 25)]
    assert "items\n" in after
    assert re.search(r"^e2e_pipe\s+\d", after, re.M)  # show dbs lists the new database with a size
    assert after.rstrip().endswith("3")


def test_piped_errors_are_clear_and_the_script_goes_on(sandbox: Sandbox) -> None:
    script = "db.c.find({a 1})\ndb.runCommand({noSuchCommand: 1})\ndb.c.fnd()\nshow nonsense\ndb.runCommand({ping: 1})\n"
    proc = run_piped(sandbox.uri, script)
    assert proc.returncode == 1
    assert "{ ok: 1 }" in proc.stdout  # the last statement still ran
    err = proc.stderr
    assert "SyntaxError: expected ':' after key 'a' at 1:14 (found '1')\ndb.c.find({a 1})\n             ^" in err
    assert re.search(r"MongoServerError\[CommandNotFound\]: .*noSuchCommand.*\(code 59", err)
    assert "unknown collection method 'fnd'; did you mean find()?" in err
    assert "unknown 'show' topic 'nonsense'" in err
    assert "Traceback" not in err


def test_multiline_statement_in_a_script(sandbox: Sandbox) -> None:
    script = "use e2e_multi\ndb.m.insertOne({\n  a: 1,\n  b: [1,\n    2]\n})\ndb.m.findOne({}, {_id: 0})\n"
    proc = run_piped(sandbox.uri, script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("{ a: 1, b: [ 1, 2 ] }")


def test_eval_prints_and_stops_at_the_first_error(sandbox: Sandbox) -> None:
    proc = subprocess.run(SHELL + [sandbox.uri, "--eval", "db.runCommand({ping: 1})"], capture_output=True,
                          text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "{ ok: 1 }\n")
    proc = subprocess.run(SHELL + [sandbox.uri, "--eval", "db.c.find(", "--eval", "db.runCommand({ping: 1})"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "SyntaxError" in proc.stderr and proc.stdout == ""


def test_click_command_with_file_and_db(sandbox: Sandbox, tmp_path) -> None:
    script = tmp_path / "seed.js"
    script.write_text("db.f.insertOne({_id: 1, when: ISODate('2024-01-02T03:04:05Z')})\n"
                      "db.f.find()\n")
    result = CliRunner().invoke(shell_command, [sandbox.uri, "--db", "e2e_file", "--file", str(script)])
    assert result.exit_code == 0, result.output
    assert "{ _id: 1, when: ISODate('2024-01-02T03:04:05.000Z') }" in result.output
    assert "insertedId: 1" in result.output


def test_script_runner_crud_and_types(shell) -> None:
    sh, out, err = shell
    code = sh.run_script([
        "use e2e_runner",
        "db.t.insertOne({_id: 'x', l: NumberLong('5'), d: NumberDecimal('1.5'), r: /ab/i, u: "
        "UUID('0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b'), ts: Timestamp(1, 2)})",
        "db.t.findOne({_id: 'x'})",
        "db.t.updateOne({_id: 'x'}, {$set: {k: true}})",
        "db.t.updateOne({_id: 'y'}, {$set: {k: false}}, {upsert: true})",
        "db.t.distinct('k')",
        "db.t.aggregate([{$group: {_id: null, n: {$sum: 1}}}])",
        "db.t.deleteMany({})",
        "db.t.estimatedDocumentCount()",
    ])
    assert code == 0, err.getvalue()
    text = out.getvalue()
    assert ("l: Long('5'), d: Decimal128('1.5'), r: /ab/i, u: UUID('0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b'), "
            "ts: Timestamp({ t: 1, i: 2 })") in text
    assert "matchedCount: 1, modifiedCount: 1" in text
    assert "insertedId: 'y'" in text
    assert "[ true, false ]" in text or "[ false, true ]" in text
    assert "[ { _id: null, n: 2 } ]" in text
    assert "{ acknowledged: true, deletedCount: 2 }" in text
    assert text.rstrip().endswith("0")
    assert sh.state.db_name == "e2e_runner"


def test_script_runner_exit_stops_the_script(shell) -> None:
    sh, out, err = shell
    assert sh.run_script(["db.runCommand({ping: 1})", "exit", "db.runCommand({ping: 1})"]) == 0
    assert out.getvalue() == "{ ok: 1 }\n"


def test_show_topology_and_prompt(shell) -> None:
    sh, out, err = shell
    assert sh.run_script(["db.runCommand({ping: 1})", "show topology"]) == 0
    assert re.search(r"topology: Single\n  127\.0\.0\.1:\d+\s+Standalone\s+rtt [\d.]+ ms", out.getvalue())
    assert sh.prompt() == "test> "


def test_interactive_session_with_multiline_input(sandbox: Sandbox, tmp_path) -> None:
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    client = Client(sandbox.uri, serverSelectionTimeoutMS=5000)
    out, err = io.StringIO(), io.StringIO()
    sh = Shell(client, ShellPrinter(out, err), db_name="e2e_repl")
    history = tmp_path / "history"
    try:
        with create_pipe_input() as pipe:
            pipe.send_text("db.r.insertOne({_id: 7,\r  v: 'multi'})\r")
            pipe.send_text("db.r.findOne()\r")
            pipe.send_text("exit\r")
            assert sh.run_interactive(str(history), output=DummyOutput(), input=pipe) == 0
    finally:
        client.close()
    assert "{ acknowledged: true, insertedId: 7 }" in out.getvalue()
    assert "{ _id: 7, v: 'multi' }" in out.getvalue()
    assert "db.r.findOne()" in history.read_text()  # the history file records the inputs


def test_ctrl_c_abandons_a_waiting_call() -> None:
    started, release = threading.Event(), threading.Event()

    def blocking_call() -> None:
        started.set()
        release.wait(30)

    def interrupt() -> None:
        started.wait(10)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_in_worker(blocking_call)
    finally:
        release.set()
