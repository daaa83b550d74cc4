"""A Collection's / Database's concerns and read preference are read-only (as in PyMongo): the handle
computes what it sends from them once, so an assignment must fail loudly, and with_options is the way."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from driver.database import Database
from driver.execute import Operation, Reply
from driver.read_concern import ReadConcern
from driver.read_preference import ReadPreference
from driver.write_concern import WriteConcern


class RecordingExecutor:
    """Runs nothing: records each Operation and answers {ok: 1}, or nothing when unacknowledged."""

    def __init__(self) -> None:
        self.ops: list[Operation] = []
        self.pending_kills: list[Any] = []

    def execute(self, op: Operation) -> Reply:
        self.ops.append(op)
        return Reply(None if op.unacknowledged else {"n": 1, "ok": 1.0}, "h:1")


def _database(executor: RecordingExecutor) -> Database:
    client = SimpleNamespace(read_concern=ReadConcern(), write_concern=WriteConcern(),
                             read_preference=ReadPreference(), timeout_ms=None)
    return Database(SimpleNamespace(client=client, executor=executor), "db")


@pytest.mark.parametrize("option, value", [("write_concern", WriteConcern(w=0)),
                                           ("read_concern", ReadConcern("majority")),
                                           ("read_preference", ReadPreference("secondary"))])
def test_assigning_an_option_raises_and_names_with_options(option: str, value: Any) -> None:
    database = _database(RecordingExecutor())
    for handle in (database["c"], database):
        before = getattr(handle, option)
        with pytest.raises(AttributeError, match=rf"{option} is read-only: with_options\({option}="):
            setattr(handle, option, value)
        assert getattr(handle, option) is before


def test_with_options_write_concern_is_what_insert_one_sends() -> None:
    executor = RecordingExecutor()
    coll = _database(executor)["c"]
    unack = coll.with_options(write_concern=WriteConcern(w=0))
    assert unack.write_concern.document() == {"w": 0}
    result = unack.insert_one({"_id": 1})
    assert not result.acknowledged
    (op,) = executor.ops
    assert op.unacknowledged and op.body["writeConcern"] == {"w": 0}
    assert coll.insert_one({"_id": 2}).acknowledged  # the original handle is unchanged
    assert "writeConcern" not in executor.ops[-1].body and not executor.ops[-1].unacknowledged


def test_with_options_read_concern_is_what_find_one_sends() -> None:
    executor = RecordingExecutor()
    executor.execute = lambda op: (executor.ops.append(op),  # type: ignore[method-assign]
                                   Reply({"cursor": {"id": 0, "ns": "db.c", "firstBatch": []}, "ok": 1.0}, "h:1"))[1]
    coll = _database(executor)["c"].with_options(read_concern=ReadConcern("majority"),
                                                 read_preference=ReadPreference("secondary"))
    assert coll.find_one({}) is None
    (op,) = executor.ops
    assert op.body["readConcern"] == {"level": "majority"} and op.read_preference.mode == "secondary"


@pytest.mark.parametrize("option", ["write_concern", "read_concern", "read_preference"])
def test_a_clients_options_are_read_only_too(option: str) -> None:
    from driver.client import Client

    # No server is contacted: monitoring of an unreachable address only starts in the background.
    with Client("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100") as client:
        before = getattr(client, option)
        with pytest.raises(AttributeError, match=rf"Client.{option} is read-only: give it when creating the Client"):
            setattr(client, option, None)
        assert getattr(client, option) is before
        assert getattr(client["db"], option) is before  # databases still inherit it
