"""`mongocli import`, `export` and `bulk` as a user runs them (subprocesses) against sandboxes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from typing import Iterator

import pytest

from bench.import_export import step_down_at_writes
from driver.client import Client
from mongocli.errors import EXIT_FAILURE, EXIT_USAGE
from mongocli.sandbox import Sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mongocli(uri: str, *args: str, input: str | bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mongocli", "--uri", uri, *args], cwd=ROOT, capture_output=True,
                          timeout=120, input=input.encode() if isinstance(input, str) else input,
                          env={**os.environ, "XDG_CONFIG_HOME": os.path.join(ROOT, "no-such-dir")})


@pytest.fixture(scope="module")
def server() -> Iterator[Sandbox]:
    with Sandbox(topology="standalone", host="127.0.0.1", port=0) as sandbox:
        yield sandbox


def documents(uri: str, ns: str) -> list[dict]:
    db, coll = ns.split(".", 1)
    with Client(uri) as client:
        return list(client.get_database(db).get_collection(coll).find({}, sort={"_id": 1}))


def test_json_lines_round_trip_with_extended_json_types(server: Sandbox, tmp_path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"_id": 1, "when": {"$date": "2024-01-02T03:04:05Z"}, "big": {"$numberLong": "9"}}\n'
                      '{"_id": 2, "d": {"$numberDecimal": "1.5"}}\n', encoding="utf-8")
    result = mongocli(server.uri, "import", "rt.a", str(source), "--drop", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["inserted"] == 2
    assert b"rt.a: 2 read, 2 inserted" in result.stderr
    out = tmp_path / "out.jsonl"
    result = mongocli(server.uri, "--ejson", "canonical", "export", "rt.a", "-o", str(out), "--sort", "{_id: 1}")
    assert result.returncode == 0 and result.stdout == b""
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["big"] == {"$numberLong": "9"} and lines[1]["d"] == {"$numberDecimal": "1.5"}
    assert "$date" in lines[0]["when"]


def test_export_to_stdout_is_only_data(server: Sandbox) -> None:
    mongocli(server.uri, "import", "rt.b", "-", "--drop", input='{"_id": 1}\n{"_id": 2}\n')
    result = mongocli(server.uri, "export", "rt.b", "--filter", "{_id: {$gt: 1}}")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.decode().splitlines()] == [{"_id": 2}]
    assert b"1 document(s) exported" in result.stderr


def test_json_array_in_and_out(server: Sandbox, tmp_path) -> None:
    source = tmp_path / "in.json"
    source.write_bytes(b'\xef\xbb\xbf[\n  {"_id": 1, "a": [1, 2]},\n  {"_id": 2},\n  3,\n  {"_id": 4}\n]\n')
    result = mongocli(server.uri, "import", "rt.arr", str(source), "--drop", "--skip-bad-lines")
    assert result.returncode == EXIT_FAILURE
    assert b"line 4: expected a JSON object" in result.stderr
    assert [d["_id"] for d in documents(server.uri, "rt.arr")] == [1, 2, 4]
    result = mongocli(server.uri, "export", "rt.arr", "--type", "jsonarray", "--sort", '{"_id": 1}')
    assert json.loads(result.stdout) == [{"_id": 1, "a": [1, 2]}, {"_id": 2}, {"_id": 4}]


def test_csv_typed_columns_and_header_line(server: Sandbox, tmp_path) -> None:
    source = tmp_path / "people.csv"
    source.write_text("name,age,joined,addr.city\nann,31,2024-01-02,Oslo\nbob,x,2024-02-03,Rome\n", encoding="utf-8")
    result = mongocli(server.uri, "import", "rt.csv", str(source), "--type", "csv", "--drop", "--skip-bad-lines",
                      "--fields", "name.string(),age.int32(),joined.date(),addr.city")
    # --fields given: the header line is data here, and its age "age" is not an int32.
    assert result.returncode == EXIT_FAILURE
    assert b"line 1: column 'age': 'age' is not a valid int32" in result.stderr
    assert b"line 3: column 'age': 'x' is not a valid int32" in result.stderr
    docs = documents(server.uri, "rt.csv")
    assert len(docs) == 1 and docs[0]["age"] == 31 and docs[0]["addr"] == {"city": "Oslo"}
    assert docs[0]["joined"].year == 2024
    result = mongocli(server.uri, "import", "rt.csv2", str(source), "--type", "csv", "--header-line", "--drop",
                      "--skip-bad-lines")
    assert result.returncode == 0, result.stderr
    assert {d["name"]: d["age"] for d in documents(server.uri, "rt.csv2")} == {"ann": 31, "bob": "x"}
    out = mongocli(server.uri, "export", "rt.csv2", "--type", "tsv", "--fields", "name,addr.city", "--sort", "{name: 1}")
    assert list(csv.reader(out.stdout.decode().splitlines(), delimiter="\t")) == [
        ["name", "addr.city"], ["ann", "Oslo"], ["bob", "Rome"]]


def test_bad_line_stops_the_import_unless_skipped(server: Sandbox) -> None:
    data = '{"_id": 1}\n{"_id": 2, oops}\n{"_id": 3}\n'
    result = mongocli(server.uri, "import", "rt.stop", "-", "--drop", input=data)
    assert result.returncode == EXIT_FAILURE
    assert b"stopped at line 2" in result.stderr and b"line 2: invalid JSON" in result.stderr
    assert [d["_id"] for d in documents(server.uri, "rt.stop")] == [1]
    result = mongocli(server.uri, "import", "rt.stop", "-", "--drop", "--skip-bad-lines", input=data)
    assert result.returncode == EXIT_FAILURE
    assert [d["_id"] for d in documents(server.uri, "rt.stop")] == [1, 3]


def test_duplicate_keys_reported_per_document_and_modes(server: Sandbox) -> None:
    mongocli(server.uri, "import", "rt.m", "-", "--drop", input='{"_id": 1, "a": 1, "b": 1}\n')
    result = mongocli(server.uri, "import", "rt.m", "-", input='{"_id": 1}\n{"_id": 2}\n{"_id": 1}\n')
    assert result.returncode == EXIT_FAILURE
    assert b"line 1: E11000 duplicate key" in result.stderr and b"line 3: E11000" in result.stderr
    assert b"2 line(s) not imported, 1 written" in result.stderr
    result = mongocli(server.uri, "import", "rt.m", "-", "--mode", "merge", input='{"_id": 1, "b": 2, "c": 3}\n')
    assert result.returncode == 0, result.stderr
    assert documents(server.uri, "rt.m")[0] == {"_id": 1, "a": 1, "b": 2, "c": 3}
    result = mongocli(server.uri, "import", "rt.m", "-", "--mode", "upsert", "--upsert-fields", "k",
                      input='{"k": "x", "v": 1}\n{"k": "x", "v": 2}\n{"v": 3}\n', )
    assert result.returncode == EXIT_FAILURE  # line 3 has no k
    assert b"line 3: no value for --upsert-fields k" in result.stderr
    assert [d["v"] for d in documents(server.uri, "rt.m") if d.get("k") == "x"] == [2]


def test_bulk_ordered_stop_names_applied_and_not_attempted(server: Sandbox) -> None:
    ops = "\n".join(json.dumps(op) for op in [
        {"insertOne": {"document": {"_id": 1}}},
        {"updateOne": {"filter": {"_id": 1}, "update": {"$set": {"x": 1}}}},
        {"insertOne": {"document": {"_id": 1}}},
        {"deleteOne": {"filter": {"_id": 1}}},
    ])
    result = mongocli(server.uri, "bulk", "rt.bulk", "-", "--format", "json", input=ops)
    assert result.returncode == EXIT_FAILURE
    report = json.loads(result.stdout)
    assert report["applied_lines"] == [1, 2] and report["not_attempted_lines"] == [4]
    assert report["failed"][0]["line"] == 3 and "E11000" in report["failed"][0]["error"]
    result = mongocli(server.uri, "bulk", "rt.bulk2", "-", "--unordered", "--format", "json", input=ops)
    report = json.loads(result.stdout)
    assert report["applied_lines"] == [1, 2, 4] and report["deleted"] == 1


def test_bulk_bad_operation_runs_nothing(server: Sandbox) -> None:
    result = mongocli(server.uri, "bulk", "rt.bulk3", "-",
                      input='{"insertOne": {"document": {"_id": 1}}}\n{"upsertOne": {}}\n')
    assert result.returncode == EXIT_FAILURE
    assert b"line 2: unknown operation 'upsertOne'" in result.stderr and b"nothing was run" in result.stderr
    assert documents(server.uri, "rt.bulk3") == []


def test_csv_without_fields_is_a_usage_error(server: Sandbox) -> None:
    result = mongocli(server.uri, "import", "rt.x", "-", "--type", "csv", input="a,b\n")
    assert result.returncode == EXIT_USAGE and b"--fields" in result.stderr


def test_import_survives_three_step_downs_exactly_once(tmp_path) -> None:
    count, batch = 6_000, 500
    source = tmp_path / "many.jsonl"
    source.write_text("".join(f'{{"n": {n}}}\n' for n in range(count)), encoding="utf-8")
    with Sandbox(topology="replset", members=3, host="127.0.0.1", port=0, election_delay_ms=200) as sandbox:
        stepped = step_down_at_writes(sandbox, [3, 6, 9])
        result = mongocli(sandbox.uri, "import", "fo.docs", str(source), "--batch-size", str(batch),
                          "--format", "json")
        assert result.returncode == 0, result.stderr
        assert len(stepped) == 3 and len(set(stepped)) >= 2
        assert json.loads(result.stdout)["inserted"] == count
        with Client(sandbox.uri) as client:
            coll = client.get_database("fo").get_collection("docs")
            assert coll.count_documents({}) == count
            assert len(coll.distinct("n")) == count
