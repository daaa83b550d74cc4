"""The shell's values in colour, as mongosh 2.12 prints them on a terminal (Node's inspect.styles).

Expected strings are mongosh's own output on a pseudo-terminal for the same inputs.
"""

from __future__ import annotations

import pytest

from mongocli.shell.engine import Engine


def green(text: str) -> str:
    return f"\x1b[32m{text}\x1b[39m"


def yellow(text: str) -> str:
    return f"\x1b[33m{text}\x1b[39m"


def colored() -> Engine:
    return Engine(None, lambda text, stream: None, colors=True)


@pytest.mark.parametrize("src, text", [
    ("({s: 'str', n: 42, b: true, nul: null, u: undefined})",
     f"{{ s: {green(repr('str'))}, n: {yellow('42')}, b: {yellow('true')}, nul: \x1b[1mnull\x1b[22m, "
     f"u: \x1b[90mundefined\x1b[39m }}"),
    ("ObjectId('650000000000000000000001')", f"ObjectId({green(repr('650000000000000000000001'))})"),
    ("[Long('5'), Int32(3), Decimal128('1.5'), Double(2)]",
     f"[ Long({green(repr('5'))}), Int32({yellow('3')}), Decimal128({green(repr('1.5'))}), Double({yellow('2')}) ]"),
    ("({date: new Date(0), uuid: UUID('0123456789abcdef0123456789abcdef'), mk: MinKey()})",
     "{\n  date: ISODate('1970-01-01T00:00:00.000Z'),\n  uuid: UUID('01234567-89ab-cdef-0123-456789abcdef'),\n"
     "  mk: MinKey()\n}"),
    ("({'a-b': 1, re: /ab/i, f: function f() {}})",
     f"{{ {green(repr('a-b'))}: {yellow('1')}, re: \x1b[31m/ab/i\x1b[39m, f: \x1b[36m[Function: f]\x1b[39m }}"),
    ("BSONRegExp('a', 'i')", "BSONRegExp(\x1b[31m'a'\x1b[39m, \x1b[31m'i'\x1b[39m)"),
    ("Timestamp({t: 1, i: 2})", f"Timestamp({{ t: {yellow('1')}, i: {yellow('2')} }})"),
    ("BinData(0, 'AAE=')", f"Binary.createFromBase64({green(repr('AAE='))}, {yellow('0')})"),
    ("[1, , 3]", f"[ {yellow('1')}, \x1b[90m<1 empty item>\x1b[39m, {yellow('3')} ]"),
    ("'a top-level string'", "a top-level string"),
])
def test_values_are_coloured_as_mongosh_colours_them(src: str, text: str) -> None:
    assert colored().run(src).text == text


def test_line_breaks_and_columns_ignore_colour_codes() -> None:
    numbers = [yellow(str(n)) for n in range(1, 28)]
    rows = [numbers[0:8], numbers[8:16], numbers[16:24], numbers[24:27]]
    widths = [len(str(n)) for n in range(1, 28)]
    lines = []
    for row_start, row in zip((0, 8, 16, 24), rows):
        cells = [" " * (2 - widths[row_start + i]) + cell for i, cell in enumerate(row)]
        lines.append("  " + ", ".join(cells))
    expected = "[\n" + ",\n".join(lines) + "\n]"
    assert colored().run("Array.from({length: 27}, (_, i) => i + 1)").text == expected
    short = colored().run("['aaaa', 'b', 'cc', 'dddddd', 'e', 'f', 'g', 'hh']").text
    assert "\n" not in short  # 58 printed columns: one line, though 138 characters with the codes


def test_no_colour_unless_asked() -> None:
    text = Engine(None, lambda text, stream: None).run("({s: 'x', n: 1, o: ObjectId('650000000000000000000001')})").text
    assert text == "{ s: 'x', n: 1, o: ObjectId('650000000000000000000001') }"


def test_error_names_are_bold_red_at_a_coloured_prompt_only() -> None:
    import io

    from mongocli.shell.app import Shell
    texts = []
    for interactive, color in ((True, True), (False, True), (True, False)):
        err = io.StringIO()
        shell = Shell(None, "mongodb://unused", io.StringIO(), err, interactive=interactive, color=color)
        try:
            shell.execute("notDefined.x")
        finally:
            shell.close()
        texts.append(err.getvalue().splitlines()[0])
    assert texts[0] == "\x1b[1m\x1b[31mReferenceError\x1b[0m: notDefined is not defined"  # mongosh's REPL
    assert texts[1] == texts[2] == "ReferenceError: notDefined is not defined"  # --eval, scripts, NO_COLOR
