"""Cursors over encoded batches (driver/wire/batch.py) give what cursors over decoded ones give, against the sandbox.

A client with a command listener decodes every reply at once (the listeners see the documents);
one without reads large batches a chunk at a time. Both must agree on every cursor operation.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from driver.client import Client
from driver.errors import OperationFailure
from driver.wire import batch as wire_batch
from driver.wire import decode as wire_decode
from driver.wire.batch import EncodedBatch
from tests.integration.client_support import make_client  # noqa: F401  (fixture)

N = 3000


@pytest.fixture
def clients(standalone, make_client) -> tuple[Any, Any]:  # noqa: F811
    """(plain collection: encoded batches, listened-to collection: decoded batches), N documents stored."""
    listened, _ = make_client(standalone.uri)
    plain = Client(standalone.uri, serverSelectionTimeoutMS=5000)
    listened.db.items.insert_many([{"_id": i, "text": "x" * 150, "sub": {"i": i, "tags": ["a", "b"]}}
                                   for i in range(N)])
    yield plain.db.items, listened.db.items
    plain.close()


@pytest.fixture
def chunks_taken(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many documents each decoded chunk held, in order."""
    taken: list[int] = []
    take_chunk = EncodedBatch.take_chunk

    def counting(self: EncodedBatch) -> list[Any]:
        documents = take_chunk(self)
        taken.append(len(documents))
        return documents

    monkeypatch.setattr(EncodedBatch, "take_chunk", counting)
    return taken


@pytest.fixture
def everything_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every cursor reply's batch encoded, in chunks of a few documents: the path under every test."""
    monkeypatch.setattr(wire_decode, "ENCODED_REPLY_MIN", 0)
    monkeypatch.setattr(wire_batch, "CHUNK_BYTES", 1000)


def test_iterating_decodes_chunk_by_chunk_and_gives_every_document_in_order(clients, chunks_taken) -> None:
    plain, listened = clients
    ours = list(plain.find({}, sort={"_id": 1}))
    assert ours == list(listened.find({}, sort={"_id": 1})) and [d["_id"] for d in ours] == list(range(N))
    assert sum(chunks_taken) == N - 101 and len(chunks_taken) > 3  # the getMore's batch, in chunks
    chunks_taken.clear()
    assert list(listened.find({})) == list(listened.find({})) and chunks_taken == []  # listened: decoded at once
    assert [d["_id"] for d in plain.aggregate([{"$match": {}}, {"$sort": {"_id": 1}}])] == list(range(N))


CASES: list[tuple[str, Callable[[Any], Any]]] = [
    ("all", lambda c: list(c.find({}, sort={"_id": 1}))),
    ("batch_size", lambda c: [d["_id"] for d in c.find({}, sort={"_id": 1}, batch_size=700)]),
    ("limit", lambda c: [d["_id"] for d in c.find({}, sort={"_id": 1}, limit=2500, batch_size=1000)]),
    ("negative limit", lambda c: [d["_id"] for d in c.find({}, sort={"_id": 1}, limit=-1500)]),
    ("skip", lambda c: [d["_id"] for d in c.find({}, sort={"_id": -1}, skip=10, limit=5)]),
    ("to_list in parts", lambda c: _in_parts(c.find({}, sort={"_id": 1}, batch_size=500))),
    ("next_batch", lambda c: _batches(c.find({}, sort={"_id": 1}, batch_size=1200))),
    ("try_next", lambda c: _try_next(c.find({}, sort={"_id": 1}, limit=300))),
    ("aggregate", lambda c: [d["_id"] for d in c.aggregate([{"$sort": {"_id": -1}}], batch_size=900)]),
]


def _in_parts(cursor: Any) -> list[list[int]]:
    parts = [[d["_id"] for d in cursor.to_list(n)] for n in (5, 150, 1000)]
    return parts + [[next(cursor)["_id"]], [d["_id"] for d in cursor.to_list()]]


def _batches(cursor: Any) -> list[tuple[int, int, int]]:
    out = []
    next(cursor)
    while cursor.alive:
        batch = cursor.next_batch()
        out.append((len(batch), batch[0]["_id"], batch[-1]["_id"]))
    return out


