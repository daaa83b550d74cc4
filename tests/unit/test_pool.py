"""Unit tests of driver.pool beyond the CMAP spec files: errors, options, LB mode, maintenance, locking."""

from __future__ import annotations

import threading

import pytest

from driver.errors import (
    ConfigurationError,
    ConnectionFailure,
    DriverError,
    PoolClearedError,
    PoolClosedError,
    WaitQueueTimeout,
)
from driver.events.pool import (
    ConnectionCheckedOut,
    ConnectionCheckOutFailed,
    ConnectionClosed,
    ConnectionCreated,
    PoolCleared,
    PoolCreated,
)
from driver.pool import Pool
from driver.pool_options import PoolOptions

ADDR = "127.0.0.1:27017"
WAIT_S = 10.0


class ClosedFlag(threading.Event):
    """Set by close(); true when set, like socket_connection.Connection.closed (the pool reads it)."""

    def __bool__(self) -> bool:
        return self.is_set()


class Raw:
    """A fake established connection that records close()."""

    def __init__(self, connection_id: int, service_id=None) -> None:
        self.id = connection_id
        self.service_id = service_id
        self.closed = ClosedFlag()

    def close(self) -> None:
        self.closed.set()


class Factory:
    """connect(address, id): returns Raw, or raises what `fail` holds for that id."""

    def __init__(self, fail: dict | None = None, service_ids: dict | None = None) -> None:
        self.fail = fail or {}
        self.service_ids = service_ids or {}
        self.made: dict[int, Raw] = {}

    def __call__(self, address: str, connection_id: int) -> Raw:
        if connection_id in self.fail:
            raise self.fail[connection_id]
        raw = Raw(connection_id, self.service_ids.get(connection_id))
        self.made[connection_id] = raw
        return raw


def make_pool(factory=None, events=None, **options) -> Pool:
    options.setdefault("background_interval_ms", None)
    listeners = [events.append] if events is not None else ()
    pool = Pool(ADDR, PoolOptions(**options), factory or Factory(), listeners=listeners)
    return pool


@pytest.fixture
def events():
    return []


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


# ---------------------------------------------------------------- options
@pytest.mark.parametrize("kwargs", [
    {"max_connecting": 0}, {"max_pool_size": -1}, {"min_pool_size": 5, "max_pool_size": 2},
    {"wait_queue_timeout_ms": -5}, {"background_interval_ms": 0},
])
def test_invalid_options_are_refused(kwargs):
    with pytest.raises(ConfigurationError, match="pool option"):
        PoolOptions(**kwargs)


def test_uri_options_and_non_default_view():
    opts = PoolOptions.from_uri_options({"maxPoolSize": 7, "maxIdleTimeMS": 10, "appName": "x"})
    assert (opts.max_pool_size, opts.max_idle_time_ms) == (7, 10)
    assert opts.non_default() == {"maxPoolSize": 7, "maxIdleTimeMS": 10}


def test_pool_created_event_reports_non_default_options(events):
    pool = make_pool(events=events, max_pool_size=5)
    assert events == [PoolCreated(ADDR, {"maxPoolSize": 5})]
    pool.close()


# ---------------------------------------------------------------- check-out
def test_new_pool_is_paused_and_refuses_checkout(events):
    pool = make_pool(events=events)
    with pytest.raises(PoolClearedError, match=ADDR):
        pool.checkout()
    assert of(events, ConnectionCheckOutFailed)[0].reason == "connectionError"
    pool.close()


def test_connect_error_propagates_and_frees_the_slot(events):
    boom = ConnectionFailure("refused")
    pool = make_pool(Factory(fail={1: boom}), events=events, max_pool_size=1)
    pool.ready()
    with pytest.raises(ConnectionFailure) as info:
        pool.checkout()
    assert info.value is boom
    assert of(events, ConnectionClosed) == [ConnectionClosed(ADDR, 1, "error")]
    assert of(events, ConnectionCheckOutFailed)[0].reason == "connectionError"
    assert pool.stats()["total"] == 0
    assert pool.checkout().id == 2  # the failed one no longer counts against maxPoolSize=1
    pool.close()


