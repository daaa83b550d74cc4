"""Client sessions: the server-session pool, lsid/txnNumber, cluster and operation times (sessions spec)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Mapping

from bson import Binary, Int64

from driver.errors import ConfigurationError, DriverError
from driver.timeout import current as current_deadline, operation, operation_timeout_ms
from driver.transaction import NO_OPTIONS, Transaction, TransactionOptions, label_commit_error, run_with_transaction

if TYPE_CHECKING:
    from driver.context import ClientContext

# Sessions spec, "Server Session Pool": a session about to time out within a minute is not
# reused (the server may expire it while an operation is in flight).
EXPIRY_MARGIN_SECONDS = 60
# Sessions spec, "endSessions": at most 10,000 lsids per command.
END_SESSIONS_BATCH = 10_000


def greater_cluster_time(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The $clusterTime document with the larger clusterTime (either may be None)."""
    if a is None:
        return b
    if b is None:
        return a
    return b if b.get("clusterTime") > a.get("clusterTime") else a


class ServerSession:
    """The server-side half: lsid {id: UUID4 as Binary subtype 4}, last use, txnNumber, dirty flag."""

    __slots__ = ("session_id", "last_use", "txn_number", "dirty")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.session_id = {"id": Binary(uuid.uuid4().bytes, 4)}
        self.last_use = clock()
        self.txn_number = 0
        # Sessions spec, "Server Session Pool": a network error leaves the server's state of this
        # session unknown, so it is discarded rather than reused.
        self.dirty = False


def _idle_limit(timeout_minutes: int | None) -> float | None:
    """Seconds a pooled session may have been idle and still be used: it must have more than a
    minute left before the server may expire it (None: the deployment gives no timeout)."""
    return None if timeout_minutes is None else timeout_minutes * 60 - EXPIRY_MARGIN_SECONDS


