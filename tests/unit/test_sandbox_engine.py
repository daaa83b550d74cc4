"""The sandbox DataEngine answers data commands like a real server (called directly, no sockets)."""

import datetime
import re
import threading
import uuid

import bson
import pytest
from bson import Binary, Decimal128, Int64, ObjectId, Regex
from bson.codec_options import CodecOptions

from mongocli.sandbox.engine import DataEngine


@pytest.fixture()
def eng():
    return DataEngine()


def ok(reply):
    assert reply.get("ok") == 1.0, reply
    return reply


def find_all(eng, coll, db="db", **kw):
    reply = ok(eng.run(db, {"find": coll, "batchSize": 100000, **kw}))
    assert reply["cursor"]["id"] == 0
    return reply["cursor"]["firstBatch"]


def insert(eng, coll, docs, db="db", **kw):
    return eng.run(db, {"insert": coll, "documents": docs, **kw})


# --- CRUD -------------------------------------------------------------------------------------

def test_insert_find_update_delete_roundtrip(eng):
    assert ok(insert(eng, "c", [{"_id": 1, "a": 1}, {"_id": 2, "a": 2}, {"_id": 3, "a": 3}]))["n"] == 3
    assert [d["_id"] for d in find_all(eng, "c", filter={"a": {"$gte": 2}})] == [2, 3]
    r = ok(eng.run("db", {"update": "c", "updates": [{"q": {"a": {"$gt": 1}}, "u": {"$inc": {"a": 10}},
                                                      "multi": True}]}))
    assert (r["n"], r["nModified"]) == (2, 2)
    r = ok(eng.run("db", {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"a": 1}}}]}))
    assert (r["n"], r["nModified"]) == (1, 0)  # same value: matched, not modified
    assert [d["a"] for d in find_all(eng, "c", sort={"a": -1})] == [13, 12, 1]
    r = ok(eng.run("db", {"delete": "c", "deletes": [{"q": {"a": {"$gt": 5}}, "limit": 1}]}))
    assert r["n"] == 1
    r = ok(eng.run("db", {"delete": "c", "deletes": [{"q": {}, "limit": 0}]}))
    assert r["n"] == 2
    assert find_all(eng, "c") == []


def test_replacement_update_keeps_id_and_drops_other_fields(eng):
    insert(eng, "c", [{"_id": 1, "a": 1, "b": 2}])
    ok(eng.run("db", {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"z": 9}}]}))
    assert find_all(eng, "c") == [{"_id": 1, "z": 9}]
    r = eng.run("db", {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"_id": 2, "z": 1}}]})
    assert r["writeErrors"][0]["code"] == 66


def test_pipeline_update(eng):
    insert(eng, "c", [{"_id": 1, "a": 2, "b": 3}])
    ok(eng.run("db", {"update": "c", "updates": [
        {"q": {}, "u": [{"$set": {"s": {"$add": ["$a", "$b"]}}}]}]}))
    assert find_all(eng, "c") == [{"_id": 1, "a": 2, "b": 3, "s": 5}]


def test_find_projection_skip_limit_and_negative_limit(eng):
    insert(eng, "c", [{"_id": i, "a": i, "b": {"c": i}} for i in range(10)])
    docs = find_all(eng, "c", projection={"b.c": 1}, skip=2, limit=3, sort={"a": 1})
    assert docs == [{"_id": 2, "b": {"c": 2}}, {"_id": 3, "b": {"c": 3}}, {"_id": 4, "b": {"c": 4}}]
    assert find_all(eng, "c", projection={"_id": 0, "b": 0}, limit=1) == [{"a": 0}]
    r = ok(eng.run("db", {"find": "c", "limit": -4, "batchSize": 2}))
    assert r["cursor"]["id"] == 0 and len(r["cursor"]["firstBatch"]) == 2
    r = ok(eng.run("db", {"find": "c", "limit": -4}))
    assert r["cursor"]["id"] == 0 and len(r["cursor"]["firstBatch"]) == 4


def test_find_on_missing_collection_is_empty(eng):
    r = ok(eng.run("db", {"find": "nope", "filter": {}}))
    assert r["cursor"] == {"firstBatch": [], "id": 0, "ns": "db.nope"}


# --- cursors ----------------------------------------------------------------------------------

def test_cursor_batches_until_exhausted(eng):
    insert(eng, "c", [{"_id": i} for i in range(250)])
    r = ok(eng.run("db", {"find": "c"}))
    assert len(r["cursor"]["firstBatch"]) == 101
    cid = r["cursor"]["id"]
    assert isinstance(cid, Int64) and cid != 0
    seen = [d["_id"] for d in r["cursor"]["firstBatch"]]
    while cid:
        r = ok(eng.run("db", {"getMore": cid, "collection": "c", "batchSize": 50}))
        assert r["cursor"]["ns"] == "db.c"
        assert len(r["cursor"]["nextBatch"]) <= 50
        seen += [d["_id"] for d in r["cursor"]["nextBatch"]]
        cid = r["cursor"]["id"]
    assert seen == list(range(250))
    err = eng.run("db", {"getMore": Int64(12345), "collection": "c"})
    assert (err["ok"], err["code"], err["codeName"]) == (0.0, 43, "CursorNotFound")


def test_kill_cursors(eng):
    insert(eng, "c", [{"_id": i} for i in range(5)])
    cid = ok(eng.run("db", {"find": "c", "batchSize": 2}))["cursor"]["id"]
    r = ok(eng.run("db", {"killCursors": "c", "cursors": [cid, Int64(999)]}))
    assert r["cursorsKilled"] == [cid] and r["cursorsNotFound"] == [999]
    assert r["cursorsAlive"] == [] and r["cursorsUnknown"] == []
    assert eng.run("db", {"getMore": cid, "collection": "c"})["code"] == 43


