"""What a session adds to a command: transaction fields, afterClusterTime, snapshot read concern (pure)."""

from __future__ import annotations

from types import SimpleNamespace

from bson import Int64, Timestamp

from driver.command_session import attach_session
from driver.transaction import Transaction, TransactionOptions
from driver.read_concern import ReadConcern


class FakeSession:
    def __init__(self, *, causal: bool = True, snapshot: bool = False, operation_time=None) -> None:
        self.transaction = self.started_transaction = Transaction()
        self.causal_consistency = causal
        self.implicit = False
        self.snapshot = snapshot
        self.snapshot_time = None
        self.operation_time = operation_time
        self.server_session = SimpleNamespace(txn_number=0)

    @property
    def in_transaction(self) -> bool:
        return self.transaction.active

    def apply(self, body, *, retryable_write, new_txn):
        body["lsid"] = {"id": 1}


def _op(**kw):
    """The attempt state attach_session reads and writes (retry_policy.Attempts' fields)."""
    fields = {"sent": 1, "overload_retry": False, "starts_transaction": False, **kw}
    return SimpleNamespace(**fields)


def test_causal_reads_and_writes_get_after_cluster_time_but_run_command_does_not() -> None:
    t = Timestamp(5, 1)
    for name in ("find", "insert", "findAndModify", "createIndexes", "dropDatabase"):
        body = {name: "c"}
        attach_session(body, FakeSession(operation_time=t), _op(), retryable_write=False, new_txn=False)
        assert body["readConcern"] == {"afterClusterTime": t}, name
    body = {"find": "c"}
    attach_session(body, FakeSession(operation_time=t), _op(), user_command=True, retryable_write=False,
                   new_txn=False)
    assert "readConcern" not in body
    body = {"getMore": 1}
    attach_session(body, FakeSession(operation_time=t), _op(), retryable_write=False, new_txn=False)
    assert "readConcern" not in body


def test_transaction_first_command_and_retry_of_it() -> None:
    session = FakeSession(operation_time=Timestamp(7, 0))
    session.transaction.start(TransactionOptions(read_concern=ReadConcern("majority")))
    session.server_session.txn_number = 4
    op = _op()
    body = {"insert": "c", "writeConcern": {"w": 1}, "readConcern": {"level": "local"}}
    attach_session(body, session, op, retryable_write=False, new_txn=False, address="m1:27017")
    assert body["startTransaction"] is True and body["txnNumber"] == Int64(4) and body["autocommit"] is False
    assert body["readConcern"] == {"level": "majority", "afterClusterTime": Timestamp(7, 0)}
    assert "writeConcern" not in body
    assert session.transaction.pinned_address == "m1:27017"
    retry = {"insert": "c"}
    attach_session(retry, session, op, retryable_write=False, new_txn=False)
    assert retry["startTransaction"] is True  # the first statement's retry starts it again
    second = {"find": "c"}
    attach_session(second, session, _op(), retryable_write=False, new_txn=False)
    assert "startTransaction" not in second and "readConcern" not in second


def test_snapshot_sessions_read_at_one_time() -> None:
    session = FakeSession(causal=False, snapshot=True)
    first = {"find": "c"}
    attach_session(first, session, _op(), retryable_write=False, new_txn=False)
    assert first["readConcern"] == {"level": "snapshot"}
    session.snapshot_time = Timestamp(9, 9)
    later = {"distinct": "c"}
    attach_session(later, session, _op(), retryable_write=False, new_txn=False)
    assert later["readConcern"] == {"level": "snapshot", "atClusterTime": Timestamp(9, 9)}
