"""Server monitors: polling or streaming (awaitable) hello heartbeats, plus the RTT monitor (SDAM "Monitoring")."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from bson import Int64

from driver.errors import ConnectionFailure, DriverError
from driver.events import sdam as sdam_events
from driver.events.listeners import EventBus
from driver.hello import server_description_from_hello, unknown_server
from driver.lazy_log import LazyLogger
from driver.option_defaults import DEFAULTS
from driver.option_defaults import MIN_HEARTBEAT_FREQUENCY_MS as _SPEC_MIN_HEARTBEAT_MS
from driver.sdam.description import CheckFailure, ServerDescription, ServerType, TopologyVersion
from driver.sdam.rtt import RttStats

_log = LazyLogger("driver.monitor")
MIN_HEARTBEAT_FREQUENCY_MS = _SPEC_MIN_HEARTBEAT_MS  # SDAM "minHeartbeatFrequencyMS" (tests may patch it)

# connect(adopt) returns (connection, hello reply, round trip ms); see driver.establish.open_connection.
# It calls adopt(connection) as soon as the socket is connected, before the handshake, so the
# monitor owns the connection from then on and stop()/cancel_check() can interrupt the
# handshake by closing it; adopt raises to abandon the connection (the monitor is stopping).
ConnectFn = Callable[[Callable[[Any], None]], "tuple[Any, dict[str, Any], float]"]


@dataclass(frozen=True)
class MonitorSettings:
    """What a monitor reads from the client's options. Times in milliseconds."""

    heartbeat_frequency_ms: float = DEFAULTS["heartbeatFrequencyMS"]
    connect_timeout_ms: float = DEFAULTS["connectTimeoutMS"]
    mode: str = DEFAULTS["serverMonitoringMode"]  # serverMonitoringMode: auto | stream | poll
    # SDAM "minHeartbeatFrequencyMS" is fixed at 500 ms by the spec; the unified test format lets
    # test runners lower it (for tests only). None = MIN_HEARTBEAT_FREQUENCY_MS, read at each wait.
    min_heartbeat_frequency_ms: float | None = None

    @property
    def min_heartbeat_ms(self) -> float:
        """The effective minimum gap between two checks, in milliseconds."""
        if self.min_heartbeat_frequency_ms is not None:
            return self.min_heartbeat_frequency_ms
        return MIN_HEARTBEAT_FREQUENCY_MS


class _CheckCancelled(Exception):
    """The in-flight check was cancelled by cancel_check() (an application network error)."""


def streaming_enabled(mode: str, env: Any = None) -> bool:
    """serverMonitoringMode: stream -> True, poll -> False, auto -> unless on a FaaS platform.

    SDAM monitoring, "Streaming disabled": auto must poll on FaaS platforms (AWS Lambda,
    Azure Functions, GCP, Vercel), where a frozen process cannot keep a stream alive.
    """
    if mode == "stream":
        return True
    if mode == "poll":
        return False
    from driver.handshake import faas_environment  # the same FaaS detection the handshake metadata uses
    return not faas_environment(os.environ if env is None else env)


def is_network_error(error: BaseException | None) -> bool:
    """A network error or timeout (not a command error: ok: 0 hello replies raise OperationFailure)."""
    return isinstance(error, (ConnectionFailure, OSError))


