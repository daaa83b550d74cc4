"""Lazy cursors: first batch on first use, getMore with batchSize on the same server, killCursors on close or garbage."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from bson import Int64

from driver.errors import ConfigurationError, DriverError, OperationTimeout, ProtocolError
from driver.execute import Executor, Operation, Reply
from driver.retry_policy import Retryable
from driver.ops.find import (CursorReply, find_command, get_more_command, kill_cursors_command, next_batch_size,
                             parse_cursor_reply)
from driver.read_preference import PRIMARY, ReadPreference
from driver.retry import is_overload_error
from driver.session import ClientSession
from driver.timeout import (CURSOR_LIFETIME, ITERATION, Deadline, check_max_await_time_ms, check_timeout_mode,
                            current as current_deadline, operation, resume)
from driver.wire.batch import EncodedBatch

if TYPE_CHECKING:
    from driver.context import ClientContext


# The CRUD spec's CursorType values (find's cursorType, runCursorCommand's): tailable cursors read
# a capped collection on; tailableAwait ones also wait up to maxAwaitTimeMS per getMore for data.
CURSOR_TYPES = ("nonTailable", "tailable", "tailableAwait")


def open_cursor(executor: Executor, op: Operation) -> tuple[str, CursorReply, Mapping[str, Any]]:
    """Run a cursor-creating command (find, aggregate, list*): the server that answered, the parsed
    cursor reply (ProtocolError without a valid cursor) and the reply document.

    The one way a first batch is fetched: Cursor's first command and Collection.find_one (which
    takes its single batch without building a Cursor) both come here."""
    reply = executor.execute(op)
    return (reply.address, *_parsed(reply))


def _parsed(reply: Reply) -> tuple[CursorReply, Mapping[str, Any]]:
    """A cursor command's reply parsed (ProtocolError without a valid cursor), and its document."""
    document = reply.document or {}
    return parse_cursor_reply(document), document


def kill_cursor(executor: Executor, db: str, collection: str, cursor_id: int, address: str | None, *,
                session: ClientSession | None = None, read_preference: ReadPreference | None = None,
                timeout_ms: int | None = None) -> None:
    """killCursors for one open cursor, on the server that holds it, in the session that opened it
    (sessions spec), with timeoutMS afresh (CSOT spec, "Cursors"): best effort, errors ignored,
    since the server times idle cursors out itself (find/getMore/killCursors spec)."""
    body = kill_cursors_command(collection, [cursor_id])
    try:
        with operation(timeout_ms, fresh=True):
            executor.execute(Operation(db, body, read_preference=read_preference or ReadPreference(PRIMARY),
                                       session=session, address=address))
    except DriverError:
        pass


