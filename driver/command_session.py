"""What a session adds to each command: lsid, txnNumber, transaction fields, afterClusterTime (sessions, transactions and causal-consistency specs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from driver.errors import ConfigurationError
from driver.read_preference import PRIMARY, ReadPreference
from driver.transaction import ENDING_COMMANDS, TransactionState

if TYPE_CHECKING:
    from driver.retry_policy import Attempts

# Causal-consistency spec, "Causally consistent read and write commands": the read commands of
# the read-concern spec and the write commands accept readConcern.afterClusterTime; the unified
# tests add the collection/index/database management commands and the 8.0 bulkWrite.
AFTER_CLUSTER_TIME_COMMANDS = frozenset({
    "find", "aggregate", "distinct", "count",
    "insert", "update", "delete", "findAndModify", "bulkWrite",
    "create", "createIndexes", "drop", "dropDatabase", "dropIndexes",
})


# Commands that continue or end something (a cursor, sessions): never a readConcern.
NO_READ_CONCERN_COMMANDS = frozenset({"getMore", "killCursors", "endSessions"})


def attach_session(body: dict[str, Any], session: Any, attempts: Attempts, *, retryable_write: bool, new_txn: bool,
                   user_command: bool = False, address: str | None = None) -> bool:
    """Add the session's fields to `body` (the command as sent); True when a retryable write's
    txnNumber was taken (the caller keeps it for the retry).

    Inside a transaction (and for commitTransaction/abortTransaction) the transaction decides:
    txnNumber, autocommit, startTransaction and its readConcern on the first command, no
    per-operation read or write concern (transactions spec, "Behavior of ... commands").
    `attempts` is the operation's retry_policy.Attempts: its count of commands sent and its flags
    say what a retry must repeat. `user_command`: a runCommand, which gets no afterClusterTime.
    `address`: the mongos this command goes to, when the transaction must be pinned to one."""
    name = next(iter(body))
    txn = session.started_transaction  # None: no transaction was ever started on this session
    if (txn is not None and txn.active) or name in ENDING_COMMANDS:
        txn = session.transaction
        session.apply(body, retryable_write=False, new_txn=False)  # lsid and last use
        if name in ENDING_COMMANDS:
            if name == "commitTransaction" and attempts.sent > 1 and not attempts.overload_retry:
                # Transactions spec, "Retry commitTransaction": the retry asks for w: "majority"
                # (an overload retry repeats the command as it was: the server did not run it).
                body["writeConcern"] = txn.commit_command(retry=True)["writeConcern"]
        else:
            body.pop("readConcern", None)
            body.pop("writeConcern", None)
        # A retried first statement starts the transaction again (its first attempt did not).
        starting = txn.state is TransactionState.STARTING or attempts.starts_transaction
        attempts.starts_transaction = starting and name not in ENDING_COMMANDS
        after = session.operation_time if (session.causal_consistency and not session.implicit
                                           and starting) else None
        body.update(txn.command_fields(name, session.server_session.txn_number, after_cluster_time=after,
                                       starting=starting))
        if address is not None:
            txn.pin(address)  # a sharded transaction sticks to the mongos of its first command
        txn.command_sent()
        return False
    if txn is not None:
        txn.leave_finished()
    session.apply(body, retryable_write=retryable_write, new_txn=new_txn)
    if session.snapshot and name not in NO_READ_CONCERN_COMMANDS:
        # Sessions spec, "Snapshot reads": every command says snapshot (the server refuses the
        # ones that cannot run so), at the session's snapshot time once it is known.
        read_concern = dict(body.get("readConcern") or {})
        read_concern["level"] = "snapshot"
        if session.snapshot_time is not None:
            read_concern["atClusterTime"] = session.snapshot_time
        body["readConcern"] = read_concern
    elif (session.causal_consistency and not session.implicit and session.operation_time is not None
            and name in AFTER_CLUSTER_TIME_COMMANDS and not user_command):
        read_concern = dict(body.get("readConcern") or {})
        read_concern["afterClusterTime"] = session.operation_time
        body["readConcern"] = read_concern
    return retryable_write


def transaction_read_preference(pref: ReadPreference | None, session: Any, *,
                                explicit: bool) -> ReadPreference | None:
    """The read preference an operation inside a transaction uses: the transaction's (the
    collection's or client's does not apply), or one given to this very call; it must be primary."""
    if pref is None or session is None or not session.in_transaction:
        return pref
    if not explicit:
        pref = session.transaction.options.read_preference or ReadPreference(PRIMARY)
    if pref.mode != PRIMARY:
        raise ConfigurationError(f"read preference in a transaction must be primary, not {pref.mode}; "
                                 "read outside the transaction or give start_transaction read_preference=primary")
    return pref
