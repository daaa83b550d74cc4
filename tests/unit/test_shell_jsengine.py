"""mongocli.jsengine: a JavaScript function on JSON arguments under time and memory limits (for $where/$function)."""

from __future__ import annotations

import pytest

from mongocli.jsengine import JsError, JsFunction, JsTimeout, run_function


def test_function_with_this_and_arguments():
    where = JsFunction("function (min) { return this.qty > min && this.tags.includes('a') }")
    assert where(5, this={"qty": 7, "tags": ["a"]}) is True
    assert where(10, this={"qty": 7, "tags": ["a"]}) is False
    assert run_function("(a, b) => ({sum: a + b, list: [a, b]})", (2, 3)) == {"sum": 5, "list": [2, 3]}
    assert run_function("function () {}") is None


def test_errors_are_clear():
    with pytest.raises(JsError, match="does not compile"):
        JsFunction("function (")
    with pytest.raises(JsError, match="not a function"):
        JsFunction("42")
    with pytest.raises(JsError, match="Error: bad"):
        run_function("function () { throw new Error('bad') }")
    with pytest.raises(JsError, match="stack|Maximum"):
        run_function("function f() { return f() }")


def test_runaway_code_hits_the_time_limit_and_the_function_stays_usable():
    spin = JsFunction("function (n) { if (n < 0) { while (true) {} } return n }", time_limit_s=0.2)
    with pytest.raises(JsTimeout):
        spin(-1)
    assert spin(3) == 3


def test_memory_limit():
    with pytest.raises(JsError):
        run_function("function () { const a = []; while (true) a.push('x'.repeat(1000)) }",
                     memory_limit_bytes=8 << 20, time_limit_s=30)


def test_no_access_to_the_machine():
    assert run_function("function () { return [typeof require, typeof process, typeof std, typeof os, "
                        "typeof fetch, typeof __mc_bridge] }") == ["undefined"] * 6
