"""Client CRUD against the sandbox: results, errors with original indexes, cursors, w: 0."""

from __future__ import annotations

import gc

import pytest

from driver.bulk import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from driver.errors import (BulkWriteError, ConfigurationError, DuplicateKeyError, OperationFailure,
                           ServerSelectionTimeout)
from tests.integration.client_support import make_client  # noqa: F401  (fixture)


def test_insert_find_update_delete(standalone, make_client) -> None:
    client, _ = make_client(standalone.uri)
    coll = client.db.items
    one = coll.insert_one({"a": 1})
    assert one.acknowledged and coll.find_one({"_id": one.inserted_id}) == {"_id": one.inserted_id, "a": 1}
    many = coll.insert_many([{"a": i} for i in range(2, 6)])
    assert len(many.inserted_ids) == 4 and len(set(many.inserted_ids)) == 4
    assert coll.count_documents({}) == 5
    assert coll.count_documents({"a": {"$gte": 3}}, skip=1, limit=1) == 1
    upd = coll.update_many({"a": {"$lt": 3}}, {"$set": {"small": True}})
    assert (upd.matched_count, upd.modified_count, upd.upserted_id) == (2, 2, None)
    ups = coll.update_one({"a": 99}, {"$set": {"b": 1}}, upsert=True)
    assert ups.upserted_id is not None and ups.matched_count == 0 and ups.upserted_count == 1
    rep = coll.replace_one({"a": 99}, {"a": 100})
    assert rep.modified_count == 1 and coll.find_one({"a": 100})["_id"] == ups.upserted_id
    assert coll.delete_one({"a": 100}).deleted_count == 1
    assert coll.delete_many({"small": True}).deleted_count == 2
    assert sorted(coll.distinct("a")) == [3, 4, 5]
    assert coll.estimated_document_count() == 3


def test_find_and_modify_variants(standalone, make_client) -> None:
    client, _ = make_client(standalone.uri)
    coll = client.db.fam
    coll.insert_many([{"_id": i, "n": i} for i in range(3)])
    before = coll.find_one_and_update({"_id": 1}, {"$inc": {"n": 10}})
    after = coll.find_one_and_update({"_id": 1}, {"$inc": {"n": 10}}, return_document="after")
    assert before == {"_id": 1, "n": 1} and after == {"_id": 1, "n": 21}
    assert coll.find_one_and_replace({"_id": 2}, {"n": -2}, return_document="after") == {"_id": 2, "n": -2}
    assert coll.find_one_and_delete({"_id": 0}) == {"_id": 0, "n": 0}
    assert coll.find_one_and_delete({"_id": 0}) is None
    with pytest.raises(ConfigurationError):
        coll.find_one_and_update({"_id": 1}, {"n": 1})  # not an update document


def test_duplicate_key_and_bulk_errors_keep_original_indexes(standalone, make_client) -> None:
    client, _ = make_client(standalone.uri)
    coll = client.db.dups
    coll.insert_one({"_id": 1})
    with pytest.raises(DuplicateKeyError) as caught:
        coll.insert_one({"_id": 1})
    assert caught.value.code == 11000
    with pytest.raises(BulkWriteError) as bulk:
        coll.bulk_write([InsertOne({"_id": 2}), UpdateOne({"_id": 2}, {"$set": {"x": 1}}),
                         InsertOne({"_id": 1}), InsertOne({"_id": 3})], ordered=False)
    errors = bulk.value.details["writeErrors"]
    assert [e["index"] for e in errors] == [2] and errors[0]["code"] == 11000
    assert bulk.value.details["nInserted"] == 2 and bulk.value.details["nModified"] == 1
    result = coll.bulk_write([ReplaceOne({"_id": 3}, {"y": 1}), UpdateMany({}, {"$set": {"z": 1}}),
                              DeleteOne({"_id": 2}), DeleteMany({"z": 1})])
    assert (result.matched_count, result.deleted_count, result.acknowledged) == (4, 3, True)


def test_cursor_batches_getmore_and_kill(standalone, make_client) -> None:
    client, rec = make_client(standalone.uri)
    coll = client.db.cur
    coll.insert_many([{"i": i} for i in range(25)])
    rec.clear()
    cursor = coll.find({}, sort=[("i", 1)], batch_size=10)
    assert rec.started("find") == []  # lazy: nothing sent yet
    assert [d["i"] for d in cursor] == list(range(25))
    assert len(rec.started("getMore")) == 2
    assert all(e.command["batchSize"] == 10 for e in rec.started("getMore"))
    # limit: the cursor asks for no more than the limit allows
    assert [d["i"] for d in coll.find({}, sort={"i": -1}, limit=3, batch_size=2)] == [24, 23, 22]
    # close() of an open cursor kills it on the server
    rec.clear()
    open_cursor = coll.find({}, batch_size=5)
    assert len(open_cursor.to_list(3)) == 3
    open_cursor.close()
    kills = rec.started("killCursors")
    assert len(kills) == 1 and kills[0].command["cursors"] == [open_cursor.cursor_id]
    # a dropped open cursor is killed by the next operation (no I/O in finalizers)
    rec.clear()
    dropped = coll.find({}, batch_size=5)
    next(dropped)
    dropped_id = dropped.cursor_id
    del dropped
    gc.collect()
    coll.find_one()
    assert [e.command["cursors"] for e in rec.started("killCursors")] == [[dropped_id]]


