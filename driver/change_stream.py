"""Change streams: the $changeStream stage, resume-token caching and the resume-once rule (change-streams spec).

The ChangeStream holds no I/O of its own: an `opener` runs the aggregate (and returns a page
with the first batch and a cursor for getMores); collection, database and client `watch()`
supply it. That keeps the spec's token and resume rules testable without a server.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

from driver.errors import ConnectionFailure, DriverError, OperationFailure, OperationTimeout
from driver.timeout import operation

RESUMABLE_LABEL = "ResumableChangeStreamError"
CURSOR_NOT_FOUND = 43
# Change-streams spec, "Resumable Error": servers below 4.4 (wire 9) send no label; these codes resume.
RESUMABLE_CODES_BEFORE_4_4 = frozenset({6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 63, 150,
                                        13388, 234, 133})
WIRE_4_4 = 9
WIRE_4_0 = 7
MISSING_TOKEN_MESSAGE = "Cannot provide resume functionality when the resume token is missing"


class ChangeStreamError(DriverError):
    """A change stream cannot go on (e.g. a change without a resume token); it is closed."""


def is_resumable(exc: BaseException, max_wire_version: int | None) -> bool:
    """Change-streams spec, "Resumable Error": any error not from the server (network, timeout),
    CursorNotFound, the ResumableChangeStreamError label (4.4+) or, before 4.4, an allow-listed code."""
    if isinstance(exc, ConnectionFailure):
        return True
    if not isinstance(exc, OperationFailure):
        return False
    if exc.code == CURSOR_NOT_FOUND:
        return True
    if max_wire_version is not None and max_wire_version >= WIRE_4_4:
        return exc.has_error_label(RESUMABLE_LABEL)
    return exc.code in RESUMABLE_CODES_BEFORE_4_4


@dataclass(frozen=True)
class ChangeStreamOptions:
    """The options of one watch() (change-streams spec, "ChangeStreamOptions"): the $changeStream
    stage's (`stage()`), then the aggregate's (batch size, await time, collation, comment).

    `watch(pipeline, options)` takes one; `watch(pipeline, full_document=..., ...)` builds one
    from keywords named as these fields (an unknown keyword is a TypeError naming it)."""

    full_document: str | None = None
    full_document_before_change: str | None = None
    resume_after: Mapping[str, Any] | None = None
    start_after: Mapping[str, Any] | None = None
    start_at_operation_time: Any = None
    show_expanded_events: bool | None = None
    all_changes_for_cluster: bool = False
    batch_size: int | None = None
    max_await_time_ms: int | None = None
    collation: Mapping[str, Any] | None = None
    comment: Any = None

    @classmethod
    def of(cls, options: "ChangeStreamOptions | None", keywords: Mapping[str, Any]) -> "ChangeStreamOptions":
        """`options` with `keywords` applied over it (either may be empty)."""
        if options is None:
            return cls(**keywords)
        return replace(options, **keywords) if keywords else options

    def stage(self) -> dict[str, Any]:
        """{$changeStream: {...}} with only the options given."""
        body: dict[str, Any] = {}
        for key, value in (("fullDocument", self.full_document),
                           ("fullDocumentBeforeChange", self.full_document_before_change),
                           ("resumeAfter", self.resume_after), ("startAfter", self.start_after),
                           ("startAtOperationTime", self.start_at_operation_time),
                           ("showExpandedEvents", self.show_expanded_events)):
            if value is not None:
                body[key] = value
        if self.all_changes_for_cluster:
            body["allChangesForCluster"] = True
        return {"$changeStream": body}


class ChangeStreamCursor(Protocol):
    """What the ChangeStream needs of the aggregate's cursor."""

    @property
    def alive(self) -> bool: ...

    def get_more(self) -> "Page": ...

    def close(self) -> None: ...


@dataclass
class Page:
    """One server batch: the documents, postBatchResumeToken, and (for the aggregate) operationTime
    and the answering server's maxWireVersion."""

    batch: Sequence[Mapping[str, Any]]
    post_batch_resume_token: Mapping[str, Any] | None = None
    operation_time: Any = None
    max_wire_version: int | None = None
    cursor: ChangeStreamCursor | None = None


Opener = Callable[[ChangeStreamOptions], Page]


