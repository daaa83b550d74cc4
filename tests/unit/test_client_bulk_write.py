"""Client bulk write (8.0 bulkWrite command): ops documents, batch splitting, result merging (pure)."""

from __future__ import annotations

import bson
import pytest

from driver.errors import ConfigurationError, DocumentTooLarge, OperationFailure
from driver.ops.client_bulk_write import (
    MESSAGE_OVERHEAD_BYTES,
    ClientBulkWriteError,
    ClientDeleteMany,
    ClientDeleteOne,
    ClientInsertOne,
    ClientReplaceOne,
    ClientUpdateMany,
    ClientUpdateOne,
    ResultMerger,
    check_unacknowledged,
    command_body,
    plan_batches,
)

BIG = dict(max_write_batch_size=100_000, max_message_size_bytes=48_000_000, max_bson_object_size=16 << 20,
           command_size=50)


def test_ops_documents_follow_the_spec_shapes() -> None:
    models = [ClientInsertOne("db.a", {"x": 1}), ClientUpdateOne("db.b", {"_id": 1}, {"$inc": {"x": 1}}),
              ClientUpdateMany("db.a", {}, [{"$set": {"y": 1}}], upsert=True),
              ClientReplaceOne("db.b", {"_id": 4}, {"x": 44}, upsert=True, hint="_id_"),
              ClientDeleteOne("db.a", {"_id": 5}, collation={"locale": "fr"}), ClientDeleteMany("db.c", {})]
    (batch,) = plan_batches(models, **BIG)
    assert batch.ns_info == [{"ns": "db.a"}, {"ns": "db.b"}, {"ns": "db.c"}]
    insert = batch.ops[0]
    assert list(insert) == ["insert", "document"] and list(insert["document"])[0] == "_id"
    assert isinstance(insert["document"]["_id"], bson.ObjectId)
    assert batch.ops[1] == {"update": 1, "filter": {"_id": 1}, "updateMods": {"$inc": {"x": 1}}, "multi": False}
    assert batch.ops[2] == {"update": 0, "filter": {}, "updateMods": [{"$set": {"y": 1}}], "multi": True,
                            "upsert": True}
    assert batch.ops[3] == {"update": 1, "filter": {"_id": 4}, "updateMods": {"x": 44}, "multi": False,
                            "upsert": True, "hint": "_id_"}
    assert batch.ops[4] == {"delete": 0, "filter": {"_id": 5}, "multi": False, "collation": {"locale": "fr"}}
    assert batch.ops[5] == {"delete": 2, "filter": {}, "multi": True}
    assert batch.indexes == list(range(6))
    assert not batch.retryable  # updateMany / deleteMany inside


def test_command_body_defaults() -> None:
    assert command_body(ordered=True, verbose_results=None, bypass_document_validation=None, comment=None,
                        let=None, write_concern=None) == {"bulkWrite": 1, "errorsOnly": True, "ordered": True}
    body = command_body(ordered=False, verbose_results=True, bypass_document_validation=False, comment="c",
                        let={"a": 1}, write_concern={"w": 1})
    assert body == {"bulkWrite": 1, "errorsOnly": False, "ordered": False, "bypassDocumentValidation": False,
                    "comment": "c", "let": {"a": 1}, "writeConcern": {"w": 1}}


def test_batches_split_by_count_and_nsinfo_is_per_batch() -> None:
    models = [ClientInsertOne("db.a" if i % 2 else "db.b", {"_id": i}) for i in range(5)]
    batches = plan_batches(models, **{**BIG, "max_write_batch_size": 2})
    assert [b.indexes for b in batches] == [[0, 1], [2, 3], [4]]
    assert [b.ns_info for b in batches] == [[{"ns": "db.b"}, {"ns": "db.a"}]] * 2 + [[{"ns": "db.b"}]]
    assert batches[2].ops == [{"insert": 0, "document": {"_id": 4}}]
    assert all(b.retryable for b in batches)


