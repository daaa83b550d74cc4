"""Pure retry rules of the retryable-writes and retryable-reads specs; the retry loop lives elsewhere."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Callable

from driver.errors import (
    BulkWriteError,
    ConnectionFailure,
    DriverError,
    OperationFailure,
    PoolClearedError,
    ServerSelectionTimeout,
    WaitQueueTimeout,
    WriteConcernError,
    WriteError,
)
from driver.sdam.description import ServerDescription, ServerType

RETRYABLE_WRITE_ERROR = "RetryableWriteError"
NO_WRITES_PERFORMED = "NoWritesPerformed"
# Client backpressure: servers label overload errors with both of these.
RETRYABLE_ERROR = "RetryableError"
SYSTEM_OVERLOADED_ERROR = "SystemOverloadedError"

# retryable-writes spec, "Determining Retryable Errors" (pre-4.4 servers: the driver labels).
RETRYABLE_WRITE_CODES = frozenset({11600, 11602, 10107, 13435, 13436, 189, 91, 7, 6, 89, 9001, 262})
# retryable-reads spec, "Retryable Error": the write codes plus ReadConcernMajorityNotAvailableYet.
RETRYABLE_READ_CODES = RETRYABLE_WRITE_CODES | {134}

# Wire versions: 3.6 introduced retryable writes/reads (6); 4.4 servers label errors themselves (9).
MIN_RETRYABLE_WIRE_VERSION = 6
SERVER_LABELS_WIRE_VERSION = 9

# Commands that are retryable reads when issued by their own helpers (retryable-reads spec,
# "Supported Read Operations"); aggregate only without $out/$merge; never getMore or runCommand.
RETRYABLE_READ_COMMANDS = frozenset({
    "find", "aggregate", "distinct", "count", "listDatabases", "listCollections", "listIndexes",
})

IllegalOperation = 20
RETRYABLE_WRITES_UNSUPPORTED_MESSAGE = (
    "This MongoDB deployment does not support retryable writes. Please add retryWrites=false to your connection string."
)


def _command_name(command: Mapping[str, Any]) -> str:
    return next(iter(command)) if command else ""


def supports_retryable_writes(server: ServerDescription) -> bool:
    """isRetryableWritesSupported: wire >= 6, logicalSessionTimeoutMinutes known, not standalone.

    Load balancers support retryable writes too (load-balancers spec).
    """
    if server.type is _LOAD_BALANCER:
        return True
    if server.max_wire_version < MIN_RETRYABLE_WIRE_VERSION or server.logical_session_timeout_minutes is None:
        return False
    return server.type not in _NO_RETRYABLE_WRITES


# Asked for every write: built once (an enum member lookup costs several plain attribute reads on 3.11).
_LOAD_BALANCER = ServerType.LoadBalancer
_NO_RETRYABLE_WRITES = (ServerType.Standalone, ServerType.Unknown)


def supports_retryable_reads(max_wire_version: int) -> bool:
    """isRetryableReadsSupported: the server speaks wire version 6 (MongoDB 3.6) or newer."""
    return max_wire_version >= MIN_RETRYABLE_WIRE_VERSION


def is_retryable_write_command(command: Mapping[str, Any]) -> bool:
    """True when a write command may carry a transaction id and be retried.

    retryable-writes spec, "Supported/Unsupported Write Operations": insert, update without
    multi: true, delete without limit: 0, findAndModify, client bulkWrite without a multi op,
    and (transactions spec) commitTransaction/abortTransaction; never with w: 0. Bulk batches
    are judged one command at a time, after batch splitting.
    """
    name = _command_name(command)
    wc = command.get("writeConcern")
    # type() first: a write concern is a plain dict, and an ABC isinstance costs two calls per write.
    if (type(wc) is dict or isinstance(wc, Mapping)) and wc.get("w") == 0:
        return False
    if name in ("insert", "findAndModify", "commitTransaction", "abortTransaction"):
        return True
    if name == "bulkWrite":
        return not any(op.get("multi") for op in command.get("ops", ()))
    if name == "update":
        return not any(u.get("multi") for u in command.get("updates", ()))
    if name == "delete":
        return not any(d.get("limit", 0) == 0 for d in command.get("deletes", ()))
    return False


def is_retryable_read_command(command: Mapping[str, Any]) -> bool:
    """True for read commands the spec retries; aggregate only without a $out/$merge stage."""
    name = _command_name(command)
    if name not in RETRYABLE_READ_COMMANDS:
        return False
    if name == "aggregate":
        from driver.ops.aggregate import has_write_stage

        return not has_write_stage(command.get("pipeline") or ())
    return True


def _is_network_error(error: BaseException) -> bool:
    # A wait-queue timeout is a driver-side pool error, not a network error: no attempt was made.
    return isinstance(error, ConnectionFailure) and not isinstance(error, (WaitQueueTimeout, PoolClearedError))


def _server_codes(error: BaseException) -> tuple[int | None, int | None]:
    """(top-level code, writeConcernError.code) of a server error, when there are any.

    A WriteConcernError's own `code` is its writeConcernError code (the reply itself was ok: 1).
    """
    if not isinstance(error, OperationFailure):
        return None, None
    details = error.details or {}
    wce = details.get("writeConcernError")
    wce_code = wce.get("code") if isinstance(wce, Mapping) else None
    if isinstance(error, WriteConcernError):
        return details.get("code"), wce_code if wce_code is not None else error.code
    if isinstance(error, (WriteError, BulkWriteError)):
        # Their `code` is a writeErrors[].code, which never makes a write retryable.
        return None, wce_code
    return error.code, wce_code


def add_retryable_write_label(
    error: DriverError,
    max_wire_version: int | None,
    *,
    retry_writes: bool = True,
    is_mongos: bool = False,
    in_transaction: bool = False,
) -> bool:
    """Add RetryableWriteError where the driver (not the server) must; True when added.

    retryable-writes spec, "RetryableWriteError Labels": only with retryWrites on, never inside
    a transaction; network errors and PoolClearedError always get it; for server replies only
    pre-4.4 servers (maxWireVersion < 9) are labelled by the driver, by the top-level code, or
    by writeConcernError.code when the reply came from a mongod (never from mongos), and
    never because of writeErrors[].code. 4.4+ servers label replies themselves.
    """
    if not retry_writes or in_transaction or error.has_error_label(RETRYABLE_WRITE_ERROR):
        return False
    if isinstance(error, PoolClearedError) or _is_network_error(error):
        error.add_error_label(RETRYABLE_WRITE_ERROR)
        return True
    if not isinstance(error, OperationFailure) or max_wire_version is None:
        return False
    if max_wire_version >= SERVER_LABELS_WIRE_VERSION:
        return False
    code, wce_code = _server_codes(error)
    if code in RETRYABLE_WRITE_CODES or (not is_mongos and wce_code in RETRYABLE_WRITE_CODES):
        error.add_error_label(RETRYABLE_WRITE_ERROR)
        return True
    return False


def should_retry_write(error: BaseException) -> bool:
    """A write is retried only when the error carries the RetryableWriteError label."""
    return isinstance(error, DriverError) and error.has_error_label(RETRYABLE_WRITE_ERROR)


def should_retry_read(error: BaseException) -> bool:
    """retryable-reads spec, "Retryable Error": network errors, PoolClearedError, retryable codes.

    Server-labelled overload errors (RetryableError) are retried too (client backpressure).
    A write concern error is not a read error and is never a reason to retry a read.
    """
    if isinstance(error, PoolClearedError) or _is_network_error(error):
        return True
    if isinstance(error, DriverError) and error.has_error_label(RETRYABLE_ERROR):
        return True
    if isinstance(error, OperationFailure) and not isinstance(error, WriteConcernError):
        return error.code in RETRYABLE_READ_CODES
    return False


def _attempt_was_made(error: BaseException) -> bool:
    """False for driver-side errors that prove nothing was sent (selection, pool check-out)."""
    return not isinstance(error, (ServerSelectionTimeout, WaitQueueTimeout, PoolClearedError))


def error_after_write_retry(errors: Sequence[BaseException]) -> BaseException:
    """Which error to raise when every attempt of a retryable write failed (attempt order).

    retryable-writes spec, "Executing Retryable Write Commands": an error that does not let the
    caller infer an attempt was made, or one labelled NoWritesPerformed, yields to the error of
    the previous attempt; if all server errors are NoWritesPerformed, the first error is raised.
    """
    if not errors:
        raise ValueError("error_after_write_retry needs at least one error")
    chosen = errors[0]
    for current in errors[1:]:
        no_writes = isinstance(current, DriverError) and current.has_error_label(NO_WRITES_PERFORMED)
        if _attempt_was_made(current) and not no_writes:
            chosen = current
    return chosen


def error_after_read_retry(previous: BaseException, current: BaseException) -> BaseException:
    """retryable-reads spec 3c: the retry's error wins unless it shows no attempt was made."""
    return current if _attempt_was_made(current) else previous


