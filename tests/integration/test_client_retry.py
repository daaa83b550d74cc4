"""Retryable writes/reads and SDAM error handling through the execution loop, against the sandbox."""

from __future__ import annotations

import pytest

from driver.errors import ConnectionFailure, OperationFailure
from driver.events.pool import PoolCleared
from driver.events.sdam import ServerDescriptionChangedEvent
from tests.integration.client_support import fail_command, make_client  # noqa: F401  (fixture)


def test_write_retried_once_after_network_error_with_same_txn_number(replset, make_client) -> None:
    client, rec = make_client(replset.uri)
    client.db.r.insert_one({"warm": 1})
    fail_command(client, {"times": 1}, failCommands=["insert"], closeConnection=True)
    rec.clear()
    client.db.r.insert_one({"_id": "once"})
    attempts = rec.started("insert")
    assert len(attempts) == 2 and len(rec.failed("insert")) == 1
    assert attempts[0].command["txnNumber"] == attempts[1].command["txnNumber"]
    assert attempts[0].command["lsid"] == attempts[1].command["lsid"]
    assert client.db.r.count_documents({"_id": "once"}) == 1
    # the network error cleared the primary's pool (SDAM: network error after the handshake)
    assert any(isinstance(e, PoolCleared) for e in rec.events)


def test_write_not_retried_when_retry_writes_false(replset, make_client) -> None:
    client, rec = make_client(replset.uri, retryWrites=False)
    client.db.r.insert_one({"warm": 1})
    fail_command(client, {"times": 1}, failCommands=["insert"], closeConnection=True)
    rec.clear()
    with pytest.raises(ConnectionFailure):
        client.db.r.insert_one({"x": 1})
    assert len(rec.started("insert")) == 1 and "txnNumber" not in rec.started("insert")[0].command


def test_state_change_error_is_retried(replset, make_client) -> None:
    client, rec = make_client(replset.uri)
    client.db.r.insert_one({"warm": 1})
    fail_command(client, {"times": 1}, failCommands=["insert"], errorCode=10107,
                 errorLabels=["RetryableWriteError"])
    rec.clear()
    client.db.r.insert_one({"x": 2})
    assert len(rec.started("insert")) == 2 and len(rec.succeeded("insert")) == 1
    # the sandbox's error carries the member's current topologyVersion: SDAM treats it as stale
    # (not newer than the server's) and leaves the description alone.
    assert not any(isinstance(e, ServerDescriptionChangedEvent) for e in rec.events)


def test_state_change_error_marks_server_unknown_and_requests_check(standalone, make_client) -> None:
    client, rec = make_client(standalone.uri, retryReads=False, heartbeatFrequencyMS=500)
    client.db.r.find_one()
    fail_command(client, {"times": 1}, failCommands=["find"], errorCode=10107)
    rec.clear()
    with pytest.raises(OperationFailure):
        client.db.r.find_one()
    changes = [e for e in rec.events if isinstance(e, ServerDescriptionChangedEvent)]
    assert changes and changes[0].new.type.value == "Unknown" and "10107" in (changes[0].new.error or "")
    # server selection waits for the monitor to find the server again; the next find works
    assert client.db.r.find_one() is None
    assert any(isinstance(e, ServerDescriptionChangedEvent) and e.new.type.value == "Standalone" for e in rec.events)
    assert not any(isinstance(e, PoolCleared) for e in rec.events)  # 4.2+: no clear for not-primary


def test_no_writes_performed_on_retry_raises_original(replset, make_client) -> None:
    client, rec = make_client(replset.uri)
    client.db.r.insert_one({"warm": 1})
    # first attempt: a plain retryable error; the retry: NoWritesPerformed. The first must be raised.
    fail_command(client, {"times": 1}, failCommands=["insert"], errorCode=189,
                 errorLabels=["RetryableWriteError"])
    rec.clear()

    # arm the second failure as soon as the first attempt's failure is published
    armed = []

    def arm(event: object) -> None:
        if type(event).__name__ == "CommandFailedEvent" and getattr(event, "command_name", "") == "insert" and not armed:
            armed.append(True)
            # the primary may be marked Unknown by the 189 error; configure on every member
            for address in replset.addresses:
                from tests.integration.conftest import RawConnection
                raw = RawConnection(address)
                try:
                    raw.command({"configureFailPoint": "failCommand", "mode": {"times": 1}, "$db": "admin",
                                 "data": {"failCommands": ["insert"], "errorCode": 10107,
                                          "errorLabels": ["RetryableWriteError", "NoWritesPerformed"]}})
                finally:
                    raw.close()

    client.events.subscribe(arm)
    with pytest.raises(OperationFailure) as caught:
        client.db.r.insert_one({"z": 1})
    assert caught.value.code == 189 and len(rec.started("insert")) == 2