def test_single_batch_and_batch_size_zero(eng):
    insert(eng, "c", [{"_id": i} for i in range(5)])
    r = ok(eng.run("db", {"find": "c", "batchSize": 2, "singleBatch": True}))
    assert r["cursor"]["id"] == 0 and len(r["cursor"]["firstBatch"]) == 2
    r = ok(eng.run("db", {"find": "c", "batchSize": 0}))
    assert r["cursor"]["firstBatch"] == [] and r["cursor"]["id"] != 0
    r = ok(eng.run("db", {"getMore": r["cursor"]["id"], "collection": "c"}))
    assert len(r["cursor"]["nextBatch"]) == 5 and r["cursor"]["id"] == 0


# --- unique indexes ---------------------------------------------------------------------------

def test_unique_index_violation_has_the_real_message(eng):
    ok(eng.run("db", {"createIndexes": "c", "indexes": [{"key": {"a": 1}, "name": "a_1",
                                                         "unique": True}]}))
    ok(insert(eng, "c", [{"a": 1}]))
    r = ok(insert(eng, "c", [{"a": 2}, {"a": 1}, {"a": 3}]))
    assert r["n"] == 1  # ordered: stops at the failing document
    (we,) = r["writeErrors"]
    assert we["index"] == 1 and we["code"] == 11000
    assert we["errmsg"] == "E11000 duplicate key error collection: db.c index: a_1 dup key: { a: 1 }"
    assert we["keyPattern"] == {"a": 1} and we["keyValue"] == {"a": 1}
    r = ok(insert(eng, "c", [{"a": 1}, {"a": 4}, {"a": 2}], ordered=False))
    assert r["n"] == 1 and [w["index"] for w in r["writeErrors"]] == [0, 2]


def test_duplicate_id_and_string_key_message(eng):
    ok(insert(eng, "c", [{"_id": "x"}]))
    we = ok(insert(eng, "c", [{"_id": "x"}]))["writeErrors"][0]
    assert we["errmsg"] == ('E11000 duplicate key error collection: db.c index: _id_ '
                            'dup key: { _id: "x" }')


def test_unique_index_on_update_and_compound(eng):
    ok(eng.run("db", {"createIndexes": "c", "indexes": [{"key": {"a": 1, "b": -1},
                                                         "unique": True}]}))
    insert(eng, "c", [{"_id": 1, "a": 1, "b": "x"}, {"_id": 2, "a": 1, "b": "y"}])
    r = ok(eng.run("db", {"update": "c", "updates": [{"q": {"_id": 2}, "u": {"$set": {"b": "x"}}}]}))
    assert r["writeErrors"][0]["errmsg"] == ('E11000 duplicate key error collection: db.c index: '
                                             'a_1_b_-1 dup key: { a: 1, b: "x" }')
    assert find_all(eng, "c", filter={"_id": 2})[0]["b"] == "y"  # the failed update left it


def test_unique_index_over_existing_duplicates_fails(eng):
    insert(eng, "c", [{"a": 1}, {"a": 1}])
    r = eng.run("db", {"createIndexes": "c", "indexes": [{"key": {"a": 1}, "unique": True}]})
    assert r["ok"] == 0.0 and r["code"] == 11000
    assert "E11000 duplicate key error collection: db.c index: a_1 dup key: { a: 1 }" in r["errmsg"]
    names = [ix["name"] for ix in ok(eng.run("db", {"listIndexes": "c"}))["cursor"]["firstBatch"]]
    assert names == ["_id_"]


def test_numeric_types_collide_in_unique_index(eng):
    ok(eng.run("db", {"createIndexes": "c", "indexes": [{"key": {"n": 1}, "unique": True}]}))
    ok(insert(eng, "c", [{"n": 1}]))
    assert ok(insert(eng, "c", [{"n": 1.0}]))["writeErrors"][0]["code"] == 11000
    assert ok(insert(eng, "c", [{"n": Int64(1)}]))["writeErrors"][0]["code"] == 11000
    assert "writeErrors" not in ok(insert(eng, "c", [{"n": True}]))


# --- upserts, arrayFilters, findAndModify -----------------------------------------------------

def test_upsert_reports_index_and_id(eng):
    r = ok(eng.run("db", {"update": "c", "updates": [
        {"q": {"_id": 1}, "u": {"$set": {"a": 1}}},
        {"q": {"k": "v"}, "u": {"$set": {"a": 2}}, "upsert": True},
        {"q": {"_id": 9}, "u": {"b": 1}, "upsert": True}]}))
    assert r["n"] == 2 and r["nModified"] == 0
    assert [u["index"] for u in r["upserted"]] == [1, 2]
    assert isinstance(r["upserted"][0]["_id"], ObjectId) and r["upserted"][1]["_id"] == 9
    docs = find_all(eng, "c", sort={"a": 1})
    assert docs[0] == {"_id": 9, "b": 1}
    assert list(docs[1]) == ["_id", "k", "a"] and docs[1]["k"] == "v"


def test_array_filters(eng):
    insert(eng, "c", [{"_id": 1, "grades": [95, 92, 90, 80]},
                      {"_id": 2, "items": [{"q": 1, "ok": False}, {"q": 9, "ok": False}]}])
    ok(eng.run("db", {"update": "c", "updates": [
        {"q": {"_id": 1}, "u": {"$set": {"grades.$[g]": 100}}, "arrayFilters": [{"g": {"$gte": 92}}]},
        {"q": {"_id": 2}, "u": {"$set": {"items.$[it].ok": True}},
         "arrayFilters": [{"it.q": {"$gt": 5}}]},
    ]}))
    docs = find_all(eng, "c")
    assert docs[0]["grades"] == [100, 100, 90, 80]
    assert docs[1]["items"] == [{"q": 1, "ok": False}, {"q": 9, "ok": True}]
    ok(eng.run("db", {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"grades.$[]": 1}}}]}))
    assert find_all(eng, "c", filter={"_id": 1})[0]["grades"] == [101, 101, 91, 81]


