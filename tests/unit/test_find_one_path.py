"""find_one takes its one batch through cursor.open_cursor (the Cursor's own first step) without a Cursor:
the command it runs, what it returns, and the cursor a server left open despite singleBatch."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from bson import Int64

from driver.database import Database
from driver.errors import ConfigurationError, ProtocolError
from driver.execute import Executor, Operation, Reply
from driver.read_concern import ReadConcern
from driver.read_preference import ReadPreference
from driver.retry_policy import Retryable
from driver.write_concern import WriteConcern


class RecordingExecutor:
    """Runs nothing: records each Operation and answers with the next scripted reply document.
    Its kill_pending_cursors is the Executor's own, running on these recorded operations."""

    kill_pending_cursors = Executor.kill_pending_cursors

    def __init__(self, *replies: dict[str, Any]) -> None:
        self.replies = list(replies)
        self.ops: list[Operation] = []
        self.pending_kills: list[tuple[str, str, str, int]] = []

    def execute(self, op: Operation) -> Reply:
        self.ops.append(op)
        return Reply(self.replies.pop(0), "h:1")


def _collection(executor: RecordingExecutor, *, read_concern: Any = None) -> Any:
    client = SimpleNamespace(read_concern=ReadConcern(), write_concern=WriteConcern(),
                             read_preference=ReadPreference("secondaryPreferred"), timeout_ms=None)
    context = SimpleNamespace(client=client, executor=executor)
    return Database(context, "db")["c"] if read_concern is None else \
        Database(context, "db").get_collection("c", read_concern=read_concern)


def _batch(docs: list[dict[str, Any]], cursor_id: int = 0) -> dict[str, Any]:
    return {"cursor": {"id": Int64(cursor_id), "ns": "db.c", "firstBatch": docs}, "ok": 1.0}


def test_find_one_sends_one_find_for_one_document_and_returns_it() -> None:
    executor = RecordingExecutor(_batch([{"_id": 3, "v": 30}]))
    coll = _collection(executor)
    assert coll.find_one(3) == {"_id": 3, "v": 30}
    (op,) = executor.ops
    assert op.body == {"find": "c", "filter": {"_id": 3}, "limit": 1, "singleBatch": True}
    assert list(op.body) == ["find", "filter", "limit", "singleBatch"]
    # A read on the collection's read preference, retried as a read, in an implicit session of its own
    # (find_one's, so that a cursor left open is killed in it), ended once find_one returns.
    assert (op.db, op.read_preference.mode, op.retryable) == ("db", "secondaryPreferred", Retryable.READ)
    assert op.session.implicit and op.session.has_ended


def test_find_one_passes_find_options_and_ignores_limit_and_batch_size() -> None:
    executor = RecordingExecutor(_batch([]))
    coll = _collection(executor, read_concern={"level": "majority"})
    assert coll.find_one({"v": {"$gt": 1}}, {"v": 1}, sort=[("v", -1)], skip=2, limit=5, batch_size=7,
                         comment="why", cursor_type="tailable") is None
    (op,) = executor.ops
    assert op.body == {"find": "c", "filter": {"v": {"$gt": 1}}, "sort": {"v": -1}, "projection": {"v": 1},
                       "skip": 2, "limit": 1, "singleBatch": True, "comment": "why",
                       "readConcern": {"level": "majority"}, "tailable": True}


def test_find_one_checks_its_options_as_find_does() -> None:
    coll = _collection(RecordingExecutor())
    with pytest.raises(ConfigurationError, match="cursor_type"):
        coll.find_one({}, cursor_type="sometimes")
    with pytest.raises(ConfigurationError, match="unknown find option"):
        coll.find_one({}, no_such_option=1)
    with pytest.raises(ConfigurationError, match="timeout_mode"):
        coll.find_one({}, timeout_mode="iteration")  # needs timeoutMS


def test_a_cursor_left_open_despite_single_batch_is_killed_at_once() -> None:
    executor = RecordingExecutor(_batch([{"_id": 1}], cursor_id=42), {"ok": 1.0})
    assert _collection(executor).find_one({}) == {"_id": 1}
    find, kill = executor.ops
    assert kill.body == {"killCursors": "c", "cursors": [Int64(42)]} and kill.address == "h:1"
    # Sessions spec: the kill runs in the session that opened the cursor, not in a new implicit one.
    assert kill.session is find.session and find.session.implicit
    assert executor.pending_kills == []


def test_a_cursor_left_open_is_killed_in_the_callers_session_which_stays_open() -> None:
    from driver.session import ClientSession

    executor = RecordingExecutor(_batch([{"_id": 1}], cursor_id=42), {"ok": 1.0})
    coll = _collection(executor)
    session = ClientSession(SimpleNamespace(client=None))
    assert coll.find_one({}, session=session) == {"_id": 1}
    find, kill = executor.ops
    assert find.session is session and kill.session is session and not session.has_ended


def test_a_failed_kill_is_swallowed_and_the_document_returned() -> None:
    from driver.errors import ConnectionFailure

    class FailingKill(RecordingExecutor):
        def execute(self, op: Operation) -> Reply:
            if "killCursors" in op.body:
                self.ops.append(op)
                raise ConnectionFailure("gone")
            return super().execute(op)

    executor = FailingKill(_batch([{"_id": 1}], cursor_id=42))
    assert _collection(executor).find_one({}) == {"_id": 1}
    assert [next(iter(op.body)) for op in executor.ops] == ["find", "killCursors"]


def test_a_reply_without_a_cursor_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="no 'cursor' document"):
        _collection(RecordingExecutor({"ok": 1.0})).find_one({})
