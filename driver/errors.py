"""One error hierarchy for the driver; every message says what happened and what to try."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:
    from driver.bulk import BulkWriteResult


class DriverError(Exception):
    """Base of every error the driver raises on purpose.

    `partial_result`: when the error ended a bulk write (CRUD spec), the BulkWriteResult (or, for
    a client bulk write, the ClientBulkWriteResult) of what completed before it; None otherwise.
    """

    partial_result: Any = None

    def __init__(self, message: str, error_labels: Iterable[str] = ()) -> None:
        super().__init__(message)
        self._labels = set(error_labels)

    @property
    def error_labels(self) -> frozenset[str]:
        return frozenset(self._labels)

    def has_error_label(self, label: str) -> bool:
        return label in self._labels

    def add_error_label(self, label: str) -> None:
        self._labels.add(label)


class ConfigurationError(DriverError):
    """A setting (URI, option, argument) is invalid; nothing was sent to a server."""


class InvalidURI(ConfigurationError):
    """A connection string cannot be parsed; the message names the offending part."""


class DocumentTooLarge(DriverError):
    """A document (or write statement) is larger than the server's maxBsonObjectSize; nothing was sent."""


class ProtocolError(DriverError):
    """Bytes on the wire break the MongoDB wire protocol (framing, opcode, flags, BSON)."""


class ConnectionFailure(DriverError):
    """A network-level failure talking to a server."""


class NetworkTimeout(ConnectionFailure):
    """A connect, read or write on a socket timed out."""


class AuthenticationFailed(DriverError):
    """The server refused the credentials, or the auth conversation went wrong."""


class ServerSelectionTimeout(DriverError):
    """No suitable server was found within serverSelectionTimeoutMS."""


class WaitQueueTimeout(ConnectionFailure):
    """No pooled connection became available within waitQueueTimeoutMS."""


class OperationTimeout(DriverError):
    """timeoutMS expired before the operation finished (CSOT spec, "Errors").

    The message says where the time ran out and includes the underlying error's message;
    `cause` is that error (a ServerSelectionTimeout, WaitQueueTimeout, NetworkTimeout or the
    server's MaxTimeMSExpired) or None when the driver noticed the expiry itself. `code` and
    `details` are the cause's when it came from the server. Raised only when timeoutMS applies:
    without it the deprecated timeouts raise their own errors as before."""

    def __init__(self, message: str, cause: BaseException | None = None,
                 error_labels: Iterable[str] = ()) -> None:
        labels = set(error_labels)
        if isinstance(cause, DriverError):
            labels |= cause.error_labels
        super().__init__(message, labels)
        self.cause = cause
        self.code = getattr(cause, "code", None)
        self.details = dict(getattr(cause, "details", None) or {})


class PoolClearedError(ConnectionFailure):
    """The connection pool was cleared (paused) while waiting for, or holding, a connection."""


class PoolClosedError(DriverError):
    """A connection was requested from a pool that was closed (its server left the topology, or the client closed)."""


class OperationFailure(DriverError):
    """A server answered a command with ok: 0."""

    def __init__(
        self,
        message: str,
        code: int | None = None,
        details: Mapping[str, Any] | None = None,
        error_labels: Iterable[str] = (),
    ) -> None:
        labels = set(error_labels)
        if details is not None:
            labels.update(details.get("errorLabels", ()))
        super().__init__(message, labels)
        self.code = code
        self.details = dict(details) if details is not None else {}

    @property
    def code_name(self) -> str | None:
        return self.details.get("codeName")


class WriteError(OperationFailure):
    """A single write failed (writeErrors in the reply)."""


class DuplicateKeyError(WriteError):
    """A write would have violated a unique index (code 11000)."""


class WriteConcernError(OperationFailure):
    """The write was applied but the write concern was not satisfied."""


class BulkWriteError(OperationFailure):
    """One or more writes of a bulk write failed; `details` holds the full result document.

    `result` (also `partial_result`) is the BulkWriteResult: what was written, the write
    errors and write concern errors, with the caller's request indexes (CRUD spec).
    """

    result: BulkWriteResult | None

    def __init__(self, message: str, code: int | None = None, details: Mapping[str, Any] | None = None,
                 error_labels: Iterable[str] = (), *, result: BulkWriteResult | None = None) -> None:
        super().__init__(message, code, details, error_labels)
        self.result = self.partial_result = result


DUPLICATE_KEY_CODES = frozenset({11000, 11001, 12582})


def raise_write_reply_errors(reply: Mapping[str, Any]) -> None:
    """Raise WriteError / DuplicateKeyError / WriteConcernError for a single-statement write reply."""
    errors = reply.get("writeErrors")
    if errors:
        err = errors[0]
        code = err.get("code")
        cls = DuplicateKeyError if code in DUPLICATE_KEY_CODES else WriteError
        raise cls(f"write failed: {err.get('errmsg', '')} (code {code})", code, err)
    wce = reply.get("writeConcernError")
    if wce:
        raise WriteConcernError(f"write concern error: {wce.get('errmsg', '')} (code {wce.get('code')})",
                                wce.get("code"), reply, error_labels=wce.get("errorLabels", ()))