def test_find_and_modify(eng):
    insert(eng, "c", [{"_id": 1, "a": 1}, {"_id": 2, "a": 5}])
    r = ok(eng.run("db", {"findAndModify": "c", "query": {}, "sort": {"a": -1},
                          "update": {"$inc": {"a": 1}}, "new": True, "fields": {"a": 1}}))
    assert r["value"] == {"_id": 2, "a": 6}
    assert r["lastErrorObject"] == {"n": 1, "updatedExisting": True}
    r = ok(eng.run("db", {"findAndModify": "c", "query": {"_id": 3}, "update": {"$set": {"a": 0}},
                          "upsert": True}))
    assert r["value"] is None
    assert r["lastErrorObject"] == {"n": 1, "updatedExisting": False, "upserted": 3}
    r = ok(eng.run("db", {"findAndModify": "c", "query": {"_id": 1}, "remove": True}))
    assert r["value"] == {"_id": 1, "a": 1} and r["lastErrorObject"] == {"n": 1}
    r = ok(eng.run("db", {"findAndModify": "c", "query": {"_id": 1}, "remove": True}))
    assert r["value"] is None and r["lastErrorObject"] == {"n": 0}


# --- aggregation ------------------------------------------------------------------------------

def agg(eng, pipeline, coll="c"):
    r = ok(eng.run("db", {"aggregate": coll, "pipeline": pipeline, "cursor": {}}))
    return r["cursor"]["firstBatch"]


@pytest.fixture()
def sales(eng):
    insert(eng, "c", [
        {"_id": 1, "item": "a", "qty": 2, "tags": ["x", "y"]},
        {"_id": 2, "item": "b", "qty": 5, "tags": ["x"]},
        {"_id": 3, "item": "a", "qty": 1, "tags": []},
    ])
    insert(eng, "items", [{"_id": "a", "name": "apple"}, {"_id": "b", "name": "banana"}])
    return eng


def test_aggregation_stages(sales):
    eng = sales
    assert agg(eng, [{"$match": {"qty": {"$gt": 1}}}, {"$count": "n"}]) == [{"n": 2}]
    groups = agg(eng, [{"$group": {"_id": "$item", "total": {"$sum": "$qty"}}}, {"$sort": {"_id": 1}}])
    assert groups == [{"_id": "a", "total": 3}, {"_id": "b", "total": 5}]
    assert agg(eng, [{"$sort": {"qty": -1}}, {"$skip": 1}, {"$limit": 1}, {"$project": {"qty": 1}}]) \
        == [{"_id": 1, "qty": 2}]
    assert [d["tags"] for d in agg(eng, [{"$unwind": "$tags"}])] == ["x", "y", "x"]
    assert agg(eng, [{"$sortByCount": "$item"}]) == [{"_id": "a", "count": 2}, {"_id": "b", "count": 1}]
    assert agg(eng, [{"$match": {"_id": 2}}, {"$set": {"d": {"$multiply": ["$qty", 2]}}},
                     {"$unset": ["tags", "item"]}]) == [{"_id": 2, "qty": 5, "d": 10}]
    looked = agg(eng, [{"$match": {"_id": 2}}, {"$lookup": {"from": "items", "localField": "item",
                                                            "foreignField": "_id", "as": "it"}}])
    assert looked[0]["it"] == [{"_id": "b", "name": "banana"}]
    facet = agg(eng, [{"$facet": {"n": [{"$count": "n"}], "top": [{"$sort": {"qty": -1}},
                                                                   {"$limit": 1}]}}])
    assert facet[0]["n"] == [{"n": 3}] and facet[0]["top"][0]["_id"] == 2
    assert agg(eng, [{"$match": {"_id": 1}}, {"$replaceRoot": {"newRoot": {"q": "$qty"}}}]) == [{"q": 2}]
    assert len(agg(eng, [{"$sample": {"size": 2}}])) == 2


def test_aggregate_out_and_merge(sales):
    eng = sales
    assert agg(eng, [{"$match": {"item": "a"}}, {"$out": "copy"}]) == []
    assert [d["_id"] for d in find_all(eng, "copy")] == [1, 3]
    agg(eng, [{"$match": {"_id": 2}}, {"$project": {"qty": 1}}, {"$merge": {"into": "copy"}}])
    agg(eng, [{"$match": {"_id": 1}}, {"$project": {"qty": {"$literal": 99}}},
              {"$merge": {"into": "copy"}}])
    copy = {d["_id"]: d for d in find_all(eng, "copy")}
    assert copy[2] == {"_id": 2, "qty": 5} and copy[1]["qty"] == 99 and copy[1]["item"] == "a"


def test_aggregate_batches_and_unsupported_stage(sales):
    eng = sales
    r = ok(eng.run("db", {"aggregate": "c", "pipeline": [], "cursor": {"batchSize": 1}}))
    assert len(r["cursor"]["firstBatch"]) == 1 and r["cursor"]["id"] != 0
    r2 = ok(eng.run("db", {"getMore": r["cursor"]["id"], "collection": "c"}))
    assert len(r2["cursor"]["nextBatch"]) == 2 and r2["cursor"]["id"] == 0
    err = eng.run("db", {"aggregate": "c", "pipeline": [{"$indexStats": {}}], "cursor": {}})
    assert err["ok"] == 0.0 and err["code"] == 238 and "$indexStats" in err["errmsg"]


def test_count_and_distinct(sales):
    eng = sales
    assert ok(eng.run("db", {"count": "c", "query": {"item": "a"}}))["n"] == 2
    assert ok(eng.run("db", {"count": "c", "skip": 1, "limit": 1}))["n"] == 1
    assert ok(eng.run("db", {"count": "missing"}))["n"] == 0
    assert ok(eng.run("db", {"distinct": "c", "key": "tags"}))["values"] == ["x", "y"]
    assert ok(eng.run("db", {"distinct": "c", "key": "item", "query": {"qty": {"$lt": 3}}}))["values"] \
        == ["a"]


