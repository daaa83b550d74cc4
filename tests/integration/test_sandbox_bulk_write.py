"""PyMongo's MongoClient.bulk_write (a test-only peer) against the sandbox's 8.0 bulkWrite command."""

from __future__ import annotations

import pytest
from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from pymongo.errors import ClientBulkWriteException, OperationFailure


@pytest.fixture
def client(replset, mongo_client):
    return mongo_client(replset.uri)


def test_mixed_namespaces_verbose_results(client) -> None:
    client.db.a.insert_one({"_id": 1, "x": 1})
    result = client.bulk_write([
        InsertOne({"_id": 2}, namespace="db.a"),
        InsertOne({"_id": 3, "y": 1}, namespace="db.b"),
        UpdateOne({"_id": 2}, {"$set": {"x": 2}}, namespace="db.a"),
        UpdateOne({"_id": 9}, {"$set": {"x": 9}}, upsert=True, namespace="db.a"),
        ReplaceOne({"_id": 3}, {"y": 2}, namespace="db.b"),
        UpdateMany({"x": {"$gt": 0}}, {"$inc": {"x": 10}}, namespace="db.a"),
        DeleteOne({"_id": 1}, namespace="db.a"),
    ], verbose_results=True)
    assert (result.inserted_count, result.upserted_count, result.matched_count,
            result.modified_count, result.deleted_count) == (2, 1, 5, 5, 1)
    assert result.update_results[3].upserted_id == 9
    assert result.update_results[5].matched_count == 3
    assert sorted(client.db.a.find(), key=lambda d: d["_id"]) == [{"_id": 2, "x": 12}, {"_id": 9, "x": 19}]
    assert list(client.db.b.find()) == [{"_id": 3, "y": 2}]


def test_errors_ordered_stop_unordered_continue(client) -> None:
    client.db.c.insert_one({"_id": 1})
    models = [InsertOne({"_id": 1}, namespace="db.c"), InsertOne({"_id": 2}, namespace="db.c"),
              DeleteOne({"$expr": {"$eq": ["$_id", "$$undefinedVar"]}}, namespace="db.c")]
    with pytest.raises(ClientBulkWriteException) as ordered:
        client.bulk_write(models, verbose_results=True)
    assert [(e["idx"], e["code"], e["codeName"]) for e in ordered.value.write_errors] == [(0, 11000, "DuplicateKey")]
    assert ordered.value.partial_result is None or ordered.value.partial_result.inserted_count == 0
    with pytest.raises(ClientBulkWriteException) as unordered:
        client.bulk_write(models, ordered=False, verbose_results=True)
    errors = unordered.value.write_errors
    assert [(e["idx"], e["code"]) for e in errors] == [(0, 11000), (2, 17276)]
    assert unordered.value.partial_result.inserted_count == 1
    assert client.db.c.count_documents({}) == 2


def test_let_collation_and_array_filters(client) -> None:
    client.db.d.insert_many([{"_id": 1, "s": "Apple", "a": [1, 5]}, {"_id": 2, "s": "pear", "a": [2]}])
    result = client.bulk_write([
        UpdateOne({"$expr": {"$eq": ["$_id", "$$target"]}}, {"$set": {"hit": True}}, namespace="db.d"),
        UpdateOne({"s": "apple"}, {"$set": {"a.$[big]": 0}}, array_filters=[{"big": {"$gt": 3}}],
                  collation={"locale": "en", "strength": 2}, namespace="db.d"),
        DeleteMany({"s": "PEAR"}, collation={"locale": "en", "strength": 1}, namespace="db.d"),
    ], let={"target": 1})
    assert (result.matched_count, result.modified_count, result.deleted_count) == (2, 2, 1)
    assert list(client.db.d.find()) == [{"_id": 1, "s": "Apple", "a": [1, 0], "hit": True}]


def test_errors_only_reply_and_cursor_over_admin(client) -> None:
    reply = client.admin.command({
        "bulkWrite": 1, "nsInfo": [{"ns": "db.e"}], "errorsOnly": True, "ordered": False,
        "ops": [{"insert": 0, "document": {"_id": 1}}, {"insert": 0, "document": {"_id": 1}},
                {"update": 0, "filter": {"_id": 1}, "updateMods": {"$set": {"v": 1}}},
                {"delete": 0, "filter": {}, "multi": True}]})
    assert reply["cursor"]["ns"] == "admin.$cmd.bulkWrite" and reply["cursor"]["id"] == 0
    assert [r["idx"] for r in reply["cursor"]["firstBatch"]] == [1]
    assert {k: reply[k] for k in ("nErrors", "nInserted", "nMatched", "nModified", "nUpserted", "nDeleted")} == {
        "nErrors": 1, "nInserted": 1, "nMatched": 1, "nModified": 1, "nUpserted": 0, "nDeleted": 1}
    with pytest.raises(OperationFailure) as wrong_db:
        client.db.command({"bulkWrite": 1, "nsInfo": [{"ns": "db.e"}], "ops": [{"insert": 0, "document": {}}]})
    assert wrong_db.value.code == 13
    with pytest.raises(OperationFailure) as out_of_range:
        client.admin.command({"bulkWrite": 1, "nsInfo": [{"ns": "db.e"}], "ops": [{"insert": 1, "document": {}}]})
    assert "out of range" in str(out_of_range.value)


def test_results_beyond_the_first_batch_come_by_get_more(client) -> None:
    reply = client.admin.command({"bulkWrite": 1, "nsInfo": [{"ns": "db.f"}], "cursor": {"batchSize": 2},
                                  "ops": [{"insert": 0, "document": {"_id": i}} for i in range(5)]})
    assert len(reply["cursor"]["firstBatch"]) == 2 and reply["cursor"]["id"] != 0
    more = client.admin.command({"getMore": reply["cursor"]["id"], "collection": "$cmd.bulkWrite"})
    assert [r["idx"] for r in more["cursor"]["nextBatch"]] == [2, 3, 4]


def test_retry_is_answered_from_history_and_fail_points_apply(replset, client, mongo_client) -> None:
    from tests.support.pymongo_commands import StartedCommands

    counter = StartedCommands()
    watched = mongo_client(replset.uri, event_listeners=[counter])
    client.admin.command({"configureFailPoint": "onPrimaryTransactionalWrite", "mode": {"times": 1},
                          "data": {"closeConnection": True}})
    result = watched.bulk_write([InsertOne({"_id": 1, "n": 1}, namespace="db.g"),
                                 UpdateOne({"_id": 1}, {"$inc": {"n": 1}}, namespace="db.g")])
    # The first attempt committed but lost its reply; the retry (same txnNumber) is answered
    # from the session's history: the increment is applied once.
    numbers = [body.get("txnNumber") for body in counter.of("bulkWrite")]
    assert len(numbers) == 2 and numbers[0] == numbers[1] is not None
    assert result.inserted_count == 1 and client.db.g.find_one() == {"_id": 1, "n": 2}
    client.admin.command({"configureFailPoint": "failCommand", "mode": {"times": 1},
                          "data": {"failCommands": ["bulkWrite"], "writeConcernError":
                                   {"code": 64, "errmsg": "waiting for replication timed out"}}})
    with pytest.raises(ClientBulkWriteException) as wce:
        client.bulk_write([InsertOne({"_id": 2}, namespace="db.g")])
    assert wce.value.write_concern_errors[0]["code"] == 64
    assert client.db.g.count_documents({"_id": 2}) == 1  # the write itself ran
