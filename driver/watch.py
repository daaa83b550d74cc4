"""watch(): change streams on a collection, a database or the whole deployment, over the aggregate cursor (change-streams spec)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from driver.change_stream import ChangeStream, ChangeStreamOptions, Page
from driver.cursor import Cursor
from driver.ops.aggregate import aggregate_command
from driver.read_preference import ReadPreference
from driver.session import ClientSession
from driver.timeout import check_max_await_time_ms, current as current_deadline

if TYPE_CHECKING:
    from driver.context import ClientContext


class _StreamCursor:
    """The aggregate's Cursor seen as the ChangeStream wants it: one server batch per get_more."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    @property
    def alive(self) -> bool:
        return self._cursor.alive

    def get_more(self) -> Page:
        batch = self._cursor.next_batch()
        return Page(batch, self._cursor.post_batch_resume_token)

    def close(self) -> None:
        self._cursor.close()


def open_change_stream(context: "ClientContext", db: str, target: str | int, pipeline: Sequence[Mapping[str, Any]] | None,
                       options: ChangeStreamOptions, *, read_preference: ReadPreference,
                       read_concern: Mapping[str, Any] | None, session: ClientSession | None = None) -> ChangeStream:
    """Run the $changeStream aggregate on `db` (`target` a collection name, or 1 for a database or,
    on admin with options.all_changes_for_cluster, the deployment) and return the resumable ChangeStream.

    One session serves the aggregate, every getMore and every resume (spec, "Resume Process"):
    the caller's, or an implicit one the stream ends when closed."""
    # CSOT spec: the watch() call's timeoutMS (its operation deadline) bounds the aggregate, and
    # afresh each next() of the stream (change streams iterate like tailable awaitData cursors).
    deadline = current_deadline()
    timeout_ms = deadline.timeout_ms if deadline is not None else None
    check_max_await_time_ms(options.max_await_time_ms, timeout_ms)
    own = ClientSession(context, implicit=True) if session is None else None
    use = session if session is not None else own
    stages = list(pipeline or [])

    def opener(opts: ChangeStreamOptions) -> Page:
        body = aggregate_command(target, [opts.stage(), *stages], batch_size=opts.batch_size,
                                 read_concern=read_concern, collation=opts.collation, comment=opts.comment)
        cursor = Cursor(context, db, target if isinstance(target, str) else "$cmd.aggregate", body=body,
                        read_preference=read_preference, session=use, batch_size=opts.batch_size or 0,
                        comment=opts.comment, max_await_time_ms=opts.max_await_time_ms, timeout_ms=timeout_ms,
                        tailable=True)
        first = cursor.next_batch()
        server = context.topology.description.servers.get(cursor.address or "")
        return Page(first, cursor.post_batch_resume_token, cursor.operation_time,
                    server.max_wire_version if server is not None else None, _StreamCursor(cursor))

    try:
        return ChangeStream(opener, options, on_close=own.end_session if own is not None else None,
                            timeout_ms=timeout_ms)
    except BaseException:
        if own is not None:
            own.end_session()
        raise
