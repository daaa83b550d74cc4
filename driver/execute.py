"""The one execution loop: select a server, check out, attach session/cluster fields, send, monitor, handle errors, retry once."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bson import Int64

from driver.socket_connection import check_reply
from driver.errors import (
    ConfigurationError,
    ConnectionFailure,
    DriverError,
    OperationFailure,
    WriteConcernError,
)
from driver.events.command import command_context
from driver.read_preference import PRIMARY, ReadPreference
from driver.retry import (
    RETRY_TOKEN_RETURN_RATE,
    RETRYABLE_WRITES_UNSUPPORTED_MESSAGE,
    TokenBucket,
    add_retryable_write_label,
    error_after_read_retry,
    error_after_write_retry,
    is_overload_error,
    is_retryable_overload_error,
    is_retryable_read_command,
    is_retryable_write_command,
    overload_backoff_s,
    retryable_writes_unsupported,
    should_retry_read,
    should_retry_write,
    supports_retryable_reads,
    supports_retryable_writes,
)
from driver.sdam.app_errors import Phase
from driver.sdam.description import ServerType, TopologyType
from driver.command_session import attach_session, transaction_read_preference
from driver.session import ClientSession, greater_cluster_time
from driver.transaction import ENDING_COMMANDS, label_command_error
from driver.wire import next_request_id

if TYPE_CHECKING:
    from driver.context import ClientContext

_operation_ids = itertools.count(1)


@dataclass
class Operation:
    """One logical operation: a command for `db`, and how it may be routed and retried.

    `read_preference` None means a write (a writable server). `retryable` is "write", "read"
    or None. `address` pins the command to a server (getMore/killCursors on the cursor's
    server). `unacknowledged` sends with moreToCome (w: 0) and returns no reply.
    """

    db: str
    body: dict[str, Any]
    read_preference: ReadPreference | None = None
    session: ClientSession | None = None
    retryable: str | None = None
    sequences: Mapping[str, Sequence[Mapping[str, Any]]] | None = None
    unacknowledged: bool = False
    address: str | None = None
    check: bool = True
    sessionless: bool = False  # never attach a session (endSessions itself)
    # Set once the operation's txnNumber was taken: every later attempt reuses it.
    txn_number_taken: bool = False
    # An aggregate ending in $out/$merge: a write that may still run on a secondary (5.0+).
    write_stage: bool = False
    # A command the caller wrote (runCommand): the driver adds no readConcern to it (read-write-
    # concern and causal-consistency specs); `explicit_read_preference`: given to this very call.
    user_command: bool = False
    explicit_read_preference: bool = False
    attempts: int = 0  # commands sent so far (a retried commitTransaction asks for w: majority...)
    overload_retry: bool = False  # ...unless the retry is for an overload error (client backpressure)
    starts_transaction: bool = False  # an attempt carried startTransaction: its retries carry it too
    operation_id: int = field(default_factory=lambda: next(_operation_ids))


@dataclass(frozen=True)
class Reply:
    """A command's reply document (None when unacknowledged) and the server that answered."""

    document: dict[str, Any] | None
    address: str


