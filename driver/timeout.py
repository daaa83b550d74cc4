"""Client-side operation timeout (timeoutMS, CSOT spec): which level applies, one deadline per operation (held in a context variable the executor reads), the command fields and errors it changes."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar

from driver.errors import (
    ConfigurationError,
    NetworkTimeout,
    OperationTimeout,
    ServerSelectionTimeout,
    WaitQueueTimeout,
)

# CSOT spec, "Cursors": the two timeout modes, as the unified tests and other drivers spell them.
CURSOR_LIFETIME = "cursorLifetime"
ITERATION = "iteration"
TIMEOUT_MODES = (CURSOR_LIFETIME, ITERATION)
MAX_TIME_MS_EXPIRED = 50  # "Error Transformations": only the code counts, never the name or message


def check_timeout_ms(value: Any, where: str) -> int | None:
    """A timeoutMS value: None (inherit), 0 (no limit) or a positive number of milliseconds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigurationError(f"{where}: timeoutMS must be a non-negative number of milliseconds "
                                 f"(0 means no limit), not {value!r}")
    return int(value)


def resolve_timeout_ms(*levels: int | None) -> int | None:
    """The first level that sets timeoutMS, from the most specific (operation, session, collection,
    database, client); None when none does (CSOT spec, "timeoutMS": each level inherits the next)."""
    for value in levels:
        if value is not None:
            return value
    return None


def operation_timeout_ms(own: Any, inherited: int | None) -> int | None:
    """An operation's timeoutMS: its own when given (validated), else its handle's."""
    return resolve_timeout_ms(check_timeout_ms(own, "operation"), inherited)


def check_timeout_mode(mode: Any, timeout_ms: int | None, *, tailable: bool = False) -> str | None:
    """The cursor's timeoutMode (None: the default for its kind), validated (CSOT spec, "Cursors")."""
    if mode is None:
        return None
    if mode not in TIMEOUT_MODES:
        raise ConfigurationError(f"timeout_mode must be one of {', '.join(TIMEOUT_MODES)}, not {mode!r}")
    if timeout_ms is None:
        raise ConfigurationError(f"timeout_mode={mode!r} needs timeoutMS (set timeout_ms on the operation, "
                                 "collection, database or client)")
    if tailable and mode == CURSOR_LIFETIME:
        raise ConfigurationError("a tailable cursor only supports timeout_mode='iteration'")
    return mode


def selection_timeout_ms(deadline: "Deadline | None", configured_ms: float) -> float | None:
    """CSOT spec, "Server Selection": min(serverSelectionTimeoutMS, time left) bounds selection and
    check-out (waitQueueTimeoutMS is then ignored); None without timeoutMS (each phase's default)."""
    if deadline is None or not deadline.applies:
        return None
    return deadline.bound(configured_ms)


def check_max_await_time_ms(max_await_time_ms: int | None, timeout_ms: int | None) -> None:
    """CSOT spec, "Tailable awaitData Cursors" and "Change Streams": maxAwaitTimeMS must be less
    than a non-zero timeoutMS (each getMore would otherwise wait out the whole timeout)."""
    if timeout_ms and max_await_time_ms is not None and max_await_time_ms >= timeout_ms:
        raise ConfigurationError(f"max_await_time_ms ({max_await_time_ms}) must be less than timeoutMS "
                                 f"({timeout_ms}): each getMore may wait that long for new data")