class ServerSessionPool:
    """LIFO pool of ServerSessions; stale ones are dropped on checkout and checkin (spec algorithm)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sessions: deque[ServerSession] = deque()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def checkout(self, timeout_minutes: int | None) -> ServerSession:
        """Most recently used unexpired session, or a new one."""
        now = self._clock()
        idle_limit = _idle_limit(timeout_minutes)
        with self._lock:
            while self._sessions:
                session = self._sessions.popleft()
                if idle_limit is None or now - session.last_use <= idle_limit:
                    return session
        return ServerSession(self._clock)

    def checkin(self, session: ServerSession, timeout_minutes: int | None) -> None:
        """Return a session: drop expired ones at the back first, then keep this one unless stale/dirty."""
        now = self._clock()
        idle_limit = _idle_limit(timeout_minutes)
        with self._lock:
            if idle_limit is not None:
                while self._sessions and now - self._sessions[-1].last_use > idle_limit:
                    self._sessions.pop()
                if now - session.last_use > idle_limit:
                    return
            if not session.dirty:
                self._sessions.appendleft(session)

    def drain(self) -> list[dict[str, Any]]:
        """Empty the pool and return its lsids (sessions spec: endSessions on client close)."""
        with self._lock:
            ids = [s.session_id for s in self._sessions]
            self._sessions.clear()
        return ids


class ClientSession:
    """A client session (explicit from `client.start_session()`, or implicit per operation).

    The ServerSession is taken from the pool only when a command needs an lsid (sessions spec:
    "MUST NOT check out a server session until needed"), and goes back on `end_session()`.
    """

    def __init__(self, context: "ClientContext", *, implicit: bool = False, causal_consistency: bool | None = None,
                 default_transaction_options: Mapping[str, Any] | None = None, snapshot: bool = False,
                 snapshot_time: Any = None, default_timeout_ms: int | None = None) -> None:
        if snapshot and causal_consistency:
            raise ConfigurationError("a session cannot be both snapshot and causally consistent "
                                     "(sessions spec, snapshot reads): choose one")
        if snapshot_time is not None and not snapshot:
            raise ConfigurationError("snapshot_time needs snapshot=True")
        self._context = context
        self.client = context.client
        self.implicit = implicit
        # Sessions/causal-consistency specs: explicit sessions are causally consistent by default
        # (a snapshot session is not: its reads all see one point in time instead).
        self.causal_consistency = ((not implicit and not snapshot) if causal_consistency is None
                                   else bool(causal_consistency))
        # Snapshot reads (sessions spec, "Snapshot reads"): readConcern level snapshot, and from the
        # first reply on (or from the start, when given) atClusterTime = snapshot_time.
        self.snapshot = bool(snapshot)
        self.snapshot_time: Any = snapshot_time
        self.default_transaction_options = (NO_OPTIONS if default_transaction_options is None
                                            else TransactionOptions.from_mapping(default_transaction_options))
        # CSOT spec, "Sessions": defaultTimeoutMS (already inherited from the client) bounds
        # commitTransaction, abortTransaction and withTransaction.
        self.default_timeout_ms = default_timeout_ms
        # The transaction state exists once asked for (`transaction`): an implicit session, one per
        # operation, never starts one, and its commands only check `started_transaction`.
        self.started_transaction: Transaction | None = None
        self.cluster_time: Mapping[str, Any] | None = None
        self.operation_time: Any = None
        self._server_session: ServerSession | None = None
        self._last_lsid: dict[str, Any] | None = None
        self._ended = False
        self._lock = threading.Lock()

    # -- identity ------------------------------------------------------------------------
    @property
    def session_id(self) -> dict[str, Any]:
        """The lsid document {id: Binary subtype 4}; takes a server session if none yet.

        An ended session still reports the lsid it used (for logs and event matching)."""
        if self._ended and self._last_lsid is not None:
            return self._last_lsid
        return self.server_session.session_id

    @property
    def server_session(self) -> ServerSession:
        server = self._server_session
        if server is not None:  # taken before (and not ended: ending clears it): no lock needed to read it
            return server
        if self._ended:
            raise ConfigurationError("this session has ended; start a new one with client.start_session()")
        with self._lock:
            if self._server_session is None:
                self._server_session = self._context.server_sessions.checkout(
                    self._context.logical_session_timeout_minutes)
                self._last_lsid = self._server_session.session_id
            return self._server_session

    @property
    def has_ended(self) -> bool:
        return self._ended

    @property
    def transaction(self) -> Transaction:
        """This session's transaction state (in state "none" until start_transaction)."""
        txn = self.started_transaction
        if txn is None:
            with self._lock:
                if self.started_transaction is None:
                    self.started_transaction = Transaction()
                txn = self.started_transaction
        return txn

    @property
    def in_transaction(self) -> bool:
        """True between start_transaction and commit/abort (transactions spec: starting or in progress)."""
        txn = self.started_transaction
        return txn is not None and txn.active

    @property
    def transaction_state(self) -> str:
        """"none", "starting", "in_progress", "committed" or "aborted" (the spec's names)."""
        return self.transaction.spec_state

    # -- transactions (transactions spec; the executor adds the fields to each command) --------
    def start_transaction(self, read_concern: Any = None, write_concern: Any = None, read_preference: Any = None,
                          max_commit_time_ms: int | None = None) -> "TransactionBlock":
        """Begin a transaction; options default to the session's default_transaction_options, then the client's.

        Usable as a context manager: leaving the block commits, or aborts on an exception."""
        if self._ended:
            raise ConfigurationError("this session has ended; start a new one with client.start_session()")
        if self.snapshot:
            raise ConfigurationError("Transactions are not supported in snapshot sessions; "
                                     "start a session without snapshot=True")
        given = TransactionOptions.from_mapping({"read_concern": read_concern, "write_concern": write_concern,
                                                 "read_preference": read_preference,
                                                 "max_commit_time_ms": max_commit_time_ms})
        client = TransactionOptions(self.client.read_concern, self.client.write_concern, self.client.read_preference)
        self.transaction.start(given.merged_over(self.default_transaction_options).merged_over(client))
        self.server_session.txn_number += 1  # transactions spec: each transaction takes a new txnNumber
        return TransactionBlock(self)

    def commit_transaction(self, *, timeout_ms: int | None = None) -> None:
        """Commit (retried once on a retryable error, then with w: "majority"); a second call re-commits."""
        if not self.transaction.begin_commit():
            return
        try:
            with operation(operation_timeout_ms(timeout_ms, self.default_timeout_ms), explicit=timeout_ms is not None):
                self._context.executor.end_transaction(self, "commitTransaction")
        except DriverError as exc:
            label_commit_error(exc)
            self.transaction.unpin_after_error(exc, "commitTransaction")
            raise
        finally:
            self.transaction.commit_done()

    def abort_transaction(self, *, timeout_ms: int | None = None) -> None:
        """Abort (retried once on a retryable error); server errors are ignored, as the spec says.

        Its timeoutMS starts afresh even inside withTransaction (CSOT spec, "Convenient Transactions API")."""
        if not self.transaction.begin_abort():
            return
        outer = current_deadline()
        # Inside withTransaction the abort gets withTransaction's own timeoutMS afresh.
        inherited = outer.timeout_ms if outer is not None and outer.locked else self.default_timeout_ms
        try:
            with operation(operation_timeout_ms(timeout_ms, inherited), fresh=True):
                self._context.executor.end_transaction(self, "abortTransaction")
        except DriverError:
            pass  # transactions spec, "abortTransaction": errors are ignored
        finally:
            self.transaction.abort_done()

    def with_transaction(self, callback: Callable[["ClientSession"], Any], read_concern: Any = None,
                         write_concern: Any = None, read_preference: Any = None,
                         max_commit_time_ms: int | None = None, timeout_ms: int | None = None) -> Any:
        """Run `callback(session)` in a transaction and commit, retrying as the convenient API spec says.

        With timeoutMS (`timeout_ms`, else the session's default) one deadline bounds the whole call,
        the callback's operations on this session included; they may not set their own."""
        options = {"read_concern": read_concern, "write_concern": write_concern,
                   "read_preference": read_preference, "max_commit_time_ms": max_commit_time_ms}
        with operation(operation_timeout_ms(timeout_ms, self.default_timeout_ms), locked=True) as deadline:
            return run_with_transaction(self, callback, options, time.monotonic, deadline=deadline)

    # -- per command ---------------------------------------------------------------------
    def apply(self, body: dict[str, Any], *, retryable_write: bool, new_txn: bool) -> None:
        """Put lsid (and txnNumber for a retryable write) on a command; bump txnNumber on a new write."""
        server = self.server_session
        server.last_use = time.monotonic()
        body["lsid"] = server.session_id
        if retryable_write:
            if new_txn:
                server.txn_number += 1
            body["txnNumber"] = Int64(server.txn_number)

    @property
    def dirty(self) -> bool:
        """True when a network error happened while this session was in use (sessions spec,
        "Server Session Pool"): its server session will be discarded, not pooled, at the end."""
        server = self._server_session
        return server is not None and server.dirty

    def mark_dirty(self) -> None:
        """A network error happened with this session: do not reuse its server session."""
        if self._server_session is not None:
            self._server_session.dirty = True

    def advance_cluster_time(self, cluster_time: Mapping[str, Any] | None) -> None:
        """Keep the greatest $clusterTime seen on this session."""
        self.cluster_time = greater_cluster_time(self.cluster_time, cluster_time)

    def note_snapshot_time(self, reply: Mapping[str, Any]) -> None:
        """A snapshot session keeps the atClusterTime of its first read's reply (cursor.atClusterTime
        for find/aggregate, atClusterTime for distinct) for every later read."""
        if not self.snapshot or self.snapshot_time is not None:
            return
        cursor = reply.get("cursor")
        found = cursor.get("atClusterTime") if isinstance(cursor, Mapping) else None
        self.snapshot_time = found if found is not None else reply.get("atClusterTime")

    def advance_operation_time(self, operation_time: Any) -> None:
        """Keep the greatest operationTime seen (causal consistency: afterClusterTime of the next read)."""
        if operation_time is not None and (self.operation_time is None or operation_time > self.operation_time):
            self.operation_time = operation_time

    # -- lifecycle -----------------------------------------------------------------------
    def end_session(self) -> None:
        """Abort a transaction still open, return the server session to the client's pool; idempotent."""
        if self._ended:
            return  # ended (and unpinned) before: nothing to do, and nothing to lock for
        txn = self.started_transaction
        if txn is not None:
            if txn.active:
                self.abort_transaction()
            txn.unpin()  # transactions spec, "When to unpin": an ended session
        with self._lock:
            if self._ended:
                return
            self._ended = True
            server, self._server_session = self._server_session, None
        if server is not None:
            self._context.server_sessions.checkin(server, self._context.logical_session_timeout_minutes)

    def __enter__(self) -> "ClientSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.end_session()

    def __repr__(self) -> str:
        state = "ended" if self._ended else ("implicit" if self.implicit else "explicit")
        return f"<ClientSession {state} causal_consistency={self.causal_consistency}>"


class TransactionBlock:
    """What start_transaction returns: `with session.start_transaction():` commits at the end of
    the block, or aborts when it raises (a transaction ended inside the block is left alone)."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session

    def __enter__(self) -> "TransactionBlock":
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        if not self.session.in_transaction:
            return
        if exc_type is None:
            self.session.commit_transaction()
        else:
            self.session.abort_transaction()


def end_sessions_commands(lsids: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """endSessions commands of at most 10,000 lsids each (sessions spec, "endSessions")."""
    return [{"endSessions": lsids[i:i + END_SESSIONS_BATCH]} for i in range(0, len(lsids), END_SESSIONS_BATCH)]