def retryable_writes_unsupported(error: BaseException) -> bool:
    """True for IllegalOperation (20) "Transaction numbers ..." (e.g. MMAPv1): the caller then
    raises RETRYABLE_WRITES_UNSUPPORTED_MESSAGE (retryable-writes spec, "Supported Server Versions")."""
    return (
        isinstance(error, OperationFailure)
        and error.code == IllegalOperation
        and str(error.details.get("errmsg", error)).startswith("Transaction numbers")
    )


# -- client backpressure (client-backpressure spec, "Overload retry policy") ---------------
BASE_BACKOFF_S = 0.1              # baseBackoff 100 ms
MAX_BACKOFF_S = 10.0              # maxBackoff 10 s
RETRY_TOKEN_RETURN_RATE = 0.1     # tokens returned by every successful operation
DEFAULT_RETRY_TOKEN_CAPACITY = 1000.0


def is_overload_error(error: BaseException) -> bool:
    """The server (or a failed connection attempt) says it is overloaded: back off before retrying."""
    return isinstance(error, DriverError) and error.has_error_label(SYSTEM_OVERLOADED_ERROR)


def is_retryable_overload_error(error: BaseException) -> bool:
    """Any operation may be retried after an error labelled both SystemOverloadedError and RetryableError."""
    return is_overload_error(error) and error.has_error_label(RETRYABLE_ERROR)  # type: ignore[union-attr]