# --- types and _id ----------------------------------------------------------------------------

def test_every_type_round_trips_exactly_through_bson(eng):
    uid = Binary(uuid.uuid4().bytes, 4)
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, 123000)
    doc = {"_id": ObjectId(), "t": True, "f": False, "i32": 7, "i64": Int64(7), "dbl": 7.0,
           "dec": Decimal128("1.10"), "uuid": uid, "bin": Binary(b"\x00\x01", 0), "date": when,
           "nested": [[1, [2, {"x": Int64(3)}]], []], "re": Regex("^ab", "i"), "none": None,
           "doc": {"k": {"j": "v"}}}
    wire = bson.decode(bson.encode({"insert": "c", "documents": [doc]}))  # as the server decodes
    ok(eng.run("db", wire))
    back = find_all(eng, "c")[0]
    assert bson.encode(back) == bson.encode(doc)  # same types, same order, same bytes
    assert type(back["t"]) is bool and type(back["i64"]) is Int64 and type(back["i32"]) is int
    assert back["uuid"].subtype == 4 and back["date"] == when
    assert bson.decode(bson.encode(back), CodecOptions()) == bson.decode(bson.encode(doc))
    ok(eng.run("db", {"update": "c", "updates": [{"q": {}, "u": {"$set": {"t": False}}}]}))
    assert type(find_all(eng, "c")[0]["t"]) is bool


def test_queries_on_uuid_decimal_dates_and_regex(eng):
    uid = Binary(uuid.uuid4().bytes, 4)
    insert(eng, "c", [{"_id": 1, "u": uid, "d": Decimal128("2.5"), "w": datetime.datetime(2020, 1, 1),
                       "s": "hello"},
                      {"_id": 2, "u": Binary(uuid.uuid4().bytes, 4), "d": Decimal128("0.5"),
                       "w": datetime.datetime(2021, 1, 1), "s": "world"}])
    assert [d["_id"] for d in find_all(eng, "c", filter={"u": uid})] == [1]
    assert [d["_id"] for d in find_all(eng, "c", filter={"d": {"$gt": 1}})] == [1]
    assert [d["_id"] for d in find_all(eng, "c", sort={"d": 1})] == [2, 1]
    assert [d["_id"] for d in find_all(eng, "c", filter={"w": {"$gte": datetime.datetime(2020, 6, 1)}})] \
        == [2]
    assert [d["_id"] for d in find_all(eng, "c", filter={"s": re.compile("^wor")})] == [2]
    assert [d["_id"] for d in find_all(eng, "c", filter={"s": {"$regex": "LL", "$options": "i"}})] == [1]


def test_id_is_first_in_stored_and_returned_documents(eng):
    ok(insert(eng, "c", [{"a": 1, "b": 2}, {"a": 2, "_id": "late"}]))
    for doc in find_all(eng, "c"):
        assert next(iter(doc)) == "_id"
    ok(eng.run("db", {"update": "c", "updates": [{"q": {"z": 1}, "u": {"$set": {"y": 1}},
                                                  "upsert": True}]}))
    r = ok(eng.run("db", {"findAndModify": "c", "query": {"_id": "late"}, "update": {"q": 1},
                          "new": True}))
    assert list(r["value"]) == ["_id", "q"]
    for doc in find_all(eng, "c") + agg(eng, [{"$project": {"a": 1}}]):
        assert next(iter(doc)) == "_id"


def test_mixed_type_sort_follows_bson_order(eng):
    insert(eng, "c", [{"_id": 1, "v": "s"}, {"_id": 2, "v": 5}, {"_id": 3, "v": None},
                      {"_id": 4, "v": True}, {"_id": 5, "v": Decimal128("4.5")}, {"_id": 6}])
    assert [d["_id"] for d in find_all(eng, "c", sort={"v": 1, "_id": 1})] == [3, 6, 5, 2, 1, 4]


# --- catalog and errors -----------------------------------------------------------------------

def test_catalog_commands(eng):
    ok(eng.run("db", {"create": "c"}))
    err = eng.run("db", {"create": "c"})
    assert (err["code"], err["codeName"]) == (48, "NamespaceExists")
    insert(eng, "c", [{"a": 1}])
    colls = ok(eng.run("db", {"listCollections": 1, "filter": {"name": "c"}}))["cursor"]["firstBatch"]
    assert colls[0]["name"] == "c" and colls[0]["info"]["uuid"].subtype == 4
    assert ok(eng.run("db", {"listCollections": 1, "nameOnly": True}))["cursor"]["firstBatch"] \
        == [{"name": "c", "type": "collection"}]
    dbs = ok(eng.run("admin", {"listDatabases": 1}))
    names = [d["name"] for d in dbs["databases"]]
    assert "db" in names and dbs["totalSize"] > 0
    assert {"name": "db"} in ok(eng.run("admin", {"listDatabases": 1, "nameOnly": True}))["databases"]
    stats = ok(eng.run("db", {"collStats": "c"}))
    assert stats["count"] == 1 and stats["nindexes"] == 1 and stats["size"] == stats["avgObjSize"] > 0
    assert ok(eng.run("db", {"dbStats": 1}))["objects"] == 1
    ok(eng.run("admin", {"renameCollection": "db.c", "to": "db.d"}))
    assert [c["name"] for c in ok(eng.run("db", {"listCollections": 1}))["cursor"]["firstBatch"]] == ["d"]
    assert eng.run("db", {"renameCollection": "db.d", "to": "db.e"})["code"] == 13
    assert eng.run("admin", {"renameCollection": "db.zz", "to": "db.e"})["code"] == 26
    insert(eng, "e", [{"x": 1}])
    assert eng.run("admin", {"renameCollection": "db.d", "to": "db.e"})["code"] == 48
    ok(eng.run("admin", {"renameCollection": "db.d", "to": "db.e", "dropTarget": True}))
    assert find_all(eng, "e")[0]["a"] == 1
    assert ok(eng.run("db", {"drop": "e"}))["nIndexesWas"] == 1
    ok(eng.run("db", {"drop": "e"}))  # 7.0+: dropping a missing collection succeeds
    insert(eng, "f", [{"x": 1}])
    ok(eng.run("db", {"dropDatabase": 1}))
    assert "db" not in [d["name"] for d in ok(eng.run("admin", {"listDatabases": 1}))["databases"]]


