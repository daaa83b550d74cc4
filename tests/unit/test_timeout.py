"""timeoutMS: inheritance, one deadline per operation and its scopes, the command fields and errors it changes."""

from __future__ import annotations

import pytest

from driver.errors import ConfigurationError, NetworkTimeout, OperationFailure, OperationTimeout, ServerSelectionTimeout
from driver.retry import TokenBucket
from driver.retry_policy import NO_RETRY, Attempts, OverloadPolicy
from driver.timeout import (
    Deadline, applies_timeout, as_timeout_error, check_max_await_time_ms, check_timeout_mode, check_timeout_ms,
    command_under, current, operation, resolve_timeout_ms, resume,
)


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


# ----- scopes: one deadline per operation ----------------------------------------------------------
def test_an_inner_operation_shares_the_outer_deadline_unless_fresh() -> None:
    assert current() is None
    with operation(500) as outer:
        with operation(50) as inner:
            assert inner is outer  # a batch of a bulk write, find_one's cursor: one deadline
        with operation(50, fresh=True) as refreshed:
            assert refreshed is not outer and refreshed.timeout_ms == 50  # close(), abortTransaction
        assert current() is outer
    assert current() is None
    with operation(None) as nothing:
        assert nothing is None and current() is None


def test_with_transaction_refuses_an_operation_level_timeout() -> None:
    with operation(500, locked=True):
        with operation(None):
            pass  # inheriting is fine
        with pytest.raises(ConfigurationError, match="withTransaction"):
            with operation(100, explicit=True):
                pass


def test_resume_reenters_a_cursor_lifetime_deadline() -> None:
    with operation(500) as first:
        pass
    with resume(first) as again:
        assert again is first and current() is first
    assert current() is None


def test_applies_timeout_resolves_the_operation_level_over_the_handle() -> None:
    class Handle:
        timeout_ms = 300

        @applies_timeout
        def run(self) -> object:
            return current()

    assert Handle().run().timeout_ms == 300
    assert Handle().run(timeout_ms=0).timeout_ms == 0
    Handle.timeout_ms = None
    assert Handle().run() is None
    with pytest.raises(ConfigurationError):
        Handle().run(timeout_ms=-5)


# ----- what a deadline does to a command -----------------------------------------------------------
def test_command_under_replaces_deprecated_timeouts() -> None:
    clock = Clock()
    body = {"insert": "c", "writeConcern": {"w": 1, "wtimeout": 5}, "maxTimeMS": 99999}
    assert command_under(body, None, 0) is body  # no timeoutMS: the command is untouched
    sent = command_under(body, Deadline(200, clock), 20)
    assert sent == {"insert": "c", "writeConcern": {"w": 1}, "maxTimeMS": 180}
    unbounded = command_under({"insert": "c", "writeConcern": {"wtimeout": 5}, "maxTimeMS": 7}, Deadline(0, clock), 0)
    assert unbounded == {"insert": "c"}  # timeoutMS=0: no limit, and the deprecated ones are ignored


def test_get_more_keeps_max_await_capped_by_the_time_left() -> None:
    clock = Clock()
    deadline = Deadline(200, clock)
    assert command_under({"getMore": 1, "maxTimeMS": 100}, deadline, 0) == {"getMore": 1, "maxTimeMS": 100}
    clock.now += 0.125
    assert command_under({"getMore": 1, "maxTimeMS": 100}, deadline, 0) == {"getMore": 1, "maxTimeMS": 75}
    assert "maxTimeMS" not in command_under({"getMore": 1}, deadline, 0)
    clock.now += 0.1
    with pytest.raises(OperationTimeout):
        command_under({"getMore": 1}, deadline, 0)  # nothing is sent once the time is up


def test_iteration_mode_first_command_has_no_max_time_but_still_a_deadline() -> None:
    clock = Clock()
    deadline = Deadline(200, clock, max_time=False)
    assert command_under({"find": "c"}, deadline, 0) == {"find": "c"}
    clock.now += 1
    with pytest.raises(OperationTimeout):
        command_under({"find": "c"}, deadline, 0)


def test_timeouts_become_the_timeout_error_only_under_timeout_ms() -> None:
    selection = ServerSelectionTimeout("no server")
    assert as_timeout_error(selection, None) is selection
    converted = as_timeout_error(selection, Deadline(100))
    assert isinstance(converted, OperationTimeout) and converted.cause is selection and "no server" in str(converted)
    expired = OperationFailure("slow", 50, {"code": 50})
    assert isinstance(as_timeout_error(expired, Deadline(100)), OperationTimeout)
    in_wce = OperationFailure("wce", 64, {"writeConcernError": {"code": 50}})
    assert isinstance(as_timeout_error(in_wce, Deadline(0)), OperationTimeout)
    other = OperationFailure("dup", 11000, {"code": 11000})
    assert as_timeout_error(other, Deadline(100)) is other
    assert isinstance(as_timeout_error(NetworkTimeout("read"), Deadline(100)), OperationTimeout)


def test_cursor_timeout_mode_and_max_await_rules() -> None:
    assert check_timeout_mode(None, None) is None
    assert check_timeout_mode("iteration", 10) == "iteration"
    with pytest.raises(ConfigurationError, match="needs timeoutMS"):
        check_timeout_mode("cursorLifetime", None)
    with pytest.raises(ConfigurationError, match="tailable"):
        check_timeout_mode("cursorLifetime", 10, tailable=True)
    with pytest.raises(ConfigurationError, match="one of"):
        check_timeout_mode("forever", 10)
    check_max_await_time_ms(9, 10)
    check_max_await_time_ms(50, 0)  # timeoutMS=0: no limit to compare with
    with pytest.raises(ConfigurationError, match="less than timeoutMS"):
        check_max_await_time_ms(10, 10)


def test_retries_go_on_while_time_remains() -> None:
    clock = Clock()
    attempts = Attempts(NO_RETRY, OverloadPolicy(), TokenBucket(), deadline=Deadline(100, clock))
    attempts.number = 5
    assert attempts.may_retry_again
    clock.now += 1
    assert not attempts.may_retry_again
    retryable = OperationFailure("HostNotFound", 7, {"code": 7})
    attempts.errors.append(retryable)
    final = attempts.final_error()  # the deadline passed while retrying: the timeout error, the last error its cause
    assert isinstance(final, OperationTimeout) and final.cause is retryable
    assert Attempts(NO_RETRY, OverloadPolicy(), TokenBucket()).may_retry_again  # no timeoutMS: one retry