@dataclass
class Deadline:
    """The absolute end of one operation (retries, server selection, check-out and I/O included).

    `timeout_ms` None means no timeoutMS applies (the deprecated timeouts rule); 0 means no limit.
    `max_time`: whether commands sent under it carry a maxTimeMS derived from the time left (not
    getMores, nor the first command of an iteration-mode cursor). `locked`: withTransaction's
    deadline, which the callback's operations may not replace with their own timeoutMS."""

    timeout_ms: int | None
    clock: Callable[[], float] = time.monotonic
    max_time: bool = True
    locked: bool = False
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    @property
    def applies(self) -> bool:
        return self.timeout_ms is not None

    @property
    def bounded(self) -> bool:
        return bool(self.timeout_ms)

    def remaining_ms(self) -> float | None:
        """Milliseconds left; None when unbounded (no timeoutMS or timeoutMS=0)."""
        if not self.bounded:
            return None
        return self.timeout_ms - (self.clock() - self.started) * 1000.0

    def expired(self) -> bool:
        left = self.remaining_ms()
        return left is not None and left <= 0

    def ends_at(self) -> float | None:
        """The deadline on the clock's scale (time.monotonic() seconds), None when unbounded."""
        return self.started + self.timeout_ms / 1000.0 if self.bounded else None

    def error(self, phase: str, cause: BaseException | None = None) -> OperationTimeout:
        detail = f": {cause}" if cause is not None else ""
        return OperationTimeout(f"operation exceeded timeoutMS={self.timeout_ms} during {phase}{detail}", cause)

    def check(self, phase: str) -> None:
        """Raise OperationTimeout naming `phase` when the time is up."""
        if self.expired():
            raise self.error(phase)

    def bound(self, configured_ms: float | None) -> float | None:
        """A phase timeout (serverSelectionTimeoutMS, waitQueue, socket) capped by what is left.

        CSOT spec, "Terms": min(0, x) is x, so a configured 0 (no limit) yields what is left."""
        left = self.remaining_ms()
        if left is None:
            return configured_ms
        if configured_ms is None or configured_ms <= 0:
            return max(left, 0.0)
        return max(min(configured_ms, left), 0.0)

    def max_time_ms(self, min_rtt_ms: float) -> int | None:
        """maxTimeMS to send: what is left minus the server's minimum round trip (CSOT spec,
        "Command Execution"); raises when nothing would be left for the server."""
        left = self.remaining_ms()
        if left is None:
            return None
        budget = left - (min_rtt_ms or 0.0)
        if budget <= 0:
            raise OperationTimeout(f"operation exceeded timeoutMS={self.timeout_ms} before it could be sent "
                                   f"(the server's round trip is {min_rtt_ms or 0:.0f} ms)")
        return max(int(budget), 1)


NO_DEADLINE = Deadline(None)

# The deadline of the operation running in this thread (or task); None outside any operation
# with timeoutMS. A context variable so an operation made of several commands (bulk batches,
# find_one's cursor, withTransaction's callback) shares one deadline without passing it along.
_current: ContextVar[Deadline | None] = ContextVar("operation_deadline", default=None)


def current() -> Deadline | None:
    """The running operation's deadline, None when no timeoutMS applies."""
    return _current.get()


@contextmanager
def operation(timeout_ms: int | None, *, explicit: bool = False, fresh: bool = False, max_time: bool = True,
              locked: bool = False) -> Iterator[Deadline | None]:
    """The deadline of one operation for the block.

    Inside another operation's block the outer deadline goes on (one timeout for the whole, CSOT
    "Batching" and "Convenient Transactions API"), unless `fresh` (the spec refreshes the timeout
    for a cursor's close and for withTransaction's abortTransaction). An `explicit` operation
    timeout inside withTransaction is an error (CSOT spec, "Validation and Overrides")."""
    outer = _current.get()
    if outer is not None and not fresh:
        if explicit and outer.locked:
            raise ConfigurationError("timeoutMS cannot be set on an operation inside withTransaction's callback: "
                                     "the session's timeout applies to the whole transaction (CSOT spec)")
        yield outer
        return
    deadline = None if timeout_ms is None else Deadline(timeout_ms, max_time=max_time, locked=locked)
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


@contextmanager
def resume(deadline: Deadline) -> Iterator[Deadline]:
    """Run the block under an earlier operation's `deadline` (a cursorLifetime cursor's getMores),
    or under the enclosing operation's when there is one."""
    if _current.get() is not None:
        yield _current.get()  # type: ignore[misc]
        return
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


