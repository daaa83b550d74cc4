"""Multi-document transactions: the per-session state machine, its command fields and error-label rules (transactions spec). Pure."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Mapping

from bson import Int64

from driver.errors import (ConfigurationError, ConnectionFailure, DriverError, OperationFailure,
                           ServerSelectionTimeout, WriteConcernError)
from driver.ops._util import option_object
from driver.read_concern import ReadConcern
from driver.read_preference import PRIMARY, ReadPreference
from driver.write_concern import WriteConcern

TRANSIENT_TRANSACTION_ERROR = "TransientTransactionError"
UNKNOWN_COMMIT_RESULT = "UnknownTransactionCommitResult"
# Transactions spec, "Retry commitTransaction": the retry uses w: "majority" and, unless the
# transaction's write concern gave one, wtimeout 10 seconds.
COMMIT_RETRY_WTIMEOUT_MS = 10_000
# Error codes after which a commit's outcome is known to be a failure, never UnknownTransactionCommitResult
# (transactions spec, "UnknownTransactionCommitResult"): UnsatisfiableWriteConcern, UnknownReplWriteConcern.
_KNOWN_COMMIT_FAILURES = frozenset({100, 79})
_MAX_TIME_MS_EXPIRED = 50
# Retryable writes spec codes (retryable errors): a commit/abort failing with one is retried once.
RETRYABLE_CODES = frozenset({6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13388, 13435, 13436, 134})
# Commands that end a transaction: they carry the transaction's write concern, never a readConcern.
ENDING_COMMANDS = frozenset({"commitTransaction", "abortTransaction"})


class TransactionState(enum.Enum):
    """Transactions spec, "Client Session States" (values as the unified test format names them)."""

    NONE = "none"
    STARTING = "starting"
    IN_PROGRESS = "in_progress"
    COMMITTED_EMPTY = "committed_empty"  # committed before any command was sent: nothing to tell the server
    COMMITTED = "committed"
    ABORTED = "aborted"


@dataclass(frozen=True)
class TransactionOptions:
    """readConcern, writeConcern, readPreference and maxCommitTimeMS of one transaction."""

    read_concern: ReadConcern | None = None
    write_concern: WriteConcern | None = None
    read_preference: ReadPreference | None = None
    max_commit_time_ms: int | None = None

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any] | "TransactionOptions" | None) -> "TransactionOptions":
        """From keyword names (read_concern, ...) or the spec's camelCase (readConcern, ...)."""
        return option_object(options, TransactionOptions, NO_OPTIONS, cls._from_keywords)

    @classmethod
    def _from_keywords(cls, options: Mapping[str, Any]) -> "TransactionOptions":
        names = {"readConcern": "read_concern", "writeConcern": "write_concern",
                 "readPreference": "read_preference", "maxCommitTimeMS": "max_commit_time_ms"}
        values = {names.get(k, k): v for k, v in options.items() if v is not None}
        unknown = set(values) - set(names.values())
        if unknown:
            raise ConfigurationError(f"unknown transaction option(s) {sorted(unknown)}; expected read_concern, "
                                     "write_concern, read_preference, max_commit_time_ms")
        if "read_concern" in values:
            values["read_concern"] = ReadConcern.from_document(values["read_concern"])
        if "write_concern" in values:
            values["write_concern"] = WriteConcern.from_document(values["write_concern"])
        if "read_preference" in values and not isinstance(values["read_preference"], ReadPreference):
            values["read_preference"] = ReadPreference.from_document(values["read_preference"])
        return cls(**values)

    def merged_over(self, defaults: "TransactionOptions") -> "TransactionOptions":
        """These options, each missing one taken from `defaults` (transactions spec, "startTransaction")."""
        return TransactionOptions(*(mine if mine is not None else theirs for mine, theirs in (
            (self.read_concern, defaults.read_concern), (self.write_concern, defaults.write_concern),
            (self.read_preference, defaults.read_preference),
            (self.max_commit_time_ms, defaults.max_commit_time_ms))))


# Frozen, so one instance serves every session and transaction without options of its own.
NO_OPTIONS = TransactionOptions()
# Built once: every operation asks whether its session's transaction is active or finished, and an
# enum member lookup (EnumType.__getattr__ on 3.11) costs several plain attribute reads.
_ACTIVE_STATES = (TransactionState.STARTING, TransactionState.IN_PROGRESS)
_FINISHED_STATES = (TransactionState.COMMITTED, TransactionState.COMMITTED_EMPTY, TransactionState.ABORTED)
_NONE = TransactionState.NONE


