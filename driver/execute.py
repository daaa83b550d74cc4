"""The one execution loop: select a server, check out, attach session/cluster fields, send, monitor, hand errors to SDAM, retry by policy."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from bson import Int64

from driver.command_session import attach_session, transaction_read_preference
from driver.errors import (
    ConfigurationError,
    ConnectionFailure,
    DriverError,
    OperationFailure,
    WriteConcernError,
)
from driver.ops.server_support import check_supported, fit
from driver.read_preference import PRIMARY, ReadPreference
from driver.retry import (
    RETRYABLE_WRITES_UNSUPPORTED_MESSAGE,
    TokenBucket,
    add_retryable_write_label,
    overload_backoff_s,
    retryable_writes_unsupported,
    should_retry_write,
)
from driver.retry_policy import Attempts, OverloadPolicy, Retryable, Step, base_policy
from driver.sdam.app_errors import Phase
from driver.sdam.description import ServerDescription, ServerType, TopologyType
from driver.session import ClientSession, greater_cluster_time
from driver.socket_connection import check_reply
from driver.timeout import command_under, current as current_deadline, selection_timeout_ms
from driver.transaction import ENDING_COMMANDS, label_command_error
from driver.wire import next_request_id

if TYPE_CHECKING:
    from driver.context import ClientContext

_operation_ids = itertools.count(1)


@dataclass(frozen=True, init=False)
class Operation:
    """One logical operation: a command for `db`, and how it may be routed and retried; never changed.

    `read_preference` None means a write (a writable server). `retryable` says which retry
    regime the operation is a candidate for (retry_policy.Retryable; "write"/"read" accepted).
    `address` pins the command to a server (getMore/killCursors on the cursor's server).
    `unacknowledged` sends with moreToCome (w: 0) and returns no reply. What changes from
    attempt to attempt lives in retry_policy.Attempts.
    """

    db: str
    body: dict[str, Any]
    read_preference: ReadPreference | None = None
    session: ClientSession | None = None
    retryable: Retryable | None = None
    sequences: Mapping[str, Sequence[Mapping[str, Any]]] | None = None
    unacknowledged: bool = False
    address: str | None = None
    check: bool = True
    sessionless: bool = False  # never attach a session (endSessions itself)
    # An aggregate ending in $out/$merge: a write that may still run on a secondary (5.0+).
    write_stage: bool = False
    # A command the caller wrote (runCommand): the driver adds no readConcern to it (read-write-
    # concern and causal-consistency specs); `explicit_read_preference`: given to this very call.
    user_command: bool = False
    explicit_read_preference: bool = False
    # A cursor reads the reply (parse_cursor_reply): a large batch may stay encoded, decoded as it
    # is read (driver/wire/batch.py); not when command monitoring shows the reply to listeners.
    encoded_batch: bool = False
    operation_id: int = 0  # command monitoring's operationId: a fresh one unless given

    def __init__(self, db: str, body: dict[str, Any], read_preference: ReadPreference | None = None,
                 session: ClientSession | None = None, retryable: Retryable | str | None = None,
                 sequences: Mapping[str, Sequence[Mapping[str, Any]]] | None = None, unacknowledged: bool = False,
                 address: str | None = None, check: bool = True, sessionless: bool = False, write_stage: bool = False,
                 user_command: bool = False, explicit_read_preference: bool = False, encoded_batch: bool = False,
                 operation_id: int | None = None) -> None:
        # Written by hand: one is built per operation, and a frozen dataclass's generated __init__
        # sets each of its fifteen fields through object.__setattr__ (several times the cost).
        if retryable is not None and not isinstance(retryable, Retryable):
            retryable = Retryable(retryable)
        self.__dict__.update(
            db=db, body=body, read_preference=read_preference, session=session, retryable=retryable,
            sequences=sequences, unacknowledged=unacknowledged, address=address, check=check,
            sessionless=sessionless, write_stage=write_stage, user_command=user_command,
            explicit_read_preference=explicit_read_preference, encoded_batch=encoded_batch,
            operation_id=next(_operation_ids) if operation_id is None else operation_id)

    @property
    def command_name(self) -> str:
        return next(iter(self.body))

    def with_session(self, session: ClientSession) -> "Operation":
        """This operation with `session` (an implicit one): a field-for-field copy, without
        dataclasses.replace's re-running of __init__ and its checks, on every sessionless command."""
        copy = object.__new__(Operation)
        copy.__dict__.update(self.__dict__)
        copy.__dict__["session"] = session
        return copy


class Reply(NamedTuple):
    """A command's reply document (None when unacknowledged) and the server that answered.
    (A NamedTuple: one is built per command, and a frozen dataclass costs several times more.)"""

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
        # The two overload policies an operation can run under (on / off), built once: they are frozen.
        self._overload_policies = {on: OverloadPolicy(on, max_adaptive_retries, overload_retargeting)
                                   for on in (True, False)}
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
        session = op.session
        if session is not None:
            if op.unacknowledged and not session.implicit:
                raise ConfigurationError("an unacknowledged write (w=0) cannot use an explicit session; "
                                         "drop the session or use an acknowledged write concern")
            return self._execute_in_session(op)
        if op.unacknowledged or op.sessionless:
            return self._execute_in_session(op)
        implicit = ClientSession(self._context, implicit=True)
        try:
            return self._execute_in_session(op.with_session(implicit))
        finally:
            implicit.end_session()

    def _execute_in_session(self, op: Operation) -> Reply:
        """Run `op`; inside a transaction, errors get the transaction's labels and may unpin it."""
        session = op.session
        ending = op.command_name in ENDING_COMMANDS
        if session is None or not session.in_transaction or ending:
            return self._run_with_retry(op, self._attempts(op, in_txn=False, ending=ending))
        try:
            return self._run_with_retry(op, self._attempts(op, in_txn=True, ending=False))
        except DriverError as exc:
            label_command_error(exc)  # transactions spec: network / selection errors are transient
            session.transaction.unpin_after_error(exc, op.command_name)
            raise

    def end_transaction(self, session: ClientSession, command: str) -> Reply:
        """commitTransaction / abortTransaction on admin: a retryable write of the session's transaction."""
        txn = session.transaction
        body = txn.commit_command(retry=False) if command == "commitTransaction" else txn.abort_command()
        reply = self.execute(Operation("admin", body, session=session, retryable=Retryable.WRITE))
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

    # -- the retry loop: one state machine over named policies (driver/retry_policy.py) --
    def _attempts(self, op: Operation, *, in_txn: bool, ending: bool) -> Attempts:
        """The policies `op` runs under, and its attempt state before the first attempt."""
        # Transactions spec: commitTransaction/abortTransaction are retried once even with retryWrites off.
        retry_writes = self.retry_writes or ending
        # Judge the command with its document sequences merged back (multi updates / limit-0 deletes).
        whole = {**op.body, **op.sequences} if op.sequences else op.body
        policy = base_policy(op.retryable, whole, retry_writes=retry_writes, retry_reads=self.retry_reads,
                             has_session=op.session is not None, in_transaction=in_txn)
        # Client backpressure: overload retries follow retryWrites for writes, retryReads for
        # reads, and need both for a runCommand (the driver cannot tell what it does).
        if op.user_command:
            overload_on = self.retry_writes and self.retry_reads
        elif op.retryable is Retryable.WRITE or op.read_preference is None or op.write_stage:
            overload_on = retry_writes
        else:
            overload_on = self.retry_reads
        overload = self._overload_policies[overload_on]
        pref = op.read_preference
        if in_txn:  # the transaction's read preference, or one given to this very call
            pref = transaction_read_preference(pref, op.session, explicit=op.explicit_read_preference)
        return Attempts(policy, overload, self.retry_tokens, read_preference=pref, address=op.address,
                        deadline=current_deadline())

    def _run_with_retry(self, op: Operation, attempts: Attempts) -> Reply:
        """SELECT a server -> SEND one attempt -> SUCCEEDED (return), or FAILED -> RETRY (SELECT again) or GIVE UP.

        `attempts` holds the policies and what changes between attempts; its methods take every
        decision (retry or not, which server, which error ends the operation). The one raise
        site is at the end: the error `attempts.final_error()` chose.
        """
        while True:
            # SELECT
            try:
                server = self._select(op, attempts)
            except DriverError as exc:
                attempts.selection_failed(exc)
                break
            sd = self.topology.description.servers.get(server.address)
            if not attempts.may_run_on(sd):
                break  # a retry on a server that cannot retry: the first error stands
            txn_number = attempts.policy.takes_txn_number(sd)
            # SEND
            try:
                reply = self._attempt(server, op, attempts, txn_number)
                if txn_number and attempts.may_retry_again and reply.document is not None:
                    self._raise_retryable_wce(reply.document, sd)
            except DriverError as exc:
                # FAILED
                step = self._failed(op, attempts, exc, sd, txn_number=txn_number)
                if step is Step.GIVE_UP:
                    break
                # RETRY
                attempts.next_attempt(server.address, step,
                                      sharded=self.topology.description.type is TopologyType.Sharded)
                if op.command_name in ENDING_COMMANDS and op.session is not None:
                    # Transactions spec, "When to unpin": retried commit/abort select a server afresh.
                    op.session.transaction.unpin_after_error(exc, op.command_name)
                    attempts.address = None
                if step is Step.BACK_OFF_AND_RETRY:
                    # Client backpressure: back off exponentially with jitter before an overload retry.
                    time.sleep(overload_backoff_s(attempts.number))
                continue
            # SUCCEEDED
            attempts.succeeded()
            return reply
        # GIVE UP
        raise attempts.final_error()

    def _failed(self, op: Operation, attempts: Attempts, exc: DriverError, sd: ServerDescription | None, *,
                txn_number: bool) -> Step:
        """Label the error as the retryable-writes spec says, then let the policies decide what follows."""
        if txn_number and retryable_writes_unsupported(exc):
            error = ConfigurationError(RETRYABLE_WRITES_UNSUPPORTED_MESSAGE)
            error.__cause__ = exc
            attempts.stop(error)
            return Step.GIVE_UP
        if op.retryable is Retryable.WRITE and not isinstance(exc, ConfigurationError):
            # Only an attempt that took a txnNumber is a retryable write (never inside a transaction).
            add_retryable_write_label(exc, sd.max_wire_version if sd else None, retry_writes=txn_number,
                                      is_mongos=sd is not None and sd.type is ServerType.Mongos)
        return attempts.failed(exc, txn_number=txn_number)

    def _raise_retryable_wce(self, reply: Mapping[str, Any], sd: ServerDescription | None) -> None:
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

    def _select(self, op: Operation, attempts: Attempts) -> Any:
        session = op.session
        txn = session.started_transaction if session is not None else None
        if attempts.address is None and txn is not None and txn.pinned_address is not None and (
                txn.active or op.command_name in ENDING_COMMANDS):
            attempts.address = txn.pinned_address  # transactions spec, "Mongos Pinning"
        if attempts.address is not None:
            server = self.topology.server(attempts.address)
            if server is None:
                raise ConnectionFailure(f"server {attempts.address} (where this cursor lives) has left the "
                                        "topology; the cursor cannot continue")
            return server
        # CSOT: min(serverSelectionTimeoutMS, time left) with timeoutMS, else the default.
        limit = None if attempts.deadline is None else selection_timeout_ms(
            attempts.deadline, self.topology.settings.server_selection_timeout_ms)
        if op.write_stage and attempts.read_preference is not None:
            # Decided over the servers known once one suits the read preference: before the first
            # discovery no server is available and an older secondary would get it.
            server = self.topology.select_server(attempts.read_preference, deprioritized=attempts.deprioritized,
                                                 timeout_ms=limit)
            if _secondary_write_stage_ok(attempts.read_preference, self.topology.description):
                return server
            attempts.read_preference = None  # run it as a write on the primary
        criteria = "write" if attempts.read_preference is None else attempts.read_preference
        return self.topology.select_server(criteria, deprioritized=attempts.deprioritized, timeout_ms=limit)

    # -- one attempt ---------------------------------------------------------------------
    def _attempt(self, server: Any, op: Operation, attempts: Attempts, txn_number: bool) -> Reply:
        pool = server.pool
        generation = pool.generation
        server.begin_operation()
        try:
            try:
                deadline = attempts.deadline  # without timeoutMS (no deadline) the pool's own wait applies
                pooled = pool.checkout(None if deadline is None else selection_timeout_ms(
                    deadline, self.topology.settings.server_selection_timeout_ms))
            except DriverError as exc:
                # Connection establishment (connect, hello, auth): SDAM decides what it means.
                self.topology.handle_application_error(server.address, exc, phase=Phase.ESTABLISHING,
                                                       generation=generation)
                raise
            try:
                document = self._send(server, pooled, op, attempts, txn_number)
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

    def _send(self, server: Any, pooled: Any, op: Operation, attempts: Attempts,
              txn_number: bool) -> dict[str, Any] | None:
        conn = pooled.connection
        body = self._prepare(server, op, attempts, txn_number)
        publish = self.events.commands_listened  # command events only for a listener that asks for them
        ctx = None
        if publish:
            # Command monitoring's event classes load with the first listener (start-up time).
            from driver.events.command import command_context

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
        started = time.monotonic() if ctx is not None else 0.0  # only events report the duration
        deadline = attempts.deadline
        encoded_batch = op.encoded_batch and ctx is None
        try:
            if deadline is None or not deadline.applies:
                reply = conn.command(op.db, body, sequences=op.sequences, unacknowledged=op.unacknowledged, check=False,
                                     encoded_batch=encoded_batch)
            else:
                # CSOT spec, "Command Execution": the time left bounds the write and the whole reply,
                # in place of socketTimeoutMS.
                with conn.bounded_by(deadline.ends_at(), f"timeoutMS={deadline.timeout_ms}", replaces_timeout=True):
                    reply = conn.command(op.db, body, sequences=op.sequences, unacknowledged=op.unacknowledged,
                                         check=False, encoded_batch=encoded_batch)
        except DriverError as exc:
            if ctx is not None:
                self.events.publish(ctx.failed(exc, (time.monotonic() - started) * 1000.0))
            raise
        duration_ms = (time.monotonic() - started) * 1000.0 if ctx is not None else 0.0
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

    def _prepare(self, server: Any, op: Operation, attempts: Attempts, txn_number: bool) -> dict[str, Any]:
        """The command as sent: lsid/txnNumber, $clusterTime, $readPreference, afterClusterTime."""
        body = dict(op.body)
        topology = self.topology.description
        sd = topology.servers.get(server.address)
        session = op.session
        if sd is not None:  # what this server is too old for: a client error, or fields left out
            check_supported(body, op.sequences, sd.max_wire_version, unacknowledged=op.unacknowledged,
                            snapshot=session is not None and session.snapshot)
            fit(body, sd.max_wire_version)
        if session is not None and not op.unacknowledged:
            supported = topology.logical_session_timeout_minutes is not None or (
                sd is not None and sd.logical_session_timeout_minutes is not None)
            if supported:
                attempts.sent += 1
                sharded = topology.type is TopologyType.Sharded
                # retryable-writes spec: one txnNumber per operation, taken by the first attempt
                # that sends the command (an attempt that failed in check-out, e.g. with a
                # PoolClearedError, sent nothing and must not make the retry reuse an old one).
                if attach_session(body, session, attempts, user_command=op.user_command, retryable_write=txn_number,
                                  new_txn=not attempts.txn_number_taken,
                                  address=server.address if sharded else None):
                    attempts.txn_number_taken = True
            elif not session.implicit:
                raise ConfigurationError(f"server {server.address} does not support sessions "
                                         "(no logicalSessionTimeoutMinutes in its hello); run without a session")
        if self._context.server_api is not None:
            self._context.server_api.add_to(body)  # Stable API: every command, getMore and transactions too
        cluster_time = self.cluster_time
        if session is not None and session.cluster_time is not None:
            cluster_time = greater_cluster_time(cluster_time, session.cluster_time)
        if cluster_time is not None and sd is not None and sd.max_wire_version >= 6:
            body["$clusterTime"] = cluster_time
        pref = attempts.read_preference
        if pref is not None and sd is not None:
            document = _read_preference_document(pref, topology.type, sd.type)
            if document is not None:
                body["$readPreference"] = document
        # CSOT spec: the last step, after every blocking one (maxTimeMS from the time left now,
        # less the selected server's minimum round trip; a timeout error instead of sending).
        return command_under(body, attempts.deadline, sd.min_round_trip_time_ms if sd is not None else None)

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

    Direct connection to a replica-set member: primary becomes primaryPreferred so a secondary
    answers. A standalone gets none (server-selection spec, "Topology type: Single"; run-command
    spec, 2023-05-08). Mongos / load balancer: send any mode but primary. Replica sets: send
    non-primary modes so a secondary accepts the read (OP_MSG replaces the old secondaryOk bit).
    """
    if server_type is ServerType.Standalone:
        return None
    if topology_type is TopologyType.Single and server_type not in (ServerType.Mongos, ServerType.LoadBalancer):
        return {"mode": "primaryPreferred"} if pref.mode == PRIMARY else pref.document()
    if pref.mode == PRIMARY:
        return None
    return pref.document()
