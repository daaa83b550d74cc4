"""Input files (insert now, import later) read by one reader: each bad line stands alone, named by number."""

from __future__ import annotations

import io
import json
from typing import Iterator

import pytest
from click.testing import CliRunner

from mongocli.cli import cli
from mongocli.errors import EXIT_FAILURE
from mongocli.sandbox import Sandbox
from mongocli.service.inputs import MAX_LINE_BYTES, MAX_NESTING, BadLine, read_json_lines


@pytest.fixture(scope="module")
def server() -> Iterator[Sandbox]:
    with Sandbox(topology="standalone", host="127.0.0.1", port=0) as sandbox:
        yield sandbox


def read(data: bytes) -> list:
    return list(read_json_lines(io.BytesIO(data)))


def test_bom_before_line_one_is_accepted() -> None:
    assert read(b'\xef\xbb\xbf{"a": 1}\n{"a": 2}\n') == [(1, {"a": 1}), (2, {"a": 2})]


def test_each_bad_line_is_named_and_the_next_line_still_read() -> None:
    deep = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    too_deep_but_parsable = b'{"a": ' + b'{"b": ' * (MAX_NESTING + 1) + b"1" + b"}" * (MAX_NESTING + 1) + b"}"
    items = read(b'{"ok": 1}\n' + deep + b'\n[1, 2]\n{"bad": "\xff\xfe"}\n' + too_deep_but_parsable +
                 b'\n\n{"ok": 2}\n')
    assert items[0] == (1, {"ok": 1}) and items[-1] == (7, {"ok": 2})
    bad = {item.number: item.reason for item in items if isinstance(item, BadLine)}
    assert set(bad) == {2, 3, 4, 5}
    assert "nested too deep" in bad[2]
    assert "expected a JSON object" in bad[3]
    assert "not UTF-8" in bad[4] and "0xff" in bad[4]
    assert f"more than {MAX_NESTING} levels" in bad[5]


def test_a_line_over_the_limit_is_skipped_without_reading_it_whole() -> None:
    huge = b'{"x": "' + b"y" * (MAX_LINE_BYTES + 10) + b'"}\n'
    items = read(b'{"a": 1}\n' + huge + b'{"a": 3}\n')
    assert items[0] == (1, {"a": 1}) and items[2] == (3, {"a": 3})
    assert isinstance(items[1], BadLine) and items[1].number == 2 and "over the" in items[1].reason


def test_a_document_over_16_mib_as_bson_is_refused_alone() -> None:
    big = json.dumps({"x": "y" * (16 * 1024 * 1024)}).encode()
    items = read(b'{"a": 1}\n' + big + b'\n{"a": 3}\n')
    assert items[0] == (1, {"a": 1}) and items[2] == (3, {"a": 3})
    assert isinstance(items[1], BadLine) and "bytes as BSON" in items[1].reason


def test_insert_keeps_every_good_line_of_a_batch_with_a_huge_and_a_deep_line(server: Sandbox, tmp_path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [json.dumps({"_id": i}).encode() for i in range(1, 1699)]
    lines[10] = json.dumps({"_id": 11, "x": "y" * (16 * 1024 * 1024)}).encode()
    lines[20] = b'{"_id": 21, "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")
    result = CliRunner().invoke(cli, ["--uri", server.uri, "insert", "files.mixed", "--file", str(path),
                                      "--format", "json"], catch_exceptions=False)
    assert result.exit_code == EXIT_FAILURE
    report = json.loads(result.output[:result.output.index("\nError:")])
    assert report["inserted"] == 1696
    assert [bad["line"] for bad in report["bad_lines"]] == [11, 21]
    found = CliRunner().invoke(cli, ["--uri", server.uri, "run", "files", '{"count": "mixed"}', "--format", "json"])
    assert json.loads(found.output)["n"] == 1696
