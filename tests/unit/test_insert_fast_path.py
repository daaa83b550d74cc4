"""The insert_many fast path (plan_inserts, batched ObjectIds, pre-encoded sequences) matches the general path."""

import bson
from bson import ObjectId

from driver.bulk import BatchLimits, InsertOne, plan_bulk, plan_inserts
from driver.ops.write import new_object_ids
from driver.wire import encode_op_msg
from driver.wire.encode import EncodedDocuments


def _docs(n: int) -> list[dict]:
    return [{"_id": i, "s": "x" * (i % 50)} for i in range(n)]


def test_plan_inserts_gives_the_batches_plan_bulk_gives() -> None:
    limits = BatchLimits(max_write_batch_size=7, max_message_size_bytes=2_000)
    docs = _docs(40)
    fast = plan_inserts(docs, limits=limits)
    general = plan_bulk([InsertOne(d) for d in docs], limits=limits)
    assert [list(b.indexes) for b in fast] == [list(b.indexes) for b in general]
    assert [[bson.encode(s) for s in b.statements] for b in fast] == \
           [[bson.encode(s) for s in b.statements] for b in general]


def test_plan_inserts_generates_ids_first_and_leaves_callers_documents_alone() -> None:
    docs = [{"a": 1}, {"b": 2, "_id": "given"}]
    (batch,) = plan_inserts(docs)
    first, second = (dict(s) for s in batch.statements)
    assert list(first)[0] == "_id" and isinstance(first["_id"], ObjectId)
    assert list(second) == ["_id", "b"] and second["_id"] == "given"
    assert docs == [{"a": 1}, {"b": 2, "_id": "given"}]


def test_batched_object_ids_are_unique_and_interleave_with_object_id() -> None:
    ids = new_object_ids(1000) + [ObjectId()] + new_object_ids(10)
    assert len(set(ids)) == len(ids)
    counters = [int.from_bytes(oid.binary[9:], "big") for oid in ids]
    assert counters == sorted(counters) or counters[0] > counters[-1]  # increasing unless the counter wrapped


def test_encoded_sequences_encode_to_the_same_bytes_as_dicts() -> None:
    docs = [{"_id": i, "v": [i, {"n": i}]} for i in range(5)]
    encoded = EncodedDocuments([bson.encode(d) for d in docs])
    body = {"insert": "c", "$db": "test"}
    assert encode_op_msg(7, body, {"documents": encoded}) == encode_op_msg(7, body, {"documents": docs})
    assert [bson.decode(bson.encode(d)) for d in encoded] == docs  # items read back as documents
