"""The benchmark's machinery (not its speed): the responder serves both clients correctly, tasks
check outcomes, and `python -m bench --quick --json` prints the promised JSON shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.servers import serve
from bench.tasks import DATA_DIR, TASKS, BenchError

pymongo = pytest.importorskip("pymongo")  # the benchmark's peer

from driver.client import Client  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
needs_data = pytest.mark.skipif(not os.path.exists(os.path.join(DATA_DIR, "tweet.json")),
                                reason=f"no benchmark data set in {DATA_DIR}")


@pytest.fixture(scope="module")
def responder_uri():
    with serve("responder") as uri:
        yield uri


@pytest.mark.parametrize("client_factory", [Client, pymongo.MongoClient], ids=["mongocli", "pymongo"])
def test_responder_serves_documents_back_as_sent(responder_uri: str, client_factory) -> None:
    with client_factory(responder_uri) as client:
        db = client[f"t_{client_factory.__name__}"]
        db.drop_collection("c")
        docs = [{"_id": i, "s": "x" * i, "nested": {"a": [i, {"b": None}]}} for i in range(1, 251)]
        assert len(db["c"].insert_many(docs).inserted_ids) == 250
        assert db["c"].insert_one({"_id": 999, "k": 1.5}).inserted_id == 999
        assert db["c"].find_one({"_id": 42}) == docs[41]
        assert db["c"].find_one({"_id": 4242}) is None
        db["c"].insert_one({"_id": 4242, "late": True})  # a reply built before an insert is not reused
        assert db["c"].find_one({"_id": 4242}) == {"_id": 4242, "late": True}
        assert list(db["c"].find({}, batch_size=7))[:250] == docs  # firstBatch + many getMores
        assert sum(1 for _ in db["c"].aggregate([{"$match": {}}])) == 252
        assert db.command({"count": "c"})["n"] == 252
        cursor = db["c"].find({}, batch_size=5)
        next(cursor)
        cursor.close()  # killCursors
        with pytest.raises(Exception, match="only"):
            db["c"].find_one({"s": "x"})  # no query engine: said plainly, never a wrong answer
        with pytest.raises(Exception, match="only"):
            db["c"].find_one({"_id": {"$gt": 3}})


@needs_data
def test_checks_reject_wrong_outcomes() -> None:
    tweet = TASKS["find_one_by_id"].load()
    with pytest.raises(BenchError):
        TASKS["find_one_by_id"].check(None, tweet, dict(tweet, _id=3), 4)
    with pytest.raises(BenchError):
        TASKS["find_many"].check(None, tweet, 9, 10)
    with pytest.raises(BenchError):
        TASKS["run_command"].check(None, None, {"ok": 0}, 1)


@needs_data
def test_quick_json_has_one_entry_per_task_with_both_clients() -> None:
    tasks = ["run_command", "find_one_by_id", "small_bulk_insert", "aggregate_10k"]
    out = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json", "--tasks", ",".join(tasks),
                          "--ops", "20", "--iterations", "1", "--scale", "300", "--import-export", "200"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    commands = {"scale_import_200", "scale_export_200"}
    assert set(result) == set(tasks) | {"scale_insert_300", "scale_find_300"} | commands
    for name, entry in result.items():
        assert entry["unit"] == ("docs/s" if name.startswith("scale_") else "MB/s")
        assert entry["mongocli"] > 0, name
        if name in commands:  # mongocli import/export: no PyMongo peer, so no ratio
            assert entry["pymongo"] is None and entry["ratio"] is None and entry["mongocli_peak_mb"] > 0
            continue
        assert entry["pymongo"] > 0, name
        # The report rounds the ratio to 3 decimals: allow that half-unit besides 1% (a ratio of 0.022
        # under load is 2% off after rounding).
        assert entry["ratio"] == pytest.approx(entry["mongocli"] / entry["pymongo"], rel=0.01, abs=0.0005), name
    assert result["run_command"]["ops"] == 20 and result["run_command"]["iterations"] == 1
