"""Client-side operation timeout (timeoutMS): which level's value applies, one deadline per operation, maxTimeMS from what is left (CSOT spec). Pure."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from driver.errors import ConfigurationError, DriverError


class OperationTimeout(DriverError):
    """timeoutMS expired before the operation finished (CSOT spec, "Errors"): the message names
    the phase (server selection, connection checkout, sending, waiting for the reply)."""


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


@dataclass
class Deadline:
    """The absolute end of one operation (retries, server selection, check-out and I/O included).

    `timeout_ms` None means no timeoutMS applies (the deprecated timeouts rule); 0 means no limit."""

    timeout_ms: int | None
    clock: Callable[[], float] = time.monotonic
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

    def check(self, phase: str) -> None:
        """Raise OperationTimeout naming `phase` when the time is up."""
        if self.expired():
            raise OperationTimeout(f"operation exceeded timeoutMS={self.timeout_ms} during {phase}; "
                                   "raise timeoutMS or make the operation cheaper")

    def bound(self, configured_ms: float | None) -> float | None:
        """A phase timeout (serverSelectionTimeoutMS, waitQueue, socket) capped by what is left."""
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
                                   f"(the server's round trip is {min_rtt_ms:.0f} ms)")
        return max(int(budget), 1)


NO_DEADLINE = Deadline(None)