class ChangeStream:
    """An iterable of change events that resumes once per resumable error.

    `try_next()` returns the next change or None after one getMore without one (it never blocks
    longer than the server's await time); iterating blocks until a change comes or the stream ends.
    `resume_token` is the token to store for resuming later (spec, "Exposing All Resume Tokens")."""

    def __init__(self, opener: Opener, options: ChangeStreamOptions,
                 on_close: Callable[[], None] | None = None, timeout_ms: int | None = None) -> None:
        self._opener = opener
        self._on_close = on_close  # e.g. end the implicit session every aggregate/getMore shared
        # CSOT spec, "Change Streams": timeoutMS bounds each next()/try_next() as a whole (its
        # getMores and any resume); a next() that timed out leaves the stream open, and the
        # following call resumes it.
        self._timeout_ms = timeout_ms
        self._resume_next = False
        self._options = options
        # Spec, "Updating the Cached Resume Token": start with startAfter, else resumeAfter.
        self._token = options.start_after if options.start_after is not None else options.resume_after
        self._operation_time = options.start_at_operation_time
        self._returned_any = False
        self._buffer: deque[Mapping[str, Any]] = deque()
        self._pbrt: Mapping[str, Any] | None = None
        self._cursor: ChangeStreamCursor | None = None
        self._wire: int | None = None
        self._closed = False
        self._open(options)
        page_empty = not self._buffer and self._pbrt is None
        no_start = (options.start_at_operation_time is None and options.resume_after is None
                    and options.start_after is None)
        if no_start and page_empty and self._wire is not None and self._wire >= WIRE_4_0:
            self._operation_time = self._last_operation_time  # spec, "startAtOperationTime"

    # -- the aggregate -------------------------------------------------------------------------
    def _open(self, options: ChangeStreamOptions) -> None:
        page = self._opener(options)
        self._cursor = page.cursor
        self._wire = page.max_wire_version
        self._last_operation_time = page.operation_time
        self._take(page)

    def _resume_options(self) -> ChangeStreamOptions:
        """Change-streams spec, "Resume Process": which start option the new aggregate carries."""
        cleared = replace(self._options, resume_after=None, start_after=None, start_at_operation_time=None)
        if self._token is not None:
            if self._options.start_after is not None and not self._returned_any:
                return replace(cleared, start_after=self._token)
            return replace(cleared, resume_after=self._token)
        if self._operation_time is not None and self._wire is not None and self._wire >= WIRE_4_0:
            return replace(cleared, start_at_operation_time=self._operation_time)
        return self._options

    def _resume(self) -> None:
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            try:
                cursor.close()  # spec: kill the old cursor, errors suppressed
            except DriverError:
                pass
        self._buffer.clear()
        self._open(self._resume_options())

    def _take(self, page: Page) -> None:
        self._buffer.extend(page.batch)
        self._pbrt = page.post_batch_resume_token
        if not page.batch and self._pbrt is not None:
            self._token = self._pbrt

    # -- iteration -----------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return not self._closed and (bool(self._buffer) or (self._cursor is not None and self._cursor.alive))

    @property
    def resume_token(self) -> Mapping[str, Any] | None:
        """The cached resume token: pass it as resume_after (or start_after) to continue later."""
        return self._token

    def try_next(self) -> Mapping[str, Any] | None:
        """The next change, or None when one getMore brought none (the token may still advance)."""
        if self._closed:
            raise ChangeStreamError("this change stream is closed; open a new one with watch()")
        with operation(self._timeout_ms):
            if self._resume_next:
                self._resume_next = False
                self._resume()
            if not self._buffer and self._cursor is not None and self._cursor.alive:
                self._get_more()
        if not self._buffer:
            return None
        change = self._buffer.popleft()
        if "_id" not in change:
            self.close()
            raise ChangeStreamError(MISSING_TOKEN_MESSAGE + " (a pipeline stage removed _id); keep _id in "
                                    "the change documents to use a resumable change stream")
        self._token = self._pbrt if (not self._buffer and self._pbrt is not None) else change["_id"]
        self._returned_any = True
        return change

    def _get_more(self) -> None:
        assert self._cursor is not None
        try:
            page = self._cursor.get_more()
        except DriverError as exc:
            if isinstance(exc, OperationTimeout):
                self._resume_next = True  # CSOT: not invalidated; the next call resumes
                raise
            if not is_resumable(exc, self._wire):
                raise
            self._resume()  # once: an error of the new aggregate is raised
            return
        self._take(page)

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        return self

    def __next__(self) -> Mapping[str, Any]:
        with operation(self._timeout_ms):
            while self.alive or self._resume_next:
                change = self.try_next()
                if change is not None:
                    return change
        raise StopIteration

    next = __next__

    def close(self) -> None:
        """Kill the server cursor (best effort); iteration ends."""
        if self._closed:
            return
        self._closed = True
        cursor, self._cursor = self._cursor, None
        self._buffer.clear()
        try:
            if cursor is not None:
                cursor.close()
        finally:
            if self._on_close is not None:
                self._on_close()

    def __enter__(self) -> "ChangeStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