class Transaction:
    """One session's transaction state: what to add to each command, and what commit/abort must do.

    Pure: the caller (the session and the executor) sends commands and reports back through
    `command_sent`, `commit_done` and the label helpers below. `active` is a plain attribute (read
    on every command) but read-only to other objects: only the `state` setter here changes it."""

    def __init__(self) -> None:
        self._state = _NONE
        # Starting or in progress: commands belong to the transaction. Kept beside the state (see
        # the setter) rather than derived: every command of every session asks it, several times.
        self.active = False
        self.options = NO_OPTIONS
        self.pinned_address: str | None = None      # mongos a sharded transaction sticks to
        self.recovery_token: Any = None             # from mongos replies, sent back with commit/abort
        self.commit_attempts = 0

    # -- states ----------------------------------------------------------------------------
    @property
    def state(self) -> TransactionState:
        return self._state

    @state.setter
    def state(self, state: TransactionState) -> None:
        self._state = state
        self.active = state in _ACTIVE_STATES

    @property
    def spec_state(self) -> str:
        """The state's name in the unified test format ("none", "starting", "in_progress", "committed", "aborted")."""
        return {TransactionState.COMMITTED_EMPTY: "committed"}.get(self.state, self.state.value)

    def start(self, options: TransactionOptions) -> None:
        """startTransaction: NONE/COMMITTED/ABORTED -> STARTING with `options` (already merged with defaults)."""
        if self.active:
            raise ConfigurationError("Transaction already in progress: commit or abort it before starting another")
        wc = options.write_concern
        if wc is not None and not wc.acknowledged:
            raise ConfigurationError("transactions do not support unacknowledged write concern (w: 0); "
                                     "use an acknowledged write concern")
        self.state = TransactionState.STARTING
        self.options = options
        self.pinned_address = None
        self.recovery_token = None
        self.commit_attempts = 0

    def leave_finished(self) -> None:
        """An operation outside a transaction after commit/abort: the session is back to NONE and unpinned."""
        if self._state in _FINISHED_STATES:
            self.state = _NONE
            self.pinned_address = None

    # -- each command ------------------------------------------------------------------------
    def check_operation(self, *, read_preference: ReadPreference | None, write_concern: Any) -> None:
        """Transactions spec: operations inside take the transaction's concerns, and read only from the primary."""
        if not self.active:
            return
        if write_concern is not None and not _is_default(write_concern):
            raise ConfigurationError("Cannot set write concern after starting a transaction: give it to "
                                     "start_transaction instead")
        if read_preference is not None and read_preference.mode != PRIMARY:
            raise ConfigurationError("read preference in a transaction must be primary "
                                     f"(got {read_preference.mode}); set it on start_transaction or drop it")

    def command_fields(self, command_name: str, txn_number: int, *, after_cluster_time: Any = None,
                       starting: bool | None = None) -> dict[str, Any]:
        """Fields for a command in the transaction: txnNumber, autocommit, and on the first one
        startTransaction and the readConcern (with afterClusterTime in a causally consistent session).
        `starting` overrides the state's say (a retry of the first statement starts it again)."""
        fields: dict[str, Any] = {"txnNumber": Int64(txn_number), "autocommit": False}
        if command_name in ENDING_COMMANDS:
            return fields
        if starting if starting is not None else self.state is TransactionState.STARTING:
            fields["startTransaction"] = True
            read_concern = dict(self.options.read_concern.document()) if self.options.read_concern else {}
            if after_cluster_time is not None:
                read_concern["afterClusterTime"] = after_cluster_time
            if read_concern:
                fields["readConcern"] = read_concern
        return fields

    def command_sent(self) -> None:
        """The first command went out: STARTING -> IN_PROGRESS (even if it then failed: the server may have begun)."""
        if self.state is TransactionState.STARTING:
            self.state = TransactionState.IN_PROGRESS

    # -- mongos pinning (transactions spec, "Mongos Pinning") ------------------------------------
    def pin(self, address: str) -> None:
        """The first command of a sharded transaction went to `address`: the rest follow it."""
        if self.active and self.pinned_address is None:
            self.pinned_address = address

    def unpin(self) -> None:
        self.pinned_address = None

    def unpin_after_error(self, exc: BaseException, command_name: str) -> None:
        """Spec, "When to unpin": a TransientTransactionError, a commit with an unknown result,
        and any failed abort leave the pinned mongos (it may be down)."""
        labels = getattr(exc, "error_labels", frozenset())
        if (TRANSIENT_TRANSACTION_ERROR in labels or command_name == "abortTransaction"
                or (command_name == "commitTransaction" and (UNKNOWN_COMMIT_RESULT in labels
                                                             or is_retryable_commit_error(exc)))):
            self.pinned_address = None

    def note_reply(self, reply: Mapping[str, Any] | None) -> None:
        """Keep a mongos recoveryToken (transactions spec, "recoveryToken field")."""
        if reply and reply.get("recoveryToken") is not None:
            self.recovery_token = reply["recoveryToken"]

    # -- commit and abort -----------------------------------------------------------------------
    def begin_commit(self) -> bool:
        """commitTransaction: whether a command must be sent; raises when there is nothing to commit."""
        state = self.state
        if state is TransactionState.NONE:
            raise ConfigurationError("no transaction started: call start_transaction first")
        if state is TransactionState.ABORTED:
            raise ConfigurationError("Cannot call commitTransaction after calling abortTransaction")
        if state in (TransactionState.STARTING, TransactionState.COMMITTED_EMPTY):
            self.state = TransactionState.COMMITTED_EMPTY  # nothing was sent: nothing to commit
            return False
        self.commit_attempts += 1
        return True

    def commit_command(self, *, retry: bool) -> dict[str, Any]:
        """{commitTransaction: 1, writeConcern, maxTimeMS, recoveryToken}; a retried commit (a retry
        within this call, or a second commit call) asks for w: majority (spec, "Retry commitTransaction")."""
        body: dict[str, Any] = {"commitTransaction": 1}
        wc = dict(self.options.write_concern.document()) if self.options.write_concern else {}
        if retry or self.commit_attempts > 1:
            wc["w"] = "majority"
            wc.setdefault("wtimeout", COMMIT_RETRY_WTIMEOUT_MS)
        if wc:
            body["writeConcern"] = wc
        if self.options.max_commit_time_ms is not None:
            body["maxTimeMS"] = self.options.max_commit_time_ms
        if self.recovery_token is not None:
            body["recoveryToken"] = self.recovery_token
        return body

    def commit_done(self) -> None:
        """After a commit attempt, successful or not: the transaction counts as committed."""
        self.state = TransactionState.COMMITTED

    def begin_abort(self) -> bool:
        """abortTransaction: whether a command must be sent; raises when there is nothing to abort."""
        state = self.state
        if state is TransactionState.NONE:
            raise ConfigurationError("no transaction started: call start_transaction first")
        if state in (TransactionState.COMMITTED, TransactionState.COMMITTED_EMPTY):
            raise ConfigurationError("Cannot call abortTransaction after calling commitTransaction")
        if state is TransactionState.ABORTED:
            raise ConfigurationError("Cannot call abortTransaction twice")
        if state is TransactionState.STARTING:
            self.state = TransactionState.ABORTED
            return False
        return True

    def abort_command(self) -> dict[str, Any]:
        body: dict[str, Any] = {"abortTransaction": 1}
        if self.options.write_concern is not None and self.options.write_concern.document():
            body["writeConcern"] = self.options.write_concern.document()
        if self.recovery_token is not None:
            body["recoveryToken"] = self.recovery_token
        return body

    def abort_done(self) -> None:
        """After an abort attempt (errors are ignored): ABORTED and unpinned."""
        self.state = TransactionState.ABORTED
        self.pinned_address = None


