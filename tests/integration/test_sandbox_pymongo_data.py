"""PyMongo (a test-only peer) drives the sandbox's data path: CRUD, aggregation, indexes, cursors, errors, types."""

from __future__ import annotations

import datetime
import re
import threading
import uuid
from typing import Any

import pytest
from bson import Decimal128, Int64, ObjectId, Regex
from bson.codec_options import CodecOptions
from pymongo import ASCENDING, DESCENDING, InsertOne, ReturnDocument, UpdateOne, monitoring
from pymongo.errors import BulkWriteError, DuplicateKeyError

from mongocli.sandbox.versions import DEFAULT as DEFAULT_VERSION


class CommandLog(monitoring.CommandListener):
    """Records (name, command) of every command PyMongo starts."""

    def __init__(self) -> None:
        self.started_cmds: list[tuple[str, dict]] = []
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        with self._lock:
            self.started_cmds.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture(params=["standalone", "replset"])
def deployment(request, start_sandbox):
    """A running standalone or 3-member replica set."""
    if request.param == "standalone":
        return start_sandbox(topology="standalone")
    return start_sandbox(topology="replset", members=3, election_delay_ms=100)


@pytest.fixture
def client(deployment, mongo_client):
    return mongo_client(deployment.uri)


def test_crud_find_options(client) -> None:
    coll = client.shop.items
    one = coll.insert_one({"sku": "a", "qty": 3, "tags": ["x"]})
    assert isinstance(one.inserted_id, ObjectId)
    many = coll.insert_many([{"sku": s, "qty": q} for s, q in [("b", 9), ("c", 1), ("d", 7), ("e", 5)]])
    assert len(many.inserted_ids) == 4
    found = list(coll.find({"qty": {"$gte": 3}}, {"_id": 0, "sku": 1}).sort("qty", DESCENDING).skip(1).limit(2))
    assert found == [{"sku": "d"}, {"sku": "e"}]
    excluded = coll.find_one({"sku": "a"}, {"tags": 0, "_id": 0})
    assert excluded == {"sku": "a", "qty": 3}
    assert [d["sku"] for d in coll.find({"$or": [{"sku": "c"}, {"qty": 9}]}).sort("sku", ASCENDING)] == ["b", "c"]


def test_updates_upsert_array_filters_replace_delete(client) -> None:
    coll = client.shop.items
    coll.insert_many([{"_id": 1, "qty": 1, "grades": [80, 95, 100]}, {"_id": 2, "qty": 2, "grades": [90]}])
    res = coll.update_one({"_id": 1}, {"$inc": {"qty": 10}, "$set": {"name": "one"}, "$push": {"grades": 50}})
    assert (res.matched_count, res.modified_count) == (1, 1)
    assert coll.find_one({"_id": 1}) == {"_id": 1, "qty": 11, "grades": [80, 95, 100, 50], "name": "one"}
    res = coll.update_many({}, {"$mul": {"qty": 2}, "$unset": {"name": ""}})
    assert (res.matched_count, res.modified_count) == (2, 2)
    assert [d["qty"] for d in coll.find().sort("_id", 1)] == [22, 4]
    coll.update_one({"_id": 2}, {"$bit": {"qty": {"or": 8}}, "$mul": {"big": Int64(3)}})
    assert coll.find_one({"_id": 2}, {"qty": 1, "big": 1}) == {"_id": 2, "qty": 12, "big": Int64(0)}
    assert isinstance(coll.find_one({"_id": 2})["big"], Int64)
    res = coll.update_one({"_id": 3}, {"$set": {"qty": 7}}, upsert=True)
    assert res.upserted_id == 3 and res.matched_count == 0
    assert coll.find_one({"_id": 3}) == {"_id": 3, "qty": 7}
    coll.update_one({"_id": 1}, {"$set": {"grades.$[g]": 0}}, array_filters=[{"g": {"$gte": 95}}])
    assert coll.find_one({"_id": 1})["grades"] == [80, 0, 0, 50]
    res = coll.replace_one({"_id": 2}, {"replaced": True})
    assert res.modified_count == 1 and coll.find_one({"_id": 2}) == {"_id": 2, "replaced": True}
    after = coll.find_one_and_update({"_id": 3}, {"$inc": {"qty": 1}}, return_document=ReturnDocument.AFTER)
    assert after == {"_id": 3, "qty": 8}
    before = coll.find_one_and_update({"_id": 3}, {"$inc": {"qty": 1}})
    assert before == {"_id": 3, "qty": 8}
    assert coll.delete_one({"_id": 2}).deleted_count == 1
    assert coll.delete_many({"qty": {"$gt": 0}}).deleted_count == 2
    assert coll.count_documents({}) == 0


