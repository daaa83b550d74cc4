"""Transaction state machine, command fields, error labels and the withTransaction loop (pure)."""

from __future__ import annotations

import itertools

import pytest
from bson import Int64

from driver.errors import ConfigurationError, ConnectionFailure, OperationFailure, WriteConcernError
from driver.read_concern import ReadConcern
from driver.read_preference import ReadPreference
from driver.transaction import (
    TRANSIENT_TRANSACTION_ERROR,
    UNKNOWN_COMMIT_RESULT,
    WITH_TRANSACTION_TIMEOUT_S,
    Transaction,
    TransactionOptions,
    TransactionState,
    label_command_error,
    label_commit_error,
    run_with_transaction,
)
from driver.write_concern import WriteConcern


def test_first_command_starts_the_transaction_with_its_read_concern() -> None:
    txn = Transaction()
    txn.start(TransactionOptions(read_concern=ReadConcern("snapshot")))
    assert txn.spec_state == "starting" and txn.active
    first = txn.command_fields("insert", 3, after_cluster_time="T")
    assert first == {"txnNumber": Int64(3), "autocommit": False, "startTransaction": True,
                     "readConcern": {"level": "snapshot", "afterClusterTime": "T"}}
    txn.command_sent()
    assert txn.spec_state == "in_progress"
    assert txn.command_fields("find", 3) == {"txnNumber": Int64(3), "autocommit": False}


def test_commit_and_abort_rules() -> None:
    txn = Transaction()
    with pytest.raises(ConfigurationError, match="no transaction started"):
        txn.begin_commit()
    with pytest.raises(ConfigurationError, match="no transaction started"):
        txn.begin_abort()
    txn.start(TransactionOptions())
    assert txn.begin_commit() is False          # nothing sent yet: nothing to commit
    assert txn.begin_commit() is False          # and again
    assert txn.spec_state == "committed"
    with pytest.raises(ConfigurationError, match="after calling commitTransaction"):
        txn.begin_abort()
    txn.start(TransactionOptions())
    txn.command_sent()
    assert txn.begin_abort() is True
    txn.abort_done()
    with pytest.raises(ConfigurationError, match="Cannot call commitTransaction after calling abortTransaction"):
        txn.begin_commit()
    with pytest.raises(ConfigurationError, match="twice"):
        txn.begin_abort()
    txn.start(TransactionOptions())
    with pytest.raises(ConfigurationError, match="already in progress"):
        txn.start(TransactionOptions())


def test_commit_retry_uses_majority_and_keeps_other_write_concern_fields() -> None:
    txn = Transaction()
    txn.start(TransactionOptions(write_concern=WriteConcern(w=1, j=True), max_commit_time_ms=60_000))
    txn.command_sent()
    assert txn.begin_commit()
    assert txn.commit_command(retry=False) == {"commitTransaction": 1, "writeConcern": {"w": 1, "j": True},
                                               "maxTimeMS": 60_000}
    assert txn.commit_command(retry=True)["writeConcern"] == {"w": "majority", "j": True, "wtimeout": 10_000}
    txn.commit_done()
    assert txn.begin_commit()  # a second commit call re-sends, as a retry
    assert txn.commit_command(retry=False)["writeConcern"]["w"] == "majority"


def test_operation_rules_inside_a_transaction() -> None:
    txn = Transaction()
    with pytest.raises(ConfigurationError, match="unacknowledged"):
        txn.start(TransactionOptions(write_concern=WriteConcern(w=0)))
    txn.start(TransactionOptions())
    with pytest.raises(ConfigurationError, match="read preference in a transaction must be primary"):
        txn.check_operation(read_preference=ReadPreference("secondary"), write_concern=None)
    with pytest.raises(ConfigurationError, match="Cannot set write concern after starting a transaction"):
        txn.check_operation(read_preference=None, write_concern=WriteConcern(w=1))
    txn.check_operation(read_preference=ReadPreference("primary"), write_concern=WriteConcern())


def test_options_merge_over_defaults_and_accept_camel_case() -> None:
    mine = TransactionOptions.from_mapping({"readConcern": {"level": "majority"}, "maxCommitTimeMS": 5})
    defaults = TransactionOptions.from_mapping({"writeConcern": {"w": 1}, "readConcern": {"level": "local"}})
    merged = mine.merged_over(defaults)
    assert merged.read_concern == ReadConcern("majority")
    assert merged.write_concern == WriteConcern(w=1)
    assert merged.max_commit_time_ms == 5
    with pytest.raises(ConfigurationError, match="unknown transaction option"):
        TransactionOptions.from_mapping({"bogus": 1})


