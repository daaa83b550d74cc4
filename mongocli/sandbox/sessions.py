"""Logical sessions and retryable writes: one execution per (lsid, txnNumber), retries get the stored reply."""

from __future__ import annotations

import copy
import datetime
import threading
from typing import Any, Mapping

# Commands that are retryable writes when they carry a txnNumber (retryable-writes spec,
# "Supported Write Operations").
RETRYABLE_WRITE_COMMANDS = frozenset({"insert", "update", "delete", "findAndModify", "bulkWrite"})

# Error codes the server labels RetryableWriteError on a retryable write (retryable-writes spec,
# "Determining Retryable Errors"); a 4.4+ server adds the label itself and drivers rely on it.
RETRYABLE_ERROR_CODES = frozenset(
    {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 63, 150, 13388, 234, 133}
)


def session_key(lsid: Any) -> bytes | None:
    """The identity of a logical session (its lsid.id UUID bytes), or None without one."""
    if isinstance(lsid, Mapping):
        ident = lsid.get("id")
        if isinstance(ident, (bytes, bytearray)):
            return bytes(ident)
        if ident is not None:
            return repr(ident).encode()
    return None


class SessionStore:
    """Per-deployment record of retryable writes, shared by all members so a retry that lands
    on a newly elected primary still sees the first execution (as the oplog would carry it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # session key -> (highest txnNumber, stored reply for it or None while it executes)
        self._latest: dict[bytes, tuple[int, dict[str, Any] | None]] = {}
        self.executions = 0
        self.replays = 0
        # The server's logical session cache: session key -> (lsid.id, lastUse), for
        # $listLocalSessions (sessions this deployment has seen and not ended).
        self._seen: dict[bytes, tuple[Any, datetime.datetime]] = {}

    def touch(self, lsid: Any) -> None:
        """Note that a command used this session (its lastUse is now)."""
        key = session_key(lsid)
        if key is None:
            return
        now = datetime.datetime.now(datetime.timezone.utc)
        with self._lock:
            self._seen[key] = (lsid["id"], now.replace(microsecond=now.microsecond // 1000 * 1000))

    def local_sessions(self) -> list[dict[str, Any]]:
        """The sessions in the cache, oldest use first: ``{id, lastUse}`` each."""
        with self._lock:
            seen = sorted(self._seen.values(), key=lambda entry: entry[1])
        return [{"id": ident, "lastUse": last_use} for ident, last_use in seen]

    def before(self, command: Mapping[str, Any]) -> dict[str, Any] | None:
        """Called before a retryable write runs: returns a reply to send instead of running it
        (the stored reply of a retry, or TransactionTooOld), else None (run it)."""
        key, txn = self._identity(command)
        if key is None:
            return None
        with self._lock:
            latest = self._latest.get(key)
            if latest is not None:
                latest_txn, reply = latest
                if txn < latest_txn:
                    return {
                        "ok": 0.0,
                        "code": 225,
                        "codeName": "TransactionTooOld",
                        "errmsg": f"Cannot start transaction {txn} on session because a newer "
                        f"transaction {latest_txn} has already started",
                    }
                if txn == latest_txn and reply is not None:
                    self.replays += 1
                    replay = copy.deepcopy(reply)
                    replay.pop("writeConcernError", None)
                    replay.pop("errorLabels", None)
                    return replay
            self._latest[key] = (txn, None)
        return None

    def already_executed(self, command: Mapping[str, Any]) -> bool:
        """True when this retryable write's (lsid, txnNumber) already committed, so that
        before() will answer it from the retry history without executing anything."""
        key, txn = self._identity(command)
        if key is None:
            return False
        with self._lock:
            latest = self._latest.get(key)
        return latest is not None and latest[0] == txn and latest[1] is not None

    def after(self, command: Mapping[str, Any], reply: Mapping[str, Any]) -> None:
        """Record the reply of an executed retryable write; a failed command (ok: 0) did not
        execute and may run again on retry."""
        key, txn = self._identity(command)
        if key is None:
            return
        with self._lock:
            if reply.get("ok"):
                self.executions += 1
                self._latest[key] = (txn, copy.deepcopy(dict(reply)))
            elif self._latest.get(key) == (txn, None):
                del self._latest[key]

    def end(self, lsids: Any) -> None:
        """endSessions: forget the listed sessions."""
        if not isinstance(lsids, list):
            return
        with self._lock:
            for lsid in lsids:
                key = session_key(lsid)
                if key is not None:
                    self._latest.pop(key, None)
                    self._seen.pop(key, None)

    @staticmethod
    def _identity(command: Mapping[str, Any]) -> tuple[bytes | None, int]:
        name = next(iter(command), "")
        txn = command.get("txnNumber")
        if name not in RETRYABLE_WRITE_COMMANDS or txn is None or command.get("startTransaction"):
            return None, 0
        return session_key(command.get("lsid")), int(txn)


def is_retryable_write(command: Mapping[str, Any]) -> bool:
    """True for a write the client may retry (it carries lsid and txnNumber, outside a transaction)."""
    return (
        next(iter(command), "") in RETRYABLE_WRITE_COMMANDS
        and "txnNumber" in command
        and "lsid" in command
        and command.get("autocommit") is None
    )


def add_retryable_label(command: Mapping[str, Any], reply: dict[str, Any]) -> None:
    """Label a failed retryable write RetryableWriteError as a 4.4+ server does (the drivers'
    retryable-writes spec: "the server reports the error labels" from wire version 9)."""
    if "errorLabels" in reply or not is_retryable_write(command):
        return
    code = reply.get("code") if not reply.get("ok") else None
    wce = reply.get("writeConcernError") or {}
    if code in RETRYABLE_ERROR_CODES or wce.get("code") in RETRYABLE_ERROR_CODES:
        reply["errorLabels"] = ["RetryableWriteError"]