def test_aggregation_stages(client) -> None:
    db = client.shop
    db.orders.insert_many([
        {"_id": 1, "cust": "ann", "items": ["pen", "ink"], "total": 10},
        {"_id": 2, "cust": "bob", "items": ["pad"], "total": 4},
        {"_id": 3, "cust": "ann", "items": ["pad", "pen"], "total": 6},
    ])
    db.customers.insert_many([{"_id": "ann", "city": "Oslo"}, {"_id": "bob", "city": "Rome"}])
    grouped = list(db.orders.aggregate([
        {"$match": {"total": {"$gt": 3}}},
        {"$group": {"_id": "$cust", "sum": {"$sum": "$total"}, "n": {"$sum": 1}}},
        {"$sort": {"sum": -1}},
        {"$project": {"_id": 0, "cust": "$_id", "sum": 1, "n": 1}},
    ]))
    assert grouped == [{"sum": 16, "n": 2, "cust": "ann"}, {"sum": 4, "n": 1, "cust": "bob"}]
    unwound = list(db.orders.aggregate([{"$unwind": "$items"}, {"$group": {"_id": "$items", "c": {"$sum": 1}}},
                                        {"$sort": {"_id": 1}}]))
    assert unwound == [{"_id": "ink", "c": 1}, {"_id": "pad", "c": 2}, {"_id": "pen", "c": 2}]
    joined = list(db.orders.aggregate([
        {"$match": {"_id": 2}},
        {"$lookup": {"from": "customers", "localField": "cust", "foreignField": "_id", "as": "who"}},
    ]))
    assert joined[0]["who"] == [{"_id": "bob", "city": "Rome"}]
    faceted = list(db.orders.aggregate([{"$facet": {
        "big": [{"$match": {"total": {"$gte": 6}}}, {"$count": "n"}],
        "ids": [{"$sort": {"_id": -1}}, {"$project": {"_id": 1}}],
    }}]))
    assert faceted == [{"big": [{"n": 2}], "ids": [{"_id": 3}, {"_id": 2}, {"_id": 1}]}]
    assert list(db.orders.aggregate([{"$count": "all"}])) == [{"all": 3}]


def test_indexes(client) -> None:
    coll = client.shop.people
    assert coll.create_index("email", unique=True) == "email_1"
    assert coll.create_index([("last", ASCENDING), ("age", DESCENDING)]) == "last_1_age_-1"
    listed = {ix["name"]: ix for ix in coll.list_indexes()}
    assert set(listed) == {"_id_", "email_1", "last_1_age_-1"}
    assert listed["email_1"]["unique"] is True
    assert dict(listed["last_1_age_-1"]["key"]) == {"last": 1, "age": -1}
    info = coll.index_information()
    assert info["last_1_age_-1"]["key"] == [("last", 1), ("age", -1)]
    assert info["email_1"]["unique"] is True
    coll.drop_index("last_1_age_-1")
    assert set(coll.index_information()) == {"_id_", "email_1"}


def test_cursor_batches_get_more_and_kill_cursors(deployment, mongo_client) -> None:
    log = CommandLog()
    client = mongo_client(deployment.uri, event_listeners=[log])
    coll = client.shop.many
    coll.insert_many([{"_id": i, "v": i * 2} for i in range(1000)])
    seen = [doc["_id"] for doc in coll.find({}, batch_size=7).sort("_id", 1)]
    assert seen == list(range(1000))
    get_mores = [cmd for name, cmd in log.started_cmds if name == "getMore"]
    assert len(get_mores) == 142  # 7 in the first batch, then 142 getMores of at most 7
    assert all(cmd["batchSize"] == 7 for cmd in get_mores)
    cursor = coll.find({}, batch_size=7)
    assert next(cursor)["_id"] == 0 and cursor.alive
    cursor_id = cursor.cursor_id
    cursor.close()
    kills = [cmd for name, cmd in log.started_cmds if name == "killCursors"]
    assert kills and kills[-1]["cursors"] == [cursor_id]
    # The killed cursor is gone on the server: a getMore on it fails with CursorNotFound.
    from pymongo.errors import OperationFailure

    with pytest.raises(OperationFailure) as caught:
        client.shop.command("getMore", Int64(cursor_id), collection="many")
    assert caught.value.code == 43