F = TypeVar("F", bound=Callable[..., Any])


def applies_timeout(method: F) -> F:
    """Decorate a handle's operation method: it takes `timeout_ms=` (the operation level) and runs
    under one deadline resolved against the handle's own `timeout_ms` (collection, database or
    client level, already inherited)."""
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, timeout_ms: int | None = None, **kwargs: Any) -> Any:
        if timeout_ms is None and self.timeout_ms is None:
            return method(self, *args, **kwargs)  # no timeoutMS anywhere: nothing to set up (the common case)
        resolved = operation_timeout_ms(timeout_ms, self.timeout_ms)
        if resolved is None:
            return method(self, *args, **kwargs)
        with operation(resolved, explicit=timeout_ms is not None):
            return method(self, *args, **kwargs)
    return wrapper  # type: ignore[return-value]


# ----- what a deadline changes in a command and in its errors ---------------------------------------
def command_under(body: dict[str, Any], deadline: Deadline | None, min_rtt_ms: float | None) -> dict[str, Any]:
    """The command as sent under `deadline` (CSOT spec, "Command Execution", "Validation and Overrides").

    With timeoutMS the deprecated wtimeout is dropped from the write concern and a maxTimeMS the
    caller gave (maxTimeMS, maxCommitTimeMS) is replaced by the time left minus the server's
    minimum round trip, or left out when timeoutMS is 0 or the deadline sends none (getMore,
    iteration-mode cursors). A getMore's maxTimeMS is maxAwaitTimeMS, capped by the time left
    ("Tailable awaitData Cursors"). Nothing is sent once the time is up: the timeout error instead."""
    if deadline is None or not deadline.applies:
        return body
    out = dict(body)
    wc = out.get("writeConcern")
    if isinstance(wc, Mapping) and "wtimeout" in wc:
        kept = {k: v for k, v in wc.items() if k != "wtimeout"}
        if kept:
            out["writeConcern"] = kept
        else:
            del out["writeConcern"]
    if next(iter(out)) == "getMore":
        left = deadline.max_time_ms(min_rtt_ms or 0.0)  # raises when no time is left
        if left is not None and isinstance(out.get("maxTimeMS"), int):
            out["maxTimeMS"] = min(out["maxTimeMS"], left)
        return out
    if not deadline.max_time:
        deadline.check("sending the command")
        return out
    out.pop("maxTimeMS", None)
    max_time = deadline.max_time_ms(min_rtt_ms or 0.0)
    if max_time is not None:
        out["maxTimeMS"] = max_time
    return out


def _max_time_expired(exc: BaseException) -> bool:
    """The server's MaxTimeMSExpired, top-level, in a write error or in a write concern error."""
    if getattr(exc, "code", None) == MAX_TIME_MS_EXPIRED:
        return True
    details = getattr(exc, "details", None)
    if not isinstance(details, Mapping):
        return False
    wce = details.get("writeConcernError")
    if isinstance(wce, Mapping) and wce.get("code") == MAX_TIME_MS_EXPIRED:
        return True
    return any(isinstance(e, Mapping) and e.get("code") == MAX_TIME_MS_EXPIRED for e in details.get("writeErrors") or ())


def is_timeout(exc: BaseException) -> bool:
    """An error that means some time limit ran out (CSOT spec, "Error Transformations")."""
    return isinstance(exc, (OperationTimeout, NetworkTimeout, ServerSelectionTimeout, WaitQueueTimeout)) \
        or _max_time_expired(exc)


def as_timeout_error(exc: BaseException, deadline: Deadline | None, phase: str = "the operation") -> BaseException:
    """`exc` as the CSOT timeout error when timeoutMS applies and `exc` is a timeout; else `exc`."""
    if deadline is None or not deadline.applies or isinstance(exc, OperationTimeout) or not is_timeout(exc):
        return exc
    return deadline.error(phase, exc)
