"""The insert_many path (plan_inserts, encode_inserts, batched ObjectIds, pre-encoded sequences) matches the general path."""

import bson
import pytest
from bson import ObjectId

from driver.bulk import BatchLimits, InsertOne, plan_bulk, plan_inserts
from driver.errors import ConfigurationError, DocumentTooLarge
from driver.ops.write import encode_insert, encode_inserts, new_object_ids
from driver.wire import encode_op_msg
from driver.wire.encode import COALESCE_BELOW, EncodedDocuments, SplicedDocument


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
    ids = new_object_ids(1000)[1] + [ObjectId()] + new_object_ids(10)[1]
    assert len(set(ids)) == len(ids)
    counters = [int.from_bytes(oid.binary[9:], "big") for oid in ids]
    assert counters == sorted(counters) or counters[0] > counters[-1]  # increasing unless the counter wrapped


def test_encoded_sequences_encode_to_the_same_bytes_as_dicts() -> None:
    docs = [{"_id": i, "v": [i, {"n": i}]} for i in range(5)]
    encoded = EncodedDocuments([bson.encode(d) for d in docs])
    body = {"insert": "c", "$db": "test"}
    assert encode_op_msg(7, body, {"documents": encoded}) == encode_op_msg(7, body, {"documents": docs})
    assert [bson.decode(bson.encode(d)) for d in encoded] == docs  # items read back as documents


# -- encode_inserts: the whole list at once gives what encode_insert gives one by one ------------

def _mixed_documents() -> list:
    from bson.raw_bson import RawBSONDocument
    from bson.son import SON
    large = {"text": "x" * (COALESCE_BELOW + 10)}
    return [{"a": 1}, {"b": 2, "_id": "given"}, SON([("z", 1), ("_id", 2.5)]), large,
            RawBSONDocument(bson.encode({"r": "raw"})), {"_id": None}, {}, {"_id": 7, **large}]


def test_encode_inserts_gives_encode_inserts_bytes_and_ids_in_order() -> None:
    docs = _mixed_documents()
    before = [bson.encode(d) for d in docs]
    encoded, ids = encode_inserts(docs)
    missing = [k for k, d in enumerate(docs) if "_id" not in d]
    generated = iter([ids[k] for k in missing])
    one_by_one = [encode_insert(d, generated.__next__) for d in docs]
    assert [bytes(e) for e in encoded] == [bytes(e) for e, _ in one_by_one]
    assert ids == [_id for _, _id in one_by_one]
    assert ids[1:3] == ["given", 2.5] and ids[5] is None and ids[7] == 7
    new = [ids[k] for k in missing]
    assert all(isinstance(i, ObjectId) for i in new) and len(set(new)) == len(new)
    assert isinstance(encoded[3], SplicedDocument)  # a large document is not copied
    assert [bson.encode(d) for d in docs] == before  # callers' documents untouched


def test_encode_inserts_when_none_has_an_id() -> None:
    docs = [{"k": i} for i in range(5)]
    encoded, ids = encode_inserts(docs)
    assert [bson.decode(e) for e in encoded] == [{"_id": _id, "k": i} for i, _id in enumerate(ids)]


@pytest.mark.parametrize("make", [lambda docs: plan_inserts(docs), lambda docs: plan_bulk([InsertOne(d) for d in docs])])
def test_a_non_document_is_named_by_its_index(make) -> None:
    with pytest.raises(ConfigurationError, match=r"requests\[2\] \(InsertOne\): document must be a document .*list"):
        make([{"a": 1}, {"b": 1}, [("a", 1)], "also bad"])


@pytest.mark.parametrize("make", [lambda docs, limits: plan_inserts(docs, limits=limits),
                                  lambda docs, limits: plan_bulk([InsertOne(d) for d in docs], limits=limits)])
def test_a_too_large_document_is_named_by_its_index(make) -> None:
    docs = [{"_id": 0}, {"x": "a" * 100}, {"x": "a" * 5000}, {"x": "a" * 6000}]
    with pytest.raises(DocumentTooLarge, match=r"requests\[2\] \(InsertOne\): the document is 5\d\d\d bytes.*4096"):
        make(docs, BatchLimits(max_bson_object_size=4096))


# -- split batches: the bytes sent are those of the documents, cut where the limits say ----------

def _sent_documents(batch) -> list[bytes]:
    """The documents of a batch's OP_MSG as sent: the kind-1 section cut at the length prefixes."""
    message = encode_op_msg(1, {"insert": "c", "$db": "test"}, {"documents": batch.statements})
    body_len = int.from_bytes(message[21:25], "little")
    section = message[21 + body_len:]
    assert section[0] == 1
    payload = section[5:][section[5:].index(b"\x00") + 1:]  # after "documents\0"
    docs, pos = [], 0
    while pos < len(payload):
        size = int.from_bytes(payload[pos:pos + 4], "little")
        docs.append(payload[pos:pos + size])
        pos += size
    return docs


@pytest.mark.parametrize("limits_of, counts", [
    (lambda size: BatchLimits(max_write_batch_size=4), [4, 4, 2]),  # split by count
    (lambda size: BatchLimits(max_message_size_bytes=16 * 1024 + 3 * size), [3, 3, 3, 1]),  # three fill the budget
    (lambda size: BatchLimits(max_message_size_bytes=16 * 1024 + 3 * size - 1), [2, 2, 2, 2, 2]),  # one byte short
    (lambda size: BatchLimits(max_write_batch_size=10, max_message_size_bytes=16 * 1024 + 10 * size), [10]),  # all fit
])
def test_split_batches_send_every_document_once_in_order(limits_of, counts) -> None:
    docs = [{"n": f"{i:04d}", "pad": "p" * 300} for i in range(10)]
    size = len(bson.encode({"_id": ObjectId(), **docs[0]}))
    limits = limits_of(size)
    batches = plan_inserts(docs, limits=limits)
    assert [len(b.indexes) for b in batches] == counts
    sent = [d for b in batches for d in _sent_documents(b)]
    ids = [_id for b in batches for _id in b.ids]
    assert sent == [bson.encode({"_id": _id, **d}) for d, _id in zip(docs, ids)]
    assert [i for b in batches for i in b.indexes] == list(range(10))
    assert all(sum(map(len, _sent_documents(b))) <= limits.payload_budget() for b in batches)