def test_duplicate_key_error_message_and_details(client) -> None:
    db = client.db
    db.c.create_index("a", unique=True)
    db.c.insert_one({"a": 1})
    with pytest.raises(DuplicateKeyError) as caught:
        db.c.insert_one({"a": 1})
    err = caught.value
    assert err.code == 11000
    assert err.details["errmsg"] == "E11000 duplicate key error collection: db.c index: a_1 dup key: { a: 1 }"
    assert err.details["keyPattern"] == {"a": 1} and err.details["keyValue"] == {"a": 1}


def test_bulk_write_error_keeps_original_index(client) -> None:
    coll = client.db.bulk
    coll.create_index("k", unique=True)
    with pytest.raises(BulkWriteError) as caught:
        coll.bulk_write([InsertOne({"k": 1}), UpdateOne({"k": 1}, {"$set": {"x": 1}}), InsertOne({"k": 1}),
                         InsertOne({"k": 2})], ordered=False)
    details = caught.value.details
    assert [(e["index"], e["code"]) for e in details["writeErrors"]] == [(2, 11000)]
    assert details["nInserted"] == 2 and details["nModified"] == 1
    with pytest.raises(BulkWriteError) as caught:
        coll.bulk_write([InsertOne({"k": 3}), InsertOne({"k": 3}), InsertOne({"k": 4})])
    assert [e["index"] for e in caught.value.details["writeErrors"]] == [1]
    assert caught.value.details["nInserted"] == 1 and coll.count_documents({"k": 4}) == 0


def test_types_round_trip_and_id_first(deployment, mongo_client) -> None:
    client = mongo_client(deployment.uri, uuidRepresentation="standard")
    coll = client.db.types
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, 123000)
    uid = uuid.uuid4()
    doc = {"b": True, "i": 7, "l": Int64(2**40), "d": Decimal128("1.10"), "u": uid, "t": when,
           "o": ObjectId(), "nested": [[1, [2, {"x": [3]}]], []], "r": Regex("^ab", "i"), "_id": "key"}
    coll.insert_one(doc)
    raw = client.db.get_collection("types", CodecOptions(uuid_representation=4)).find_one()
    back = coll.find_one()
    assert next(iter(back)) == "_id" and next(iter(raw)) == "_id"
    assert back["b"] is True and type(back["i"]) is int and back["i"] == 7
    assert isinstance(back["l"], Int64) and back["l"] == 2**40
    assert back["d"] == Decimal128("1.10") and str(back["d"]) == "1.10"
    assert back["u"] == uid and back["t"] == when and back["o"] == doc["o"]
    assert back["nested"] == [[1, [2, {"x": [3]}]], []]
    assert back["r"] == Regex("^ab", "i")
    assert coll.find_one({"u": uid})["_id"] == "key"
    assert coll.find_one({"r": Regex("^ab", "i")})["_id"] == "key"
    assert coll.count_documents({"t": {"$gt": when - datetime.timedelta(milliseconds=1)}}) == 1
    # Timestamps keep millisecond precision: microseconds below a millisecond are dropped.
    coll.insert_one({"_id": "us", "t": datetime.datetime(2024, 1, 1, 0, 0, 0, 999999)})
    assert coll.find_one({"_id": "us"})["t"].microsecond == 999000
    # _id comes first even when inserted last or absent (generated by the driver/server).
    coll.insert_one({"z": 1, "_id": 5})
    assert list(coll.find_one({"z": 1})) == ["_id", "z"]


def test_counts_distinct(client) -> None:
    coll = client.db.cnt
    coll.insert_many([{"k": i % 3, "tag": ["a", "b"][i % 2]} for i in range(10)])
    assert coll.count_documents({}) == 10
    assert coll.count_documents({"k": 1}) == 3
    assert coll.count_documents({}, skip=2, limit=5) == 5
    assert coll.estimated_document_count() == 10
    assert sorted(coll.distinct("k")) == [0, 1, 2]
    assert sorted(coll.distinct("tag", {"k": 0})) == ["a", "b"]


def test_database_and_collection_management(client) -> None:
    client.alpha.c1.insert_one({"x": 1})
    client.alpha.c2.insert_one({"x": 2})
    client.beta.c.insert_one({"x": 3})
    assert {"alpha", "beta"} <= set(client.list_database_names())
    assert sorted(client.alpha.list_collection_names()) == ["c1", "c2"]
    client.alpha.c1.rename("c3")
    assert sorted(client.alpha.list_collection_names()) == ["c2", "c3"]
    assert client.alpha.c3.find_one({}, {"_id": 0}) == {"x": 1}
    client.drop_database("beta")
    assert "beta" not in client.list_database_names()
    assert client.beta.c.count_documents({}) == 0


