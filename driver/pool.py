"""CMAP connection pool: FIFO check-out, generations, pause/ready/close, background maintenance.

Spec: connection-monitoring-and-pooling.md (mongodb/specifications). One lock (an RLock under a
Condition) guards all state; no I/O (connect, close) ever runs under it. Events are queued
under the lock, in the order the state changes happen, and delivered after it is released by
one deliverer at a time, so listeners see a single consistent order and never run under the lock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

from driver.errors import ConnectionFailure, DriverError, PoolClearedError, PoolClosedError, WaitQueueTimeout
from driver.events.pool import (
    ConnectionCheckedIn,
    ConnectionCheckedOut,
    ConnectionCheckOutFailed,
    ConnectionCheckOutStarted,
    ConnectionClosed,
    ConnectionCreated,
    ConnectionReady,
    PoolCleared,
    PoolClosed,
    PoolCreated,
    PoolReady,
)
from driver.lazy_log import LazyLogger
from driver.pool_options import PoolOptions

_log = LazyLogger("driver.pool")

PAUSED, READY, CLOSED = "paused", "ready", "closed"
Connect = Callable[[str, int], Any]
PopulateErrorHandler = Callable[[BaseException, "PooledConnection"], None]


class PooledConnection:
    """A pool's handle on one established connection (CMAP "Connection").

    `connection` is what the connect factory returned; the pool only ever calls its close().
    """

    def __init__(self, pool: "Pool", connection_id: int, generation: int, created_at: float) -> None:
        self.pool = pool
        self.id = connection_id
        self.generation = generation
        self.service_id: Any = None
        self.connection: Any = None
        self.created_at = created_at
        self.last_used = created_at
        self.pinned_cursor = False
        self.pinned_txn = False
        self.errored = False
        self.state = "pending"  # pending | available | in use | closed (CMAP Connection.state)
        self._outcome: tuple[str, Any] | None = None  # set by the connect thread
        self._interrupted = False  # clear(interrupt_in_use_connections=True) hit it while pending
        self._abandoned = False  # nobody waits for the connect thread's result any more
        self._raw_closed = False

    @property
    def address(self) -> str:
        return self.pool.address

    @property
    def pinned(self) -> bool:
        """True while pinned to a cursor or a transaction (load-balanced mode)."""
        return self.pinned_cursor or self.pinned_txn

    def mark_errored(self) -> None:
        """Record a network error/timeout on this connection: it is closed ("error") at check-in."""
        self.errored = True

    def __repr__(self) -> str:
        return f"<PooledConnection {self.id} to {self.address} gen={self.generation} {self.state}>"


class Pool:
    """A connection pool for one server address.

    `connect(address, connection_id)` opens and handshakes a connection (blocking) and returns
    an object with close(); in load-balanced mode its `service_id` attribute is read.
    `listeners`: an object with publish(event) (an EventBus) or an iterable of callables.
    `on_populate_error(error, pooled)`: SDAM hook for errors while populating to minPoolSize
    (CMAP "Populating the Pool": errors are handled by SDAM, which normally clears the pool).
    A new pool is paused: call ready() (SDAM does after a successful check).
    """

    def __init__(
        self,
        address: str,
        options: PoolOptions | None = None,
        connect: Connect | None = None,
        listeners: Any = (),
        clock: Callable[[], float] = time.monotonic,
        on_populate_error: PopulateErrorHandler | None = None,
    ) -> None:
        if connect is None:
            raise DriverError(f"Pool for {address} needs a connect(address, connection_id) factory")
        self.address = address
        self.options = options or PoolOptions()
        self._connect = connect
        self._events = _event_source(listeners)
        self._publish = self._events.publish
        self._clock = clock
        self._on_populate_error = on_populate_error

        # The condition's own lock, held directly where no wait/notify happens (its `with` costs two
        # Python calls per check-out and check-in).
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._outbox: deque[Any] = deque()
        self._deliver_lock = threading.RLock()
        self._state = PAUSED
        self._generation = 0
        self._service_generations: dict[Any, int] = {}
        self._service_counts: dict[Any, int] = {}
        self._clear_epoch = 0  # bumped by every non-LB clear: fails everyone in the wait queue
        self._interrupt_generation = -1
        self._next_id = 1
        self._available: deque[PooledConnection] = deque()  # most recently used on the right
        self._in_use: set[PooledConnection] = set()
        self._pending: set[PooledConnection] = set()
        self._wait_queue: deque[object] = deque()

        with self._locked():
            self._emit(PoolCreated(address, self.options.non_default()))
        self._bg_wake = threading.Event()
        self._bg_thread: threading.Thread | None = None
        if self.options.background_thread:
            self._bg_thread = threading.Thread(
                target=self._background, name=f"pool-maintenance-{address}", daemon=True)
            self._bg_thread.start()

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> str:
        """"paused", "ready" or "closed"."""
        return self._state

    @property
    def generation(self) -> int:
        return self._generation

    def stats(self) -> dict[str, Any]:
        """A consistent snapshot of the pool's counters (for diagnostics)."""
        with self._cond:
            return {
                "address": self.address, "state": self._state, "generation": self._generation,
                "total": self._total(), "available": len(self._available), "in_use": len(self._in_use),
                "pending": len(self._pending), "waiting": len(self._wait_queue),
            }

    # --------------------------------------------------------------- checkout
    def checkout(self, timeout_ms: float | None = None) -> PooledConnection:
        """Check out an established connection (CMAP "Checking Out a Connection").

        Waits in a FIFO queue up to `timeout_ms` (default waitQueueTimeoutMS; 0 = no limit).
        Raises PoolClosedError, PoolClearedError (paused or cleared while waiting),
        WaitQueueTimeout, or the connect factory's error.
        """
        started = self._clock()
        listening = self._events.listening
        if not listening:
            # Uncontended and unobserved (the common case): a ready pool, nobody waiting ahead of
            # us, an available connection that has not perished. The loop below decides the rest.
            with self._lock:
                if self._state == READY and not self._wait_queue and self._available:
                    pooled = self._available[-1]
                    if not self._perished_reason(pooled, started):
                        self._available.pop()
                        self._to_in_use(pooled, started)
                        return pooled
        limit_ms = self.options.wait_queue_timeout_ms if timeout_ms is None else timeout_ms
        deadline = started + limit_ms / 1000 if limit_ms else None
        to_close: list[PooledConnection] = []
        result: PooledConnection | None = None
        created: PooledConnection | None = None
        error: BaseException | None = None
        try:
            with self._cond:
                if listening:
                    self._emit(ConnectionCheckOutStarted(self.address))
                token, epoch = object(), self._clear_epoch
                self._wait_queue.append(token)
                try:
                    while True:
                        error = self._refusal(epoch, started)
                        if error is not None:
                            break
                        # Fairness (CMAP "WaitQueue"): only the head of the queue is served.
                        if self._wait_queue[0] is token:
                            result = self._take_available(to_close)
                            if result is not None:
                                self._to_in_use(result, started)
                                break
                            if self._can_create():
                                created = self._create_pending()
                                break
                        remaining = None if deadline is None else deadline - self._clock()
                        if remaining is not None and remaining <= 0:
                            error = self._timeout_error(started, limit_ms)
                            break
                        if self._outbox:
                            # Deliver what this thread queued (CheckOutStarted, ConnectionClosed)
                            # before blocking, outside the lock; then re-check the state.
                            self._cond.release()
                            try:
                                self._deliver()
                            finally:
                                self._cond.acquire()
                            continue
                        self._cond.wait(remaining)
                finally:
                    self._wait_queue.remove(token)
                    if self._wait_queue:  # the head changed: the next waiter may go
                        self._cond.notify_all()
        finally:
            if self._outbox:
                self._deliver()
            if to_close:
                self._close_raw(to_close)
        if error is not None:
            raise error
        if result is not None:
            return result
        assert created is not None
        return self._establish_for_checkout(created, started)

    @contextmanager
    def connection(self, timeout_ms: float | None = None) -> Iterator[PooledConnection]:
        """Check out for the `with` block, always check in; a ConnectionFailure inside marks it errored."""
        pooled = self.checkout(timeout_ms)
        try:
            yield pooled
        except ConnectionFailure:
            pooled.mark_errored()
            raise
        finally:
            self.checkin(pooled)

    def checkin(self, pooled: PooledConnection) -> None:
        """Give a checked-out connection back (CMAP "Checking In a Connection").

        It is closed instead of kept when the pool is closed, or it is stale or errored.
        """
        if pooled.pool is not self:
            raise DriverError(
                f"connection {pooled.id} belongs to the pool for {pooled.address}, not {self.address}; "
                "check it in to the pool it came from")
        with self._lock:
            if pooled not in self._in_use:
                raise DriverError(
                    f"connection {pooled.id} to {self.address} is not checked out (state {pooled.state}); "
                    "was it checked in twice?")
            self._in_use.discard(pooled)
            if self._events.listening:
                self._emit(ConnectionCheckedIn(self.address, pooled.id))
            now = self._clock()
            reason = "poolClosed" if self._state == CLOSED else self._perished_reason(pooled, now)
            if reason:
                self._discard(pooled, reason)
            else:
                pooled.state = "available"
                pooled.last_used = now
                self._available.append(pooled)
                if self._wait_queue:
                    self._cond.notify_all()
        if self._outbox:
            self._deliver()
        if reason:
            self._close_raw([pooled])

    # ------------------------------------------------------ clear/ready/close
    def clear(self, interrupt_in_use_connections: bool = False, service_id: Any = None) -> None:
        """Mark every current connection stale (CMAP "Clearing a Connection Pool").

        Non-LB: bump the generation, pause, fail the wait queue, emit PoolCleared unless already
        paused; with interrupt_in_use_connections, pending and in-use connections of older
        generations are interrupted too. LB mode: bump `service_id`'s generation only.
        """
        with self._locked():
            if self._state == CLOSED:
                return
            if self.options.load_balanced:
                # "Clearing a load balanced pool": no pause, the wait queue is left alone.
                self._service_generations[service_id] = self._service_generations.get(service_id, 0) + 1
                self._emit(PoolCleared(self.address, service_id, interrupt_in_use_connections))
                return
            old = self._generation
            self._generation += 1
            was_ready = self._state == READY
            self._state = PAUSED
            self._clear_epoch += 1
            if interrupt_in_use_connections:
                self._interrupt_generation = max(self._interrupt_generation, old)
                for pending in self._pending:
                    if pending.generation <= old:
                        pending._interrupted = True
            if was_ready:
                self._emit(PoolCleared(self.address, None, interrupt_in_use_connections))
            self._cond.notify_all()
        # "A pool SHOULD allow immediate scheduling of the next background thread iteration after a clear."
        if self._bg_thread is not None:
            self._bg_wake.set()
        elif interrupt_in_use_connections:
            threading.Thread(target=self._interrupt_in_use, name=f"pool-interrupt-{self.address}",
                             daemon=True).start()

    def ready(self) -> None:
        """Mark a paused pool ready; a ready pool is left alone (no event); a closed one stays closed."""
        with self._locked():
            if self._state != PAUSED:
                return
            self._state = READY
            # Emitted under the lock, so no background creation can be observed before it.
            self._emit(PoolReady(self.address))
            self._cond.notify_all()
        self._bg_wake.set()

    def close(self) -> None:
        """Close the pool: available connections are closed now, in-use ones when checked in."""
        to_close: list[PooledConnection] = []
        with self._locked():
            if self._state == CLOSED:
                return
            self._state = CLOSED
            while self._available:
                pooled = self._available.popleft()
                self._discard(pooled, "poolClosed")
                to_close.append(pooled)
            self._emit(PoolClosed(self.address))
            self._cond.notify_all()
        self._bg_wake.set()
        self._close_raw(to_close)

    # ------------------------------------------------------------ maintenance
    def maintain(self) -> None:
        """One background Run (CMAP "Background Thread"): close perished available connections,
        interrupt in-use ones if a clear asked to, then populate up to minPoolSize without waiting."""
        to_close: list[PooledConnection] = []
        with self._locked():
            if self._state == CLOSED:
                return
            now = self._clock()
            keep: deque[PooledConnection] = deque()
            for pooled in self._available:
                reason = self._perished_reason(pooled, now)
                if reason:
                    self._discard(pooled, reason)
                    to_close.append(pooled)
                else:
                    keep.append(pooled)
            self._available = keep
        self._close_raw(to_close)
        self._interrupt_in_use()
        self._populate()

    def _interrupt_in_use(self) -> None:
        # Closing the socket makes the owner's operation fail; the ConnectionClosed event follows at
        # check-in, where the connection is stale. (CMAP "Clearing a non-load balanced pool".)
        with self._cond:
            targets = [p for p in self._in_use
                       if p.generation <= self._interrupt_generation and not p._raw_closed]
            for pooled in targets:
                pooled._raw_closed = True  # claimed here, so check-in will not close it again
        for pooled in targets:
            _close_quietly(pooled.connection, self.address)

    def _populate(self) -> None:
        while True:
            with self._locked():
                if self._state != READY or self._total() >= self.options.min_pool_size:
                    return
                if not self._can_create():
                    return  # a Run never waits for maxConnecting: it ends
                pooled = self._create_pending()
            kind, value = self._establish(pooled)
            if kind == "error" and self._on_populate_error is not None:
                try:
                    self._on_populate_error(value, pooled)
                except Exception:  # noqa: BLE001 - the handler's failure must not kill maintenance
                    _log.exception("populate error handler failed for %s", self.address)
            to_close: list[PooledConnection] = []
            with self._locked():
                self._pending.discard(pooled)
                self._cond.notify_all()
                if kind == "ok":
                    self._finish_ready(pooled, value)
                    reason = "poolClosed" if self._state == CLOSED else (
                        "stale" if self._is_stale(pooled) else None)
                    if reason:
                        self._discard(pooled, reason)
                        to_close.append(pooled)
                    else:
                        pooled.state = "available"
                        pooled.last_used = self._clock()
                        self._available.append(pooled)
                else:
                    self._discard(pooled, "error" if kind == "error" else "stale")
            self._close_raw(to_close)
            if kind != "ok":
                return

    def _background(self) -> None:
        interval = (self.options.background_interval_ms or 0) / 1000
        while True:
            self._bg_wake.wait(interval)
            self._bg_wake.clear()
            if self._state == CLOSED:
                return
            try:
                self.maintain()
            except Exception:  # noqa: BLE001 - keep maintaining; the failure is logged
                _log.exception("pool maintenance for %s failed", self.address)

    # ------------------------------------------------------- establishing
    def _establish(self, pooled: PooledConnection) -> tuple[str, Any]:
        """Run connect() in its own thread and wait for it, or for an interrupting clear.

        Returns ("ok", conn), ("error", exc) or ("interrupted", None). A separate thread lets
        clear(interrupt_in_use_connections=True) fail a pending check-out at once.
        """
        threading.Thread(target=self._connect_into, args=(pooled,), daemon=True,
                         name=f"pool-connect-{self.address}-{pooled.id}").start()
        leftover = None
        with self._cond:
            while pooled._outcome is None and not pooled._interrupted:
                self._cond.wait()
            if pooled._interrupted:
                pooled._abandoned = True
                if pooled._outcome is not None and pooled._outcome[0] == "ok":
                    leftover = pooled._outcome[1]
                outcome: tuple[str, Any] = ("interrupted", None)
            else:
                outcome = pooled._outcome
        if leftover is not None:
            _close_quietly(leftover, self.address)
        return outcome

    def _connect_into(self, pooled: PooledConnection) -> None:
        try:
            outcome: tuple[str, Any] = ("ok", self._connect(self.address, pooled.id))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread, which raises it
            outcome = ("error", exc)
        with self._cond:
            abandoned = pooled._abandoned
            if not abandoned:
                pooled._outcome = outcome
                self._cond.notify_all()
        if abandoned and outcome[0] == "ok":
            _close_quietly(outcome[1], self.address)

    def _establish_for_checkout(self, pooled: PooledConnection, started: float) -> PooledConnection:
        kind, value = self._establish(pooled)
        with self._locked():
            self._pending.discard(pooled)
            self._cond.notify_all()  # pendingConnectionCount dropped: a waiter may create now
            if kind == "ok":
                self._finish_ready(pooled, value)
                self._to_in_use(pooled, started)
                return pooled
            if kind == "error":
                self._discard(pooled, "error")
                error: BaseException = value
            else:
                self._discard(pooled, "stale")
                error = PoolClearedError(f"Connection to {self.address} interrupted due to server monitor timeout")
            self._emit(ConnectionCheckOutFailed(self.address, "connectionError", self._ms_since(started)))
        raise error

    # ------------------------------------------------ helpers (lock held)
    def _total(self) -> int:
        return len(self._available) + len(self._in_use) + len(self._pending)

    def _can_create(self) -> bool:
        cap = self.options.max_pool_size
        return (not cap or self._total() < cap) and len(self._pending) < self.options.max_connecting

    def _create_pending(self) -> PooledConnection:
        pooled = PooledConnection(self, self._next_id, self._generation, self._clock())
        self._next_id += 1
        self._pending.add(pooled)
        self._emit(ConnectionCreated(self.address, pooled.id))
        return pooled

    def _finish_ready(self, pooled: PooledConnection, raw: Any) -> None:
        pooled.connection = raw
        if self.options.load_balanced:
            # Load balancer mode: the generation comes from the serviceId learned in the handshake.
            pooled.service_id = getattr(raw, "service_id", None)
            pooled.generation = self._service_generations.get(pooled.service_id, 0)
            self._service_counts[pooled.service_id] = self._service_counts.get(pooled.service_id, 0) + 1
        self._emit(ConnectionReady(self.address, pooled.id, self._ms_since(pooled.created_at)))

    def _to_in_use(self, pooled: PooledConnection, started: float) -> None:
        pooled.state = "in use"
        self._in_use.add(pooled)
        if self._events.listening:
            self._emit(ConnectionCheckedOut(self.address, pooled.id, self._ms_since(started)))

    def _take_available(self, to_close: list[PooledConnection]) -> PooledConnection | None:
        now = self._clock()
        while self._available:
            pooled = self._available.pop()
            reason = self._perished_reason(pooled, now)
            if not reason:
                return pooled
            self._discard(pooled, reason)
            to_close.append(pooled)
        return None

    def _is_stale(self, pooled: PooledConnection) -> bool:
        if self.options.load_balanced:
            return pooled.generation != self._service_generations.get(pooled.service_id, 0)
        return pooled.generation != self._generation

    def _perished_reason(self, pooled: PooledConnection, now: float) -> str | None:
        # Run at every check-out and check-in: the common generation test is made here rather
        # than through _is_stale (one call fewer); load-balanced pools ask _is_stale.
        if (self._is_stale(pooled) if self.options.load_balanced else pooled.generation != self._generation):
            return "stale"
        if pooled.errored or (pooled.connection is not None and pooled.connection.closed):
            # A connection that closed itself (a protocol error: unsolicited moreToCome, a reply to
            # another request, bad framing) cannot be trusted with another request (issue 11).
            return "error"
        idle_ms = self.options.max_idle_time_ms
        if pooled.state == "available" and idle_ms and (now - pooled.last_used) * 1000 > idle_ms:
            return "idle"
        return None

    def _discard(self, pooled: PooledConnection, reason: str) -> None:
        """Mark closed, drop from the counts, emit ConnectionClosed; the socket closes later, unlocked."""
        if pooled.state in ("available", "in use") and self.options.load_balanced:
            count = self._service_counts.get(pooled.service_id, 1) - 1
            if count <= 0:
                self._service_counts.pop(pooled.service_id, None)
                self._service_generations.pop(pooled.service_id, None)
            else:
                self._service_counts[pooled.service_id] = count
        pooled.state = "closed"
        self._pending.discard(pooled)
        self._in_use.discard(pooled)
        self._emit(ConnectionClosed(self.address, pooled.id, reason))
        self._cond.notify_all()

    def _refusal(self, epoch: int, started: float) -> BaseException | None:
        if self._state == CLOSED:
            self._emit(ConnectionCheckOutFailed(self.address, "poolClosed", self._ms_since(started)))
            return PoolClosedError(
                f"Attempted to check out a connection from closed connection pool {self.address}; "
                "the server left the topology or the client was closed")
        if self._state == PAUSED or self._clear_epoch != epoch:
            self._emit(ConnectionCheckOutFailed(self.address, "connectionError", self._ms_since(started)))
            return PoolClearedError(
                f"Connection pool for {self.address} was cleared after a server error and is paused "
                "until the server is checked again; the operation may be retried")
        return None

    def _timeout_error(self, started: float, limit_ms: float) -> WaitQueueTimeout:
        waited = self._ms_since(started)
        self._emit(ConnectionCheckOutFailed(self.address, "timeout", waited))
        return WaitQueueTimeout(
            f"Timed out while checking out a connection from connection pool {self.address} after "
            f"{waited:.0f} ms (waitQueueTimeoutMS={limit_ms:g}): maxPoolSize={self.options.max_pool_size}, "
            f"in use={len(self._in_use)}, available={len(self._available)}, pending={len(self._pending)}, "
            f"waiting={len(self._wait_queue)}; check connections in sooner or raise maxPoolSize/waitQueueTimeoutMS")

    def _ms_since(self, start: float) -> float:
        return (self._clock() - start) * 1000

    # ------------------------------------------------------- events and I/O
    def _emit(self, event: Any) -> None:
        # Lock held: queue order is state-change order. With nobody listening nothing is queued
        # (hot paths do not even build their events then: see checkout/checkin).
        if self._events.listening:
            self._outbox.append(event)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            with self._cond:
                yield
        finally:
            self._deliver()

    def _deliver(self) -> None:
        # One deliverer at a time keeps the global order; when this returns, every event this
        # thread queued has been delivered (by it or by the deliverer it waited for).
        with self._deliver_lock:
            while True:
                try:
                    event = self._outbox.popleft()
                except IndexError:
                    return
                self._publish(event)

    def _close_raw(self, pooled_list: Iterable[PooledConnection]) -> None:
        for pooled in pooled_list:
            if pooled.connection is not None and not pooled._raw_closed:
                pooled._raw_closed = True
                _close_quietly(pooled.connection, self.address)


def _close_quietly(conn: Any, address: str) -> None:
    """Close a socket-holding object; a failure to close is logged (the connection is gone either way)."""
    try:
        conn.close()
    except Exception:  # noqa: BLE001
        _log.warning("closing a connection to %s failed", address, exc_info=True)


def _event_source(listeners: Any) -> Any:
    """What the pool publishes to: an EventBus as it is, else its callbacks behind the same
    interface (publish(event) and a `listening` attribute, read at every check-out and check-in)."""
    if hasattr(listeners, "publish"):
        return listeners if hasattr(listeners, "listening") else _Callbacks((listeners.publish,))
    return _Callbacks(tuple(listeners or ()))


class _Callbacks:
    """A fixed tuple of pool event callbacks, published to like an EventBus."""

    def __init__(self, callbacks: tuple[Callable[[Any], None], ...]) -> None:
        self.callbacks = callbacks
        self.listening = bool(callbacks)

    def publish(self, event: Any) -> None:
        for callback in self.callbacks:
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - a broken listener is reported, never fatal
                _log.exception("pool event listener %r failed on %r", callback, event)
