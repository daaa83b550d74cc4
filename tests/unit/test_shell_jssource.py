"""JavaScript source scanning: completeness, loop-guard instrumentation, column mapping, hoisted declarations."""

from __future__ import annotations

import pytest

from mongocli.shell.jssource import GUARD, instrument, is_complete, tokens


@pytest.mark.parametrize("src", ["db.c.find({", "var s = `a${1", "function f() {", "a +", "/* open", "[1,\n2",
                                 "x = {a: [1, {b: 2}"])
def test_open_input_continues(src):
    assert not is_complete(src)


@pytest.mark.parametrize("src", ["db.c.find({})", "x = /}/", "'}' + \"{\"", "`${'}'}`", "a // {", "f(1)\n", ""])
def test_complete_input_runs(src):
    assert is_complete(src)


def test_regex_and_division_are_told_apart():
    kinds = [(t.kind, t.text) for t in tokens("a / b / c; x = /re/g.test(s)")]
    assert ("regex", "/re/g") in kinds and kinds.count(("punct", "/")) == 2


@pytest.mark.parametrize("src, expected", [
    ("while(true){}", f"while({GUARD}, true){{}}"),
    ("for(;;){}", f"for(; {GUARD};){{}}"),
    ("for (let i=0;i<3;i++) x+=i", f"for (let i=0; {GUARD},i<3;i++) x+=i"),
    ("do { x++ } while (x < 5)", f"do {{ x++ }} while ({GUARD}, x < 5)"),
    ("try{a()}catch(e){}", "try{a()}catch(e){ __mc_rethrow(e);}"),
    ("try{a()}catch{b()}", "try{a()}catch (__mc_e){ __mc_rethrow(__mc_e);b()}"),
    ("for (const k of ks) {}", "for (const k of ks) {}"),
    ("a.for(1); `${while_}`; /while(/.test(s); 'while(1)'", "a.for(1); `${while_}`; /while(/.test(s); 'while(1)'"),
])
def test_loops_get_guards_and_catches_rethrow_the_interrupt(src, expected):
    assert instrument(src).source == expected


def test_top_level_declarations_become_globals_but_inner_ones_stay():
    src = "let a = 1; const {b} = o; class K {}; function f() { let x = 1 } for (let i = 0; i < 1; i++) {}"
    out = instrument(src).source
    assert out.startswith("var a = 1; var   {b} = o; var K = class K {};")
    assert "{ let x = 1 }" in out and "for (let i = 0;" in out


def test_columns_map_back_past_insertions():
    src = "while(1){}; var x = ;"
    program = instrument(src)
    column = program.source.index("= ;") + 3  # 1-based column of ';' in the instrumented text
    assert program.original_column(1, column) == src.index("= ;") + 3
    assert program.original_column(1, 3) == 3  # before any insertion: unchanged
