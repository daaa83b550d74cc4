"""A session's transaction state exists only once asked for: an implicit session (one per operation)
never builds one, yet lsid, pooling and the transaction's behaviour are unchanged."""

from __future__ import annotations

from types import SimpleNamespace

from driver.session import ClientSession, ServerSessionPool
from driver.transaction import Transaction, TransactionOptions


def _context() -> SimpleNamespace:
    return SimpleNamespace(client=None, server_sessions=ServerSessionPool(), logical_session_timeout_minutes=30)


def test_implicit_session_builds_no_transaction_and_returns_its_server_session() -> None:
    context = _context()
    session = ClientSession(context, implicit=True)
    body: dict = {"ping": 1}
    session.apply(body, retryable_write=False, new_txn=False)
    lsid = body["lsid"]
    assert not session.in_transaction
    session.end_session()
    assert session.started_transaction is None  # nothing was started, nothing built
    assert len(context.server_sessions) == 1
    again = ClientSession(context, implicit=True)
    assert again.session_id is lsid  # the pooled server session is reused
    again.end_session()


def test_transaction_is_built_once_when_asked_and_then_kept() -> None:
    session = ClientSession(_context())
    assert session.transaction_state == "none"
    txn = session.transaction
    assert isinstance(txn, Transaction) and session.started_transaction is txn and session.transaction is txn
    txn.start(TransactionOptions())
    assert session.in_transaction and session.transaction_state == "starting"


def test_dirty_server_session_is_discarded_not_pooled() -> None:
    context = _context()
    session = ClientSession(context, implicit=True)
    session.apply({"ping": 1}, retryable_write=False, new_txn=False)
    session.mark_dirty()
    session.end_session()
    assert len(context.server_sessions) == 0