def _try_next(cursor: Any) -> list[int]:
    out = []
    while (doc := cursor.try_next()) is not None:
        out.append(doc["_id"])
    return out


@pytest.mark.parametrize("name,run", CASES, ids=[c[0] for c in CASES])
def test_every_cursor_operation_gives_the_same_over_encoded_batches(clients, everything_encoded, chunks_taken,
                                                                    name, run) -> None:
    plain, listened = clients
    assert run(plain) == run(listened)
    assert chunks_taken  # the plain client went through encoded batches


def test_close_keeps_the_encoded_documents_and_kills_the_server_cursor(clients, chunks_taken) -> None:
    plain, _ = clients
    cursor = plain.find({}, sort={"_id": 1}, batch_size=2000)
    assert [next(cursor)["_id"] for _ in range(102)] == list(range(102))  # the first batch (2000), encoded
    session = cursor.session
    cursor_id = cursor.cursor_id
    assert cursor_id and cursor.alive and chunks_taken
    cursor.close()
    assert session.has_ended
    rest = [d["_id"] for d in cursor]  # buffered documents come after close (decoded as read)
    assert rest == list(range(102, 2000)) and not cursor.alive
    with pytest.raises(OperationFailure) as caught:
        plain.database.run_command({"getMore": cursor_id, "collection": "items"})
    assert caught.value.code == 43  # CursorNotFound: the close killed it


def test_the_implicit_session_ends_when_the_last_batch_arrives_even_if_still_encoded(clients, everything_encoded) -> None:
    plain, _ = clients
    cursor = plain.find({}, sort={"_id": 1})
    first = next(cursor)
    assert first["_id"] == 0 and not cursor.session.has_ended  # the first batch of 101 leaves the cursor open
    for _ in range(100):
        next(cursor)
    next(cursor)  # the getMore that brings the rest: the server cursor is exhausted
    assert cursor.cursor_id == 0 and cursor.session.has_ended and cursor.alive
    assert len(list(cursor)) == N - 102 and not cursor.alive


def test_replies_read_later_on_the_same_connection_leave_an_encoded_batch_intact(standalone, clients) -> None:
    # An encoded batch keeps the buffer its reply was received into: the connection must never
    # receive another reply into it (one connection here, so every reply comes the same way).
    one = Client(standalone.uri, maxPoolSize=1, serverSelectionTimeoutMS=5000)
    try:
        items = one.db.items
        first = items.find({}, sort={"_id": 1}, batch_size=2000)
        assert next(first)["_id"] == 0
        other = items.find({}, sort={"_id": -1}, batch_size=2000)
        assert [d["_id"] for d in other] == list(range(N - 1, -1, -1))
        assert [d["_id"] for d in first] == list(range(1, N))
    finally:
        one.close()


def test_with_only_an_sdam_listener_no_command_event_is_built_and_batches_stay_encoded(
        standalone, clients, chunks_taken, monkeypatch: pytest.MonkeyPatch) -> None:
    from driver.events import command as command_events

    built: list[str] = []
    command_context = command_events.command_context

    def counting(command: Any, *args: Any, **kwargs: Any) -> Any:
        built.append(next(iter(command)))
        return command_context(command, *args, **kwargs)

    monkeypatch.setattr(command_events, "command_context", counting)
    seen: list[Any] = []

    class SdamOnly:
        listens_to = ("sdam",)

        def __call__(self, event: Any) -> None:
            seen.append(event)

    client = Client(standalone.uri, serverSelectionTimeoutMS=5000, event_listeners=[SdamOnly()])
    try:
        assert [d["_id"] for d in client.db.items.find({}, sort={"_id": 1})] == list(range(N))
    finally:
        client.close()
    assert chunks_taken and built == []  # the encoded path, and no command event object
    assert seen and not any(type(e).__module__ == command_events.__name__ for e in seen)
    _, listened = clients
    listened.find_one({})
    assert built == ["find"]  # a command listener still gets its events
