"""Tests for driver/retry.py: retryable commands, labels and which error is raised after a retry."""

from __future__ import annotations

import pytest

from driver.errors import (
    BulkWriteError,
    ConnectionFailure,
    NetworkTimeout,
    OperationFailure,
    PoolClearedError,
    ServerSelectionTimeout,
    WaitQueueTimeout,
    WriteConcernError,
    WriteError,
)
from driver.retry import (
    RETRYABLE_WRITE_CODES,
    error_after_read_retry,
    error_after_write_retry,
    add_retryable_write_label,
    is_retryable_read_command,
    is_retryable_write_command,
    retryable_writes_unsupported,
    should_retry_read,
    should_retry_write,
    supports_retryable_reads,
    supports_retryable_writes,
)
from driver.sdam.description import ServerDescription, ServerType


def failure(code, labels=(), **details):
    return OperationFailure(f"error {code}", code=code, details={"code": code, "ok": 0, **details}, error_labels=labels)


def test_retryable_write_commands():
    assert is_retryable_write_command({"insert": "c", "documents": [{}]})
    assert is_retryable_write_command({"update": "c", "updates": [{"q": {}, "u": {}, "multi": False}]})
    assert not is_retryable_write_command({"update": "c", "updates": [{"q": {}, "u": {}, "multi": True}]})
    assert is_retryable_write_command({"delete": "c", "deletes": [{"q": {}, "limit": 1}]})
    assert not is_retryable_write_command({"delete": "c", "deletes": [{"q": {}, "limit": 0}]})
    assert is_retryable_write_command({"findAndModify": "c", "query": {}})
    assert not is_retryable_write_command({"insert": "c", "writeConcern": {"w": 0}})
    assert not is_retryable_write_command({"aggregate": "c", "pipeline": [{"$out": "x"}]})


def test_retryable_read_commands():
    for name in ("find", "distinct", "count", "listDatabases", "listCollections", "listIndexes"):
        assert is_retryable_read_command({name: 1})
    assert is_retryable_read_command({"aggregate": "c", "pipeline": [{"$match": {}}]})
    assert not is_retryable_read_command({"aggregate": "c", "pipeline": [{"$merge": {"into": "x"}}]})
    assert not is_retryable_read_command({"getMore": 1, "collection": "c"})
    assert not is_retryable_read_command({"mapReduce": "c"})


def test_server_support():
    rs = ServerDescription(address="a:1", type=ServerType.RSPrimary, max_wire_version=17,
                           logical_session_timeout_minutes=30)
    assert supports_retryable_writes(rs)
    assert not supports_retryable_writes(ServerDescription(address="a:1", type=ServerType.Standalone,
                                                           max_wire_version=17, logical_session_timeout_minutes=30))
    assert not supports_retryable_writes(ServerDescription(address="a:1", type=ServerType.RSPrimary,
                                                           max_wire_version=17))
    assert not supports_retryable_writes(ServerDescription(address="a:1", type=ServerType.Mongos,
                                                           max_wire_version=5, logical_session_timeout_minutes=30))
    assert supports_retryable_reads(6) and not supports_retryable_reads(5)


@pytest.mark.parametrize("code", sorted(RETRYABLE_WRITE_CODES))
def test_pre_44_server_codes_get_the_label(code):
    err = failure(code)
    assert add_retryable_write_label(err, max_wire_version=8)
    assert should_retry_write(err)


def test_label_rules():
    # 4.4+ replies are labelled by the server, never by the driver
    err = failure(91)
    assert not add_retryable_write_label(err, max_wire_version=9) and not should_retry_write(err)
    # not with retryWrites off or inside a transaction
    assert not add_retryable_write_label(failure(91), 8, retry_writes=False)
    assert not add_retryable_write_label(ConnectionFailure("x"), 17, in_transaction=True)
    # network errors and PoolClearedError: always
    for e in (ConnectionFailure("reset"), NetworkTimeout("t"), PoolClearedError("cleared")):
        assert add_retryable_write_label(e, 17) and should_retry_write(e)
    assert not add_retryable_write_label(WaitQueueTimeout("busy"), 17)
    # non-retryable code
    assert not add_retryable_write_label(failure(11000), 8)


