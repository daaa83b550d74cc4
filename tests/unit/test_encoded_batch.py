"""Encoded cursor batches: a large reply's batch kept in its bytes, decoded a chunk at a time, same documents."""

from __future__ import annotations

import re
import struct
import zlib

import bson
import pytest
from bson.codec_options import CodecOptions
from bson.son import SON

from driver.errors import ProtocolError
from driver.ops.find import parse_cursor_reply
from driver.wire import HEADER_SIZE, OP_MSG, compress_message, parse_body, parse_header
from driver.wire.batch import CHUNK_BYTES, ENCODED_REPLY_MIN, EncodedBatch, decode_cursor_reply

OPTIONS = bson.DEFAULT_CODEC_OPTIONS


def documents(n: int, size: int = 200) -> list[dict]:
    return [{"_id": bson.ObjectId(), "i": i, "text": "é" * (size // 2), "nested": {"a": [1, 2.5, None]}}
            for i in range(n)]


def reply(batch: list, *, key: str = "firstBatch", cursor_first: bool = True, **top) -> dict:
    cursor = {key: batch, "id": bson.Int64(42), "ns": "db.coll"}
    if not cursor_first:
        cursor = {"id": bson.Int64(42), "ns": "db.coll", key: batch}
    document = {"cursor": cursor, "ok": 1.0}
    document.update(top)
    return document


def op_msg(document: dict) -> bytes:
    payload = b"\x00\x00\x00\x00" + b"\x00" + bson.encode(document)
    return struct.pack("<iiii", HEADER_SIZE + len(payload), 1, 0, OP_MSG) + payload


def parsed(message: bytes, **kwargs):
    header = parse_header(message)
    return parse_body(header, bytearray(message[HEADER_SIZE:]), **kwargs).body


def decoded(document: dict) -> dict:
    """The reply with its batch decoded, as the whole-reply decoder gives it."""
    cursor = dict(document["cursor"])
    for key in ("firstBatch", "nextBatch"):
        if isinstance(cursor.get(key), EncodedBatch):
            cursor[key] = cursor[key].take_all()
    return dict(document, cursor=cursor)


def test_a_large_cursor_reply_keeps_its_batch_encoded_and_decodes_the_same_documents() -> None:
    original = reply(documents(1000), **{"$clusterTime": {"clusterTime": bson.Timestamp(1, 2)},
                                         "operationTime": bson.Timestamp(1, 2)})
    message = op_msg(original)
    assert len(message) > ENCODED_REPLY_MIN
    body = parsed(message, encoded_batch=True)
    batch = body["cursor"]["firstBatch"]
    assert isinstance(batch, EncodedBatch) and len(batch) == 1000
    assert list(body) == ["cursor", "ok", "$clusterTime", "operationTime"]
    assert list(body["cursor"]) == ["firstBatch", "id", "ns"]  # the batch keeps its place
    assert decoded(body) == bson.decode(bson.encode(original))


@pytest.mark.parametrize("key", ["firstBatch", "nextBatch"])
def test_fields_of_every_type_before_the_cursor_and_the_batch_are_walked(key: str) -> None:
    before = SON([("d", 1.5), ("s", "x"), ("doc", {"a": 1}), ("arr", [1]), ("bin", bson.Binary(b"ab", 5)),
                  ("undef", None), ("oid", bson.ObjectId()), ("t", True), ("date", bson.datetime.datetime(2020, 1, 1)),
                  ("null", None), ("code", bson.Code("f()")), ("cws", bson.Code("g()", {"v": 1})),
                  ("i32", 7), ("ts", bson.Timestamp(3, 4)), ("i64", bson.Int64(1 << 40)),
                  ("dec", bson.Decimal128("1.5")), ("min", bson.MinKey()), ("max", bson.MaxKey())])
    docs = documents(600)
    original = SON([*before.items(), ("cursor", SON([*before.items(), (key, docs), ("id", bson.Int64(0))])),
                    ("ok", 1.0)])
    body = parsed(op_msg(original), encoded_batch=True)
    assert isinstance(body["cursor"][key], EncodedBatch)
    assert decoded(body) == bson.decode(bson.encode(original))


def test_an_element_the_walk_cannot_size_means_the_whole_reply_is_decoded() -> None:
    original = {"pattern": bson.Regex("a.*"), **reply(documents(600))}  # a regex before the cursor
    body = parsed(op_msg(original), encoded_batch=True)
    assert type(body["cursor"]["firstBatch"]) is list
    assert body == bson.decode(bson.encode(original))


def test_small_replies_other_replies_and_callers_not_asking_get_lists() -> None:
    small = reply(documents(3))
    assert parsed(op_msg(small), encoded_batch=True) == bson.decode(bson.encode(small))
    large = reply(documents(1000))
    assert type(parsed(op_msg(large))["cursor"]["firstBatch"]) is list  # encoded_batch not asked
    no_cursor = {"values": documents(1000), "ok": 1.0}
    assert parsed(op_msg(no_cursor), encoded_batch=True) == bson.decode(bson.encode(no_cursor))
    not_an_array = {"cursor": {"firstBatch": {"x": "y" * ENCODED_REPLY_MIN}, "id": 0}, "ok": 1}
    assert parsed(op_msg(not_an_array), encoded_batch=True) == not_an_array


def test_another_document_class_decodes_the_whole_reply() -> None:
    options = CodecOptions(document_class=SON)
    body = parsed(op_msg(reply(documents(1000))), encoded_batch=True, codec_options=options)
    assert isinstance(body, SON) and type(body["cursor"]["firstBatch"]) is list


def test_a_compressed_reply_keeps_its_batch_encoded() -> None:
    original = reply(documents(1000))
    message = compress_message(op_msg(original), "zlib")
    body = parsed(message, encoded_batch=True)
    assert isinstance(body["cursor"]["firstBatch"], EncodedBatch)
    assert decoded(body) == bson.decode(bson.encode(original))
    assert zlib  # the compressor used above


def test_chunks_are_about_chunk_bytes_and_take_the_documents_in_order() -> None:
    docs = documents(2000, size=300)
    body = parsed(op_msg(reply(docs, key="nextBatch")), encoded_batch=True)
    batch = body["cursor"]["nextBatch"]
    taken, sizes = [], []
    while len(batch):
        before = len(batch)
        chunk = batch.take_chunk()
        assert len(batch) == before - len(chunk) and chunk
        sizes.append(sum(len(bson.encode(d)) for d in chunk))
        taken.extend(chunk)
    assert [d["i"] for d in taken] == list(range(2000)) and taken == bson.decode(bson.encode({"a": docs}))["a"]
    assert all(CHUNK_BYTES - 1000 <= s <= CHUNK_BYTES + 1000 for s in sizes[:-1]) and len(sizes) > 5
    assert batch.take_chunk() == [] and batch.take_all() == []


def test_take_all_after_some_chunks_gives_the_rest() -> None:
    body = parsed(op_msg(reply(documents(1500))), encoded_batch=True)
    batch = body["cursor"]["firstBatch"]
    first = batch.take_chunk()
    rest = batch.take_all()
    assert [d["i"] for d in first + rest] == list(range(1500)) and len(batch) == 0


def test_a_batch_of_other_values_than_documents_is_sized_by_type() -> None:
    values = ["s" * 100, 5, bson.Int64(6), 1.5, None, {"a": 1}, [1, 2], bson.Binary(b"x" * 50)] * 400
    body = parsed(op_msg(reply(values)), encoded_batch=True)
    assert body["cursor"]["firstBatch"].take_all() == bson.decode(bson.encode({"a": values}))["a"]


def test_parse_cursor_reply_hands_the_encoded_batch_over() -> None:
    body = parsed(op_msg(reply(documents(1000))), encoded_batch=True)
    cursor = parse_cursor_reply(body)
    assert (cursor.id, cursor.ns) == (42, "db.coll") and isinstance(cursor.batch, EncodedBatch)
    assert len(cursor.batch) == 1000


def _corrupt_one_string(message: bytes, marker: bytes) -> bytes:
    """The message with the first string value `marker` made invalid UTF-8 (same length)."""
    at = message.index(marker)
    return message[:at] + b"\xff" + message[at + 1:]


def test_invalid_bson_inside_a_document_is_a_protocol_error_when_its_chunk_is_decoded() -> None:
    docs = documents(1500)
    docs[1200]["text"] = "CORRUPT" + "x" * 50
    body = parsed(_corrupt_one_string(op_msg(reply(docs)), b"CORRUPT"), encoded_batch=True)
    batch = body["cursor"]["firstBatch"]
    with pytest.raises(ProtocolError, match=re.escape("cursor batch: invalid BSON in the documents at offsets")):
        while len(batch):
            batch.take_chunk()
    # The chunks before the bad one were handed out.
    assert len(batch) < 1500 - 1000


def test_a_batch_whose_framing_is_broken_is_decoded_whole_and_reported_as_before() -> None:
    message = bytearray(op_msg(reply(documents(1000))))
    first_doc = message.index(b"firstBatch\x00") + len(b"firstBatch\x00") + 4 + 3  # array length, "\x03" "0\x00"
    struct.pack_into("<i", message, first_doc, 10**6)  # a document claiming more than the batch holds
    with pytest.raises(ProtocolError, match="OP_MSG body section"):
        parsed(bytes(message), encoded_batch=True)


def test_scan_refuses_elements_that_overrun_the_batch() -> None:
    elements = b"\x030\x00" + bson.encode({"a": 1})
    assert EncodedBatch.scan(elements, 0, len(elements), OPTIONS) is not None
    assert EncodedBatch.scan(elements, 0, len(elements) - 1, OPTIONS) is None
    assert EncodedBatch.scan(b"\x030", 0, 3, OPTIONS) is None  # no NUL after the key
    assert decode_cursor_reply(b"\x05\x00\x00\x00\x00", 0, 5, OPTIONS) is None  # no cursor at all


def _with_duplicates(*pairs: tuple[str, object]) -> bytes:
    """A BSON document of these (name, value) elements in order, names repeated as given."""
    elements = b"".join(b"\x03" + name.encode() + b"\x00" + value if isinstance(value, bytes)  # an embedded raw document
                        else bson.encode({name: value})[4:-1] for name, value in pairs)
    return struct.pack("<i", len(elements) + 5) + elements + b"\x00"


def _op_msg_raw(document: bytes) -> bytes:
    payload = b"\x00\x00\x00\x00" + b"\x00" + document
    return struct.pack("<iiii", HEADER_SIZE + len(payload), 1, 0, OP_MSG) + payload


def test_a_second_cursor_that_is_not_a_document_is_decoded_whole_and_refused_as_a_cursor_reply() -> None:
    raw = _with_duplicates(("cursor", {"firstBatch": documents(1000), "id": bson.Int64(42)}), ("cursor", 5),
                           ("ok", 1.0))
    body = parsed(_op_msg_raw(raw), encoded_batch=True)
    assert body == bson.decode(raw) and body["cursor"] == 5  # bson keeps the last of duplicate names
    with pytest.raises(ProtocolError, match="no 'cursor' document"):
        parse_cursor_reply(body)


def test_a_second_cursor_without_a_batch_never_lends_it_the_first_cursors_documents() -> None:
    raw = _with_duplicates(("cursor", {"firstBatch": documents(1000), "id": bson.Int64(42)}),
                           ("cursor", {"id": bson.Int64(7)}), ("ok", 1.0))
    body = parsed(_op_msg_raw(raw), encoded_batch=True)
    assert body == bson.decode(raw)
    with pytest.raises(ProtocolError, match="neither 'cursor.firstBatch' nor 'cursor.nextBatch'"):
        parse_cursor_reply(body)


@pytest.mark.parametrize("second", ["firstBatch", "nextBatch"])
def test_two_batches_in_one_cursor_give_what_the_whole_decode_gives(second: str) -> None:
    cursor = _with_duplicates(("firstBatch", documents(1000)), ("id", bson.Int64(0)), (second, [{"only": 1}]))
    raw = _with_duplicates(("cursor", cursor), ("ok", 1.0))
    body = parsed(_op_msg_raw(raw), encoded_batch=True)
    assert body == bson.decode(raw)
    assert body["cursor"][second] == [{"only": 1}] and len(parse_cursor_reply(body).batch) == (
        1 if second == "firstBatch" else 1000)  # parse_cursor_reply prefers firstBatch
