"""Output choices follow the injected Environment: TTY or pipe, NO_COLOR, and --format/--ejson."""

from __future__ import annotations

import io
import json

from bson import Int64, ObjectId

from mongocli.output import Environment
from mongocli.output.pretty import PrettyRenderer
from mongocli.output.renderers import JsonRenderer, TableRenderer, make_renderer
from mongocli.output.shapes import compress_ranges
from mongocli.service.results import FindResult, InsertReport


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def env(stdout: io.StringIO, **environ: str) -> Environment:
    return Environment.from_system(stdout=stdout, stderr=io.StringIO(), stdin=io.StringIO(), environ=environ)


def test_terminal_gets_colour_unless_no_color() -> None:
    assert env(FakeTTY()).color is True
    assert env(FakeTTY(), NO_COLOR="1").color is False
    assert env(FakeTTY(), TERM="dumb").color is False
    assert env(io.StringIO()).color is False and env(io.StringIO()).is_tty is False


def test_auto_format_is_pretty_on_a_terminal_json_on_a_pipe_and_lines_for_logs() -> None:
    assert isinstance(make_renderer("auto", env(FakeTTY())), PrettyRenderer)
    assert type(make_renderer("auto", env(io.StringIO()))) is JsonRenderer
    assert type(make_renderer("auto", env(io.StringIO()), streaming=True)) is TableRenderer


def test_pretty_on_a_terminal_emits_ansi_and_no_color_does_not() -> None:
    docs = FindResult("a.b", ({"x": 1},), "h:1")
    coloured, plain = FakeTTY(), FakeTTY()
    make_renderer("pretty", env(coloured)).find(docs)
    make_renderer("pretty", env(plain, NO_COLOR="1")).find(docs)
    assert "\x1b[" in coloured.getvalue()
    assert "\x1b[" not in plain.getvalue() and '"x": 1' in plain.getvalue()


def test_relaxed_and_canonical_extended_json() -> None:
    oid = ObjectId()
    result = FindResult("a.b", ({"_id": oid, "n": Int64(5)},), "h:1")
    relaxed, canonical = io.StringIO(), io.StringIO()
    make_renderer("jsonl", env(relaxed)).find(result)
    make_renderer("jsonl", env(canonical), "canonical").find(result)
    assert json.loads(relaxed.getvalue()) == {"_id": {"$oid": str(oid)}, "n": 5}
    assert json.loads(canonical.getvalue()) == {"_id": {"$oid": str(oid)}, "n": {"$numberLong": "5"}}


def test_table_of_documents_uses_the_union_of_keys() -> None:
    out = io.StringIO()
    make_renderer("table", env(out)).find(FindResult("a.b", ({"a": 1}, {"b": {"c": [1]}}), "h:1"))
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["a", "b"]
    assert lines[2].split() == ['{"c":', "[1]}"]


def test_insert_report_sentences() -> None:
    out = io.StringIO()
    report = InsertReport("d.c", (1, 2, 3, 5), ("a", "b", "c", "d"), bad_lines=((4, "invalid JSON"),))
    make_renderer("table", env(out)).insert(report)
    assert out.getvalue().splitlines() == ["inserted 4 document(s) into d.c (lines 1-3,5)",
                                          "line 4: not inserted, invalid JSON"]
    assert compress_ranges([7, 1, 2, 9, 10]) == "1-2,7,9-10" and compress_ranges([]) == ""