def overload_backoff_s(retry: int, jitter: Callable[[], float] = random.random) -> float:
    """delay = j * min(maxBackoff, baseBackoff * 2^(i - 1)) for retry number i (1-based), j in [0, 1)."""
    return jitter() * min(MAX_BACKOFF_S, BASE_BACKOFF_S * 2 ** (max(retry, 1) - 1))


class TokenBucket:
    """Per-client retry budget: an overload retry takes a token, successes put some back.

    Why: during a long overload, unbounded retries would add load to a server that is
    already shedding it (client-backpressure spec, "Token Bucket"; capacity 1000).
    """

    def __init__(self, capacity: float = DEFAULT_RETRY_TOKEN_CAPACITY) -> None:
        self.capacity = capacity
        self._tokens = capacity
        self._lock = threading.Lock()

    @property
    def tokens(self) -> float:
        return self._tokens

    def consume(self, n: float = 1.0) -> bool:
        """Take n tokens if there are that many; False (nothing taken) otherwise."""
        with self._lock:
            if self._tokens >= n:
                self._tokens -= n
                return True
            return False

    def deposit(self, n: float) -> None:
        """Return n tokens, never above capacity."""
        if self._tokens >= self.capacity:
            return  # full (the common case): every successful operation deposits, so skip the lock
        with self._lock:
            self._tokens = min(self.capacity, self._tokens + n)
