"""Data commands (ping, run, find, insert) through driver.client.Client; plain results out."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

from driver.client import Client
from driver.errors import BulkWriteError
from driver.events.command import CommandSucceededEvent
from mongocli.service.results import CommandResult, FindResult, InsertReport

# Sent in chunks so a huge input does not sit in memory as one list of requests; the driver
# splits each chunk further by the server's maxWriteBatchSize / maxMessageSizeBytes.
INSERT_CHUNK = 10_000


@contextmanager
def _last_reply(client: Client) -> Iterator[dict[str, Any]]:
    """Record the address and duration of the last successful command (command monitoring)."""
    seen: dict[str, Any] = {}

    def listen(event: Any) -> None:
        if isinstance(event, CommandSucceededEvent):
            seen["address"], seen["duration_ms"] = event.address, event.duration_ms

    unsubscribe = client.events.subscribe(listen)
    try:
        yield seen
    finally:
        unsubscribe()


def run_command(client: Client, db: str, body: Mapping[str, Any]) -> CommandResult:
    """Run one command on the primary; ok: 0 raises OperationFailure (the driver never retries it)."""
    started = time.perf_counter()
    with _last_reply(client) as seen:
        reply = client.get_database(db).run_command(dict(body))
    return CommandResult(reply=reply, address=seen.get("address") or "?",
                         duration_ms=seen.get("duration_ms", (time.perf_counter() - started) * 1000.0))


def ping(client: Client) -> CommandResult:
    """`ping` on the primary: proves selection, connection and the server answer."""
    return run_command(client, "admin", {"ping": 1})


def find(client: Client, db: str, collection: str, *, filter: Mapping[str, Any] | None = None,
         sort: Mapping[str, Any] | None = None, projection: Mapping[str, Any] | None = None,
         limit: int = 0) -> FindResult:
    """All matching documents (the cursor follows getMore until it ends or the limit is reached)."""
    with _last_reply(client) as seen:
        cursor = client.get_database(db).get_collection(collection).find(
            filter or {}, projection, sort=sort, limit=limit or None)
        documents = tuple(cursor)
    return FindResult(namespace=f"{db}.{collection}", documents=documents, address=seen.get("address") or "?")


def insert(client: Client, db: str, collection: str, numbered: Sequence[tuple[int, Mapping[str, Any]]],
           bad_lines: Sequence[tuple[int, str]] = ()) -> InsertReport:
    """Insert (line number, document) pairs unordered; report every line's fate.

    Unordered, so one refused document (a duplicate _id, say) does not stop the others; the
    report lists the inserted line numbers and, for each refused line, the server's reason.
    """
    coll = client.get_database(db).get_collection(collection)
    inserted_lines: list[int] = []
    inserted_ids: list[Any] = []
    failed: list[tuple[int, str]] = []
    for start in range(0, len(numbered), INSERT_CHUNK):
        chunk = numbered[start:start + INSERT_CHUNK]
        try:
            ids = dict(enumerate(coll.insert_many([doc for _n, doc in chunk], ordered=False).inserted_ids))
            errors: dict[int, str] = {}
        except BulkWriteError as exc:
            result = exc.result  # the partial result (CRUD spec)
            if result is None or result.write_concern_errors:
                raise
            ids = dict(result.inserted_ids)
            errors = {int(e["index"]): str(e.get("errmsg", e)) for e in result.write_errors}
        for index, (line, _doc) in enumerate(chunk):
            if index in errors:
                failed.append((line, errors[index]))
            elif index in ids:
                inserted_lines.append(line)
                inserted_ids.append(ids[index])
            else:  # neither inserted nor refused: say so rather than lose it silently
                failed.append((line, "no result from the server for this document"))
    return InsertReport(namespace=f"{db}.{collection}", inserted_lines=tuple(inserted_lines),
                        inserted_ids=tuple(inserted_ids), bad_lines=tuple(bad_lines), failed_lines=tuple(failed))


def count(client: Client, db: str, collection: str, filter: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """countDocuments (an exact count through an aggregate, as the CRUD spec defines it)."""
    n = client.get_database(db).get_collection(collection).count_documents(filter or {})
    return {"namespace": f"{db}.{collection}", "count": n}


def aggregate(client: Client, db: str, collection: str, pipeline: Sequence[Mapping[str, Any]]) -> FindResult:
    """Every document the pipeline returns (getMore followed to the end)."""
    with _last_reply(client) as seen:
        documents = tuple(client.get_database(db).get_collection(collection).aggregate(list(pipeline)))
    return FindResult(namespace=f"{db}.{collection}", documents=documents, address=seen.get("address") or "?")


def update(client: Client, db: str, collection: str, filter: Mapping[str, Any], change: Any, *,
           many: bool, upsert: bool) -> dict[str, Any]:
    """updateOne / updateMany (operators or a pipeline); the counts the server reports."""
    coll = client.get_database(db).get_collection(collection)
    result = (coll.update_many if many else coll.update_one)(filter, change, upsert=upsert)
    return {"namespace": f"{db}.{collection}", "matched": result.matched_count, "modified": result.modified_count,
            "upserted_id": result.upserted_id}


def delete(client: Client, db: str, collection: str, filter: Mapping[str, Any], *, many: bool) -> dict[str, Any]:
    coll = client.get_database(db).get_collection(collection)
    result = (coll.delete_many if many else coll.delete_one)(filter)
    return {"namespace": f"{db}.{collection}", "deleted": result.deleted_count}


def list_indexes(client: Client, db: str, collection: str) -> FindResult:
    with _last_reply(client) as seen:
        documents = tuple(client.get_database(db).get_collection(collection).list_indexes())
    return FindResult(namespace=f"{db}.{collection}", documents=documents, address=seen.get("address") or "?")


def create_index(client: Client, db: str, collection: str, keys: Mapping[str, Any], *, name: str | None,
                 unique: bool) -> dict[str, Any]:
    options: dict[str, Any] = {"unique": True} if unique else {}
    if name:
        options["name"] = name
    created = client.get_database(db).get_collection(collection).create_index(list(keys.items()), **options)
    return {"namespace": f"{db}.{collection}", "created": created}


def drop_index(client: Client, db: str, collection: str, name: str) -> dict[str, Any]:
    client.get_database(db).get_collection(collection).drop_index(name)
    return {"namespace": f"{db}.{collection}", "dropped": name}
