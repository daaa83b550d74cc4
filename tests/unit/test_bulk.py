"""Tests for driver/bulk.py: runs, batch splitting by count and encoded size, result merging."""

from __future__ import annotations

import bson
import pytest

from driver.bulk import (
    BatchLimits,
    BulkResultAccumulator,
    DeleteMany,
    DeleteOne,
    InsertOne,
    ReplaceOne,
    UpdateMany,
    UpdateOne,
    plan_bulk,
    run_bulk,
)
from driver.errors import BulkWriteError, ConfigurationError, DocumentTooLarge

MIXED = [InsertOne({"_id": 1}), InsertOne({"_id": 2}), UpdateOne({"_id": 1}, {"$set": {"a": 1}}),
         InsertOne({"_id": 3}), DeleteOne({"_id": 2}), UpdateMany({}, {"$inc": {"a": 1}})]


def test_ordered_runs_are_consecutive_kinds():
    batches = plan_bulk(MIXED, ordered=True)
    assert [(b.kind, b.indexes) for b in batches] == [
        ("insert", (0, 1)), ("update", (2,)), ("insert", (3,)), ("delete", (4,)), ("update", (5,))]
    assert [b.multi for b in batches] == [False, False, False, False, True]


def test_unordered_groups_by_kind_keeping_indexes():
    batches = plan_bulk(MIXED, ordered=False)
    assert [(b.kind, b.indexes) for b in batches] == [
        ("insert", (0, 1, 3)), ("update", (2, 5)), ("delete", (4,))]
    assert batches[1].multi


def test_split_by_max_write_batch_size():
    reqs = [InsertOne({"_id": i}) for i in range(7)]
    batches = plan_bulk(reqs, limits=BatchLimits(max_write_batch_size=3))
    assert [b.indexes for b in batches] == [(0, 1, 2), (3, 4, 5), (6,)]


def test_split_by_encoded_size_in_document_sequences():
    doc = {"_id": 0, "x": "a" * 1000}
    size = len(bson.encode(doc))
    # room for exactly two documents after the 16 KiB command headroom
    limits = BatchLimits(max_message_size_bytes=16 * 1024 + 2 * size + 10, max_bson_object_size=4096)
    reqs = [InsertOne({**doc, "_id": i}) for i in range(5)]
    batches = plan_bulk(reqs, limits=limits)
    assert [len(b.indexes) for b in batches] == [2, 2, 1]
    for b in batches:
        assert sum(len(bson.encode(s)) for s in b.statements) <= limits.payload_budget()


def test_split_by_bson_size_when_embedded():
    doc = {"_id": 0, "x": "a" * 100}
    size = len(bson.encode(doc))
    limits = BatchLimits(max_bson_object_size=3 * size + 3 * 3, document_sequences=False)
    batches = plan_bulk([InsertOne({**doc, "_id": i}) for i in range(7)], limits=limits)
    assert [len(b.indexes) for b in batches] == [3, 3, 1]


def test_too_large_document_names_index_and_size():
    big = {"_id": 1, "x": "a" * 5000}
    size = len(bson.encode(big))
    with pytest.raises(DocumentTooLarge, match=rf"requests\[1\].*{size} bytes.*4096"):
        plan_bulk([InsertOne({"_id": 0}), InsertOne(big)], limits=BatchLimits(max_bson_object_size=4096))


def test_invalid_requests_name_their_index():
    with pytest.raises(ConfigurationError, match=r"requests\[1\] \(UpdateOne\).*'x'"):
        plan_bulk([InsertOne({}), UpdateOne({}, {"x": 1})])
    with pytest.raises(ConfigurationError, match=r"requests\[0\] \(ReplaceOne\).*\$set"):
        plan_bulk([ReplaceOne({}, {"$set": {"a": 1}})])
    with pytest.raises(ConfigurationError, match=r"requests\[0\] must be one of"):
        plan_bulk([{"insertOne": {}}])
    with pytest.raises(ConfigurationError, match="non-empty"):
        plan_bulk([])


def test_generated_ids_are_remembered_and_sent():
    batches = plan_bulk([InsertOne({"a": 1}), InsertOne({"_id": 5})])
    (b,) = batches
    assert b.indexes == (0, 1) and b.ids[1] == 5
    assert b.statements[0]["_id"] == b.ids[0]
    cmd = b.command("c", ordered=True)
    assert cmd["insert"] == "c" and cmd["documents"][0]["_id"] == b.ids[0]