def test_error_labels() -> None:
    net = ConnectionFailure("reset")
    label_command_error(net)
    assert TRANSIENT_TRANSACTION_ERROR in net.error_labels
    commit_net = ConnectionFailure("reset")
    label_commit_error(commit_net)
    assert commit_net.error_labels == {UNKNOWN_COMMIT_RESULT}
    wce = WriteConcernError("wce", 64, {"writeConcernError": {"code": 64}})
    label_commit_error(wce)
    assert UNKNOWN_COMMIT_RESULT in wce.error_labels
    unsatisfiable = WriteConcernError("wce", 100, {"writeConcernError": {"code": 100}})
    label_commit_error(unsatisfiable)
    assert UNKNOWN_COMMIT_RESULT not in unsatisfiable.error_labels
    plain = OperationFailure("no", 2, {"ok": 0, "code": 2})
    label_commit_error(plain)
    assert not plain.error_labels


class FakeSession:
    """Records calls; commit fails with the queued errors first."""

    def __init__(self, commit_errors=()):
        self.calls: list[str] = []
        self.commit_errors = list(commit_errors)
        self.transaction_state = "none"

    @property
    def in_transaction(self) -> bool:
        return self.transaction_state in ("starting", "in_progress")

    def start_transaction(self, **options):
        self.calls.append("start")
        self.transaction_state = "in_progress"

    def commit_transaction(self):
        self.calls.append("commit")
        self.transaction_state = "committed"
        if self.commit_errors:
            raise self.commit_errors.pop(0)

    def abort_transaction(self):
        self.calls.append("abort")
        self.transaction_state = "aborted"


def _labelled(label: str, code: int = 1) -> OperationFailure:
    return OperationFailure("x", code, {"ok": 0, "code": code, "errorLabels": [label]})


def test_with_transaction_retries_commit_then_whole_transaction() -> None:
    session = FakeSession([_labelled(UNKNOWN_COMMIT_RESULT), _labelled(TRANSIENT_TRANSACTION_ERROR)])
    assert run_with_transaction(session, lambda s: "v", None, itertools.count().__next__) == "v"
    assert session.calls == ["start", "commit", "commit", "start", "commit"]


def test_with_transaction_aborts_on_callback_error_and_stops_after_the_time_limit() -> None:
    session = FakeSession()

    def transient(_):
        raise _labelled(TRANSIENT_TRANSACTION_ERROR)

    times = iter([0, 1, WITH_TRANSACTION_TIMEOUT_S + 1])
    with pytest.raises(OperationFailure):
        run_with_transaction(session, transient, None, lambda: next(times))
    assert session.calls == ["start", "abort", "start", "abort"]
    max_time = FakeSession([_labelled(UNKNOWN_COMMIT_RESULT, code=50)])
    with pytest.raises(OperationFailure):
        run_with_transaction(max_time, lambda s: None, None, itertools.count().__next__)
    assert max_time.calls == ["start", "commit"]  # MaxTimeMSExpired: the commit is not retried


def test_states_are_distinct() -> None:
    assert TransactionState.COMMITTED is not TransactionState.COMMITTED_EMPTY


def test_pinning_rules() -> None:
    """Transactions spec, "When to unpin": transient errors, unknown commit results and aborts unpin;
    a successful commit keeps the pin (commit may be called again); a new transaction starts unpinned."""
    txn = Transaction()
    txn.start(TransactionOptions())
    txn.pin("m1:27017")
    txn.pin("m2:27017")  # only the first command pins
    assert txn.pinned_address == "m1:27017"
    txn.unpin_after_error(OperationFailure("interrupted", 11601, {"code": 11601}), "insert")
    assert txn.pinned_address == "m1:27017"  # not transient: still pinned
    txn.unpin_after_error(_labelled(TRANSIENT_TRANSACTION_ERROR), "insert")
    assert txn.pinned_address is None
    txn.pin("m2:27017")
    txn.command_sent()
    txn.begin_commit()
    txn.commit_done()
    assert txn.pinned_address == "m2:27017"
    txn.unpin_after_error(ConnectionFailure("reset"), "commitTransaction")
    assert txn.pinned_address is None
    txn.start(TransactionOptions())
    txn.pin("m1:27017")
    txn.unpin_after_error(OperationFailure("x", 24, {"code": 24}), "abortTransaction")
    assert txn.pinned_address is None
