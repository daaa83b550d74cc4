"""Multi-document transactions on a replica set (and through mongos): txnNumber/autocommit/
startTransaction validation with the server's codes, snapshot isolation, write conflicts,
commit/abort, and the error labels the transactions spec expects of a 4.2+ server.

How it works (simplified, and honest about it):
- A transaction's first statement takes a snapshot of the whole catalog (collections are
  copied, documents shared: the engine never changes a stored document in place). Its
  statements run on a private DataEngine over that copy, so its writes are invisible outside
  and it reads its own writes; every read concern level inside reads that snapshot.
- A write to a document that another open transaction wrote, or that changed in the shared
  store since the snapshot, fails with WriteConflict (112, TransientTransactionError) and aborts
  the transaction, as WiredTiger's first-writer-wins rule does. A non-transactional write to a
  document an open transaction wrote fails with WriteConflict too (a real server would make it
  wait for the transaction to end; the sandbox does not block the event loop).
- Commit applies the net result of each written document to the shared store and records the
  transaction's writes, in order, in the change journal (one clusterTime per write);
  abort drops the copy. A committed transaction's commit is idempotent (retries succeed).
- Not modelled: prepared transactions, transactionLifetimeLimitSeconds expiry, catalog
  changes other than implicit/explicit collection creation inside a transaction, and
  recovery tokens (mongos answers for its single "shard" itself).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from mongocli.sandbox import server_api
from mongocli.sandbox.engine import DataEngine
from mongocli.sandbox.engine_store import Catalog, Collection, observing
from mongocli.sandbox.engine_values import CommandError, hkey
from mongocli.sandbox.sessions import RETRYABLE_ERROR_CODES, session_key

if TYPE_CHECKING:  # pragma: no cover
    from mongocli.sandbox.deployment import Deployment

TXN_END_COMMANDS = frozenset({"commitTransaction", "abortTransaction"})
# Commands a transaction may run (the server's list, as far as the sandbox answers them).
ALLOWED_IN_TRANSACTION = frozenset({"find", "getMore", "killCursors", "insert", "update", "delete",
                                    "findAndModify", "findandmodify", "aggregate", "distinct",
                                    "create", "createIndexes", "bulkWrite"}) | TXN_END_COMMANDS
TXN_READ_CONCERNS = frozenset({"local", "majority", "snapshot"})
# Errors a 4.2+ server labels TransientTransactionError (error_labels.cpp,
# isTransientTransactionError): WriteConflict, LockTimeout, PreparedTransactionInProgress,
# snapshot errors (SnapshotTooOld, SnapshotUnavailable) and re-targeting errors (StaleConfig,
# StaleShardVersion, StaleEpoch) always; statements also on the retryable codes and
# NoSuchTransaction, commit/abort on NoSuchTransaction without a write concern error.
_ALWAYS_TRANSIENT = frozenset({112, 24, 267, 239, 246, 13388, 63, 150})
_TRANSIENT_STATEMENT_CODES = _ALWAYS_TRANSIENT | RETRYABLE_ERROR_CODES | {251}
_NO_SUCH_TRANSACTION = 251
# The server's transactionLifetimeLimitSeconds default: an open transaction older than this is
# aborted (here lazily, when another write meets one of its documents).
LIFETIME_LIMIT_S = 60.0


def _fail(code: int, code_name: str, errmsg: str) -> dict[str, Any]:
    return {"ok": 0.0, "errmsg": errmsg, "code": code, "codeName": code_name}


def write_conflict() -> CommandError:
    """The WriteConflict a statement meets (first writer wins)."""
    return CommandError(112, "WriteConflict", "WriteConflict error: this operation conflicted with another "
                        "operation. Please retry your operation or multi-document transaction.")


def in_transaction(cmd: Mapping[str, Any]) -> bool:
    """Whether a command belongs to a multi-document transaction (autocommit present)."""
    return "autocommit" in cmd or next(iter(cmd), "") in TXN_END_COMMANDS


@dataclass
class Transaction:
    """One transaction of one session: its number, state and private view of the data."""

    number: int
    lsid: Any
    state: str = "in progress"  # "in progress" | "committed" | "aborted"
    engine: DataEngine | None = None
    # (db, coll, hkey(_id)) -> the shared document version this transaction's first write saw.
    written: dict[tuple, Any] = field(default_factory=dict)
    # The writes in order, for the change journal at commit: (db, coll, old, new, replacement, uuid).
    writes: list[tuple] = field(default_factory=list)
    conflicted: bool = False
    started: float = field(default_factory=time.monotonic)
    api: dict = field(default_factory=dict)  # the first command's API parameters (Stable API)

    def expired(self) -> bool:
        return time.monotonic() - self.started > LIFETIME_LIMIT_S


class TransactionStore:
    """The deployment's open and finished transactions, one per session (the latest number)."""

    def __init__(self, deployment: "Deployment") -> None:
        self.deployment = deployment
        self._by_session: dict[bytes, Transaction] = {}
        # (db, coll, hkey(_id)) -> the open transaction that wrote it (first writer wins).
        self._holders: dict[tuple, Transaction] = {}

    # ----- statements ----------------------------------------------------------------------
    def run_statement(self, db: str, name: str, cmd: dict, engine_cmd: dict) -> dict[str, Any]:
        """Run one statement of a transaction (validated here) and return its reply."""
        txn_or_error = self._statement_transaction(name, cmd)
        if isinstance(txn_or_error, dict):
            self.statement_failed(cmd)  # e.g. a second readConcern: the open transaction ends
            return txn_or_error
        txn = txn_or_error
        if name not in ALLOWED_IN_TRANSACTION:
            self._abort(txn)
            return _fail(263, "OperationNotSupportedInTransaction",
                         f"Cannot run '{name}' in a multi-document transaction.")
        stages = [next(iter(st), "") for st in cmd.get("pipeline") or [] if isinstance(st, Mapping)] \
            if name == "aggregate" else []
        if writing := next((st for st in stages if st in ("$out", "$merge", "$changeStream")), None):
            self._abort(txn)
            return _fail(263, "OperationNotSupportedInTransaction",
                         f"{writing} cannot be used in a transaction")
        if txn.engine is None:
            txn.engine = DataEngine(self._snapshot(), self.deployment.engine.cursors)
            txn.engine.observer = lambda coll, old, new, replacement: self._observe(txn, coll, old, new, replacement)
        reply = txn.engine.run(db, engine_cmd)
        if txn.conflicted:
            self._abort(txn)
            reply = _fail(112, "WriteConflict", write_conflict().errmsg)
        elif not reply.get("ok") or reply.get("writeErrors"):
            self._abort(txn)  # any failed statement aborts the transaction (server behaviour)
        if self.deployment.topology == "sharded":
            # mongos hands out a recovery token naming a shard that can recover the outcome;
            # drivers send it back with commitTransaction/abortTransaction (transactions spec).
            reply["recoveryToken"] = {"recoveryShardId": "sandbox-shard0"}
        return reply

    def _statement_transaction(self, name: str, cmd: Mapping[str, Any]) -> Transaction | dict[str, Any]:
        """Validate autocommit/startTransaction/txnNumber/readConcern/writeConcern: the
        transaction the statement belongs to, or the error reply the server gives."""
        if cmd.get("autocommit") is not False:
            return _fail(72, "InvalidOptions", "Specifying autocommit=true is not allowed.")
        key = session_key(cmd.get("lsid"))
        txn_number = cmd.get("txnNumber")
        if key is None or not isinstance(txn_number, int):
            return _fail(72, "InvalidOptions", "'autocommit' field requires a transaction number and a session id")
        start = cmd.get("startTransaction")
        if start is not None and start is not True:
            return _fail(72, "InvalidOptions", "startTransaction must be true")
        current = self._by_session.get(key)
        if current is not None and txn_number < current.number:
            return _fail(225, "TransactionTooOld", f"Cannot start transaction {txn_number} on session "
                         f"because a newer transaction {current.number} has already started.")
        if start:
            if current is not None and current.number == txn_number:
                if current.state == "committed":
                    return _fail(256, "TransactionCommitted",
                                 f"Transaction with {{ txnNumber: {txn_number} }} has been committed.")
                return _fail(_NO_SUCH_TRANSACTION, "NoSuchTransaction",
                             f"Transaction {txn_number} has been aborted or cannot be restarted.")
            concern = cmd.get("readConcern") or {}
            level = concern.get("level", "local") if isinstance(concern, Mapping) else None
            if level not in TXN_READ_CONCERNS:
                return _fail(72, "InvalidOptions", f"The readConcern level must be either 'snapshot', "
                             f"'majority' or 'local' in a multi-document transaction, not {level!r}")
            if current is not None and current.state == "in progress":
                self._abort(current)  # a newer transaction implicitly aborts the older one
            txn = Transaction(txn_number, cmd.get("lsid"), api=server_api.parameters_of(cmd))
            self._by_session[key] = txn
            return txn
        if current is None or current.number != txn_number or current.state == "aborted":
            detail = ("has been aborted" if current is not None and current.number == txn_number
                      else "does not match any in-progress transactions")
            return _fail(_NO_SUCH_TRANSACTION, "NoSuchTransaction", f"Transaction {txn_number} {detail}.")
        if current.state == "committed":
            return _fail(256, "TransactionCommitted",
                         f"Transaction with {{ txnNumber: {txn_number} }} has been committed.")
        if (bad := server_api.mismatch(name, cmd, current.api, "the transaction's first command")) is not None:
            return bad
        if "readConcern" in cmd:
            return _fail(72, "InvalidOptions", "Only the first command in a transaction may specify a readConcern")
        if "writeConcern" in cmd and name not in TXN_END_COMMANDS:
            return _fail(72, "InvalidOptions", "Cannot set write concern after starting a transaction.")
        return current

    def _snapshot(self) -> Catalog:
        # Commands run one at a time on the event loop, so the shared catalog is quiescent here.
        shared = self.deployment.engine.catalog
        view = Catalog()
        view.dollar_names_refused = shared.dollar_names_refused
        for db, colls in shared.dbs.items():
            view.dbs[db] = {name: coll.snapshot() for name, coll in colls.items()}
        return view

    def _observe(self, txn: Transaction, coll: Collection, old: dict | None, new: dict | None,
                 replacement: bool) -> None:
        """A statement of ``txn`` is about to write one document: first writer wins."""
        if coll.name.startswith("system."):
            return  # e.g. the profiler's system.profile: not the transaction's own write
        doc = new if new is not None else old
        assert doc is not None
        where = (coll.db, coll.name, hkey(doc["_id"]))
        if where not in txn.written:
            holder = self._live_holder(where)
            shared_coll = self.deployment.engine.catalog.get(coll.db, coll.name)
            now = shared_coll.docs.get(where[2]) if shared_coll is not None else None
            if (holder is not None and holder is not txn) or now is not old:
                txn.conflicted = True
                raise write_conflict()
            txn.written[where] = old
            self._holders[where] = txn
        txn.writes.append((coll.db, coll.name, old, new, replacement, coll.uuid))

    def check_outside_write(self, coll: Collection, doc: dict) -> None:
        """A write outside any transaction to a document an open transaction wrote conflicts."""
        if self._holders and self._live_holder((coll.db, coll.name, hkey(doc["_id"]))) is not None:
            raise write_conflict()

    def _live_holder(self, where: tuple) -> Transaction | None:
        """The open transaction holding a document, after aborting it if it outlived its limit."""
        holder = self._holders.get(where)
        if holder is not None and holder.expired():
            self._abort(holder)
            return None
        return holder

    # ----- commit and abort ----------------------------------------------------------------
    def end(self, name: str, cmd: Mapping[str, Any]) -> dict[str, Any]:
        """commitTransaction / abortTransaction for the session's transaction."""
        key = session_key(cmd.get("lsid"))
        txn_number = cmd.get("txnNumber")
        if key is None or not isinstance(txn_number, int):
            return _fail(50768 if key is None else 50769, "Location50768" if key is None else "Location50769",
                         f"{name} must be run within a session and with a txnNumber")
        if cmd.get("autocommit") is not False:
            return _fail(72, "InvalidOptions", f"{name} must be run with autocommit: false")
        txn = self._by_session.get(key)
        if txn is not None and txn_number < txn.number:
            return _fail(225, "TransactionTooOld", f"Cannot start transaction {txn_number} on session "
                         f"because a newer transaction {txn.number} has already started.")
        if txn is None or txn.number != txn_number:
            return _fail(_NO_SUCH_TRANSACTION, "NoSuchTransaction",
                         f"Transaction {txn_number} has been aborted or does not exist.")
        if (bad := server_api.mismatch(name, cmd, txn.api, "the transaction's first command")) is not None:
            return bad
        if name == "abortTransaction":
            if txn.state == "committed":
                return _fail(256, "TransactionCommitted", "Transaction has been committed and cannot be aborted.")
            if txn.state == "aborted":
                return _fail(_NO_SUCH_TRANSACTION, "NoSuchTransaction", f"Transaction {txn_number} has been aborted.")
            self._abort(txn)
            return {"ok": 1.0}
        if txn.state == "aborted":
            return _fail(_NO_SUCH_TRANSACTION, "NoSuchTransaction", f"Transaction {txn_number} has been aborted.")
        if txn.state == "in progress":
            self._commit(txn)
        return {"ok": 1.0}  # a retried commit of a committed transaction succeeds again

    def _commit(self, txn: Transaction) -> None:
        view = txn.engine.catalog if txn.engine is not None else None
        with observing(None):  # the journal hears the transaction's own writes, below
            if view is not None:
                self._apply_catalog(view)
                self._apply_documents(txn, view)
        journal = getattr(self.deployment, "journal", None)
        if journal is not None:
            for db, name, old, new, replacement, uuid in txn.writes:
                journal.record_write(db, name, old, new, replacement, uuid=uuid, lsid=txn.lsid,
                                     txn_number=txn.number)
        if txn.writes:
            self.deployment.note_write()
        self._release(txn)
        txn.state = "committed"
        txn.engine = None

    def _apply_catalog(self, view: Catalog) -> None:
        """Collections and indexes the transaction created exist after it (same UUID)."""
        shared = self.deployment.engine.catalog
        for db, colls in view.dbs.items():
            for name, mine in colls.items():
                if name.startswith("system."):
                    continue
                target = shared.get(db, name)
                if target is None:
                    target = shared.ensure(db, name)
                    target.options, target.uuid = dict(mine.options), mine.uuid
                for index_name, index in mine.indexes.items():
                    if index_name not in target.indexes:
                        target.add_index(dict(index.spec))

    def _apply_documents(self, txn: Transaction, view: Catalog) -> None:
        """The net result of each document the transaction wrote replaces the shared one."""
        shared = self.deployment.engine.catalog
        for db, name, key in txn.written:
            mine, target = view.get(db, name), shared.get(db, name)
            if target is None:
                continue
            new = mine.docs.get(key) if mine is not None else None
            old = target.docs.get(key)
            if old is not None and new is not None:
                target.replace(old, new, mine.sizes[key])
            elif new is not None:
                target.insert(new, mine.sizes[key])
            elif old is not None:
                target.delete(old)

    def _abort(self, txn: Transaction) -> None:
        self._release(txn)
        txn.state = "aborted"
        txn.engine = None

    def _release(self, txn: Transaction) -> None:
        for where in txn.written:
            if self._holders.get(where) is txn:
                del self._holders[where]

    def statement_failed(self, cmd: Mapping[str, Any]) -> None:
        """A statement of the session's open transaction failed validation: the server aborts
        the transaction (a commit or abort fails alone)."""
        if next(iter(cmd), "") in TXN_END_COMMANDS or cmd.get("autocommit") is not False:
            return
        txn = self._by_session.get(session_key(cmd.get("lsid")) or b"")
        if txn is not None and txn.number == cmd.get("txnNumber") and txn.state == "in progress":
            self._abort(txn)

    def connection_dropped(self, cmd: Mapping[str, Any]) -> None:
        """failCommand closed the connection under a transaction's statement. On mongos the
        transaction ends with it: the sandbox's mongoses share one transaction table, where a
        real cluster's other mongos would not know the transaction (NoSuchTransaction next).
        A replica set member keeps it open, as after any failCommand error."""
        if self.deployment.topology == "sharded":
            self.statement_failed(cmd)

    def abort_all(self) -> None:
        """killAllSessions: every open transaction is aborted (test runners call it first)."""
        for txn in list(self._by_session.values()):
            if txn.state == "in progress":
                self._abort(txn)

    def end_sessions(self, lsids: Any) -> None:
        """endSessions aborts the sessions' open transactions."""
        for lsid in lsids if isinstance(lsids, list) else ():
            txn = self._by_session.pop(session_key(lsid) or b"", None)
            if txn is not None and txn.state == "in progress":
                self._abort(txn)


def add_labels(cmd: Mapping[str, Any], reply: dict[str, Any]) -> None:
    """The error labels a 4.2+ server puts on a transaction's replies (error_labels.cpp)."""
    if "errorLabels" in reply:
        return
    name = next(iter(cmd), "")
    code = reply.get("code") if not reply.get("ok") else None
    wce_code = (reply.get("writeConcernError") or {}).get("code")
    labels = []
    if name in TXN_END_COMMANDS:
        if code in RETRYABLE_ERROR_CODES or wce_code in RETRYABLE_ERROR_CODES:
            labels.append("RetryableWriteError")
        if code in _ALWAYS_TRANSIENT or (code == _NO_SUCH_TRANSACTION and wce_code is None):
            labels.append("TransientTransactionError")
    elif code in _TRANSIENT_STATEMENT_CODES:
        labels.append("TransientTransactionError")
    if labels:
        reply["errorLabels"] = labels
