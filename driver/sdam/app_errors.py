"""Pure SDAM handling of application errors (SDAM spec, "Error handling", "Application errors")."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Mapping

from driver.errors import (
    AuthenticationFailed,
    ConnectionFailure,
    NetworkTimeout,
    OperationFailure,
    PoolClearedError,
    PoolClosedError,
    WaitQueueTimeout,
)
from driver.hello import normalize_address, parse_topology_version, unknown_server
from driver.sdam.description import CheckFailure, TopologyDescription, TopologyType, TopologyVersion
from driver.sdam.transitions import compare_topology_version, update_topology

# SDAM "not writable primary" and "node is recovering": numeric codes decide, never code names.
RECOVERING_CODES = frozenset({11600, 11602, 13436, 189, 91})
NOT_WRITABLE_PRIMARY_CODES = frozenset({10107, 13435, 10058})
SHUTDOWN_CODES = frozenset({11600, 91})

# Client Backpressure spec: labels a connection-establishment failure gets instead of an SDAM change.
BACKPRESSURE_LABELS = ("SystemOverloadedError", "RetryableError")


class ErrorKind(str, enum.Enum):
    """What went wrong on an application connection."""

    NETWORK = "network"    # a network error other than a timeout
    TIMEOUT = "timeout"    # a network timeout
    COMMAND = "command"    # a server reply with ok: 0 (or a writeConcernError)
    AUTH = "auth"          # the authentication conversation failed


class Phase(str, enum.Enum):
    """Where in a connection's life the error happened."""

    ESTABLISHING = "establishing"      # TCP/TLS connect or the handshake hello (spec tests: beforeHandshakeCompletes)
    AUTHENTICATING = "authenticating"  # after the hello, during authentication
    ESTABLISHED = "established"        # the connection was in use (spec tests: afterHandshakeCompletes)


@dataclass(frozen=True)
class ErrorReport:
    """An application error as SDAM reads it: kind, phase and, for command errors, what the reply said."""

    kind: ErrorKind
    phase: Phase
    code: int | None = None
    message: str = ""
    topology_version: TopologyVersion | None = None


# Pool-side refusals: no connection was attempted, so SDAM learns nothing about the server.
_POOL_REFUSALS = (PoolClearedError, WaitQueueTimeout, PoolClosedError)


def classify_error(error: BaseException | None, phase: Phase, reply: Mapping[str, Any] | None = None
                   ) -> ErrorReport | None:
    """What SDAM must consider of `error` (or of an unchecked `reply`) met in `phase`; None: nothing.

    A server reply (ok: 0, or ok: 1 with a writeConcernError) or an OperationFailure is a
    command error; an AuthenticationFailed is an auth error, always after the hello
    (AUTHENTICATING); a NetworkTimeout a timeout, another ConnectionFailure a network error.
    Pool-side refusals (PoolClearedError, WaitQueueTimeout, PoolClosedError) and other
    errors tell nothing about the server.
    """
    if isinstance(error, OperationFailure) or (error is None and reply is not None):
        source = reply if reply is not None else (
            getattr(error, "details", None) or {"ok": 0, "code": error.code, "errmsg": str(error)})  # type: ignore[union-attr]
        details = command_error_details(source)
        if details is None:
            return None
        code, message, topology_version = details
        return ErrorReport(ErrorKind.COMMAND, phase, code, message, topology_version)
    if isinstance(error, AuthenticationFailed):
        return ErrorReport(ErrorKind.AUTH, Phase.AUTHENTICATING, message=str(error))
    if isinstance(error, _POOL_REFUSALS) or not isinstance(error, ConnectionFailure):
        return None
    kind = ErrorKind.TIMEOUT if isinstance(error, NetworkTimeout) else ErrorKind.NETWORK
    return ErrorReport(kind, phase, message=str(error))


@dataclass(frozen=True)
class ErrorOutcome:
    """What an application error does to SDAM state; the caller applies it under its lock.

    `topology` is the new description (the same object when unchanged); `clear_pool` says to
    clear the server's pool (for `service_id` in load-balanced mode); `request_check` asks the
    server's monitor for an immediate check; `error_labels` are labels to add to the error;
    `ignored` names why nothing changed, or is None.
    """

    topology: TopologyDescription
    clear_pool: bool = False
    request_check: bool = False
    cancel_check: bool = False
    error_labels: tuple[str, ...] = ()
    ignored: str | None = None


def is_recovering(code: int | None, message: str = "") -> bool:
    """SDAM "isRecovering": by code if there is one, else by message substrings."""
    if code is not None:
        return code in RECOVERING_CODES
    return "not master or secondary" in message or "node is recovering" in message


