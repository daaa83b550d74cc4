"""Client.bulk_write: run the planned `bulkWrite` batches, read each results cursor, merge (bulk write spec, I/O side)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import bson
from bson import Int64

from driver.bulk import BatchLimits
from driver.errors import DriverError
from driver.execute import Operation
from driver.retry_policy import Retryable
from driver.ops.client_bulk_write import (
    Batch,
    ClientBulkWriteResult,
    ResultMerger,
    check_unacknowledged,
    command_body,
    plan_batches,
)
from driver.ops.find import get_more_command, kill_cursors_command, parse_cursor_reply
from driver.read_preference import PRIMARY, ReadPreference
from driver.session import ClientSession
from driver.write_concern import WriteConcern

if TYPE_CHECKING:
    from driver.context import ClientContext

ADMIN = "admin"
# The results cursor's namespace is admin.$cmd.bulkWrite (bulk write spec, server response).
RESULTS_COLLECTION = "$cmd.bulkWrite"


def run_client_bulk_write(context: "ClientContext", models: Sequence[Any], *,
                          write_concern: WriteConcern, ordered: bool = True, verbose_results: bool | None = None,
                          bypass_document_validation: bool | None = None, comment: Any = None,
                          let: Mapping[str, Any] | None = None, session: Any = None,
                          raw_data: bool | None = None) -> ClientBulkWriteResult:
    """Send `models` as few `bulkWrite` commands as the server's limits allow and merge the outcome.

    One session serves every batch and getMore (an implicit one when none is given); a top-level
    error stops everything (the open results cursor is killed)."""
    executor = context.executor
    acknowledged = write_concern.acknowledged
    check_unacknowledged(acknowledged=acknowledged, ordered=ordered, verbose_results=verbose_results)
    description = _server_description(context.topology)
    body = command_body(ordered=ordered, verbose_results=verbose_results,
                        bypass_document_validation=bypass_document_validation, comment=comment, let=let,
                        write_concern=write_concern.document(), raw_data=raw_data)
    limits = BatchLimits.from_server(description) if description is not None else BatchLimits()
    batches = plan_batches(list(models), max_write_batch_size=limits.max_write_batch_size,
                           max_message_size_bytes=limits.max_message_size_bytes,
                           max_bson_object_size=limits.max_bson_object_size,
                           command_size=len(bson.encode(body)), acknowledged=acknowledged)
    if not acknowledged:
        for batch in batches:
            executor.execute(_operation(body, batch, None, unacknowledged=True))
        return ClientBulkWriteResult(acknowledged=False)
    own_session = session is None
    if own_session:
        session = ClientSession(context, implicit=True)
    merger = ResultMerger(models, ordered=ordered, verbose=bool(verbose_results))
    try:
        for batch in batches:
            if not _run_batch(executor, body, batch, session, merger):
                break  # an ordered bulk write stops at its first write error
        return merger.finish()
    except DriverError as exc:
        if getattr(exc, "write_concern_errors", None) is not None:
            raise  # merger.finish's own ClientBulkWriteError
        return merger.finish(exc)
    finally:
        if own_session:
            session.end_session()


def _server_description(topology: Any) -> Any:
    """The description of the server a write goes to now: its limits size the batches."""
    server = topology.select_server("write")
    return topology.description.servers.get(server.address)


def _operation(body: Mapping[str, Any], batch: Batch, session: Any, *, unacknowledged: bool = False) -> Operation:
    return Operation(ADMIN, dict(body), session=session, retryable=Retryable.WRITE,
                     sequences={"ops": batch.ops, "nsInfo": batch.ns_info}, unacknowledged=unacknowledged)


def _run_batch(executor: Any, body: Mapping[str, Any], batch: Batch, session: Any, merger: ResultMerger) -> bool:
    """One batch: the command, then its results cursor to the end; False when the bulk write must stop."""
    reply = executor.execute(_operation(body, batch, session))
    document = reply.document or {}
    merger.add_reply(batch, document)
    cursor = parse_cursor_reply(document)
    go_on = merger.add_results(batch, cursor.batch)
    cursor_id = cursor.id
    try:
        while cursor_id and go_on:
            more = get_more_command(RESULTS_COLLECTION, Int64(cursor_id))
            more["getMore"] = Int64(cursor_id)
            page = parse_cursor_reply(executor.execute(Operation(
                ADMIN, more, session=session, address=reply.address,
                read_preference=ReadPreference(PRIMARY))).document or {})
            cursor_id = page.id
            go_on = merger.add_results(batch, page.batch)
    finally:
        if cursor_id:
            _kill(executor, cursor_id, session, reply.address)
    return go_on


def _kill(executor: Any, cursor_id: int, session: Any, address: str) -> None:
    """Bulk write spec, "Top-Level Errors": close an unexhausted results cursor; errors are ignored."""
    body = kill_cursors_command(RESULTS_COLLECTION, [cursor_id])
    try:  # inside the bulk write's own deadline (CSOT), unlike a cursor's close: not cursor.kill_cursor
        executor.execute(Operation(ADMIN, body, session=session, address=address,
                                   read_preference=ReadPreference(PRIMARY)))
    except DriverError:
        pass