def test_index_commands(eng):
    r = ok(eng.run("db", {"createIndexes": "c", "indexes": [{"key": {"a": 1}, "name": "a_1"},
                                                            {"key": {"b": -1}, "name": "bdesc",
                                                             "unique": True}]}))
    assert (r["numIndexesBefore"], r["numIndexesAfter"], r["createdCollectionAutomatically"]) == (1, 3, True)
    specs = ok(eng.run("db", {"listIndexes": "c"}))["cursor"]["firstBatch"]
    assert specs[0] == {"v": 2, "key": {"_id": 1}, "name": "_id_"}
    assert specs[2] == {"v": 2, "key": {"b": -1}, "name": "bdesc", "unique": True}
    assert eng.run("db", {"createIndexes": "c", "indexes": [{"key": {"z": 1}, "name": "a_1"}]})["code"] == 86
    assert eng.run("db", {"dropIndexes": "c", "index": "nope"})["code"] == 27
    assert eng.run("db", {"dropIndexes": "c", "index": "_id_"})["code"] == 72
    assert ok(eng.run("db", {"dropIndexes": "c", "index": {"b": -1}}))["nIndexesWas"] == 3
    assert ok(eng.run("db", {"dropIndexes": "c", "index": "*"}))["nIndexesWas"] == 2
    assert eng.run("db", {"listIndexes": "missing"})["code"] == 26


def test_explain_names_the_index(eng):
    insert(eng, "c", [{"a": i} for i in range(5)])
    plan = ok(eng.run("db", {"explain": {"find": "c", "filter": {"a": 1}}}))["queryPlanner"]["winningPlan"]
    assert plan["stage"] == "COLLSCAN"
    ok(eng.run("db", {"createIndexes": "c", "indexes": [{"key": {"a": 1}, "name": "a_1"}]}))
    r = ok(eng.run("db", {"explain": {"find": "c", "filter": {"a": 1}}, "verbosity": "executionStats"}))
    assert r["queryPlanner"]["winningPlan"]["inputStage"]["indexName"] == "a_1"
    assert r["executionStats"]["nReturned"] == 1
    r = ok(eng.run("db", {"explain": {"aggregate": "c", "pipeline": [{"$match": {"b": 1}}], "cursor": {}}}))
    assert r["queryPlanner"]["winningPlan"]["stage"] == "COLLSCAN"


@pytest.mark.parametrize("db,cmd,code", [
    ("db", {"insert": "a$b", "documents": [{}]}, 73),
    ("db", {"find": "c", "filter": {"$bogus": 1}}, 2),
    ("db", {"update": "c", "updates": [{"q": {}, "u": {"$foo": {"a": 1}}}]}, 9),
    ("db", {"find": "c", "limit": "x"}, 14),
    ("db", {"frobnicate": 1}, 59),
    ("db", {"delete": "c", "deletes": [{"q": {}, "limit": 5}]}, 9),
    ("db", {"findAndModify": "c", "query": {}, "remove": True, "update": {"$set": {"a": 1}}}, 9),
])
def test_error_codes(eng, db, cmd, code):
    insert(eng, "c", [{"a": 1}])
    r = eng.run(db, cmd)
    errors = r.get("writeErrors")
    got = errors[0]["code"] if errors else r.get("code")
    assert got == code, r
    if not errors:
        assert r["ok"] == 0.0 and isinstance(r["errmsg"], str) and r["codeName"]


def test_too_large_document_is_refused(eng):
    r = ok(eng.run("db", {"insert": "c", "documents": [{"s": "x" * 2000}]}, max_bson_size=1000))
    assert r["writeErrors"][0]["code"] == 10334


def test_handles_and_threads_share_one_engine(eng):
    assert eng.handles("find") and eng.handles("findAndModify") and not eng.handles("hello")
    barrier = threading.Barrier(4)

    def work(k):
        barrier.wait()
        for i in range(50):
            ok(insert(eng, "c", [{"_id": k * 1000 + i}]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ok(eng.run("db", {"count": "c"}))["n"] == 200


def test_positional_operator_on_scalar_and_document_arrays(eng):
    insert(eng, "c", [{"_id": 1, "arr": [1, 2, 3], "g": [{"a": 1}, {"a": 2}]}])
    ok(eng.run("db", {"update": "c", "updates": [
        {"q": {"_id": 1, "arr": 2}, "u": {"$set": {"arr.$": 20}}},
        {"q": {"_id": 1, "g": {"$elemMatch": {"a": 2}}}, "u": {"$inc": {"g.$.a": 5}}}]}))
    assert find_all(eng, "c")[0] == {"_id": 1, "arr": [1, 20, 3], "g": [{"a": 1}, {"a": 7}]}
    r = ok(eng.run("db", {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"arr.$": 0}}}]}))
    assert r["writeErrors"][0]["code"] == 2 and "positional operator" in r["writeErrors"][0]["errmsg"]


# --- let variables and aggregation comparisons --------------------------------------------------

