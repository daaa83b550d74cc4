"""timeoutMS arithmetic: inheritance, one deadline per operation, maxTimeMS from the time left (pure)."""

from __future__ import annotations

import pytest

from driver.errors import ConfigurationError
from driver.timeout import Deadline, OperationTimeout, check_timeout_ms, resolve_timeout_ms


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_most_specific_level_wins_and_zero_is_a_value() -> None:
    assert resolve_timeout_ms(None, None, 50, 100) == 50
    assert resolve_timeout_ms(0, 100) == 0
    assert resolve_timeout_ms(None, None) is None
    with pytest.raises(ConfigurationError, match="timeoutMS must be"):
        check_timeout_ms(-1, "collection")
    assert check_timeout_ms(None, "x") is None and check_timeout_ms(10.0, "x") == 10


def test_deadline_bounds_phases_and_max_time() -> None:
    clock = Clock()
    deadline = Deadline(200, clock)
    assert deadline.bound(30_000) == 200          # serverSelectionTimeoutMS capped by timeoutMS
    clock.now += 0.125  # exact in binary: the arithmetic below is exact too
    assert deadline.remaining_ms() == 75
    assert deadline.bound(10) == 10
    assert deadline.max_time_ms(min_rtt_ms=20) == 55
    with pytest.raises(OperationTimeout, match="before it could be sent"):
        deadline.max_time_ms(min_rtt_ms=80)
    clock.now += 0.1
    with pytest.raises(OperationTimeout, match="during server selection"):
        deadline.check("server selection")


def test_unbounded_deadlines_change_nothing() -> None:
    for timeout in (None, 0):
        deadline = Deadline(timeout, Clock())
        assert deadline.remaining_ms() is None and not deadline.expired()
        assert deadline.bound(1234) == 1234 and deadline.max_time_ms(5) is None
    assert Deadline(0, Clock()).applies and not Deadline(None, Clock()).applies