def test_aggregate_indexes_and_collections(standalone, make_client) -> None:
    client, _ = make_client(standalone.uri)
    db = client.agg
    coll = db.create_collection("src")
    coll.insert_many([{"k": i % 3, "v": i} for i in range(9)])
    out = coll.aggregate([{"$group": {"_id": "$k", "s": {"$sum": "$v"}}}, {"$sort": {"_id": 1}}]).to_list()
    assert out == [{"_id": 0, "s": 9}, {"_id": 1, "s": 12}, {"_id": 2, "s": 15}]
    coll.aggregate([{"$match": {"k": 0}}, {"$out": "dst"}]).to_list()
    assert db.dst.count_documents({}) == 3
    assert coll.create_index([("k", 1), ("v", -1)]) == "k_1_v_-1"
    assert {ix["name"] for ix in coll.list_indexes()} == {"_id_", "k_1_v_-1"}
    coll.drop_index([("k", 1), ("v", -1)])
    assert [ix["name"] for ix in coll.list_indexes()] == ["_id_"]
    assert list(db.missing.list_indexes()) == []
    assert sorted(db.list_collection_names()) == ["dst", "src"]
    db.dst.rename("dst2")
    assert sorted(db.list_collection_names()) == ["dst2", "src"]
    db.drop_collection("dst2")
    db.drop_collection("never-existed")  # NamespaceNotFound is not an error
    assert "agg" in client.list_database_names()
    db.drop()
    assert "agg" not in client.list_database_names()


def test_unacknowledged_write_uses_more_to_come(standalone, make_client) -> None:
    client, rec = make_client(standalone.uri)
    coll = client.db.get_collection("unack", write_concern={"w": 0})
    result = coll.insert_one({"x": 1})
    assert result.acknowledged is False and result.inserted_id is not None
    started = rec.started("insert")[-1]
    assert started.command["writeConcern"] == {"w": 0} and "lsid" not in started.command
    assert rec.succeeded("insert")[-1].reply == {"ok": 1}
    assert coll.update_one({"x": 1}, {"$set": {"y": 1}}).acknowledged is False
    # the server applied both writes in order on that connection
    assert client.db.unack.find_one({"x": 1}, projection={"_id": 0}) == {"x": 1, "y": 1}


def test_command_errors_and_run_command(standalone, make_client) -> None:
    client, rec = make_client(standalone.uri)
    assert client.admin.run_command("ping")["ok"] == 1
    with pytest.raises(OperationFailure) as caught:
        client.db.run_command({"noSuchCommand": 1})
    assert caught.value.code == 59
    assert client.db.run_command({"noSuchCommand": 1}, check=False)["ok"] == 0
    assert rec.failed("noSuchCommand")


def test_server_selection_timeout_explains(make_client) -> None:
    import socket

    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client, _ = make_client(f"mongodb://127.0.0.1:{port}", serverSelectionTimeoutMS=300, connectTimeoutMS=200)
    with pytest.raises(ServerSelectionTimeout) as caught:
        client.db.c.find_one()
    assert f"127.0.0.1:{port}" in str(caught.value)


def test_unacknowledged_write_refuses_explicit_session(standalone, make_client) -> None:
    client, rec = make_client(standalone.uri)
    with client.start_session() as session:
        with pytest.raises(ConfigurationError):
            client.db.get_collection("u", write_concern={"w": 0}).insert_one({"x": 1}, session=session)
    assert rec.started("insert") == []


def test_secondary_read_preference_routes_and_is_sent(replset, make_client) -> None:
    client, rec = make_client(replset.uri)
    client.db.get_collection("rp", write_concern={"w": 3}).insert_one({"x": 1})
    coll = client.db.get_collection("rp", read_preference="secondary")
    assert coll.find_one({}, projection={"_id": 0}) == {"x": 1}
    find = rec.started("find")[-1]
    assert find.command["$readPreference"] == {"mode": "secondary"}
    assert find.address != replset.primary
    assert "$readPreference" not in rec.started("insert")[-1].command


def test_deprecated_count_helper_sends_count_with_query_skip_limit(standalone, make_client) -> None:
    client, rec = make_client(standalone.uri)
    coll = client.test.counted
    assert coll.count() == 0  # a missing collection counts 0
    coll.insert_many([{"a": i % 3} for i in range(30)])
    assert coll.count({"a": 1}) == 10 == coll.count_documents({"a": 1})
    assert coll.count({"a": 1}, skip=4, limit=5) == 5
    sent = rec.started("count")[-1].command
    assert sent["query"] == {"a": 1} and sent["skip"] == 4 and sent["limit"] == 5