def test_let_variables_reach_filters_updates_and_pipelines(eng):
    insert(eng, "c", [{"_id": 1}, {"_id": 2, "name": "name"}, {"_id": 3, "name": "name"}])
    by_name = {"$expr": {"$eq": ["$name", "$$name"]}}
    reply = ok(eng.run("db", {"find": "c", "filter": by_name, "let": {"name": "name"}}))
    assert [d["_id"] for d in reply["cursor"]["firstBatch"]] == [2, 3]
    ok(eng.run("db", {"update": "c", "updates": [
        {"q": {"$expr": {"$eq": ["$_id", "$$id"]}}, "u": [{"$set": {"x": "$$x"}}]}],
        "let": {"id": 1, "x": {"$literal": "$bar"}}}))
    reply = ok(eng.run("db", {"findAndModify": "c", "query": {"$expr": {"$eq": ["$_id", "$$id"]}},
                              "remove": True, "let": {"id": 1}}))
    assert reply["value"] == {"_id": 1, "x": "$bar"}
    assert ok(eng.run("db", {"delete": "c", "deletes": [{"q": by_name, "limit": 0}],
                             "let": {"name": "name"}}))["n"] == 2
    assert find_all(eng, "c") == []


def test_let_in_aggregate_and_invalid_variable_name(eng):
    insert(eng, "c", [{"_id": 1}])
    reply = ok(eng.run("db", {"aggregate": "c", "cursor": {}, "let": {"x": "foo", "r": {"$rand": {}}},
                              "pipeline": [{"$project": {"_id": 0, "x": "$$x", "r": "$$r"}}]}))
    (doc,) = reply["cursor"]["firstBatch"]
    assert doc["x"] == "foo" and 0 <= doc["r"] < 1
    reply = eng.run("db", {"find": "c", "let": {"Bad": 1}})
    assert reply["ok"] == 0 and reply["code"] == 2


def test_expr_comparisons_treat_missing_as_lowest(eng):
    insert(eng, "c", [{"_id": 1}, {"_id": 2, "a": None}, {"_id": 3, "a": 5}, {"_id": 4, "a": "s"}])
    ids = lambda expr: [d["_id"] for d in find_all(eng, "c", filter={"$expr": expr})]  # noqa: E731
    assert ids({"$eq": ["$a", 5]}) == [3]
    assert ids({"$gt": ["$a", None]}) == [3, 4]  # strings sort above numbers
    assert ids({"$lt": ["$a", None]}) == [1]  # missing is below null
    assert ids({"$ne": ["$a", 5]}) == [1, 2, 4]


# --- update pipelines, $setField/$getField/$unsetField, source stages ---------------------------

def test_update_pipeline_stages_and_set_field(eng):
    insert(eng, "c", [{"_id": 1, "foo": {}, "t": {"u": 1}, "drop": 1}])
    upd = lambda u: ok(eng.run("db", {"update": "c", "updates": [{"q": {"_id": 1}, "u": u}]}))  # noqa: E731
    upd([{"$replaceWith": {"$setField": {"field": {"$literal": "$a"}, "value": 1,
                                         "input": "$$ROOT"}}}])
    upd([{"$set": {"foo": {"$setField": {"field": "a.b", "value": 2, "input": "$foo"}}}},
         {"$unset": "drop"}])
    assert find_all(eng, "c") == [{"_id": 1, "foo": {"a.b": 2}, "t": {"u": 1}, "$a": 1}]
    # $replaceRoot without _id keeps the document's _id; $unsetField removes a literal name
    upd([{"$replaceRoot": {"newRoot": {"$unsetField": {"field": "a.b", "input": "$foo"}}}},
         {"$addFields": {"k": 1}}])
    assert find_all(eng, "c") == [{"_id": 1, "k": 1}]
    reply = eng.run("db", {"update": "c", "updates": [{"q": {}, "u": [{"$match": {}}]}]})
    assert reply["writeErrors"][0]["code"] == 72


def test_get_field_reads_names_with_dots_and_dollars(eng):
    insert(eng, "c", [{"_id": 1, "a.b": 5, "$p": 6, "a": {"b": 7}}])
    reply = ok(eng.run("db", {"aggregate": "c", "cursor": {}, "pipeline": [{"$project": {
        "_id": 0, "dotted": {"$getField": "a.b"}, "path": "$a.b",
        "dollar": {"$getField": {"field": {"$literal": "$p"}, "input": "$$ROOT"}}}}]}))
    assert reply["cursor"]["firstBatch"] == [{"dotted": 5, "path": 7, "dollar": 6}]


def test_insert_refuses_dollar_prefixed_id_field(eng):
    reply = insert(eng, "c", [{"_id": {"$a": 1}}])
    assert reply["writeErrors"][0]["code"] == 52 and find_all(eng, "c") == []


def test_list_local_sessions_and_documents_stages(eng):
    ident = Binary(uuid.uuid4().bytes, 4)
    last = datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc)
    cmd = {"aggregate": 1, "cursor": {}, "pipeline": [{"$listLocalSessions": {}}]}
    reply = ok(eng.run("admin", cmd, local_sessions=lambda: [{"id": ident, "lastUse": last}]))
    (doc,) = reply["cursor"]["firstBatch"]
    assert doc["_id"]["id"] == ident and doc["lastUse"] == last and len(doc["_id"]["uid"]) == 32
    assert ok(eng.run("admin", cmd))["cursor"]["firstBatch"] == []
    reply = ok(eng.run("db", {"aggregate": 1, "cursor": {}, "pipeline": [
        {"$documents": [{"x": 2}, {"x": 1}]}, {"$sort": {"x": 1}}]}))
    assert reply["cursor"]["firstBatch"] == [{"x": 1}, {"x": 2}]
    reply = eng.run("db", {"aggregate": 1, "cursor": {}, "pipeline": [
        {"$match": {}}, {"$documents": []}]})
    assert reply["ok"] == 0 and reply["code"] == 40602


