"""The retry regimes as named policies and the attempt state machine's decisions (no sockets)."""

from __future__ import annotations

import dataclasses

import pytest

from driver.errors import ConfigurationError, ConnectionFailure, OperationFailure, ServerSelectionTimeout
from driver.execute import Operation
from driver.retry import RETRY_TOKEN_RETURN_RATE, RETRYABLE_WRITE_ERROR, TokenBucket
from driver.retry_policy import (
    NO_RETRY,
    RETRYABLE_READS,
    RETRYABLE_WRITES,
    Attempts,
    OverloadPolicy,
    Retryable,
    Step,
    base_policy,
)
from driver.sdam.description import ServerDescription, ServerType

PRIMARY = ServerDescription(address="a:1", type=ServerType.RSPrimary, max_wire_version=21,
                            logical_session_timeout_minutes=30)
STANDALONE = ServerDescription(address="a:1", type=ServerType.Standalone, max_wire_version=21,
                               logical_session_timeout_minutes=30)
OLD = ServerDescription(address="a:1", type=ServerType.RSPrimary, max_wire_version=5,
                        logical_session_timeout_minutes=30)


def _attempts(policy=NO_RETRY, *, overload: OverloadPolicy | None = None, tokens: float = 1000.0) -> Attempts:
    bucket = TokenBucket()
    bucket.consume(bucket.capacity - tokens)
    return Attempts(policy, overload or OverloadPolicy(), bucket)


def _overload(code: int = 462) -> OperationFailure:
    return OperationFailure("overloaded", code, {"ok": 0, "code": code},
                            error_labels=("SystemOverloadedError", "RetryableError"))


def _labelled_write_error() -> OperationFailure:
    return OperationFailure("not primary", 10107, {"ok": 0, "code": 10107}, error_labels=(RETRYABLE_WRITE_ERROR,))


def test_base_policy_is_chosen_from_the_command_and_the_options() -> None:
    insert = {"insert": "c", "documents": [{}]}
    multi_update = {"update": "c", "updates": [{"q": {}, "u": {}, "multi": True}]}
    find = {"find": "c"}
    kw = dict(retry_writes=True, retry_reads=True, has_session=True, in_transaction=False)
    assert base_policy(Retryable.WRITE, insert, **kw) is RETRYABLE_WRITES
    assert base_policy(Retryable.WRITE, multi_update, **kw) is NO_RETRY
    assert base_policy(Retryable.WRITE, insert, **{**kw, "retry_writes": False}) is NO_RETRY
    assert base_policy(Retryable.WRITE, insert, **{**kw, "has_session": False}) is NO_RETRY
    assert base_policy(Retryable.READ, find, **kw) is RETRYABLE_READS
    assert base_policy(Retryable.READ, find, **{**kw, "retry_reads": False}) is NO_RETRY
    assert base_policy(Retryable.READ, {"getMore": 1}, **kw) is NO_RETRY
    assert base_policy(Retryable.READ, find, **{**kw, "in_transaction": True}) is NO_RETRY
    assert base_policy(None, insert, **kw) is NO_RETRY
    assert repr(RETRYABLE_WRITES) == "<retry policy: retryable writes>"


def test_policies_say_which_servers_may_retry() -> None:
    assert RETRYABLE_WRITES.takes_txn_number(PRIMARY) and RETRYABLE_WRITES.may_retry_on(PRIMARY)
    assert not RETRYABLE_WRITES.may_retry_on(STANDALONE) and not RETRYABLE_WRITES.may_retry_on(None)
    assert RETRYABLE_READS.may_retry_on(STANDALONE) and not RETRYABLE_READS.may_retry_on(OLD)
    assert not RETRYABLE_READS.takes_txn_number(PRIMARY) and NO_RETRY.may_retry_on(None)


def test_retryable_write_retries_once_on_the_label() -> None:
    attempts = _attempts(RETRYABLE_WRITES)
    assert attempts.failed(_labelled_write_error(), txn_number=True) is Step.RETRY
    attempts.next_attempt("a:1", Step.RETRY, sharded=False)
    assert attempts.deprioritized == ()  # only a sharded retry avoids the failed server
    assert attempts.failed(_labelled_write_error(), txn_number=True) is Step.GIVE_UP  # one retry only
    assert _attempts(RETRYABLE_WRITES).failed(OperationFailure("dup", 11000, {}), txn_number=True) is Step.GIVE_UP
    # a server without txnNumbers cannot retry a write
    assert _attempts(RETRYABLE_WRITES).failed(_labelled_write_error(), txn_number=False) is Step.GIVE_UP


