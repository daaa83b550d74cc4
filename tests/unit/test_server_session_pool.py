"""The server-session pool (sessions spec, "Server Session Pool"): LIFO reuse, expiry margin, dirty sessions dropped."""

from __future__ import annotations

from types import SimpleNamespace

from driver.session import EXPIRY_MARGIN_SECONDS, ServerSessionPool


def _clock():
    """A settable clock: (clock, times) where times.now is what clock() returns."""
    times = SimpleNamespace(now=1000.0)
    return (lambda: times.now), times


def test_most_recently_used_session_is_reused_first() -> None:
    now, clock = _clock()
    pool = ServerSessionPool(now)
    a, b = pool.checkout(30), pool.checkout(30)
    assert a is not b and a.session_id != b.session_id
    pool.checkin(a, 30)
    pool.checkin(b, 30)
    assert pool.checkout(30) is b and pool.checkout(30) is a and len(pool) == 0


def test_a_session_with_a_minute_or_less_left_is_not_reused() -> None:
    now, clock = _clock()
    pool = ServerSessionPool(now)
    session = pool.checkout(30)
    pool.checkin(session, 30)
    clock.now += 30 * 60 - EXPIRY_MARGIN_SECONDS  # exactly at the margin: still usable
    assert pool.checkout(30) is session
    pool.checkin(session, 30)
    clock.now += 0.5  # under a minute left before the server may expire it
    fresh = pool.checkout(30)
    assert fresh is not session and fresh.last_use == clock.now


def test_checkin_drops_stale_and_dirty_sessions() -> None:
    now, clock = _clock()
    pool = ServerSessionPool(now)
    old, dirty, kept = pool.checkout(10), pool.checkout(10), pool.checkout(10)
    pool.checkin(old, 10)
    clock.now += 10 * 60  # `old` is stale now; `kept` and `dirty` were used just now
    kept.last_use = dirty.last_use = clock.now
    dirty.dirty = True
    pool.checkin(dirty, 10)
    assert len(pool) == 0  # stale `old` dropped from the back first; the dirty one is not kept
    pool.checkin(kept, 10)
    assert len(pool) == 1 and pool.checkout(10) is kept


def test_without_a_session_timeout_sessions_never_expire() -> None:
    now, clock = _clock()
    pool = ServerSessionPool(now)
    session = pool.checkout(None)
    pool.checkin(session, None)
    clock.now += 10**9
    assert pool.checkout(None) is session
