"""The shell's JavaScript engine without a server: values as mongosh prints them, errors, interrupts, safety."""

from __future__ import annotations

import signal
import threading

import pytest

from mongocli.shell.engine import Engine


@pytest.fixture
def engine():
    written: list[tuple[str, str]] = []
    eng = Engine(None, lambda text, stream: written.append((stream, text)))
    eng.written = written
    return eng


@pytest.mark.parametrize("src, text", [
    ("var x = 1", ""),
    ("undefined", ""),
    ("null", "null"),
    ("'bare'", "bare"),
    ("({a: 'q', b: [1, {c: null}]})", "{ a: 'q', b: [ 1, { c: null } ] }"),
    ("NumberLong('9223372036854775807')", "Long('9223372036854775807')"),
    ("[NumberDecimal('1e3'), Timestamp(1, 2), MaxKey()]", "[ Decimal128('1e3'), Timestamp({ t: 1, i: 2 }), MaxKey() ]"),
    ("new Map([['k', 1]])", "Map(1) { 'k' => 1 }"),
    ("(function named() {})", "[Function: named]"),
    ("let o = {}; o.self = o; o", "{ self: [Circular *1] }"),
    ("EJSON.parse('{\"a\": {\"$numberLong\": \"3\"}}')", "{ a: Long('3') }"),
])
def test_values_print_as_mongosh_prints_them(engine, src, text):
    assert engine.run(src).text == text


def test_json_output_modes(engine):
    src = "({l: NumberLong(5), d: ISODate('2024-01-01T00:00:00Z'), i: 1})"
    assert engine.run(src, output="jsonl").text == '{"l":5,"d":{"$date":"2024-01-01T00:00:00Z"},"i":1}'
    assert '"$numberLong": "5"' in engine.run(src, output="canonical").text


def test_errors_carry_the_users_line_and_column(engine):
    out = engine.run("var a = 1;\nwhile (false) {}\na.b.c", filename="job.js")
    assert out.error.startswith("TypeError:") and "\n    at job.js:3:" in out.error
    syntax = engine.run("for (;;) { x = ; }")
    assert syntax.error.startswith("SyntaxError:") and "<input>:1:16" in syntax.error


def test_quit_sets_the_exit_code(engine):
    assert engine.run("print('bye'); quit(7); print('never')").exit_code == 7
    assert engine.written == [("stdout", "bye\n")]


def test_a_runaway_loop_is_interrupted_by_sigint_and_the_session_survives(engine):
    started = threading.Event()
    engine.write = lambda text, stream: started.set()

    def interrupt() -> None:
        if started.wait(60):
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    out = engine.run("var kept = 3; print('go'); while (true) { try { kept++ } catch (e) {} }")
    assert out.error == "MongoshInterruptedError: execution was interrupted"
    assert engine.run("kept > 3").text == "true"


def test_javascript_sees_nothing_of_the_machine(engine):
    out = engine.run("[typeof require, typeof process, typeof std, typeof os, typeof fetch, typeof XMLHttpRequest]"
                     ".join()")
    assert out.text == ",".join(["undefined"] * 6)


def test_load_reads_the_named_file_relative_to_the_script(engine, tmp_path):
    (tmp_path / "lib.js").write_text("var fromLib = 40 + 2;\n")
    main = tmp_path / "main.js"
    main.write_text("load('lib.js'); fromLib\n")
    assert engine.run(main.read_text(), filename=str(main)).text == "42"
    missing = engine.run("load('/no/such/file.js')")
    assert missing.error.startswith("MongoshInvalidInputError: load('/no/such/file.js'): No such file")


def test_eval_result_shows_every_level_the_prompt_stops_at_depth_6():
    # mongosh 2.12: `--eval` prints its result to every level; the prompt, piped input and
    # print() stop at inspectDepth 6 ([Object]).
    import io

    from mongocli.shell.app import Shell
    deep = "({a: {b: {c: {d: {e: {f: {g: {h: 1}}}}}}}})"
    out = io.StringIO()
    shell = Shell(None, "mongodb://unused", out, io.StringIO())
    try:
        assert shell.run_program(deep, filename="<eval>", show=True)
        assert shell.execute(deep) and shell.execute(f"print({deep})")
    finally:
        shell.close()
    eval_text, prompt_text, print_text = out.getvalue().split("}\n{")
    assert "g: { h: 1 }" in eval_text and "[Object]" not in eval_text
    assert "g: [Object]" in prompt_text and "g: [Object]" in print_text
