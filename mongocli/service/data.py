"""Data commands (ping, run, find, insert) over a live topology: select the primary, send, read."""

from __future__ import annotations

import time
from typing import Any, Iterable, Mapping, Sequence

from bson.int64 import Int64

from driver.errors import ConnectionFailure, OperationFailure
from driver.ops.find import find_command, get_more_command, parse_cursor_reply
from driver.ops.write import insert_command, with_id
from driver.sdam.topology import Topology
from mongocli.service.results import CommandResult, FindResult, InsertReport

# Plenty for a command line: insert input is sent in batches of this many documents.
INSERT_BATCH = 1000


def run_command(topology: Topology, db: str, body: Mapping[str, Any]) -> CommandResult:
    """Run one command on the primary (a writable server); ok:0 raises OperationFailure.

    A network error on the chosen server asks its monitor for a check and retries once on a
    newly selected server (retryable-reads/writes spirit: one retry after a network error).
    """
    attempts = 2
    for attempt in range(attempts):
        server = topology.select_server("write")
        started = time.perf_counter()
        try:
            with server.pool.connection() as pooled:
                reply = pooled.connection.command(db, dict(body))
        except ConnectionFailure:
            server.request_check()
            if attempt + 1 == attempts:
                raise
            continue
        return CommandResult(reply=reply, address=server.address,
                             duration_ms=(time.perf_counter() - started) * 1000.0)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def ping(topology: Topology) -> CommandResult:
    """`ping` on the primary: proves selection, connection and the server answer."""
    return run_command(topology, "admin", {"ping": 1})


def find(topology: Topology, db: str, collection: str, *, filter: Mapping[str, Any] | None = None,
         sort: Mapping[str, Any] | None = None, projection: Mapping[str, Any] | None = None,
         limit: int = 0) -> FindResult:
    """All matching documents (following getMore until the cursor ends or the limit is reached)."""
    result = run_command(topology, db, find_command(collection, filter or {}, sort=sort,
                                                    projection=projection, limit=limit or None))
    cursor = parse_cursor_reply(result.reply)
    documents = list(cursor.batch)
    while not cursor.exhausted and not (limit and len(documents) >= limit):
        more = run_command(topology, db, get_more_command(collection, Int64(cursor.id)))
        cursor = parse_cursor_reply(more.reply)
        documents.extend(cursor.batch)
    if limit:
        documents = documents[:limit]
    return FindResult(namespace=f"{db}.{collection}", documents=tuple(documents), address=result.address)


def insert(topology: Topology, db: str, collection: str,
           numbered: Iterable[tuple[int, Mapping[str, Any]]],
           bad_lines: Sequence[tuple[int, str]] = ()) -> InsertReport:
    """Insert (line number, document) pairs in unordered batches; report every line's fate.

    Unordered, so one refused document (say a duplicate _id) does not stop the others; the
    report lists the inserted line numbers and, for each refused line, the server's reason.
    """
    inserted_lines: list[int] = []
    inserted_ids: list[Any] = []
    failed: list[tuple[int, str]] = []
    batch: list[tuple[int, dict[str, Any], Any]] = []

    def flush() -> None:
        if not batch:
            return
        docs = [doc for _n, doc, _id in batch]
        reply = run_command(topology, db, insert_command(collection, docs, ordered=False)).reply
        errors = {int(e.get("index", -1)): str(e.get("errmsg", e)) for e in reply.get("writeErrors", [])}
        for index, (line, _doc, _id) in enumerate(batch):
            if index in errors:
                failed.append((line, errors[index]))
            else:
                inserted_lines.append(line)
                inserted_ids.append(_id)
        if reply.get("writeConcernError"):
            raise OperationFailure(f"write concern error: {reply['writeConcernError']}")
        batch.clear()

    for line, document in numbered:
        doc, doc_id = with_id(document)
        batch.append((line, doc, doc_id))
        if len(batch) >= INSERT_BATCH:
            flush()
    flush()
    return InsertReport(namespace=f"{db}.{collection}", inserted_lines=tuple(inserted_lines),
                        inserted_ids=tuple(inserted_ids), bad_lines=tuple(bad_lines),
                        failed_lines=tuple(failed))