class Executor:
    """Runs Operations against a live Topology for one client (the "operation execution" of the specs)."""

    def __init__(self, context: "ClientContext", *, retry_writes: bool = True, retry_reads: bool = True,
                 max_adaptive_retries: int = 2, overload_retargeting: bool = False) -> None:
        self._context = context
        self.topology = context.topology
        self.events = context.events
        self.retry_writes = retry_writes
        self.retry_reads = retry_reads
        # Client backpressure, "Overload retry policy": MAX_RETRIES (maxAdaptiveRetries) and
        # whether an overload retry avoids the server that was overloaded (enableOverloadRetargeting).
        self.max_adaptive_retries = max_adaptive_retries
        self.overload_retargeting = overload_retargeting
        self.cluster_time: Mapping[str, Any] | None = None
        # Client backpressure: the per-client budget of overload retries.
        self.retry_tokens = TokenBucket()
        self._cluster_lock = threading.Lock()
        # (address, db, collection, cursor_id) of cursors garbage-collected while open; killed
        # by the next operation because I/O must not run inside a finalizer.
        self.pending_kills: list[tuple[str, str, str, int]] = []

    # -- entry point ---------------------------------------------------------------------
    def execute(self, op: Operation) -> Reply:
        """Run `op` (with an implicit session when none is given and the write is acknowledged)."""
        if self.pending_kills:
            self.kill_pending_cursors()
        implicit = None
        if op.session is None and not op.unacknowledged and not op.sessionless:
            implicit = op.session = ClientSession(self._context, implicit=True)
        elif op.session is not None and op.unacknowledged and not op.session.implicit:
            raise ConfigurationError("an unacknowledged write (w=0) cannot use an explicit session; "
                                     "drop the session or use an acknowledged write concern")
        session = op.session
        in_txn = session is not None and session.in_transaction and next(iter(op.body)) not in ENDING_COMMANDS
        try:
            if in_txn:
                op.read_preference = transaction_read_preference(op.read_preference, session,
                                                                 explicit=op.explicit_read_preference)
            return self._run_with_retry(op)
        except DriverError as exc:
            if in_txn:
                label_command_error(exc)  # transactions spec: network / selection errors are transient
                session.transaction.unpin_after_error(exc, next(iter(op.body)))
            raise
        finally:
            if implicit is not None:
                implicit.end_session()
                op.session = None

    def end_transaction(self, session: ClientSession, command: str) -> Reply:
        """commitTransaction / abortTransaction on admin: a retryable write of the session's transaction."""
        txn = session.transaction
        body = txn.commit_command(retry=False) if command == "commitTransaction" else txn.abort_command()
        reply = self.execute(Operation("admin", body, session=session, retryable="write"))
        txn.note_reply(reply.document)
        document = reply.document or {}
        wce = document.get("writeConcernError")
        if isinstance(wce, Mapping):
            # Transactions spec: a commit's write concern error is an error; details are the
            # writeConcernError (its codeName), labels the reply's and the error's own.
            labels = (*document.get("errorLabels", ()), *wce.get("errorLabels", ()))
            raise WriteConcernError(f"{command} write concern error: {wce.get('errmsg', '')} (code {wce.get('code')})",
                                    wce.get("code"), {**wce, "writeConcernError": dict(wce)}, error_labels=labels)
        return reply

    def kill_pending_cursors(self) -> None:
        """Send killCursors for cursors that were garbage-collected while still open (best effort)."""
        pending, self.pending_kills[:] = list(self.pending_kills), []
        for address, db, coll, cursor_id in pending:
            try:
                self.execute(Operation(db, {"killCursors": coll, "cursors": [Int64(cursor_id)]}, address=address,
                                       read_preference=ReadPreference(PRIMARY)))
            except DriverError:
                pass  # the server will time the cursor out itself (10 minutes)

    # -- the retry loop (retryable-writes / retryable-reads specs) -----------------------
    def _run_with_retry(self, op: Operation) -> Reply:
        session = op.session
        ending = next(iter(op.body)) in ENDING_COMMANDS
        in_txn = session is not None and session.in_transaction and not ending
        # Transactions spec: commitTransaction/abortTransaction are retried once even with retryWrites off.
        retry_writes = self.retry_writes or ending
        # Judge the command with its document sequences merged back (multi updates / limit-0 deletes).
        whole = {**op.body, **op.sequences} if op.sequences else op.body
        retry_write = (op.retryable == "write" and retry_writes and session is not None and not in_txn
                       and is_retryable_write_command(whole))
        retry_read = (op.retryable == "read" and self.retry_reads and not in_txn
                      and is_retryable_read_command(whole))
        errors: list[BaseException] = []
        deprioritized: tuple[str, ...] = ()
        attempt = 0
        # One retry (retryable reads/writes specs), or up to maxAdaptiveRetries once any
        # attempt failed with a SystemOverloadedError (client-backpressure spec).
        max_retries = 1
        # Client backpressure: overload retries follow retryWrites for writes, retryReads for
        # reads, and need both for a runCommand (the driver cannot tell what it does).
        if op.user_command:
            overload_retry_on = self.retry_writes and self.retry_reads
        elif op.retryable == "write" or op.read_preference is None or op.write_stage:
            overload_retry_on = retry_writes
        else:
            overload_retry_on = self.retry_reads

        def final_error(current: BaseException) -> BaseException:
            if retry_write:
                return error_after_write_retry(errors)
            return error_after_read_retry(errors[-2] if len(errors) > 1 else errors[0], current)

        while True:
            try:
                server = self._select(op, deprioritized)
            except DriverError as exc:
                if attempt == 0:
                    raise
                errors.append(exc)
                raise final_error(exc) from None
            sd = self.topology.description.servers.get(server.address)
            use_txn = retry_write and sd is not None and supports_retryable_writes(sd)
            if attempt >= 1 and retry_write and not use_txn:
                raise errors[0]  # the new server cannot retry: the original error stands (spec)
            if attempt >= 1 and retry_read and (sd is None or not supports_retryable_reads(sd.max_wire_version)):
                raise errors[0]
            try:
                # retryable-writes spec: one txnNumber per operation, taken by the first attempt
                # that sends the command (an attempt that failed in check-out, e.g. with a
                # PoolClearedError, sent nothing and must not make the retry reuse an old one).
                reply = self._attempt(server, op, use_txn, new_txn=not op.txn_number_taken)
                if use_txn and attempt < max_retries and reply.document is not None:
                    self._raise_retryable_wce(reply.document, sd)
                # Backpressure: every success refills the retry budget a little, a retried one more.
                self.retry_tokens.deposit(RETRY_TOKEN_RETURN_RATE + (1 if attempt else 0))
                return reply
            except DriverError as exc:
                if use_txn and retryable_writes_unsupported(exc):
                    raise ConfigurationError(RETRYABLE_WRITES_UNSUPPORTED_MESSAGE) from exc
                if op.retryable == "write" and not isinstance(exc, ConfigurationError):
                    add_retryable_write_label(exc, sd.max_wire_version if sd else None,
                                              retry_writes=retry_writes and use_txn,
                                              is_mongos=sd is not None and sd.type is ServerType.Mongos,
                                              in_transaction=in_txn)
                errors.append(exc)
                overload = is_overload_error(exc)
                if attempt >= 1 and not overload:
                    # A retry failing for another reason shows the server is coping again.
                    self.retry_tokens.deposit(1)
                retryable = ((use_txn and should_retry_write(exc)) or (retry_read and should_retry_read(exc))
                             or (overload_retry_on and is_retryable_overload_error(exc)))
                if overload and retryable:
                    max_retries = self.max_adaptive_retries
                if not retryable or attempt >= max_retries:
                    if attempt == 0:
                        raise
                    raise final_error(exc) from None
                if overload and not self.retry_tokens.consume(1):
                    if attempt == 0:
                        raise  # the retry budget is spent: no retry
                    raise final_error(exc) from None
                attempt += 1
                op.overload_retry = overload
                if ending and session is not None:
                    # Transactions spec, "When to unpin": retried commit/abort select a server afresh.
                    session.transaction.unpin_after_error(exc, next(iter(op.body)))
                    op.address = None
                if overload:
                    # Client backpressure: back off exponentially with jitter and, with
                    # enableOverloadRetargeting, prefer another server than the overloaded one.
                    if self.overload_retargeting:
                        deprioritized = tuple(dict.fromkeys(deprioritized + (server.address,)))
                    time.sleep(overload_backoff_s(attempt))
                elif self.topology.description.type is TopologyType.Sharded:
                    # Server selection spec, "deprioritized servers": a retry in a sharded
                    # cluster prefers another mongos than the one that failed.
                    deprioritized = (server.address,)

    def _raise_retryable_wce(self, reply: Mapping[str, Any], sd: Any) -> None:
        """A retryable write whose reply carries a retryable writeConcernError is retried too."""
        wce = reply.get("writeConcernError")
        if not isinstance(wce, Mapping):
            return
        error = WriteConcernError(f"write concern error: {wce.get('errmsg', '')} (code {wce.get('code')})",
                                  wce.get("code"), reply, error_labels=wce.get("errorLabels", ()))
        add_retryable_write_label(error, sd.max_wire_version if sd else None, retry_writes=True,
                                  is_mongos=sd is not None and sd.type is ServerType.Mongos)
        if should_retry_write(error):
            raise error

    def _select(self, op: Operation, deprioritized: Sequence[str]) -> Any:
        session = op.session
        if op.address is None and session is not None and session.transaction.pinned_address is not None and (
                session.in_transaction or next(iter(op.body)) in ENDING_COMMANDS):
            op.address = session.transaction.pinned_address  # transactions spec, "Mongos Pinning"
        if op.address is not None:
            server = self.topology.server(op.address)
            if server is None:
                raise ConnectionFailure(f"server {op.address} (where this cursor lives) has left the topology; "
                                        "the cursor cannot continue")
            return server
        if op.write_stage and op.read_preference is not None and not _secondary_write_stage_ok(
                op.read_preference, self.topology.description):
            op.read_preference = None  # run it as a write on the primary
        criteria = "write" if op.read_preference is None else op.read_preference
        return self.topology.select_server(criteria, deprioritized=deprioritized)

    # -- one attempt ---------------------------------------------------------------------
    def _attempt(self, server: Any, op: Operation, use_txn: bool, *, new_txn: bool) -> Reply:
        pool = server.pool
        generation = pool.generation
        server.begin_operation()
        try:
            try:
                pooled = pool.checkout()
            except DriverError as exc:
                # Connection establishment (connect, hello, auth): SDAM decides what it means.
                self.topology.handle_application_error(server.address, exc, phase=Phase.ESTABLISHING,
                                                       generation=generation)
                raise
            try:
                document = self._send(server, pooled, op, use_txn, new_txn)
            except DriverError as exc:
                if isinstance(exc, ConnectionFailure):
                    pooled.mark_errored()
                    if op.session is not None:
                        op.session.mark_dirty()
                self.topology.handle_application_error(server.address, exc, phase=Phase.ESTABLISHED,
                                                       generation=pooled.generation)
                raise
            finally:
                pool.checkin(pooled)
            if document is not None and (not document.get("ok") or document.get("writeConcernError")):
                # ok: 0 returned unchecked (check=False), or a writeConcernError: SDAM still inspects it.
                self.topology.handle_application_error(server.address, None, phase=Phase.ESTABLISHED,
                                                       generation=pooled.generation, reply=document)
            return Reply(document, server.address)
        finally:
            server.end_operation()

    def _send(self, server: Any, pooled: Any, op: Operation, use_txn: bool, new_txn: bool) -> dict[str, Any] | None:
        conn = pooled.connection
        body = self._prepare(server, op, use_txn, new_txn)
        publish = bool(self.events)
        ctx = None
        if publish:
            shown = dict(body)
            shown["$db"] = op.db
            for key, docs in (op.sequences or {}).items():
                shown[key] = list(docs)
            hello = getattr(conn, "hello", None) or {}
            ctx = command_context(shown, op.db, next_request_id(), operation_id=op.operation_id,
                                  connection_id=pooled.id, address=server.address,
                                  service_id=getattr(pooled, "service_id", None),
                                  server_connection_id=hello.get("connectionId"))
            self.events.publish(ctx.started(shown))
        started = time.monotonic()
        try:
            reply = conn.command(op.db, body, sequences=op.sequences, unacknowledged=op.unacknowledged, check=False)
        except DriverError as exc:
            if ctx is not None:
                self.events.publish(ctx.failed(exc, (time.monotonic() - started) * 1000.0))
            raise
        duration_ms = (time.monotonic() - started) * 1000.0
        if reply is None:  # unacknowledged: command monitoring reports {ok: 1}
            if ctx is not None:
                self.events.publish(ctx.succeeded({"ok": 1}, duration_ms))
            return None
        self._gossip(reply, op.session)
        if not reply.get("ok"):
            try:
                check_reply(reply, next(iter(body)), server.address)
            except OperationFailure as exc:
                if ctx is not None:
                    self.events.publish(ctx.failed(exc, duration_ms))
                if op.check:
                    raise
        elif ctx is not None:
            self.events.publish(ctx.succeeded(reply, duration_ms))
        return reply

    def _prepare(self, server: Any, op: Operation, use_txn: bool, new_txn: bool) -> dict[str, Any]:
        """The command as sent: lsid/txnNumber, $clusterTime, $readPreference, afterClusterTime."""
        body = dict(op.body)
        topology = self.topology.description
        sd = topology.servers.get(server.address)
        session = op.session
        if session is not None and not op.unacknowledged:
            supported = topology.logical_session_timeout_minutes is not None or (
                sd is not None and sd.logical_session_timeout_minutes is not None)
            if supported:
                op.attempts += 1
                sharded = topology.type is TopologyType.Sharded
                if attach_session(body, session, op, retryable_write=use_txn, new_txn=new_txn,
                                  address=server.address if sharded else None):
                    op.txn_number_taken = True
            elif not session.implicit:
                raise ConfigurationError(f"server {server.address} does not support sessions "
                                         "(no logicalSessionTimeoutMinutes in its hello); run without a session")
        cluster_time = self.cluster_time
        if session is not None and session.cluster_time is not None:
            cluster_time = greater_cluster_time(cluster_time, session.cluster_time)
        if cluster_time is not None and sd is not None and sd.max_wire_version >= 6:
            body["$clusterTime"] = cluster_time
        pref = op.read_preference
        if pref is not None and sd is not None:
            document = _read_preference_document(pref, topology.type, sd.type)
            if document is not None:
                body["$readPreference"] = document
        return body

    def _gossip(self, reply: Mapping[str, Any], session: ClientSession | None) -> None:
        """Sessions spec, "Gossipping the cluster time": keep the greatest $clusterTime seen."""
        cluster_time = reply.get("$clusterTime")
        if cluster_time is not None:
            with self._cluster_lock:
                self.cluster_time = greater_cluster_time(self.cluster_time, cluster_time)
            if session is not None:
                session.advance_cluster_time(cluster_time)
        if session is not None and reply.get("operationTime") is not None:
            session.advance_operation_time(reply["operationTime"])
        if session is not None and session.in_transaction:
            session.transaction.note_reply(reply)
        if session is not None and session.snapshot:
            session.note_snapshot_time(reply)


