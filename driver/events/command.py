"""Command monitoring events (command-logging-and-monitoring spec) with redaction of sensitive commands."""

from __future__ import annotations

from dataclasses import dataclass, fields
from collections.abc import Mapping
from typing import Any

from driver.errors import ConfigurationError, OperationFailure

# command-logging-and-monitoring spec, "Security": always-sensitive commands (compared lower-case
# because legacy hello has two casings and the server treats command names case-sensitively
# only for some; we err on the side of redacting).
SENSITIVE_COMMANDS = frozenset({
    "authenticate", "saslstart", "saslcontinue", "getnonce", "createuser", "updateuser",
    "copydbgetnonce", "copydbsaslstart", "copydb",
})
# Sensitive only when they carry speculativeAuthenticate (MongoDB Handshake spec).
HELLO_COMMANDS = frozenset({"hello", "ismaster"})


def is_sensitive(command_name: str, command: Mapping[str, Any] | None = None) -> bool:
    """True when the command's body and reply must not be published.

    hello / isMaster / ismaster are sensitive only when the command carries
    speculativeAuthenticate; pass the command document to decide that. For a reply, pass the
    command that produced it (the caller remembers it from the started event).
    """
    name = command_name.lower()
    if name in SENSITIVE_COMMANDS:
        return True
    if name in HELLO_COMMANDS:
        return command is not None and "speculativeAuthenticate" in command
    return False


def redact_failure(failure: BaseException) -> BaseException:
    """A copy of a server error keeping only code, codeName and errorLabels (spec, "Security").

    Non-server errors (network, timeouts) carry no server data and are returned unchanged.
    """
    if not isinstance(failure, OperationFailure):
        return failure
    kept: dict[str, Any] = {k: failure.details[k] for k in ("code", "codeName", "errorLabels") if k in failure.details}
    if "code" not in kept and failure.code is not None:
        kept["code"] = failure.code
    message = f"(redacted server error for a sensitive command; code {failure.code})"
    try:
        return type(failure)(message, code=failure.code, details=kept, error_labels=failure.error_labels)
    except TypeError:  # a subclass with another constructor: fall back to the base type
        return OperationFailure(message, code=failure.code, details=kept, error_labels=failure.error_labels)


@dataclass(frozen=True, kw_only=True)
class CommandEventFields:
    """What every event of one command carries, so the three always correlate (spec, "Events API")."""

    command_name: str
    database_name: str
    request_id: int
    operation_id: int | None = None
    connection_id: Any = None
    address: str | None = None
    service_id: Any = None
    server_connection_id: int | None = None


_SHARED_FIELDS = tuple(f.name for f in fields(CommandEventFields))


@dataclass(frozen=True)
class CommandStartedEvent(CommandEventFields):
    """A command is about to be sent; `command` is {} for sensitive commands.

    `command` includes OP_MSG document sequences as arrays under their identifiers (spec,
    "Implementation Notes"). `connection_id` is the driver's id for the connection;
    `server_connection_id` the server's (hello "connectionId", 4.2+).
    """

    command: Mapping[str, Any]


@dataclass(frozen=True)
class CommandSucceededEvent(CommandEventFields):
    """A reply with ok: 1 arrived after `duration_ms` milliseconds; `reply` is {} when sensitive."""

    reply: Mapping[str, Any]
    duration_ms: float


@dataclass(frozen=True)
class CommandFailedEvent(CommandEventFields):
    """The command failed (ok: 0 reply or an exception) after `duration_ms` milliseconds."""

    failure: Any
    duration_ms: float


@dataclass(frozen=True, kw_only=True)
class CommandContext(CommandEventFields):
    """What the three events of one command share; build events from it so they always correlate."""

    sensitive: bool = False

    def _fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _SHARED_FIELDS}

    def started(self, command: Mapping[str, Any]) -> CommandStartedEvent:
        """The started event, with the command replaced by {} when sensitive."""
        return CommandStartedEvent(command={} if self.sensitive else command, **self._fields())

    def succeeded(self, reply: Mapping[str, Any], duration_ms: float) -> CommandSucceededEvent:
        """The succeeded event, with the reply replaced by {} when sensitive."""
        return CommandSucceededEvent(reply={} if self.sensitive else reply, duration_ms=duration_ms, **self._fields())

    def failed(self, failure: Any, duration_ms: float) -> CommandFailedEvent:
        """The failed event; a server failure of a sensitive command keeps only code/codeName/labels."""
        if self.sensitive:
            if isinstance(failure, BaseException):
                failure = redact_failure(failure)
            elif isinstance(failure, Mapping):
                failure = {k: failure[k] for k in ("code", "codeName", "errorLabels") if k in failure}
        return CommandFailedEvent(failure=failure, duration_ms=duration_ms, **self._fields())


def command_context(command: Mapping[str, Any], database_name: str, request_id: int,
                    **identity: Any) -> CommandContext:
    """A CommandContext for `command` (its first key is the command name), sensitivity decided once.

    `identity`: the other CommandEventFields by name (operation_id, connection_id, address,
    service_id, server_connection_id); an unknown name is a TypeError.
    """
    if not command:
        raise ConfigurationError("a command document needs at least its command-name key")
    name = next(iter(command))
    return CommandContext(command_name=name, database_name=database_name, request_id=request_id,
                          sensitive=is_sensitive(name, command), **identity)