def test_statement_shapes_in_commands():
    (u, d) = plan_bulk([UpdateMany({"a": 1}, [{"$set": {"b": 1}}], upsert=True), DeleteMany({"a": 1})])
    assert u.command("c")["updates"] == [{"q": {"a": 1}, "u": [{"$set": {"b": 1}}], "multi": True, "upsert": True}]
    assert d.command("c", write_concern={"w": 0})["deletes"] == [{"q": {"a": 1}, "limit": 0}]
    assert d.command("c", write_concern={"w": 0})["writeConcern"] == {"w": 0}


def test_merge_maps_indexes_back():
    batches = plan_bulk(MIXED, ordered=False)
    acc = BulkResultAccumulator(ordered=False)
    acc.merge(batches[0], {"ok": 1, "n": 2, "writeErrors": [{"index": 1, "code": 11000, "errmsg": "dup"}]})
    acc.merge(batches[1], {"ok": 1, "n": 3, "nModified": 2, "upserted": [{"index": 1, "_id": "u"}]})
    acc.merge(batches[2], {"ok": 1, "n": 1, "writeConcernError": {"code": 64, "errmsg": "wc"}})
    r = acc.result()
    assert r.write_errors[0]["index"] == 1 and r.write_errors[0]["code"] == 11000
    assert r.inserted_count == 2 and r.inserted_ids == {0: 1, 3: 3}
    assert r.matched_count == 2 and r.modified_count == 2
    assert r.upserted_ids == {5: "u"} and r.upserted_count == 1
    assert r.deleted_count == 1 and r.write_concern_errors[0]["code"] == 64
    with pytest.raises(BulkWriteError) as info:
        acc.raise_for_errors()
    assert info.value.details["nInserted"] == 2 and info.value.result is not None
    assert "request 1" in str(info.value)


def test_ordered_stops_at_first_write_error():
    batches = plan_bulk(MIXED, ordered=True)
    sent = []

    def send(batch):
        sent.append(batch)
        if batch.kind == "update":
            return {"ok": 1, "n": 0, "nModified": 0, "writeErrors": [{"index": 0, "code": 9, "errmsg": "bad"}]}
        return {"ok": 1, "n": len(batch.statements)}

    with pytest.raises(BulkWriteError) as info:
        run_bulk(batches, send, ordered=True)
    assert len(sent) == 2
    result = info.value.result
    assert result.inserted_count == 2 and result.write_errors[0]["index"] == 2


def test_ordered_insert_ids_stop_at_failure():
    (b,) = plan_bulk([InsertOne({"_id": i}) for i in range(4)], ordered=True)
    acc = BulkResultAccumulator(ordered=True)
    acc.merge(b, {"ok": 1, "n": 1, "writeErrors": [{"index": 1, "code": 11000, "errmsg": "dup"}]})
    assert acc.result().inserted_ids == {0: 0}
    assert acc.should_stop


def test_run_bulk_success_and_command_errors_propagate():
    batches = plan_bulk([InsertOne({"_id": 1}), DeleteOne({"_id": 1})])
    result = run_bulk(batches, lambda b: {"ok": 1, "n": 1}, ordered=True)
    assert (result.inserted_count, result.deleted_count) == (1, 1)

    def boom(batch):
        raise ConnectionError("reset")

    with pytest.raises(ConnectionError):
        run_bulk(batches, boom)


def test_run_bulk_is_the_one_path_for_unacknowledged_writes_and_partial_results():
    from driver.bulk import UnacknowledgedBulkWriteResult
    from driver.errors import ConnectionFailure

    batches = plan_bulk([InsertOne({"_id": 1}), InsertOne({"x": 2}), DeleteOne({"_id": 1})], ordered=True)
    unacked = run_bulk(batches, lambda b: None, ordered=True, acknowledged=False)
    assert isinstance(unacked, UnacknowledgedBulkWriteResult) and not unacked.acknowledged
    assert unacked.inserted_ids[0] == 1 and 1 in unacked.inserted_ids  # generated _id kept

    def fail_on_delete(batch):
        if batch.kind == "delete":
            raise ConnectionFailure("reset")
        return {"ok": 1, "n": len(batch.statements)}

    with pytest.raises(ConnectionFailure) as info:
        run_bulk(batches, fail_on_delete)
    assert info.value.partial_result.inserted_count == 2  # declared on DriverError, set by the bulk path
    assert ConnectionFailure("x").partial_result is None


def test_bulk_write_error_declares_its_result():
    from driver.bulk import BulkWriteResult, bulk_write_error

    result = BulkWriteResult(inserted_count=1, write_errors=({"index": 0, "code": 11000, "errmsg": "dup"},))
    error = bulk_write_error(result)
    assert error.result is result and error.partial_result is result and error.code == 11000