def _is_default(write_concern: Any) -> bool:
    if isinstance(write_concern, WriteConcern):
        return write_concern.is_server_default
    return not write_concern


# ----- error labels (transactions spec, "Error labels") ---------------------------------------------
def is_retryable_commit_error(exc: BaseException) -> bool:
    """A commit/abort failure retried once: network errors and the retryable writes spec's codes,
    also as a writeConcernError (retryable writes spec, "Determining Retryable Errors")."""
    if isinstance(exc, ConnectionFailure):
        return True
    if isinstance(exc, DriverError) and exc.has_error_label("RetryableWriteError"):
        return True
    code = getattr(exc, "code", None)
    return isinstance(exc, OperationFailure) and code in RETRYABLE_CODES


def label_command_error(exc: BaseException) -> None:
    """An error of a command inside a transaction (not commit/abort): network errors and server
    selection failures are TransientTransactionError (the whole transaction may be retried)."""
    if isinstance(exc, (ConnectionFailure, ServerSelectionTimeout)) and isinstance(exc, DriverError):
        exc.add_error_label(TRANSIENT_TRANSACTION_ERROR)


def label_commit_error(exc: BaseException) -> None:
    """An error of commitTransaction: UnknownTransactionCommitResult when the outcome is unknown —
    network errors, server selection errors, retryable codes, MaxTimeMSExpired, and write concern
    errors except UnsatisfiableWriteConcern/UnknownReplWriteConcern."""
    if not isinstance(exc, DriverError):
        return
    code = getattr(exc, "code", None)
    if isinstance(exc, WriteConcernError) or (isinstance(exc, OperationFailure) and _has_wce(exc)):
        wce_code = _wce_code(exc)
        if wce_code not in _KNOWN_COMMIT_FAILURES:
            exc.add_error_label(UNKNOWN_COMMIT_RESULT)
        return
    if (isinstance(exc, (ConnectionFailure, ServerSelectionTimeout)) or code == _MAX_TIME_MS_EXPIRED
            or is_retryable_commit_error(exc)):
        exc.add_error_label(UNKNOWN_COMMIT_RESULT)