def test_explain(deployment, client) -> None:
    coll = client.db.ex
    coll.insert_many([{"a": i} for i in range(5)])
    scan = coll.find({"a": {"$gt": 2}}).explain()
    assert scan["ok"] == 1.0 and scan["queryPlanner"]["namespace"] == "db.ex"
    assert scan["queryPlanner"]["parsedQuery"] == {"a": {"$gt": 2}}
    assert scan["queryPlanner"]["winningPlan"]["stage"] == "COLLSCAN"
    assert scan["executionStats"]["nReturned"] == 2
    info = scan["serverInfo"]
    assert f"{info['host']}:{info['port']}" == deployment.primary and info["version"] == DEFAULT_VERSION
    coll.create_index("a")
    indexed = coll.find({"a": 3}).explain()
    assert indexed["queryPlanner"]["winningPlan"]["inputStage"]["indexName"] == "a_1"
    assert indexed["executionStats"]["nReturned"] == 1


# ----- OP_COMPRESSED ------------------------------------------------------------------------
@pytest.fixture
def sent_replies(monkeypatch) -> list[tuple[str, str | None, int]]:
    """(command name, request compressor, reply opcode) of every reply the sandbox frames."""
    from driver import wire
    from mongocli.sandbox import server

    seen: list[tuple[str, str | None, int]] = []
    original = server._compressed

    def record(data: bytes, compressor: str | None, command: Any) -> bytes:
        out = original(data, compressor, command)
        seen.append((next(iter(command), ""), compressor, wire.parse_header(out[: wire.HEADER_SIZE]).op_code))
        return out

    monkeypatch.setattr(server, "_compressed", record)
    return seen


def test_pymongo_zlib_round_trips_compressed(standalone, mongo_client, sent_replies) -> None:
    client = mongo_client(standalone.uri, compressors="zlib")
    coll = client.db.z
    coll.insert_many([{"_id": i, "text": "abc" * 200} for i in range(50)])
    assert [d["_id"] for d in coll.find({"_id": {"$lt": 5}}).sort("_id", 1)] == [0, 1, 2, 3, 4]
    by_name = {name: (comp, op) for name, comp, op in sent_replies}
    assert by_name["insert"] == ("zlib", 2012) and by_name["find"] == ("zlib", 2012)
    # Handshake replies are never compressed, even for a compressed request (PyMongo sends them plain).
    assert all(op == 2013 for name, _, op in sent_replies if name in ("hello", "isMaster", "ismaster"))
    assert client.admin.command("hello", compression=["snappy", "zlib", "noop"])["compression"] == ["zlib"]


def test_raw_compressed_op_msg_gets_compressed_reply(standalone, raw_connection) -> None:
    from driver import wire

    conn = raw_connection(standalone.addresses[0])
    assert conn.command({"hello": 1, "compression": ["zstd", "zlib"], "$db": "admin"})["compression"] == ["zlib"]
    assert "compression" not in conn.command({"hello": 1, "$db": "admin"})
    for body, expect_op in [({"insert": "c", "documents": [{"_id": 1}], "$db": "db"}, 2012),
                            ({"find": "c", "filter": {}, "$db": "db"}, 2012),
                            ({"hello": 1, "$db": "admin"}, 2013)]:
        request_id = wire.next_request_id()
        conn.send(wire.compress_message(wire.encode_op_msg(request_id, body), "zlib"))
        header, message = conn.receive()
        assert header.response_to == request_id and header.op_code == expect_op
        assert message.compressor == ("zlib" if expect_op == 2012 else None)
        assert message.body["ok"] == 1.0
        if "find" in body:
            assert message.body["cursor"]["firstBatch"] == [{"_id": 1}]


def test_our_driver_negotiates_zlib(standalone, sent_replies) -> None:
    from driver.establish import open_connection

    conn, reply, _rtt = open_connection(standalone.addresses[0], None, None, app_name=None, compressors=["zlib"])
    try:
        assert reply["compression"] == ["zlib"] and conn.compressor == "zlib"
        conn.command("db", {"insert": "d", "documents": [{"_id": "x", "n": 1}]})
        found = conn.command("db", {"find": "d", "filter": {"_id": "x"}})
        assert found["cursor"]["firstBatch"] == [{"_id": "x", "n": 1}]
    finally:
        conn.close()
    assert ("find", "zlib", 2012) in sent_replies and ("insert", "zlib", 2012) in sent_replies
    # The handshake (legacy OP_QUERY isMaster, answered by OP_REPLY) went out uncompressed.
    assert [op for name, _, op in sent_replies if name.lower() in ("hello", "ismaster")] == [1]
