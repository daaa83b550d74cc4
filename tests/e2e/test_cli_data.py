"""`mongocli ping`, `insert`, `find` and `run` against a sandbox, through the driver's Client."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from bson import ObjectId
from click.testing import CliRunner

from mongocli.cli import cli
from mongocli.errors import EXIT_FAILURE, EXIT_SERVER, EXIT_USAGE
from mongocli.sandbox import Sandbox


@pytest.fixture(scope="module")
def server() -> Iterator[Sandbox]:
    with Sandbox(topology="standalone", host="127.0.0.1", port=0) as sandbox:
        yield sandbox


def invoke(uri: str, *args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(cli, ["--uri", uri, *args], input=input, catch_exceptions=False)


def test_ping(server: Sandbox) -> None:
    result = invoke(server.uri, "ping", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ok"] == 1


def test_ping_pretty_names_the_server(server: Sandbox) -> None:
    result = invoke(server.uri, "--format", "pretty", "ping")
    assert result.exit_code == 0, result.output
    assert f"from {server.addresses[0]} in" in result.output


def test_insert_from_stdin_then_find_with_filter_sort_projection_limit(server: Sandbox) -> None:
    lines = "\n".join(json.dumps({"name": n, "age": a}) for n, a in [("ann", 31), ("bob", 25), ("cy", 40)])
    result = invoke(server.uri, "insert", "people.a", "--format", "json", input=lines + "\n")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["inserted"] == 3 and report["inserted_lines"] == [1, 2, 3]
    assert not report["bad_lines"] and not report["failed_lines"]

    result = invoke(server.uri, "find", "people.a", "--filter", '{"age": {"$gt": 26}}', "--sort", '{"age": -1}',
                    "--projection", '{"_id": 0, "name": 1}', "--format", "jsonl")
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.output.splitlines()] == [{"name": "cy"}, {"name": "ann"}]

    result = invoke(server.uri, "find", "people.a", "--sort", '{"age": 1}', "--limit", "1", "--format", "json")
    assert [d["name"] for d in json.loads(result.output)] == ["bob"]


def test_insert_bad_lines_are_named_and_good_lines_kept(server: Sandbox, tmp_path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text('{"_id": 1, "x": 1}\n\n{"_id": 2, x: 2}\n{"_id": 1}\n[3]\n{"_id": {"$oid": "zz"}}\n'
                    '{"_id": 4, "when": {"$date": "2024-01-02T03:04:05Z"}}\n')
    result = CliRunner().invoke(cli, ["--uri", server.uri, "insert", "bad.lines", "--file", str(data),
                                      "--format", "table"])
    assert result.exit_code == EXIT_FAILURE, result.output
    out = result.output
    assert "inserted 2 document(s) into bad.lines (lines 1,7)" in out
    assert "line 3: not inserted, invalid JSON at column 12" in out
    assert "line 5: not inserted, expected a JSON object" in out
    assert "line 6: not inserted, invalid Extended JSON" in out
    assert "line 4: refused by the server, E11000 duplicate key" in out
    assert "Error: 4 line(s) not inserted, 2 inserted" in out
    assert "Traceback" not in out
    found = invoke(server.uri, "find", "bad.lines", "--format", "json", "--ejson", "canonical")
    docs = json.loads(found.output)
    assert [d["_id"] for d in docs] == [{"$numberInt": "1"}, {"$numberInt": "4"}]
    assert "$date" in docs[1]["when"]


def test_insert_keeps_object_ids_and_reports_them(server: Sandbox) -> None:
    oid = ObjectId()
    result = invoke(server.uri, "insert", "ids.c", "--format", "json", input=json.dumps({"_id": {"$oid": str(oid)}}))
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["inserted_ids"] == [{"$oid": str(oid)}]


def test_insert_with_empty_input_is_a_usage_error(server: Sandbox) -> None:
    result = invoke(server.uri, "insert", "e.c", input="\n\n")
    assert result.exit_code == EXIT_USAGE
    assert "no documents in the input" in result.output


def test_run_command_and_its_failure(server: Sandbox) -> None:
    result = invoke(server.uri, "run", "admin", '{"buildInfo": 1}', "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ok"] == 1
    result = invoke(server.uri, "run", "admin", '{"noSuchCommand": 1}')
    assert result.exit_code == EXIT_SERVER
    assert "Error: server error:" in result.output and "noSuchCommand" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args, message", [
    (["find", "nodot"], "must be DATABASE.COLLECTION"),
    (["find", "a.b", "--filter", "{a: }"], "--filter: invalid JSON"),
    (["find", "a.b", "--sort", "[1]"], "--sort: expected a JSON object"),
    (["run", "admin", "{}"], "COMMAND_JSON must name a command"),
])
def test_bad_input_is_a_usage_error_before_connecting(args: list[str], message: str) -> None:
    # Port 9 (discard) on loopback: nothing listens, so connecting would fail differently.
    result = invoke("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=100", *args)
    assert result.exit_code == EXIT_USAGE, result.output
    assert message in result.output