# Wire version of MongoDB 5.0: secondaries run $out/$merge aggregates (writing via the primary).
SECONDARY_WRITE_STAGE_WIRE_VERSION = 13


def _secondary_write_stage_ok(pref: ReadPreference, topology: Any) -> bool:
    """Whether an $out/$merge aggregate may use a non-primary read preference.

    CRUD spec, "Aggregation with $out/$merge": only when every AVAILABLE server is 5.0+
    (wire 13); otherwise the driver falls back to the primary so an older secondary never
    gets it. A PossiblePrimary (named by a secondary, not yet checked) has no wire version
    yet and is not available, like an Unknown server.
    """
    if pref.mode == PRIMARY:
        return False
    unavailable = (ServerType.Unknown, ServerType.PossiblePrimary)
    available = [sd for sd in topology.servers.values() if sd.type not in unavailable]
    return all(sd.max_wire_version >= SECONDARY_WRITE_STAGE_WIRE_VERSION for sd in available)


def _read_preference_document(pref: ReadPreference, topology_type: TopologyType,
                              server_type: ServerType) -> dict[str, Any] | None:
    """$readPreference to send (server-selection spec, "Passing read preference to mongos and load balancers").

    Direct connection to a non-mongos: primary becomes primaryPreferred so a secondary answers.
    Mongos / load balancer: send any mode but primary. Replica sets: send non-primary modes so
    a secondary accepts the read (OP_MSG replaces the old secondaryOk bit).
    """
    if topology_type is TopologyType.Single and server_type not in (ServerType.Mongos, ServerType.LoadBalancer):
        return {"mode": "primaryPreferred"} if pref.mode == PRIMARY else pref.document()
    if pref.mode == PRIMARY:
        return None
    return pref.document()
