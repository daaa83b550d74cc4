"""A Collection's reads that take more than one command: find_one (no Cursor), find's options, listIndexes' cursor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from driver.api_types import Projection
from driver.cursor import CURSOR_TYPES, Cursor, ListCursor, kill_cursor, open_cursor
from driver.errors import ConfigurationError, OperationFailure
from driver.execute import Operation
from driver.ops import find_command
from driver.ops.admin import NAMESPACE_NOT_FOUND
from driver.read_preference import ReadPreference
from driver.retry_policy import Retryable
from driver.session import ClientSession
from driver.timeout import check_max_await_time_ms, check_timeout_mode, current as current_deadline

if TYPE_CHECKING:
    from driver.context import ClientContext


def find_options(filter: Mapping[str, Any] | None, projection: Projection | None, cursor_type: str | None,
                 read_concern: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """find's options as find_command takes them: only those given (find_command checks nothing it is
    not handed), with the collection's readConcern and the cursor type's tailable/awaitData."""
    if cursor_type is not None and cursor_type not in CURSOR_TYPES:
        raise ConfigurationError(f"cursor_type must be one of {', '.join(CURSOR_TYPES)}, not {cursor_type!r}")
    find = {key: value for key, value in options.items() if value is not None} if options else {}
    if filter is not None:
        find["filter"] = filter
    if projection is not None:
        find["projection"] = projection
    if read_concern:
        find["read_concern"] = read_concern
    if cursor_type is not None and cursor_type != "nonTailable":
        find["tailable"] = True
        if cursor_type == "tailableAwait":
            find["await_data"] = True
    return find


def find_one(context: "ClientContext", db: str, collection: str, find: dict[str, Any], *,
             read_preference: ReadPreference, session: ClientSession | None, cursor_type: str | None,
             timeout_mode: str | None, max_await_time_ms: int | None) -> dict[str, Any] | None:
    """The first document of one find with limit 1 and singleBatch (the server closes the cursor with
    its reply), its one batch taken through open_cursor, the Cursor's own first step."""
    if timeout_mode is not None or max_await_time_ms is not None:  # checked as find checks them
        deadline = current_deadline()
        timeout_ms = deadline.timeout_ms if deadline is not None else None
        check_timeout_mode(timeout_mode, timeout_ms, tailable=cursor_type in ("tailable", "tailableAwait"))
        check_max_await_time_ms(max_await_time_ms, timeout_ms)
    body = find_command(collection, find.pop("filter", None), limit=-1, **find)
    # The implicit session is made here, not by the executor, because a cursor left open must be
    # killed under the session that opened it (sessions spec: a cursor's commands share its session).
    own = session is None
    if own:
        session = ClientSession(context, implicit=True)
    try:
        address, parsed, _ = open_cursor(context.executor, Operation(
            db, body, read_preference=read_preference, session=session, retryable=Retryable.READ))
        if parsed.id:  # a server that kept the cursor open despite singleBatch: kill it now (find spec)
            _kill(context, db, parsed.collection or collection, parsed.id, address, read_preference, session)
        return parsed.batch[0] if parsed.batch else None
    finally:
        if own:
            session.end_session()


def _kill(context: "ClientContext", db: str, collection: str, cursor_id: int, address: str,
          read_preference: ReadPreference, session: ClientSession) -> None:
    """killCursors on the server that answered, in the find's session, as Cursor.close sends it: best
    effort (the server times the cursor out itself), with timeoutMS afresh (CSOT spec, "Cursors")."""
    deadline = current_deadline()
    kill_cursor(context.executor, db, collection, cursor_id, address, session=session,
                read_preference=read_preference, timeout_ms=deadline.timeout_ms if deadline is not None else None)


def missing_is_empty(cursor: Cursor) -> ListCursor | PrefixedCursor:
    """`cursor` (listIndexes) opened now; a collection that does not exist has no indexes (empty cursor)."""
    try:
        first = cursor.to_list(1)
    except OperationFailure as exc:
        if exc.code == NAMESPACE_NOT_FOUND:
            return ListCursor([])
        raise
    return PrefixedCursor(first, cursor)


class PrefixedCursor:
    """A cursor whose first documents were already read (to turn NamespaceNotFound into empty)."""

    def __init__(self, first: list[dict[str, Any]], cursor: Cursor) -> None:
        self._first = list(first)
        self._cursor = cursor

    @property
    def alive(self) -> bool:
        return bool(self._first) or self._cursor.alive

    def __iter__(self) -> "PrefixedCursor":
        return self

    def __next__(self) -> dict[str, Any]:
        if self._first:
            return self._first.pop(0)
        return next(self._cursor)

    next = __next__

    def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        out, self._first = self._first[:length] if length is not None else self._first, \
            self._first[length:] if length is not None else []
        rest = None if length is None else length - len(out)
        if rest is None or rest > 0:
            out.extend(self._cursor.to_list(rest))
        return out

    def close(self) -> None:
        self._first = []
        self._cursor.close()

    def __enter__(self) -> "PrefixedCursor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