def test_wait_queue_timeout_message_gives_counts():
    pool = make_pool(max_pool_size=1, wait_queue_timeout_ms=20)
    pool.ready()
    held = pool.checkout()
    with pytest.raises(WaitQueueTimeout) as info:
        pool.checkout()
    message = str(info.value)
    assert message.startswith("Timed out while checking out a connection from connection pool")
    assert "maxPoolSize=1" in message and "in use=1" in message and ADDR in message
    pool.checkin(held)
    pool.close()


def test_checkout_timeout_argument_overrides_the_option():
    pool = make_pool(max_pool_size=1)  # no waitQueueTimeoutMS: would wait forever
    pool.ready()
    held = pool.checkout()
    with pytest.raises(WaitQueueTimeout):
        pool.checkout(timeout_ms=10)
    pool.checkin(held)
    pool.close()


def test_establishing_does_not_block_other_checkouts():
    release = threading.Event()
    started = threading.Event()
    base = Factory()

    def slow_second(address, connection_id):
        if connection_id == 2:
            started.set()
            release.wait(WAIT_S)
        return base(address, connection_id)

    pool = make_pool(slow_second)
    pool.ready()
    first = pool.checkout()
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("conn", pool.checkout()))
    worker.start()
    assert started.wait(WAIT_S)
    pool.checkin(first)  # not blocked by the pending connect
    again = pool.checkout()
    assert again is first
    release.set()
    worker.join(WAIT_S)
    assert result["conn"].id == 2
    pool.close()


# ---------------------------------------------------------------- check-in
def test_errored_connection_is_closed_at_checkin(events):
    factory = Factory()
    pool = make_pool(factory, events=events)
    pool.ready()
    with pytest.raises(ConnectionFailure):
        with pool.connection() as pooled:
            raise ConnectionFailure("reset by peer")
    assert pooled.errored
    assert of(events, ConnectionClosed) == [ConnectionClosed(ADDR, 1, "error")]
    assert factory.made[1].closed.is_set()
    pool.close()


def test_connection_that_closed_itself_is_not_pooled_again(events):
    # A protocol error (e.g. an unsolicited moreToCome) closes the socket inside the connection
    # and raises ProtocolError, not ConnectionFailure: the pool must still not hand it out again.
    factory = Factory()
    pool = make_pool(factory, events=events)
    pool.ready()
    with pool.connection() as pooled:
        factory.made[1].close()
    assert of(events, ConnectionClosed) == [ConnectionClosed(ADDR, 1, "error")]
    with pool.connection() as again:
        assert again.connection is factory.made[2]
    pool.close()


def test_checkin_to_wrong_pool_or_twice_is_refused():
    a, b = make_pool(), make_pool()
    a.ready()
    pooled = a.checkout()
    with pytest.raises(DriverError, match="belongs to the pool"):
        b.checkin(pooled)
    a.checkin(pooled)
    with pytest.raises(DriverError, match="not checked out"):
        a.checkin(pooled)
    a.close(), b.close()


def test_close_fails_waiters_and_closes_in_use_at_checkin(events):
    factory = Factory()
    pool = make_pool(factory, events=events, max_pool_size=1)
    pool.ready()
    held = pool.checkout()
    failure = {}

    def waiter():
        try:
            pool.checkout()
        except Exception as exc:  # noqa: BLE001 - inspected below
            failure["error"] = exc

    thread = threading.Thread(target=waiter)
    thread.start()
    with pool._cond:  # wait (bounded) until the waiter is queued
        assert pool._cond.wait_for(lambda: pool._wait_queue, WAIT_S)
    pool.close()
    thread.join(WAIT_S)
    assert isinstance(failure["error"], PoolClosedError)
    assert not factory.made[1].closed.is_set()  # in use: not closed under its user
    pool.checkin(held)
    assert factory.made[1].closed.is_set()
    assert of(events, ConnectionClosed)[-1].reason == "poolClosed"


# ---------------------------------------------------------------- clear / interrupt
def test_interrupting_clear_closes_in_use_sockets(events):
    factory = Factory()
    pool = make_pool(factory, events=events)
    pool.ready()
    held = pool.checkout()
    pool.clear(interrupt_in_use_connections=True)
    assert factory.made[1].closed.wait(WAIT_S)  # closed from a helper thread, not by the caller
    assert of(events, PoolCleared) == [PoolCleared(ADDR, None, True)]
    pool.checkin(held)
    assert of(events, ConnectionClosed) == [ConnectionClosed(ADDR, 1, "stale")]
    pool.close()