class Cursor:
    """Iterate the results of find, aggregate or a list* command, one server batch in memory at a time.

    Nothing is sent until the first `next()` (or iteration, `to_list`). The cursor sticks to
    the server that answered the first command (find/getMore spec: getMore MUST go there) and
    to one session (an implicit one if none is given, ended when the cursor is exhausted or
    closed). A cursor dropped while open is killed by the client's next operation.
    """

    def __init__(self, context: "ClientContext", db: str, collection: str | int, *, body: Mapping[str, Any] | None = None,
                 find: Mapping[str, Any] | None = None, read_preference: ReadPreference | None = None,
                 session: ClientSession | None = None, batch_size: int = 0, limit: int = 0,
                 comment: Any = None, max_await_time_ms: int | None = None, retryable: Retryable | None = Retryable.READ,
                 write_stage: bool = False, user_command: bool = False, timeout_ms: int | None = None,
                 timeout_mode: str | None = None, tailable: bool = False, await_data: bool = False) -> None:
        if (body is None) == (find is None):
            raise ConfigurationError("Cursor needs exactly one of body (a cursor command) or find (find options)")
        self._context = context
        self._db = db
        self._collection = collection
        self._body = dict(body) if body is not None else None
        self._find = dict(find) if find is not None else None
        self._read_preference = read_preference
        self._explicit_session = session
        self._session: ClientSession | None = session
        self._batch_size = batch_size or 0
        self._limit = limit or 0
        self._comment = comment
        self._max_await_time_ms = max_await_time_ms
        self._retryable = retryable
        self._write_stage = write_stage  # $out/$merge aggregate (see Operation.write_stage)
        self._user_command = user_command  # runCursorCommand: the caller's command (Operation.user_command)
        # CSOT spec, "Cursors": timeoutMS (already inherited) and how it applies to getMores.
        # A tailable cursor (or a change stream's) only iterates; others live within one deadline.
        self._timeout_ms = timeout_ms
        mode = check_timeout_mode(timeout_mode, timeout_ms, tailable=tailable)
        if mode == ITERATION and write_stage:
            raise ConfigurationError("timeout_mode='iteration' cannot be used with an aggregate that has "
                                     "$out or $merge (CSOT spec): use the default cursorLifetime")
        self._timeout_mode = mode or (ITERATION if tailable else CURSOR_LIFETIME)
        check_max_await_time_ms(max_await_time_ms, timeout_ms)
        # The first command's maxTimeMS: derived under cursorLifetime and for tailable awaitData
        # cursors; none for an iteration-mode or tailable non-awaitData cursor (CSOT spec, "Cursors").
        self._first_max_time = self._timeout_mode == CURSOR_LIFETIME or await_data
        self._lifetime: Deadline | None = None  # cursorLifetime: the deadline the first command started
        # The current batch: documents decoded (`_buffer`), then the rest still encoded in a
        # large reply (`_encoded`, decoded a chunk at a time into `_buffer` as they are read).
        self._buffer: deque[Any] = deque()
        self._encoded: EncodedBatch | None = None
        self._id: int | None = None  # None: not started; 0: exhausted on the server
        self._address: str | None = None
        self._command: str | None = None  # the command whose reply holds the current batch (errors name it)
        self._ns_collection: str | None = None
        self._received = 0
        self._killed = False
        # Of the latest reply: cursor.postBatchResumeToken and operationTime (change streams).
        self.post_batch_resume_token: Mapping[str, Any] | None = None
        self.operation_time: Any = None

    # -- modifiers (find cursors, before iteration) --------------------------------------
    def _modify(self, key: str, value: Any) -> "Cursor":
        if self._id is not None:
            raise ConfigurationError(f"cannot set {key} on a cursor that has already started iterating")
        if self._find is None and key not in ("batch_size",):
            raise ConfigurationError(f"{key} can only be set on a find cursor")
        if key == "batch_size":
            self._batch_size = value
        if key == "limit":
            self._limit = value
        if self._find is not None:
            self._find[key] = value
        return self

    def sort(self, key_or_list: Any, direction: int | None = None) -> "Cursor":
        """Sort by a field name (with `direction`) or a list of (field, direction) pairs / a document."""
        return self._modify("sort", [(key_or_list, direction)] if direction is not None else key_or_list)

    def skip(self, n: int) -> "Cursor":
        return self._modify("skip", n)

    def limit(self, n: int) -> "Cursor":
        return self._modify("limit", n)

    def batch_size(self, n: int) -> "Cursor":
        return self._modify("batch_size", n)

    def hint(self, index: Any) -> "Cursor":
        return self._modify("hint", index)

    def max_time_ms(self, ms: int) -> "Cursor":
        return self._modify("max_time_ms", ms)

    def comment(self, comment: Any) -> "Cursor":
        self._comment = comment
        return self._modify("comment", comment)

    def collation(self, collation: Mapping[str, Any]) -> "Cursor":
        return self._modify("collation", collation)

    # -- state ---------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        """True while more documents may come (buffered or on the server)."""
        return (bool(self._buffer) or self._encoded is not None or self._id is None
                or (self._id != 0 and not self._killed))

    @property
    def cursor_id(self) -> int | None:
        return self._id

    @property
    def address(self) -> str | None:
        """The server this cursor reads from (None before the first batch)."""
        return self._address

    @property
    def session(self) -> ClientSession | None:
        return self._session

    # -- iteration -----------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        buffer = self._buffer
        if buffer or self._decode_chunk():  # CSOT spec: buffered documents come even after the time ran out
            return buffer.popleft()
        with self._iteration():
            while not self._buffered():
                if not self._fetch():
                    raise StopIteration
        return buffer.popleft()

    next = __next__

    def try_next(self) -> Any | None:
        """The next document if one is buffered or one more getMore yields it, else None."""
        if not self._buffered():
            with self._iteration():
                self._fetch()
        return self._buffer.popleft() if self._buffered() else None

    def to_list(self, length: int | None = None) -> list[Any]:
        """The remaining documents (at most `length`) as a list."""
        out: list[Any] = []
        with self._iteration():
            while length is None or len(out) < length:
                if not self._buffered() and not self._fetch():
                    break
                buffer = self._buffer
                if length is None or len(buffer) <= length - len(out):
                    out.extend(buffer)  # the whole buffer: no call per document
                    buffer.clear()
                else:
                    out.extend(buffer.popleft() for _ in range(length - len(out)))
        return out

    def _buffered(self) -> bool:
        """True when a document of the current batch is at hand (decoding the next chunk if needed)."""
        return bool(self._buffer) or self._decode_chunk()

    def _decode_chunk(self) -> bool:
        """Decode the next chunk of the current batch into the buffer; False when none is left."""
        encoded = self._encoded
        if encoded is None:
            return False
        documents = self._decode(encoded, whole=False)
        if not len(encoded):
            self._encoded = None
        self._buffer.extend(documents)
        return bool(documents)

    def _decode(self, batch: EncodedBatch, *, whole: bool) -> list[Any]:
        """The next chunk of an encoded batch (`whole`: all it has left), decoded: the one place one is.

        Invalid BSON from the server: the rest of this batch is lost and the stream of batches
        broken; kill the server cursor as an abandoned one (find spec) and say which server's
        reply to which command it was, as every other bad reply does."""
        try:
            return batch.take_all() if whole else batch.take_chunk()
        except ProtocolError as exc:
            self._encoded = None
            self.close()
            raise ProtocolError(f"bad reply to {self._command!r} from {self._address}: {exc}") from exc

    def _iteration(self) -> Any:
        """The deadline one call that may reach the server runs under (CSOT spec, "Cursors"): the
        first command opens the cursor's (cursorLifetime: kept for every getMore); in iteration
        mode each call gets timeoutMS afresh. getMores never carry a maxTimeMS derived from it."""
        if self._id is None:
            return operation(self._timeout_ms, max_time=self._first_max_time)
        if self._timeout_mode == CURSOR_LIFETIME and self._lifetime is not None:
            return resume(self._lifetime)
        return operation(self._timeout_ms)

    def _fetch(self) -> bool:
        """Get the next batch; False when nothing more can come."""
        if self._id is None:
            self._first_batch()
            return True
        if self._id == 0 or self._killed:
            return False
        limit = abs(self._limit)
        if limit and self._received >= limit:
            self.close()
            return False
        batch = next_batch_size(limit, self._batch_size, self._received)
        body = get_more_command(self._ns_collection or str(self._collection), Int64(self._id), batch_size=batch,
                                max_time_ms=self._max_await_time_ms, comment=self._comment)
        body["getMore"] = Int64(self._id)
        self._command = "getMore"
        try:
            reply = self._context.executor.execute(Operation(
                self._db, body, read_preference=self._read_preference, session=self._session,
                address=self._address, encoded_batch=True))
        except DriverError as exc:
            if is_overload_error(exc):
                # Client backpressure: an overloaded server refused the getMore and the cursor
                # lives on there; close it (killCursors) rather than leave it to time out.
                self.close()
                raise
            if isinstance(exc, OperationTimeout):
                raise  # CSOT: timeoutMS ran out here, the server cursor lives on (close() kills it)
            # The server cursor is gone or unusable; do not try to kill it again (find spec).
            self._id = 0
            self._end_implicit_session()
            raise
        self._take(*_parsed(reply))
        return True

    def open(self) -> "Cursor":
        """Send the cursor-creating command now if it was not sent yet (its errors raise here); self."""
        if self._id is None:
            with self._iteration():
                self._first_batch()
        return self

    def _first_batch(self) -> None:
        if self._session is None:
            self._session = ClientSession(self._context, implicit=True)
        body = self._body if self._body is not None else self._find_body()
        self._lifetime = current_deadline()
        self._command = next(iter(body))
        try:
            self._address, parsed, reply = open_cursor(self._context.executor, Operation(
                self._db, body, read_preference=self._read_preference, session=self._session,
                retryable=self._retryable, write_stage=self._write_stage, user_command=self._user_command,
                encoded_batch=True))
        except BaseException:  # the command failed, or its reply has no cursor: nothing to kill
            self._id = 0
            self._end_implicit_session()
            raise
        self._take(parsed, reply)

    def _find_body(self) -> dict[str, Any]:
        options = dict(self._find or {})
        options.pop("batch_size", None)
        options.pop("limit", None)
        filter = options.pop("filter", None)
        return find_command(str(self._collection), filter, batch_size=self._batch_size or None,
                            limit=self._limit or None, **options)

    def next_batch(self) -> list[Any]:
        """The documents of the next server batch (the first, or one getMore), possibly none: a
        tailable or change stream cursor may answer an await time with an empty batch."""
        if not self._buffered():
            with self._iteration():
                if not self._fetch():
                    return []
        # The encoded rest first: if it is invalid, the decoded documents stay buffered (nothing lost).
        rest = self._decode(self._encoded, whole=True) if self._encoded is not None else []
        self._encoded = None
        batch = list(self._buffer)
        self._buffer.clear()
        batch.extend(rest)
        return batch

    def _take(self, parsed: CursorReply, reply: Mapping[str, Any]) -> None:
        self.post_batch_resume_token = parsed.post_batch_resume_token
        self.operation_time = reply.get("operationTime")
        self._id = parsed.id
        if parsed.ns and "." in parsed.ns:
            self._ns_collection = parsed.collection
        batch = parsed.batch
        limit = abs(self._limit)
        if limit and self._received + len(batch) > limit:  # a server that sent more than asked
            batch = (batch if type(batch) is list else self._decode(batch, whole=True))[:limit - self._received]
        self._received += len(batch)
        if type(batch) is list:
            self._buffer.extend(batch)
        elif len(batch):
            self._encoded = batch
        if self._id == 0:
            self._end_implicit_session()
        elif limit and self._received >= limit:
            self.close()  # the limit is reached: the server cursor is no longer needed

    # -- closing -------------------------------------------------------------------------
    def close(self, *, timeout_ms: int | None = None) -> None:
        """Kill the server cursor if it is open (killCursors), end an implicit session; keep buffered docs.

        CSOT spec: the killCursors gets timeoutMS afresh (`timeout_ms`, else the cursor's)."""
        if self._id and not self._killed:
            self._killed = True
            kill_cursor(self._context.executor, self._db, self._ns_collection or str(self._collection), self._id,
                        self._address, session=self._session, read_preference=self._read_preference,
                        timeout_ms=timeout_ms if timeout_ms is not None else self._timeout_ms)
        elif self._id is None:
            self._id = 0
        self._end_implicit_session()

    def _end_implicit_session(self) -> None:
        if self._session is not None and self._session is not self._explicit_session:
            self._session.end_session()

    def __enter__(self) -> "Cursor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # No I/O in a finalizer (it may run on any thread, inside any lock): queue the kill.
        try:
            if self._id and not self._killed and self._address is not None:
                self._context.executor.pending_kills.append(
                    (self._address, self._db, self._ns_collection or str(self._collection), int(self._id)))
        except Exception:  # noqa: BLE001 - interpreter shutdown may have torn things down
            pass

    def __repr__(self) -> str:
        buffered = len(self._buffer) + (len(self._encoded) if self._encoded is not None else 0)
        return f"<Cursor {self._db}.{self._collection} id={self._id} buffered={buffered}>"


class ListCursor:
    """A cursor-like view of documents the server returned all at once (listDatabases, or nothing)."""

    def __init__(self, documents: list[Any]) -> None:
        self._buffer = deque(documents)

    @property
    def alive(self) -> bool:
        return bool(self._buffer)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if not self._buffer:
            raise StopIteration
        return self._buffer.popleft()

    next = __next__

    def try_next(self) -> Any | None:
        """The next document, or None when there is none (everything came at once)."""
        return self._buffer.popleft() if self._buffer else None

    def to_list(self, length: int | None = None) -> list[Any]:
        n = len(self._buffer) if length is None else min(length, len(self._buffer))
        return [self._buffer.popleft() for _ in range(n)]

    def close(self) -> None:
        self._buffer.clear()

    def __enter__(self) -> "ListCursor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