class Monitor:
    """One thread per server, checking it and reporting a ServerDescription after every check.

    A failed check is data (an Unknown description with the error), never an exception; the
    exception itself is kept in `last_error` while the description is reported, so the server
    can clear its pool the way the spec says (interruptInUseConnections on a network timeout).
    SDAM monitoring, "Network or command error during server check": close the connection,
    report Unknown at once; then, after a network error on a previously known server, check
    again immediately, else wait heartbeatFrequencyMS (>= minHeartbeatFrequencyMS when a
    check is requested). Streaming ("Streaming Protocol"): once a reply carries a
    topologyVersion, awaitable hellos (topologyVersion + maxAwaitTimeMS, exhaustAllowed)
    receive pushes back to back, and a separate RTT monitor measures round trips.
    """

    def __init__(self, address: str, connect: ConnectFn, report: Callable[[ServerDescription], None],
                 settings: MonitorSettings, *, events: EventBus | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.address = address
        self._connect = connect
        self._report = report
        self.settings = settings
        self._events = events or EventBus()
        self._clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._conn: Any = None
        self._conn_lock = threading.Lock()
        self._cancels = 0  # bumped by cancel_check(); a check that sees it change was cancelled
        self._description: ServerDescription = unknown_server(address)
        self._streaming_enabled = streaming_enabled(settings.mode)
        self.last_error: BaseException | None = None
        self.rtt = RttStats()
        self._rtt_monitor: RttMonitor | None = None
        self._thread = threading.Thread(target=self._run, name=f"monitor-{address}", daemon=True)

    # -- control (any thread) ------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def request_check(self) -> None:
        """Check soon (SDAM "requestImmediateCheck"); a streaming monitor is already waiting on the server."""
        self._wake.set()

    def cancel_check(self) -> None:
        """SDAM "cancelCheck": close the monitoring connection so an in-flight check ends now.

        Called after an application network error already marked the server Unknown; the
        cancelled check reports nothing and the monitor waits before its next check.
        """
        with self._conn_lock:
            self._cancels += 1
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        """Stop monitoring and wait for the thread(s).

        Prompt: closing the owned connection ends whatever I/O the monitor is in (a handshake,
        a poll, an awaitable hello), and the RTT monitor is stopped the same way. The join
        timeout is only a safety net against a bug, not an expected wait.
        """
        self._stop.set()
        self._wake.set()
        self._close_connection()
        with self._conn_lock:
            rtt_monitor = self._rtt_monitor
        if rtt_monitor is not None:
            rtt_monitor.stop(join_timeout=0)  # interrupt it now; joined below
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
        with self._conn_lock:  # no new RTT monitor can start once _stop is set (see _start_rtt_monitor)
            rtt_monitor = self._rtt_monitor
        if rtt_monitor is not None:
            rtt_monitor.stop()

    @property
    def streaming(self) -> bool:
        """Whether checks are awaitable (streaming) hellos now."""
        return self._streaming_enabled and self._conn is not None and \
            isinstance(self._description.topology_version, TopologyVersion)

    # -- the loop (SDAM monitoring, "Monitor thread") -------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            previous = self._description
            try:
                description, error = self._check(previous)
            except _CheckCancelled:
                if self._stop.is_set():
                    break
                self._wait()  # the application already marked the server Unknown
                continue
            except Exception as exc:  # noqa: BLE001 - a monitor bug must not silently end monitoring
                _log.exception("monitor of %s failed unexpectedly", self.address)
                self._close_connection()
                description, error = unknown_server(self.address, error=f"monitor error: {exc!r}"), exc
            if self._stop.is_set():
                break
            self._description = description
            self.last_error = error
            # The topology applies it; the Server then clears or readies its pool (same thread).
            self._report(description)
            supports_streaming = (description.type is not ServerType.Unknown
                                  and isinstance(description.topology_version, TopologyVersion))
            conn = self._conn
            connection_streaming = conn is not None and bool(getattr(conn, "more_to_come", False))
            if self._streaming_enabled and supports_streaming:
                self._start_rtt_monitor()
            if self._streaming_enabled and (supports_streaming or connection_streaming):
                continue  # streaming: the next reply is awaited on the server; no sleep
            if is_network_error(error) and previous.type is not ServerType.Unknown:
                continue  # a known server failing with a network error is re-checked at once
            self._wait()

    def _wait(self) -> None:
        """Sleep heartbeatFrequencyMS, or less when a check is requested, but >= minHeartbeatFrequencyMS."""
        started = self._clock()
        self._wake.wait(self.settings.heartbeat_frequency_ms / 1000.0)
        self._wake.clear()
        early = self.settings.min_heartbeat_ms / 1000.0 - (self._clock() - started)
        if early > 0 and not self._stop.is_set():
            self._stop.wait(early)  # cannot be woken by request_check(), only by stop()

    def _check(self, previous: ServerDescription) -> tuple[ServerDescription, BaseException | None]:
        """One check (SDAM monitoring, "checkServer"); raises _CheckCancelled when cancelled."""
        with self._conn_lock:
            conn, cancels = self._conn, self._cancels
        more_to_come = conn is not None and bool(getattr(conn, "more_to_come", False))
        awaitable = conn is not None and not more_to_come and self._streaming_enabled and \
            isinstance(previous.topology_version, TopologyVersion)
        awaited = more_to_come or awaitable
        # Published before connecting, and before reading each streamed reply (SDAM monitoring).
        self._events.publish(sdam_events.ServerHeartbeatStartedEvent(self.address, awaited=awaited))
        started = self._clock()
        try:
            if conn is None:
                reply, rtt_ms = self._handshake(cancels)
            elif more_to_come:
                reply, rtt_ms = conn.receive_more(), None
            elif awaitable:
                reply, rtt_ms = self._await_hello(conn, previous.topology_version), None
            else:
                reply, rtt_ms = self._poll(conn)
        except (DriverError, OSError) as exc:
            self._close_connection()
            self.rtt.reset()
            duration_ms = (self._clock() - started) * 1000.0
            self._events.publish(sdam_events.ServerHeartbeatFailedEvent(
                self.address, duration_ms=duration_ms, error=exc, awaited=awaited))
            if self._cancels != cancels or self._stop.is_set():
                raise _CheckCancelled() from exc
            # A network error: nothing answered. Anything else (ok: 0, an invalid or
            # undecodable reply) came from the server and was refused: the CLI says which.
            failure = CheckFailure.UNREACHABLE if is_network_error(exc) else CheckFailure.REJECTED
            return unknown_server(self.address, error=str(exc), failure=failure), exc
        duration_ms = (self._clock() - started) * 1000.0
        # RTT comes from handshakes and polls, never from streamed replies (RTT monitor's job).
        if rtt_ms is not None:
            self.rtt.add_sample(rtt_ms)
        self._events.publish(sdam_events.ServerHeartbeatSucceededEvent(
            self.address, duration_ms=duration_ms, reply=reply, awaited=awaited))
        average_ms, minimum_ms = self.rtt.snapshot()
        description = server_description_from_hello(
            self.address, reply, rtt_ms=average_ms, now_ms=self._clock() * 1000.0)
        return description.with_changes(min_round_trip_time_ms=minimum_ms), None

    # -- the kinds of check ---------------------------------------------------------------
    def _handshake(self, cancels: int) -> tuple[dict[str, Any], float]:
        def adopt(conn: Any) -> None:
            # Owned from the moment the socket exists: stop() and cancel_check() close
            # self._conn, which ends a handshake blocked on the server (e.g. a slow hello).
            with self._conn_lock:
                if self._stop.is_set() or self._cancels != cancels:
                    raise ConnectionFailure(f"monitor check of {self.address} was cancelled")
                self._conn = conn

        conn, reply, rtt_ms = self._connect(adopt)
        with self._conn_lock:
            owned = self._conn is conn and not self._stop.is_set() and self._cancels == cancels
        if not owned:
            conn.close()
            raise ConnectionFailure(f"monitor check of {self.address} was cancelled")
        return reply, rtt_ms

    def _poll(self, conn: Any) -> tuple[dict[str, Any], float]:
        started = self._clock()
        reply = conn.command("admin", self._hello_command(conn))
        return reply, (self._clock() - started) * 1000.0

    def _await_hello(self, conn: Any, tv: TopologyVersion) -> dict[str, Any]:
        # Awaitable hello: the server answers when its state changes or after maxAwaitTimeMS;
        # with exhaustAllowed it keeps streaming replies (moreToCome) on this connection.
        body = self._hello_command(conn)
        body["topologyVersion"] = {"processId": tv.process_id, "counter": Int64(tv.counter)}
        body["maxAwaitTimeMS"] = int(self.settings.heartbeat_frequency_ms)
        # "Socket timeout": connectTimeoutMS + heartbeatFrequencyMS, unlimited when connectTimeoutMS=0.
        if self.settings.connect_timeout_ms:
            conn.set_timeout(self.settings.connect_timeout_ms + self.settings.heartbeat_frequency_ms)
        else:
            conn.set_timeout(None)
        return conn.command("admin", body, exhaust_allowed=True)

    @staticmethod
    def _hello_command(conn: Any) -> dict[str, Any]:
        hello = getattr(conn, "hello", None) or {}
        # "helloOk": a server that answered helloOk: true to the handshake takes hello.
        body = {"hello": 1, "helloOk": True} if hello.get("helloOk") else {"isMaster": 1, "helloOk": True}
        if getattr(conn, "server_api", None) is not None:
            conn.server_api.add_to(body)  # Stable API: every command, monitoring hellos included
        return body

    def _start_rtt_monitor(self) -> None:
        """Streaming only: a separate connection measures RTT (SDAM monitoring, "Measuring RTT")."""
        with self._conn_lock:
            if self._rtt_monitor is not None or self._stop.is_set():
                return
            self._rtt_monitor = RttMonitor(self.address, self._connect, self.rtt, self.settings)
            self._rtt_monitor.start()

    def _close_connection(self) -> None:
        with self._conn_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class RttMonitor:
    """SDAM "Measuring RTT" in streaming mode: a separate connection timing hello every heartbeat.

    Like the Monitor it owns its connection from the moment the socket exists (before the
    handshake), so stop() interrupts a connect-handshake or hello in progress and returns soon.
    """

    def __init__(self, address: str, connect: ConnectFn, stats: RttStats, settings: MonitorSettings) -> None:
        self.address = address
        self._connect = connect
        self._stats = stats
        self._settings = settings
        self._stop = threading.Event()
        self._conn: Any = None
        self._conn_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"rtt-{address}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, join_timeout: float = 5) -> None:
        """Stop measuring: close the connection (ending any I/O on it) and wait for the thread."""
        self._stop.set()
        self._close_connection()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=join_timeout)

    def _adopt(self, conn: Any) -> None:
        with self._conn_lock:
            if self._stop.is_set():
                raise ConnectionFailure(f"RTT monitor of {self.address} was stopped")
            self._conn = conn

    def _close_connection(self) -> None:
        with self._conn_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    with self._conn_lock:
                        conn = self._conn
                    if conn is None:
                        _conn, _reply, rtt_ms = self._connect(self._adopt)
                    else:
                        started = time.monotonic()
                        conn.command("admin", Monitor._hello_command(conn))
                        rtt_ms = (time.monotonic() - started) * 1000.0
                    if self._stop.is_set():
                        break
                    self._stats.add_sample(rtt_ms)
                except (DriverError, OSError):
                    # A failed RTT check changes nothing by itself (SDAM): the heartbeat decides.
                    self._close_connection()
                self._stop.wait(self._settings.heartbeat_frequency_ms / 1000.0)
        finally:
            self._close_connection()  # stopped while connecting: nothing may stay open