def test_batches_split_by_message_size() -> None:
    doc = {"_id": 0, "s": "x" * 1000}
    op_size = len(bson.encode({"insert": 0, "document": doc}))
    ns_size = len(bson.encode({"ns": "db.a"}))
    # Room for exactly three ops plus one nsInfo entry.
    limit = MESSAGE_OVERHEAD_BYTES + 50 + ns_size + 3 * op_size
    models = [ClientInsertOne("db.a", {**doc, "_id": i}) for i in range(7)]
    batches = plan_batches(models, **{**BIG, "max_message_size_bytes": limit})
    assert [b.indexes for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(DocumentTooLarge, match="write model #0"):
        plan_batches(models, **{**BIG, "max_message_size_bytes": limit - 2 * op_size - ns_size})


def test_invalid_models_are_refused_before_sending() -> None:
    with pytest.raises(ConfigurationError, match="at least one"):
        plan_batches([], **BIG)
    with pytest.raises(ConfigurationError, match=r"#1.*update operator"):
        plan_batches([ClientInsertOne("db.a", {}), ClientUpdateOne("db.a", {}, {"x": 1})], **BIG)
    with pytest.raises(ConfigurationError, match="must not contain update operators"):
        plan_batches([ClientReplaceOne("db.a", {}, {"$set": {"x": 1}})], **BIG)
    with pytest.raises(ConfigurationError, match="database.collection"):
        plan_batches([ClientInsertOne("nodot", {})], **BIG)
    with pytest.raises(ConfigurationError, match="verbose results"):
        check_unacknowledged(acknowledged=False, ordered=False, verbose_results=True)
    with pytest.raises(ConfigurationError, match="ordered writes"):
        check_unacknowledged(acknowledged=False, ordered=True, verbose_results=None)
    check_unacknowledged(acknowledged=False, ordered=False, verbose_results=False)


def _one_batch(models):
    return plan_batches(models, **BIG)[0]


def test_verbose_results_are_merged_by_caller_index() -> None:
    models = [ClientInsertOne("db.a", {"_id": 8}), ClientReplaceOne("db.a", {"_id": 4}, {"x": 1}, upsert=True),
              ClientDeleteMany("db.a", {})]
    batch = _one_batch(models)
    merger = ResultMerger(models, ordered=True, verbose=True)
    merger.add_reply(batch, {"ok": 1, "nErrors": 0, "nInserted": 1, "nUpserted": 1, "nMatched": 0,
                             "nModified": 0, "nDeleted": 3})
    assert merger.add_results(batch, [{"ok": 1, "idx": 0, "n": 1},
                                      {"ok": 1, "idx": 1, "n": 1, "nModified": 0, "upserted": {"_id": 4}},
                                      {"ok": 1, "idx": 2, "n": 3}])
    result = merger.finish()
    assert (result.inserted_count, result.upserted_count, result.deleted_count) == (1, 1, 3)
    assert result.insert_results == {0: {"inserted_id": 8}}
    assert result.update_results == {1: {"matched_count": 1, "modified_count": 0, "upserted_id": 4}}
    assert result.delete_results == {2: {"deleted_count": 3}}


def test_ordered_write_error_after_a_success_carries_a_partial_result() -> None:
    models = [ClientDeleteOne("db.a", {"_id": 1}), ClientDeleteOne("db.a", {"$bad": 1}),
              ClientDeleteOne("db.a", {"_id": 3})]
    batch = _one_batch(models)
    merger = ResultMerger(models, ordered=True, verbose=False)
    merger.add_reply(batch, {"ok": 1, "nErrors": 1, "nDeleted": 1})
    assert not merger.add_results(batch, [{"ok": 1, "idx": 0, "n": 1},
                                          {"ok": 0, "idx": 1, "code": 17276, "errmsg": "bad"}])
    with pytest.raises(ClientBulkWriteError, match="model #1") as info:
        merger.finish()
    assert info.value.write_errors[1]["code"] == 17276
    assert info.value.partial_result.deleted_count == 1
    assert info.value.partial_result.delete_results == {}  # summary only


def test_only_errors_give_no_partial_result_and_a_lone_top_level_error_is_raised_as_is() -> None:
    models = [ClientDeleteOne("db.a", {"$bad": 1})]
    batch = _one_batch(models)
    merger = ResultMerger(models, ordered=True, verbose=True)
    merger.add_reply(batch, {"ok": 1, "nErrors": 1})
    merger.add_results(batch, [{"ok": 0, "idx": 0, "code": 17276, "errmsg": "bad"}])
    with pytest.raises(ClientBulkWriteError) as info:
        merger.finish()
    assert info.value.partial_result is None
    top = OperationFailure("boom", 8, {"ok": 0, "code": 8})
    with pytest.raises(OperationFailure, match="boom"):
        ResultMerger(models, ordered=True, verbose=True).finish(top)


def test_write_concern_errors_are_collected_and_raised_at_the_end() -> None:
    models = [ClientInsertOne("db.a", {"_id": 10})]
    batch = _one_batch(models)
    merger = ResultMerger(models, ordered=True, verbose=True)
    merger.add_reply(batch, {"ok": 1, "nErrors": 0, "nInserted": 1,
                             "writeConcernError": {"code": 91, "errmsg": "Replication is being shut down"}})
    assert merger.add_results(batch, [{"ok": 1, "idx": 0, "n": 1}])
    with pytest.raises(ClientBulkWriteError, match="write concern") as info:
        merger.finish()
    assert info.value.write_concern_errors == [{"code": 91, "errmsg": "Replication is being shut down"}]
    assert info.value.partial_result.insert_results == {0: {"inserted_id": 10}}