def test_a_retry_on_a_server_that_cannot_retry_ends_with_the_first_error() -> None:
    attempts = _attempts(RETRYABLE_WRITES)
    first = _labelled_write_error()
    attempts.failed(first, txn_number=True)
    attempts.next_attempt("a:1", Step.RETRY, sharded=False)
    assert not attempts.may_run_on(STANDALONE)
    assert attempts.final_error() is first
    assert _attempts(RETRYABLE_WRITES).may_run_on(STANDALONE)  # the first attempt runs anywhere


def test_retryable_read_retries_network_errors_and_keeps_the_first_if_no_attempt_was_made() -> None:
    attempts = _attempts(RETRYABLE_READS)
    first = ConnectionFailure("reset")
    assert attempts.failed(first, txn_number=False) is Step.RETRY
    attempts.next_attempt("a:1", Step.RETRY, sharded=True)
    assert attempts.deprioritized == ("a:1",)  # a sharded retry prefers another mongos
    attempts.selection_failed(ServerSelectionTimeout("none"))
    assert attempts.final_error() is first  # the retry sent nothing
    assert _attempts(NO_RETRY).failed(first, txn_number=False) is Step.GIVE_UP


def test_overload_policy_backs_off_up_to_max_retries_under_any_base_policy() -> None:
    attempts = _attempts(NO_RETRY, overload=OverloadPolicy(max_retries=3, retargeting=True))
    steps = []
    while not steps or steps[-1] is not Step.GIVE_UP:
        steps.append(attempts.failed(_overload(), txn_number=False))
        if steps[-1] is not Step.GIVE_UP:
            attempts.next_attempt("a:1", steps[-1], sharded=False)
            assert attempts.overload_retry
    assert steps == [Step.BACK_OFF_AND_RETRY] * 3 + [Step.GIVE_UP]
    assert attempts.deprioritized == ("a:1",)  # retargeting, deduplicated
    assert attempts.tokens.tokens == 1000 - 3  # each retry took a token
    without = _attempts(NO_RETRY, overload=OverloadPolicy(max_retries=3))
    without.failed(_overload(), txn_number=False)
    without.next_attempt("a:1", Step.BACK_OFF_AND_RETRY, sharded=True)
    assert without.deprioritized == ()  # no retargeting: the overloaded server may be chosen again


def test_overload_retries_are_off_when_the_policy_is_disabled_or_the_budget_is_spent() -> None:
    disabled = _attempts(NO_RETRY, overload=OverloadPolicy(enabled=False))
    assert disabled.failed(_overload(), txn_number=False) is Step.GIVE_UP
    broke = _attempts(NO_RETRY, tokens=0.5)
    assert broke.failed(_overload(), txn_number=False) is Step.GIVE_UP
    assert broke.tokens.tokens == 0.5  # nothing taken


def test_successes_refill_the_budget_and_a_failed_retry_for_another_reason_too() -> None:
    attempts = _attempts(RETRYABLE_READS, tokens=10)
    attempts.succeeded()
    assert attempts.tokens.tokens == pytest.approx(10 + RETRY_TOKEN_RETURN_RATE)
    attempts.failed(_overload(), txn_number=False)
    attempts.next_attempt("a:1", Step.BACK_OFF_AND_RETRY, sharded=False)
    assert attempts.tokens.tokens == pytest.approx(9 + RETRY_TOKEN_RETURN_RATE)
    attempts.failed(ConnectionFailure("reset"), txn_number=False)  # a retry failing otherwise: +1
    assert attempts.tokens.tokens == pytest.approx(10 + RETRY_TOKEN_RETURN_RATE)


def test_write_final_error_skips_errors_that_prove_no_attempt_was_made() -> None:
    attempts = _attempts(RETRYABLE_WRITES)
    first = _labelled_write_error()
    attempts.failed(first, txn_number=True)
    attempts.next_attempt("a:1", Step.RETRY, sharded=False)
    attempts.selection_failed(ServerSelectionTimeout("no server"))
    assert attempts.final_error() is first


def test_stop_ends_the_operation_with_its_error() -> None:
    attempts = _attempts(RETRYABLE_WRITES)
    attempts.failed(_labelled_write_error(), txn_number=True)
    decisive = ConfigurationError("retryable writes unsupported")
    attempts.stop(decisive)
    assert attempts.final_error() is decisive


def test_operation_is_immutable_and_normalises_retryable() -> None:
    op = Operation("db", {"find": "c"}, retryable="read")
    assert op.retryable is Retryable.READ and op.command_name == "find"
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.read_preference = None  # type: ignore[misc]
    with pytest.raises(ValueError):
        Operation("db", {"find": "c"}, retryable="sometimes")
