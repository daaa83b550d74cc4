"""Cursor over encoded batches, against a scripted executor: limits past what was asked, invalid BSON mid-batch."""

from __future__ import annotations

import struct
from typing import Any

import bson
import pytest

from driver.cursor import Cursor
from driver.errors import ProtocolError
from driver.execute import Reply
from driver.wire import HEADER_SIZE, OP_MSG, parse_body, parse_header
from driver.wire.batch import EncodedBatch

ADDRESS = "127.0.0.1:27017"


class ScriptedExecutor:
    """Answers each operation with the next scripted reply; records the commands sent."""

    def __init__(self, replies: list[dict[str, Any]]) -> None:
        self.replies = replies
        self.sent: list[dict[str, Any]] = []
        self.pending_kills: list[Any] = []

    def execute(self, op: Any) -> Reply:
        self.sent.append(dict(op.body))
        name = next(iter(op.body))
        if name == "killCursors":
            return Reply({"ok": 1.0, "cursorsKilled": op.body["cursors"]}, ADDRESS)
        assert op.encoded_batch  # a cursor asks for its batches encoded
        return Reply(self.replies.pop(0), ADDRESS)


class Context:
    def __init__(self, executor: ScriptedExecutor) -> None:
        self.executor = executor


class Session:
    """An explicit session: the cursor never ends it."""


def received(document: dict[str, Any], corrupt: bytes | None = None) -> dict[str, Any]:
    """`document` as the connection hands it over: sent through the wire codec, the batch encoded;
    with `corrupt`, the first byte of that string made invalid UTF-8."""
    payload = bytearray(b"\x00\x00\x00\x00\x00" + bson.encode(document))
    if corrupt is not None:
        payload[payload.index(corrupt)] = 0xFF
    header = parse_header(struct.pack("<iiii", HEADER_SIZE + len(payload), 1, 0, OP_MSG))
    body = parse_body(header, payload, encoded_batch=True).body
    assert isinstance(body["cursor"].get("firstBatch", body["cursor"].get("nextBatch")), EncodedBatch)
    return body


def documents(n: int) -> list[dict[str, Any]]:
    return [{"_id": i, "text": "t" * 200} for i in range(n)]


def cursor(executor: ScriptedExecutor, **options: Any) -> Cursor:
    return Cursor(Context(executor), "db", "coll", find={"filter": {}}, session=Session(), **options)


def test_a_server_sending_past_the_limit_is_cut_at_the_limit_and_the_cursor_killed() -> None:
    executor = ScriptedExecutor([received({"cursor": {"firstBatch": documents(1500), "id": bson.Int64(42),
                                                      "ns": "db.coll"}, "ok": 1.0})])
    found = cursor(executor, limit=100)
    assert [d["_id"] for d in found] == list(range(100))
    assert [next(iter(c)) for c in executor.sent] == ["find", "killCursors"]
    assert executor.sent[1]["cursors"] == [42] and not found.alive


def test_invalid_bson_mid_batch_raises_where_it_is_read_and_kills_the_server_cursor() -> None:
    docs = documents(1500)
    docs[1200]["text"] = "BROKEN" + "t" * 194
    executor = ScriptedExecutor([received({"cursor": {"firstBatch": docs, "id": bson.Int64(42), "ns": "db.coll"},
                                           "ok": 1.0}, corrupt=b"BROKEN")])
    found = cursor(executor)
    read = []
    with pytest.raises(ProtocolError, match="cursor batch: invalid BSON"):
        for doc in found:
            read.append(doc["_id"])
    assert read == list(range(len(read))) and 900 < len(read) <= 1200  # the chunks before the bad one
    assert executor.sent[-1] == {"killCursors": "coll", "cursors": [42]} and not found.alive
    assert list(found) == []


def test_next_batch_and_to_list_take_the_encoded_rest_of_a_batch() -> None:
    executor = ScriptedExecutor([
        received({"cursor": {"firstBatch": documents(1000), "id": bson.Int64(42), "ns": "db.coll"}, "ok": 1.0}),
        received({"cursor": {"nextBatch": documents(800), "id": bson.Int64(0), "ns": "db.coll"}, "ok": 1.0}),
    ])
    found = cursor(executor)
    assert next(found)["_id"] == 0
    assert repr(found) == "<Cursor db.coll id=42 buffered=999>"
    assert [d["_id"] for d in found.next_batch()] == list(range(1, 1000))
    assert len(found.to_list(10)) == 10 and len(found.to_list()) == 790
    assert [next(iter(c)) for c in executor.sent] == ["find", "getMore"] and not found.alive


def _broken_at(n: int, at: int) -> list[dict[str, Any]]:
    docs = documents(n)
    docs[at]["text"] = "BROKEN" + "t" * 194
    return docs


def test_next_batch_over_invalid_bson_keeps_the_decoded_documents_and_kills_the_server_cursor() -> None:
    executor = ScriptedExecutor([received({"cursor": {"firstBatch": _broken_at(1500, 1200), "id": bson.Int64(42),
                                                      "ns": "db.coll"}, "ok": 1.0}, corrupt=b"BROKEN")])
    found = cursor(executor)
    first = next(found)  # decodes the first chunk only
    with pytest.raises(ProtocolError, match=f"bad reply to 'find' from {ADDRESS}: cursor batch: invalid BSON"):
        found.next_batch()
    assert executor.sent[-1] == {"killCursors": "coll", "cursors": [42]}
    kept = found.next_batch()  # the rest of the chunk decoded before the bad one: not lost
    assert [d["_id"] for d in [first, *kept]] == list(range(1 + len(kept))) and 0 < len(kept) < 1200
    assert found.next_batch() == [] and not found.alive
    assert [next(iter(c)) for c in executor.sent] == ["find", "killCursors"]


def test_a_batch_past_the_limit_with_invalid_bson_kills_the_server_cursor_and_names_the_command() -> None:
    executor = ScriptedExecutor([received({"cursor": {"firstBatch": _broken_at(1500, 1200), "id": bson.Int64(42),
                                                      "ns": "db.coll"}, "ok": 1.0}, corrupt=b"BROKEN")])
    found = cursor(executor, limit=100)
    with pytest.raises(ProtocolError, match=f"bad reply to 'find' from {ADDRESS}: cursor batch: invalid BSON"):
        next(found)
    assert executor.sent[-1] == {"killCursors": "coll", "cursors": [42]} and not found.alive


def test_invalid_bson_in_a_getmore_batch_names_getmore_and_the_server() -> None:
    executor = ScriptedExecutor([
        {"cursor": {"firstBatch": documents(2), "id": bson.Int64(42), "ns": "db.coll"}, "ok": 1.0},
        received({"cursor": {"nextBatch": _broken_at(1500, 100), "id": bson.Int64(42), "ns": "db.coll"}, "ok": 1.0},
                 corrupt=b"BROKEN"),
    ])
    found = cursor(executor)
    with pytest.raises(ProtocolError, match=f"bad reply to 'getMore' from {ADDRESS}: cursor batch: invalid BSON"):
        list(found)
    assert executor.sent[-1] == {"killCursors": "coll", "cursors": [42]} and not found.alive