def is_not_writable_primary(code: int | None, message: str = "") -> bool:
    """SDAM "isNotWritablePrimary": by code if there is one, else "not master" in the message."""
    if code is not None:
        return code in NOT_WRITABLE_PRIMARY_CODES
    return not is_recovering(None, message) and "not master" in message


def is_state_change_error(code: int | None, message: str = "") -> bool:
    """SDAM "State Change Error": a "not writable primary" or "node is recovering" error."""
    return is_recovering(code, message) or is_not_writable_primary(code, message)


def is_shutdown(code: int | None) -> bool:
    """SDAM "node is shutting down" codes: the server's connections are all going away."""
    return code is not None and code in SHUTDOWN_CODES


def handle_application_error(topology: TopologyDescription, address: str, error_kind: ErrorKind | str, *,
                             generation: int, pool_generation: int, max_wire_version: int | None,
                             code: int | None = None, message: str = "",
                             topology_version: TopologyVersion | None = None,
                             phase: Phase | str = Phase.ESTABLISHED) -> ErrorOutcome:
    """Decide what one application error does (SDAM "handleError" pseudocode).

    Stale errors change nothing: a connection `generation` older than the pool's
    `pool_generation`, or an error `topology_version` not newer than the server's. A state
    change error marks the server Unknown (keeping the error's topologyVersion) and requests a
    check; the pool is cleared only for shutdown codes or servers before 4.2 (wire < 8).
    A network error, or a network timeout/auth error during authentication, marks the server
    Unknown and clears the pool. A timeout on an established connection changes nothing.
    Connection-establishment network errors and timeouts (TCP, TLS, handshake hello) change
    nothing and get the Client Backpressure labels instead. In LoadBalanced mode the server
    is never marked Unknown; only the service's pool is cleared.
    """
    kind, phase = ErrorKind(error_kind), Phase(phase)
    address = normalize_address(address)
    current = topology.servers.get(address)
    if current is None:
        return ErrorOutcome(topology, ignored=f"{address} is no longer in the topology")
    if generation < pool_generation:
        return ErrorOutcome(topology, ignored=f"stale connection generation {generation} < pool "
                                              f"generation {pool_generation}")
    if compare_topology_version(current.topology_version, topology_version) >= 0:
        return ErrorOutcome(topology, ignored="error topologyVersion is not newer than the server's")
    load_balanced = topology.type is TopologyType.LoadBalanced

    if kind is ErrorKind.COMMAND:
        if not is_state_change_error(code, message):
            return ErrorOutcome(topology, ignored="not a state change error")
        clear = is_shutdown(code) or (max_wire_version is not None and max_wire_version < 8)
        if load_balanced:
            return ErrorOutcome(topology, clear_pool=clear)
        what = f"server {address} answered code {code}: {message}" if code is not None else \
            f"server {address} answered: {message}"
        unknown = unknown_server(address, what, topology_version=topology_version, failure=CheckFailure.REJECTED)
        return ErrorOutcome(update_topology(topology, unknown), clear_pool=clear, request_check=True)

    if kind is ErrorKind.TIMEOUT and phase is Phase.ESTABLISHED:
        # A timeout may be a slow operation, not an unavailable server (spec: MUST NOT mark Unknown).
        return ErrorOutcome(topology, ignored="network timeout on an established connection")
    if kind in (ErrorKind.NETWORK, ErrorKind.TIMEOUT) and phase is Phase.ESTABLISHING:
        # Client Backpressure: failures to establish a connection may mean an overloaded server;
        # they neither mark it Unknown nor clear the pool, the error gets retryable labels.
        return ErrorOutcome(topology, error_labels=BACKPRESSURE_LABELS,
                            ignored="connection establishment failure (backpressure)")
    if load_balanced:
        return ErrorOutcome(topology, clear_pool=True)
    what = f"{kind.value} error on {address} ({phase.value})" + (f": {message}" if message else "")
    failure = CheckFailure.REJECTED if kind is ErrorKind.AUTH else CheckFailure.UNREACHABLE
    return ErrorOutcome(update_topology(topology, unknown_server(address, what, failure=failure)), clear_pool=True,
                        cancel_check=True)


def command_error_details(reply: Mapping[str, Any] | None) -> tuple[int | None, str, TopologyVersion | None] | None:
    """The (code, errmsg, topologyVersion) SDAM must inspect in a command reply, or None.

    An ok: 0 reply is inspected itself; an ok: 1 reply only through its writeConcernError
    (SDAM: "Errors contained within the writeErrors field MUST NOT be checked").
    """
    if not reply:
        return None
    if not reply.get("ok"):
        source = reply
    elif isinstance(reply.get("writeConcernError"), Mapping):
        source = reply["writeConcernError"]
    else:
        return None
    code = source.get("code")
    return (int(code) if code is not None else None, str(source.get("errmsg", "")),
            parse_topology_version(reply.get("topologyVersion") or source.get("topologyVersion")))