def test_coll_stats_stage_count_and_storage(eng):
    ok(eng.run("db", {"create": "capped", "capped": True, "size": 4096}))
    insert(eng, "capped", [{"_id": 1}, {"_id": 2}])
    reply = ok(eng.run("db", {"aggregate": "capped", "cursor": {}, "pipeline": [
        {"$collStats": {"count": {}, "storageStats": {}}},
        {"$project": {"count": 1, "capped": "$storageStats.capped",
                      "maxSize": "$storageStats.maxSize", "n": "$storageStats.count"}}]}))
    assert reply["cursor"]["firstBatch"] == [{"count": 2, "capped": True, "maxSize": 4096, "n": 2}]
    reply = eng.run("db", {"aggregate": "nope", "cursor": {}, "pipeline": [{"$collStats": {}}]})
    assert reply["ok"] == 0 and reply["code"] == 26


# --- filter validation --------------------------------------------------------------------------

@pytest.mark.parametrize("filt, message", [
    ({"$foo": 1}, "unknown top level operator: $foo"),
    ({"a": {"$foo": 1}}, "unknown operator: $foo"),
    ({"a": {"$not": {"$bar": 1}}}, "unknown operator: $bar"),
    ({"$or": [{"a": 1}, {"b": {"$gt": 1, "$baz": 2}}]}, "unknown operator: $baz"),
    ({"a": {"$elemMatch": {"b": {"$qux": 1}}}}, "unknown operator: $qux"),
    ({"$or": [{"$where": "function() { return true; }"}]}, "only at the top level"),
])
def test_bad_filters_fail_even_on_missing_collections(eng, filt, message):
    for cmd in ({"find": "none", "filter": filt}, {"count": "none", "query": filt},
                {"aggregate": "none", "cursor": {}, "pipeline": [{"$match": filt}]}):
        reply = eng.run("db", cmd)
        assert reply["ok"] == 0 and reply["code"] == 2 and message in reply["errmsg"], (cmd, reply)
    insert(eng, "c", [{"_id": 1}])
    reply = eng.run("db", {"delete": "c", "deletes": [{"q": filt, "limit": 0}]})
    assert reply["writeErrors"][0]["code"] == 2 and find_all(eng, "c") == [{"_id": 1}]


def test_valid_filters_with_documents_and_elem_match_pass(eng):
    insert(eng, "c", [{"_id": 1, "r": {"x": 1}, "a": [{"b": 2}, 5]}])
    assert len(find_all(eng, "c", filter={"r": {"x": 1}, "$comment": "hi"})) == 1
    assert len(find_all(eng, "c", filter={"a": {"$elemMatch": {"b": {"$gte": 2}}}})) == 1
    assert len(find_all(eng, "c", filter={"a": {"$elemMatch": {"$gt": 4, "$lt": 6}}})) == 1


def test_array_filters_matching_nothing_leave_the_document_alone(eng):
    insert(eng, "c", [{"_id": 1, "y": [{"b": 3}, {"b": 1}]}, {"_id": 2, "y": [{"b": 0}]}])
    reply = ok(eng.run("db", {"update": "c", "updates": [{
        "q": {}, "u": {"$set": {"y.$[i].b": 2}}, "arrayFilters": [{"i.b": 3}], "multi": True}]}))
    assert (reply["n"], reply["nModified"]) == (2, 1)
    assert find_all(eng, "c") == [{"_id": 1, "y": [{"b": 2}, {"b": 1}]}, {"_id": 2, "y": [{"b": 0}]}]


# --- collation ----------------------------------------------------------------------------------

def test_collation_strength_two_and_one_match_case_and_accents(eng):
    insert(eng, "c", [{"_id": 1, "x": "ping"}, {"_id": 2, "x": "pINg"}, {"_id": 3, "x": "píng"}])
    ok(eng.run("db", {"createIndexes": "c", "indexes": [{"key": {"x": 1}, "name": "x_1"}]}))
    ids = lambda reply: [d["_id"] for d in ok(reply)["cursor"]["firstBatch"]]  # noqa: E731
    second = {"locale": "en_US", "strength": 2}
    assert ids(eng.run("db", {"find": "c", "filter": {"x": "PING"}})) == []
    assert ids(eng.run("db", {"find": "c", "filter": {"x": "PING"}, "collation": second})) == [1, 2]
    assert ids(eng.run("db", {"find": "c", "filter": {"x": {"$in": ["PING"]}},
                              "collation": {"locale": "fr", "strength": 1}})) == [1, 2, 3]
    assert ids(eng.run("db", {"aggregate": "c", "cursor": {}, "collation": second,
                              "pipeline": [{"$match": {"x": "PÍNG"}}]})) == [3]
    reply = ok(eng.run("db", {"update": "c", "updates": [
        {"q": {"x": "PING"}, "u": {"$set": {"y": 1}}, "multi": True, "collation": second}]}))
    assert reply["nModified"] == 2
    reply = ok(eng.run("db", {"delete": "c", "deletes": [
        {"q": {"x": "PING"}, "limit": 0, "collation": second}]}))
    assert reply["n"] == 2 and [d["_id"] for d in find_all(eng, "c")] == [3]
    reply = eng.run("db", {"find": "c", "collation": {"strength": 2}})
    assert reply["ok"] == 0 and reply["code"] == 2


# --- views and read concern -----------------------------------------------------------------------