def _has_wce(exc: OperationFailure) -> bool:
    return isinstance(exc.details.get("writeConcernError"), Mapping)


def _wce_code(exc: OperationFailure) -> Any:
    wce = exc.details.get("writeConcernError")
    return wce.get("code") if isinstance(wce, Mapping) else exc.code


# ----- the convenient API (transactions-convenient-api spec, "withTransaction") -----------------------
# The spec's retry budget: a transaction is retried until 120 seconds after withTransaction began.
WITH_TRANSACTION_TIMEOUT_S = 120.0


def run_with_transaction(session: Any, callback: Any, options: Mapping[str, Any] | None,
                         clock: Any, deadline: Any = None) -> Any:
    """Start a transaction, run `callback(session)`, commit; retry the whole on TransientTransactionError
    and the commit alone on UnknownTransactionCommitResult, within WITH_TRANSACTION_TIMEOUT_S of `clock()`
    or, when timeoutMS applies, until `deadline` (a driver.timeout.Deadline) expires.

    `session` offers start_transaction(**options), commit_transaction, abort_transaction,
    in_transaction and transaction_state; the callback may commit or abort itself (then its
    return value is returned)."""
    started = clock()
    csot = deadline is not None and deadline.applies

    def time_left() -> bool:
        if csot:
            return not deadline.expired()
        return clock() - started < WITH_TRANSACTION_TIMEOUT_S

    def reraise(exc: BaseException) -> None:
        # CSOT spec: a retry the deadline stops ends in the timeout error, the last error its cause.
        if csot and deadline.expired():
            raise deadline.error("withTransaction", exc) from exc
        raise exc

    while True:
        session.start_transaction(**(options or {}))
        try:
            value = callback(session)
        except BaseException as exc:
            if session.in_transaction:
                session.abort_transaction()
            if isinstance(exc, DriverError) and exc.has_error_label(TRANSIENT_TRANSACTION_ERROR):
                if time_left():
                    continue
                reraise(exc)
            raise
        if session.transaction_state in ("none", "committed", "aborted"):
            return value  # the callback ended the transaction itself
        while True:
            try:
                session.commit_transaction()
            except DriverError as exc:
                if (exc.has_error_label(UNKNOWN_COMMIT_RESULT) and getattr(exc, "code", None) != _MAX_TIME_MS_EXPIRED
                        and time_left()):
                    continue  # retry the commit (spec: not after MaxTimeMSExpired)
                if exc.has_error_label(TRANSIENT_TRANSACTION_ERROR) and time_left():
                    break  # retry the whole transaction
                reraise(exc)
            return value