def test_read_retried_once_then_gives_up(replset, make_client) -> None:
    client, rec = make_client(replset.uri)
    client.db.r.insert_one({"k": 1})
    fail_command(client, {"times": 1}, failCommands=["find"], closeConnection=True)
    rec.clear()
    assert client.db.r.find_one({"k": 1}, projection={"_id": 0}) == {"k": 1}
    assert len(rec.started("find")) == 2
    fail_command(client, {"times": 2}, failCommands=["find"], closeConnection=True)
    rec.clear()
    with pytest.raises(ConnectionFailure):
        client.db.r.find_one({"k": 1})
    assert len(rec.started("find")) == 2  # retried exactly once


def test_failover_write_waits_for_new_primary(replset, make_client) -> None:
    client, rec = make_client(replset.uri, heartbeatFrequencyMS=500)
    client.db.f.insert_one({"before": 1})
    old = replset.kill()
    # the write fails over: the retry selects the new primary once it is elected
    client.db.f.insert_one({"after": 1})
    new = replset.wait_for_primary(10, other_than=old)
    assert rec.succeeded("insert")[-1].address == new
    assert client.db.f.count_documents({}) == 2


@pytest.fixture
def no_backoff(monkeypatch):
    """Overload retries without their jittered sleeps (the policy is tested, not the clock)."""
    import driver.execute

    delays: list[int] = []
    monkeypatch.setattr(driver.execute, "overload_backoff_s", lambda retry: delays.append(retry) or 0.0)
    return delays


OVERLOADED = {"errorCode": 462, "errorLabels": ["SystemOverloadedError", "RetryableError"]}


def test_overload_error_retries_a_non_retryable_write(replset, make_client, no_backoff) -> None:
    client, rec = make_client(replset.uri)
    client.db.o.insert_many([{"n": 1}, {"n": 2}])
    fail_command(client, {"times": 2}, failCommands=["update"], **OVERLOADED)
    rec.clear()
    before = client.retry_budget.tokens
    # updateMany is no retryable write, but an overload error is retryable for any command
    assert client.db.o.update_many({}, {"$set": {"seen": True}}).modified_count == 2
    assert len(rec.started("update")) == 3 and len(rec.failed("update")) == 2
    assert no_backoff == [1, 2]  # backoff before each retry, growing with the retry number
    # two retries took two tokens; the success on a retry returned 1.1
    assert client.retry_budget.tokens == pytest.approx(min(1000, before - 2 + 1.1))


@pytest.mark.parametrize("max_adaptive_retries", [None, 1])
def test_overload_retries_stop_after_max_adaptive_retries(replset, make_client, no_backoff,
                                                          max_adaptive_retries) -> None:
    """Client backpressure: MAX_RETRIES is maxAdaptiveRetries, 2 unless the URI option says otherwise."""
    options = {} if max_adaptive_retries is None else {"maxAdaptiveRetries": max_adaptive_retries}
    client, rec = make_client(replset.uri, **options)
    client.db.o.insert_one({"n": 1})
    fail_command(client, "alwaysOn", failCommands=["find"], **OVERLOADED)
    rec.clear()
    try:
        with pytest.raises(OperationFailure) as caught:
            client.db.o.find_one()
    finally:
        fail_command(client, "off", failCommands=["find"])
    assert caught.value.code == 462 and caught.value.has_error_label("SystemOverloadedError")
    retries = 2 if max_adaptive_retries is None else max_adaptive_retries
    assert len(rec.started("find")) == 1 + retries


def test_overload_retry_needs_a_token(replset, make_client, no_backoff) -> None:
    client, rec = make_client(replset.uri)
    client.db.o.insert_one({"n": 1})
    client.retry_budget.consume(client.retry_budget.tokens)  # budget spent
    fail_command(client, {"times": 1}, failCommands=["find"], **OVERLOADED)
    rec.clear()
    with pytest.raises(OperationFailure):
        client.db.o.find_one()
    assert len(rec.started("find")) == 1 and no_backoff == []