def test_write_concern_error_codes_only_from_mongod():
    wce = {"code": 91, "errmsg": "shutting down"}
    from_mongod = WriteConcernError("wce", code=91, details={"ok": 1, "writeConcernError": wce})
    assert add_retryable_write_label(from_mongod, 8)
    from_mongos = WriteConcernError("wce", code=91, details={"ok": 1, "writeConcernError": wce})
    assert not add_retryable_write_label(from_mongos, 8, is_mongos=True)
    # writeErrors codes never count
    write_error = WriteError("we", code=91, details={"writeErrors": [{"code": 91}]})
    assert not add_retryable_write_label(write_error, 8)
    bulk = BulkWriteError("bulk", code=91, details={"writeErrors": [{"index": 0, "code": 91}]})
    assert not add_retryable_write_label(bulk, 8)
    bulk_wce = BulkWriteError("bulk", code=91, details={"writeConcernErrors": [], "writeConcernError": {"code": 91}})
    assert add_retryable_write_label(bulk_wce, 8)


def test_server_label_is_honoured():
    assert should_retry_write(failure(1, labels=["RetryableWriteError"]))
    assert not should_retry_write(failure(91))
    assert not should_retry_write(ValueError("x"))


def test_should_retry_read():
    assert should_retry_read(ConnectionFailure("x"))
    assert should_retry_read(PoolClearedError("x"))
    assert should_retry_read(failure(134))
    assert should_retry_read(failure(10107))
    assert should_retry_read(failure(2, labels=["RetryableError"]))
    assert not should_retry_read(failure(2))
    assert not should_retry_read(WaitQueueTimeout("x"))
    assert not should_retry_read(WriteConcernError("x", code=91))


def test_error_after_write_retry_prefers_errors_with_writes():
    first = failure(91, labels=["RetryableWriteError"])
    second = failure(10107, labels=["RetryableWriteError"])
    no_writes = failure(10107, labels=["RetryableWriteError", "NoWritesPerformed"])
    assert error_after_write_retry([first, second]) is second        # README case 1
    assert error_after_write_retry([first, no_writes]) is first      # case 2
    all_nwp = [failure(91, labels=["NoWritesPerformed"]), failure(91, labels=["NoWritesPerformed"])]
    assert error_after_write_retry(all_nwp) is all_nwp[0]            # case 3: the first error
    assert error_after_write_retry([first, ServerSelectionTimeout("none")]) is first
    with pytest.raises(ValueError):
        error_after_write_retry([])


def test_error_after_read_retry():
    first, second = ConnectionFailure("a"), failure(91)
    assert error_after_read_retry(first, second) is second
    assert error_after_read_retry(first, PoolClearedError("p")) is first


def test_retryable_writes_unsupported_detection():
    err = OperationFailure("Transaction numbers are only allowed on ...", code=20,
                           details={"errmsg": "Transaction numbers are only allowed on a replica set", "code": 20})
    assert retryable_writes_unsupported(err)
    assert not retryable_writes_unsupported(failure(20))


# -- client backpressure ---------------------------------------------------------------------
from driver.retry import (  # noqa: E402
    MAX_BACKOFF_S,
    TokenBucket,
    is_overload_error,
    is_retryable_overload_error,
    overload_backoff_s,
)


def test_overload_labels() -> None:
    both = OperationFailure("overloaded", 462, {}, error_labels=["SystemOverloadedError", "RetryableError"])
    only_overload = OperationFailure("overloaded", 462, {}, error_labels=["SystemOverloadedError"])
    plain = OperationFailure("other", 2, {})
    assert is_overload_error(both) and is_retryable_overload_error(both)
    assert is_overload_error(only_overload) and not is_retryable_overload_error(only_overload)
    assert not is_overload_error(plain) and not is_retryable_overload_error(ValueError("x"))


def test_overload_backoff_doubles_and_is_capped() -> None:
    assert [overload_backoff_s(i, jitter=lambda: 1.0) for i in (1, 2, 3, 4, 5)] == \
        pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6])
    assert overload_backoff_s(30, jitter=lambda: 1.0) == MAX_BACKOFF_S
    assert overload_backoff_s(3, jitter=lambda: 0.5) == pytest.approx(0.2)


def test_token_bucket_consume_and_deposit() -> None:
    bucket = TokenBucket(capacity=2)
    assert bucket.consume(1) and bucket.consume(1)
    assert not bucket.consume(1) and bucket.tokens == 0  # a refused consume takes nothing
    bucket.deposit(0.5)
    assert not bucket.consume(1)
    bucket.deposit(10)
    assert bucket.tokens == 2  # never above capacity
