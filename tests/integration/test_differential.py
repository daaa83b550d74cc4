"""The same operations through our Client and through PyMongo (a test-only peer) give equal results."""

from __future__ import annotations

from typing import Any, Callable

import pymongo
import pytest

from driver.bulk import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from driver.client import Client
from driver.errors import BulkWriteError

SEED = [{"_id": i, "k": i % 4, "v": i * 1.5, "tags": ["t%d" % (i % 3)], "s": "s%02d" % (i % 7)} for i in range(40)]


@pytest.fixture
def pair(standalone, mongo_client):
    """(ours, theirs) collections named alike in two databases of the same sandbox, seeded alike."""
    ours = Client(standalone.uri, serverSelectionTimeoutMS=5000)
    theirs = mongo_client(standalone.uri)
    a, b = ours.diff_ours.c, theirs.diff_theirs.c
    a.insert_many([dict(d) for d in SEED])
    b.insert_many([dict(d) for d in SEED])
    yield a, b
    ours.close()


def both(pair, fn: Callable[[Any], Any]) -> tuple[Any, Any]:
    return fn(pair[0]), fn(pair[1])


QUERIES = [
    lambda c: list(c.find({"k": 1}, sort=[("_id", -1)])),
    lambda c: list(c.find({}, projection={"v": 1}, skip=5, limit=7, sort=[("v", 1)])),
    lambda c: list(c.find({"tags": "t1"}, batch_size=3)),
    lambda c: list(c.find({"s": {"$regex": "^s0[12]"}}).sort("v", -1).limit(5)),
    lambda c: c.find_one({"_id": 7}),
    lambda c: c.find_one({"_id": 1000}),
    lambda c: c.count_documents({"k": {"$in": [1, 2]}}),
    lambda c: c.count_documents({}, skip=3, limit=10),
    lambda c: c.estimated_document_count(),
    lambda c: sorted(c.distinct("s")),
    lambda c: sorted(c.distinct("k", {"v": {"$gt": 20}})),
    lambda c: list(c.aggregate([{"$group": {"_id": "$k", "n": {"$sum": 1}, "t": {"$sum": "$v"}}},
                                {"$sort": {"_id": 1}}])),
    lambda c: list(c.aggregate([{"$unwind": "$tags"}, {"$sortByCount": "$tags"}, {"$sort": {"_id": 1}}],
                               batch_size=1)),
]


@pytest.mark.parametrize("query", range(len(QUERIES)))
def test_reads_agree(pair, query) -> None:
    ours, theirs = both(pair, QUERIES[query])
    assert ours == theirs


def _update_counts(r: Any) -> tuple:
    return (r.matched_count, r.modified_count, r.upserted_id is not None)


WRITES = [
    lambda c: _update_counts(c.update_one({"k": 1}, {"$inc": {"v": 1}})),
    lambda c: _update_counts(c.update_many({"k": 2}, {"$set": {"x": True}, "$push": {"tags": "new"}})),
    lambda c: _update_counts(c.update_one({"_id": 500}, {"$set": {"k": 9}}, upsert=True)),
    lambda c: _update_counts(c.replace_one({"_id": 3}, {"k": 3, "replaced": 1})),
    lambda c: c.delete_one({"k": 3}).deleted_count,
    lambda c: c.delete_many({"v": {"$lt": 10}}).deleted_count,
    lambda c: c.find_one_and_update({"_id": 5}, {"$set": {"y": 1}}, return_document=_after(c)),
    lambda c: c.find_one_and_replace({"_id": 6}, {"z": 1}, projection={"_id": 0}),
    lambda c: c.find_one_and_delete({"k": 0}, sort=[("_id", -1)]),
]


def _after(c: Any) -> Any:
    return pymongo.ReturnDocument.AFTER if isinstance(c, pymongo.collection.Collection) else "after"


@pytest.mark.parametrize("write", range(len(WRITES)))
def test_writes_agree_and_leave_equal_data(pair, write) -> None:
    ours, theirs = both(pair, WRITES[write])
    assert ours == theirs
    assert list(pair[0].find({}, sort=[("_id", 1)])) == list(pair[1].find({}, sort=[("_id", 1)]))


def test_bulk_agrees(pair) -> None:
    def run(c: Any) -> tuple:
        mod = pymongo if isinstance(c, pymongo.collection.Collection) else None
        ops = [
            (mod.InsertOne if mod else InsertOne)({"_id": 100, "k": 1}),
            (mod.UpdateOne if mod else UpdateOne)({"_id": 1}, {"$set": {"b": 1}}),
            (mod.UpdateMany if mod else UpdateMany)({"k": 1}, {"$inc": {"v": 1}}),
            (mod.ReplaceOne if mod else ReplaceOne)({"_id": 2}, {"r": 1}, upsert=True),
            (mod.DeleteOne if mod else DeleteOne)({"_id": 4}),
            (mod.DeleteMany if mod else DeleteMany)({"k": 3}),
            (mod.InsertOne if mod else InsertOne)({"_id": 1}),  # duplicate: error at index 6
            (mod.InsertOne if mod else InsertOne)({"_id": 101}),
        ]
        try:
            c.bulk_write(ops, ordered=False)
        except (BulkWriteError, pymongo.errors.BulkWriteError) as exc:
            d = exc.details
            return (d["nInserted"], d["nMatched"], d["nModified"], d["nRemoved"], d["nUpserted"],
                    [(e["index"], e["code"]) for e in d["writeErrors"]])
        raise AssertionError("the duplicate insert should fail")

    ours, theirs = both(pair, run)
    assert ours == theirs and ours[-1] == [(6, 11000)]
    assert list(pair[0].find({}, sort=[("_id", 1)])) == list(pair[1].find({}, sort=[("_id", 1)]))


def test_indexes_agree(pair) -> None:
    def run(c: Any) -> tuple:
        names = (c.create_index([("k", 1), ("s", -1)]), c.create_index("v", unique=True, name="v_unique"))
        info = sorted((ix["name"], dict(ix["key"]), ix.get("unique", False)) for ix in c.list_indexes())
        c.drop_index("v_unique")
        after = sorted(ix["name"] for ix in c.list_indexes())
        c.drop_indexes()
        return names, info, after, [ix["name"] for ix in c.list_indexes()]

    ours, theirs = both(pair, run)
    assert ours == theirs