def test_views_read_through_their_pipeline_and_refuse_writes(eng):
    insert(eng, "c", [{"_id": 1, "x": 1}, {"_id": 2, "x": 2}, {"_id": 3, "x": 3}])
    ok(eng.run("db", {"create": "v", "viewOn": "c", "pipeline": [{"$match": {"_id": {"$gt": 1}}}]}))
    assert ok(eng.run("db", {"count": "v"}))["n"] == 2
    assert ok(eng.run("db", {"count": "v", "query": {"x": 3}}))["n"] == 1
    assert find_all(eng, "v", sort={"x": -1}, limit=1) == [{"_id": 3, "x": 3}]
    reply = ok(eng.run("db", {"aggregate": "v", "cursor": {}, "pipeline": [
        {"$group": {"_id": None, "t": {"$sum": "$x"}}}]}))
    assert reply["cursor"]["firstBatch"] == [{"_id": None, "t": 5}]
    for cmd in ({"insert": "v", "documents": [{"_id": 9}]},
                {"delete": "v", "deletes": [{"q": {}, "limit": 0}]},
                {"findAndModify": "v", "query": {}, "update": {"$set": {"y": 1}}}):
        reply = eng.run("db", cmd)
        code = reply["writeErrors"][0]["code"] if "writeErrors" in reply else reply["code"]
        assert code == 166, (cmd, reply)
    assert len(find_all(eng, "c")) == 3


def test_out_refuses_linearizable_read_concern(eng):
    insert(eng, "c", [{"_id": 1}])
    reply = eng.run("db", {"aggregate": "c", "cursor": {}, "readConcern": {"level": "linearizable"},
                           "pipeline": [{"$out": "other"}]})
    assert reply["ok"] == 0 and reply["code"] == 72 and find_all(eng, "other") == []


# --- find returnKey / showRecordId -----------------------------------------------------------

def test_find_return_key_gives_the_used_index_keys_or_nothing_for_a_scan(eng):
    insert(eng, "c", [{"_id": 1, "a": 5, "b": {"c": [7, 8]}}, {"_id": 2, "a": 4}])
    ok(eng.run("db", {"createIndexes": "c", "indexes": [{"key": {"a": 1, "b.c": -1}, "name": "a_b"}]}))
    assert find_all(eng, "c", returnKey=True) == [{}, {}]  # no filter, no sort: collection scan
    assert find_all(eng, "c", returnKey=True, sort={"_id": -1}) == [{"_id": 2}, {"_id": 1}]
    # A filter on the index's first field; missing key fields are null, arrays give an element.
    assert find_all(eng, "c", returnKey=True, filter={"a": {"$gt": 0}}, sort={"a": 1}) == [
        {"a": 4, "b.c": None}, {"a": 5, "b.c": 7}]
    assert find_all(eng, "c", returnKey=True, hint="a_b", projection={"b": 1}, filter={"_id": 1}) == [
        {"a": 5, "b.c": 7}]
    assert find_all(eng, "c", returnKey=True, sort={"b.c": 1}) == [{}, {}]  # no index gives that order


def test_find_show_record_id_adds_a_stable_long_record_id(eng):
    insert(eng, "c", [{"_id": 1, "x": 1}, {"_id": 2, "x": 2}])
    first = find_all(eng, "c", showRecordId=True, sort={"_id": 1})
    assert [list(d) for d in first] == [["_id", "x", "$recordId"]] * 2
    assert all(isinstance(d["$recordId"], Int64) for d in first)
    ids = [d["$recordId"] for d in first]
    assert ids[0] < ids[1]
    ok(eng.run("db", {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$set": {"x": 10}}}]}))
    insert(eng, "c", [{"_id": 3}])
    after = find_all(eng, "c", showRecordId=True, projection={"x": 0}, sort={"_id": 1})
    assert [d["$recordId"] for d in after[:2]] == ids  # an update keeps the document's RecordId
    assert after[2]["$recordId"] > ids[1] and after[0] == {"_id": 1, "$recordId": ids[0]}
    assert "$recordId" not in find_all(eng, "c")[0]
    assert find_all(eng, "c", showRecordId=True, returnKey=True, filter={"_id": 3}) == [{"_id": 3}]


# --- the recognised $where test form (where_sleep) ------------------------------------------

def test_where_sleep_recognises_only_sleep_or_true():
    from mongocli.sandbox.where_sleep import sleep_ms

    assert sleep_ms("sleep(2000) || true") == 2000
    assert sleep_ms("  sleep ( 15 )||true ") == 15
    assert sleep_ms("function() { sleep(1.500000 * 1000); return true; }") == 1500  # PyMongo's delay()
    for other in ("sleep(20) || false", "sleep(-1) || true", "sleep(1.5) || true", "true || sleep(5)",
                  "sleep(1) || true || db.dropDatabase()", "sleep(1234567890) || true", 5, None):
        assert sleep_ms(other) is None, other


def test_where_sleep_extract_strips_the_where_and_sums_the_delay():
    from mongocli.sandbox.where_sleep import extract_sleeps

    cmd = {"find": "c", "filter": {"$where": "sleep(30) || true", "a": 1}, "$db": "db"}
    stripped, delay = extract_sleeps("find", cmd)
    assert delay == 30 and stripped["filter"] == {"a": 1} and cmd["filter"]["$where"]  # original kept
    update = {"update": "c", "updates": [{"q": {"$where": "sleep(5) || true"}, "u": {}},
                                         {"q": {"$where": "this.a"}, "u": {}},
                                         {"q": {"$where": "sleep(7)||true"}, "u": {}}]}
    stripped, delay = extract_sleeps("update", update)
    assert delay == 12 and [u["q"] for u in stripped["updates"]] == [{}, {"$where": "this.a"}, {}]
    untouched = {"find": "c", "filter": {"$where": "this.a"}}
    assert extract_sleeps("find", untouched) == (untouched, 0)
    assert extract_sleeps("aggregate", {"aggregate": "c", "pipeline": []})[1] == 0
    # The engine runs any $where it sees as JavaScript, which has no sleep() (139).
    eng = DataEngine()
    eng.run("db", {"insert": "c", "documents": [{"_id": 1}]})
    assert eng.run("db", {"find": "c", "filter": {"$where": "sleep(5) || true"}})["code"] == 139