def test_load_balanced_clear_is_per_service_and_does_not_pause(events):
    factory = Factory(service_ids={1: "svcA", 2: "svcB"})
    pool = make_pool(factory, events=events, load_balanced=True)
    pool.ready()
    a, b = pool.checkout(), pool.checkout()
    assert (a.service_id, b.service_id) == ("svcA", "svcB")
    pool.clear(service_id="svcA")
    assert pool.state == "ready"
    assert of(events, PoolCleared) == [PoolCleared(ADDR, "svcA", False)]
    pool.checkin(a)
    pool.checkin(b)
    assert of(events, ConnectionClosed) == [ConnectionClosed(ADDR, 1, "stale")]
    assert pool.checkout() is b
    pool.close()


# ---------------------------------------------------------------- maintenance
def test_maintain_populates_only_when_ready(events):
    pool = make_pool(events=events, min_pool_size=3, max_connecting=2)
    pool.maintain()
    assert of(events, ConnectionCreated) == []  # paused: no population
    pool.ready()
    pool.maintain()
    pool.maintain()
    assert pool.stats()["available"] == 3
    assert [e.connection_id for e in of(events, ConnectionCreated)] == [1, 2, 3]
    pool.close()


def test_maintain_prunes_idle_connections_by_the_injected_clock(events):
    now = [100.0]
    factory = Factory()
    pool = Pool(ADDR, PoolOptions(max_idle_time_ms=500, background_interval_ms=None), factory,
                listeners=[events.append], clock=lambda: now[0])
    pool.ready()
    pool.checkin(pool.checkout())
    now[0] += 0.4
    pool.maintain()
    assert pool.stats()["available"] == 1
    now[0] += 0.2
    pool.maintain()
    assert pool.stats()["available"] == 0
    assert of(events, ConnectionClosed) == [ConnectionClosed(ADDR, 1, "idle")]
    assert factory.made[1].closed.is_set()
    pool.close()


def test_populate_error_goes_to_the_handler_then_closes(events):
    seen = []
    boom = ConnectionFailure("no route")
    pool = Pool(ADDR, PoolOptions(min_pool_size=1, background_interval_ms=None), Factory(fail={1: boom}),
                listeners=[events.append], on_populate_error=lambda err, pooled: seen.append((err, pooled.id)))
    pool.ready()
    pool.maintain()
    assert seen == [(boom, 1)]
    assert of(events, ConnectionClosed) == [ConnectionClosed(ADDR, 1, "error")]
    pool.close()


def test_background_thread_populates_and_stops_on_close(events):
    pool = make_pool(events=events, min_pool_size=1, background_interval_ms=5)
    pool.ready()
    with pool._cond:
        assert pool._cond.wait_for(lambda: pool._available, WAIT_S)
    pool.close()
    pool._bg_thread.join(WAIT_S)
    assert not pool._bg_thread.is_alive()


# ---------------------------------------------------------------- events
def test_listeners_run_outside_the_pool_lock():
    pool_ref = {}
    outcome = {}

    def listener(event):
        if isinstance(event, ConnectionCheckedOut):
            # Another thread must be able to take the pool lock while a listener runs.
            other = threading.Thread(target=lambda: outcome.setdefault("stats", pool_ref["p"].stats()))
            other.start()
            other.join(WAIT_S)

    pool = Pool(ADDR, PoolOptions(background_interval_ms=None), Factory(), listeners=[listener])
    pool_ref["p"] = pool
    pool.ready()
    pool.checkout()
    assert outcome["stats"]["in_use"] == 1
    pool.close()


def test_a_failing_listener_does_not_break_the_pool(caplog):
    def broken(event):
        raise RuntimeError("listener bug")

    pool = Pool(ADDR, PoolOptions(background_interval_ms=None), Factory(), listeners=[broken])
    pool.ready()
    assert pool.checkout().id == 1
    assert "listener" in caplog.text
    pool.close()


def test_publish_object_is_accepted():
    class Bus:
        def __init__(self):
            self.got = []

        def publish(self, event):
            self.got.append(event)

    bus = Bus()
    pool = Pool(ADDR, PoolOptions(background_interval_ms=None), Factory(), listeners=bus)
    assert isinstance(bus.got[0], PoolCreated)
    pool.close()
