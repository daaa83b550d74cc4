"""Server monitors: polling or streaming (awaitable) hello heartbeats, plus the RTT monitor (SDAM "Monitoring")."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from driver.errors import DriverError
from driver.events import sdam as sdam_events
from driver.events.listeners import EventBus
from driver.hello import server_description_from_hello, unknown_server
from driver.sdam.description import ServerDescription, ServerType, TopologyVersion
from driver.sdam.rtt import RttStats

_log = logging.getLogger("driver.monitor")
MIN_HEARTBEAT_FREQUENCY_MS = 500  # SDAM "minHeartbeatFrequencyMS": fixed by the spec

# connect() returns (connection, hello reply, round trip ms); see driver.connect.open_connection.
ConnectFn = Callable[[], "tuple[Any, dict[str, Any], float]"]


@dataclass(frozen=True)
class MonitorSettings:
    """What a monitor reads from the client's options. Times in milliseconds."""

    heartbeat_frequency_ms: float = 10_000
    connect_timeout_ms: float = 10_000
    mode: str = "auto"  # serverMonitoringMode: auto | stream | poll


class Monitor:
    """One thread per server, checking it and reporting a ServerDescription after every check.

    A failed check is data (an Unknown description with the error), never an exception.
    SDAM rules kept here: a known server whose check fails with a network error is retried
    once at once ("Network or command error during server check"); checks are spaced by
    heartbeatFrequencyMS, and on request_check() by at least minHeartbeatFrequencyMS; in
    streaming mode an awaitable hello (topologyVersion + maxAwaitTimeMS, exhaustAllowed)
    receives pushes and a separate RTT monitor measures round trips.
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
        self._description: ServerDescription = unknown_server(address)
        self._streaming = False
        self.rtt = RttStats()
        self._rtt_monitor: RttMonitor | None = None
        self._thread = threading.Thread(target=self._run, name=f"monitor-{address}", daemon=True)

    # -- control (any thread) ------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def request_check(self) -> None:
        """Check soon (SDAM "requestImmediateCheck"); ignored while streaming pushes arrive."""
        self._wake.set()

    def cancel_check(self) -> None:
        """Drop the monitoring connection so an in-flight check ends (SDAM "cancelCheck")."""
        self._close_connection()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._close_connection()
        if self._rtt_monitor is not None:
            self._rtt_monitor.stop()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    @property
    def streaming(self) -> bool:
        return self._streaming

    # -- the loop ------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            started = self._clock()
            try:
                description = self._check_with_retry()
            except Exception as exc:  # noqa: BLE001 - a monitor bug must not silently end monitoring
                _log.exception("monitor of %s failed unexpectedly", self.address)
                self._close_connection()
                self._streaming = False
                description = unknown_server(self.address, error=f"monitor error: {exc!r}")
            if self._stop.is_set():
                break
            self._description = description
            self._report(description)
            if self._streaming and self._conn is not None:
                continue  # the next awaitable reply is a push; read it straight away
            self._wait_for_next_check(started)

    def _wait_for_next_check(self, started: float) -> None:
        frequency_s = self.settings.heartbeat_frequency_ms / 1000.0
        min_s = MIN_HEARTBEAT_FREQUENCY_MS / 1000.0
        # Wait out the heartbeat interval, or until someone asks for a check...
        self._wake.wait(max(0.0, started + frequency_s - self._clock()))
        self._wake.clear()
        # ...but never check more often than minHeartbeatFrequencyMS.
        early = started + min_s - self._clock()
        if early > 0 and not self._stop.is_set():
            self._stop.wait(early)

    def _check_with_retry(self) -> ServerDescription:
        previous = self._description
        result, error = self._check()
        if error is None:
            return result
        # SDAM: a known server (or a streaming connection) failing with a network error is
        # retried once immediately before it is marked Unknown.
        if (previous.type is not ServerType.Unknown or self._streaming) and not self._stop.is_set():
            self._streaming = False
            result, error = self._check()
            if error is None:
                return result
        self._streaming = False
        return unknown_server(self.address, error=str(error), topology_version=previous.topology_version)

    def _check(self) -> tuple[ServerDescription, Exception | None]:
        awaited = self._streaming and self._conn is not None
        self._events.publish(sdam_events.ServerHeartbeatStartedEvent(self.address, awaited=awaited))
        started = self._clock()
        try:
            if self._conn is None:
                reply, rtt_ms = self._handshake()
            elif awaited:
                reply, rtt_ms = self._await_push(), None
            else:
                reply, rtt_ms = self._poll()
        except (DriverError, OSError) as exc:
            self._close_connection()
            duration_ms = (self._clock() - started) * 1000.0
            self._events.publish(sdam_events.ServerHeartbeatFailedEvent(
                self.address, duration_ms=duration_ms, error=exc, awaited=awaited))
            return unknown_server(self.address, error=str(exc)), exc
        duration_ms = (self._clock() - started) * 1000.0
        if rtt_ms is not None:
            self.rtt.add_sample(rtt_ms)
        self._events.publish(sdam_events.ServerHeartbeatSucceededEvent(
            self.address, duration_ms=duration_ms, reply=reply, awaited=awaited))
        average_ms, minimum_ms = self.rtt.snapshot()
        description = server_description_from_hello(
            self.address, reply, rtt_ms=average_ms, now_ms=self._clock() * 1000.0)
        description = description.with_changes(min_round_trip_time_ms=minimum_ms)
        self._maybe_start_streaming(description)
        return description, None

    # -- the three kinds of check ---------------------------------------------------------
    def _handshake(self) -> tuple[dict[str, Any], float]:
        conn, reply, rtt_ms = self._connect()
        with self._conn_lock:
            if self._stop.is_set():
                conn.close()
                raise DriverError(f"monitor for {self.address} stopped")
            self._conn = conn
        self.rtt.reset()
        return reply, rtt_ms

    def _poll(self) -> tuple[dict[str, Any], float]:
        started = self._clock()
        reply = self._conn.command("admin", self._hello_command())
        return reply, (self._clock() - started) * 1000.0

    def _await_push(self) -> dict[str, Any]:
        conn = self._conn
        if conn.more_to_come:
            return conn.receive_more()
        # Awaitable hello: the server answers when its state changes or after maxAwaitTimeMS;
        # with exhaustAllowed it keeps streaming replies (moreToCome) on this connection.
        body = self._hello_command()
        tv = self._description.topology_version
        body["topologyVersion"] = {"processId": tv.process_id, "counter": tv.counter}
        body["maxAwaitTimeMS"] = int(self.settings.heartbeat_frequency_ms)
        conn.set_timeout(self.settings.connect_timeout_ms + self.settings.heartbeat_frequency_ms)
        return conn.command("admin", body, exhaust_allowed=True)

    def _hello_command(self) -> dict[str, Any]:
        hello = getattr(self._conn, "hello", None) or {}
        return {"hello": 1} if hello.get("helloOk") else {"isMaster": 1}

    def _maybe_start_streaming(self, description: ServerDescription) -> None:
        """Streaming protocol: used when the server reports a topologyVersion (4.4+) and mode allows."""
        want = self.settings.mode in ("auto", "stream") and isinstance(description.topology_version, TopologyVersion)
        if want and not self._streaming and self._conn is not None:
            self._streaming = True
            if self._rtt_monitor is None:
                self._rtt_monitor = RttMonitor(self.address, self._connect, self.rtt, self.settings)
                self._rtt_monitor.start()

    def _close_connection(self) -> None:
        with self._conn_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class RttMonitor:
    """SDAM "Measuring RTT" in streaming mode: a separate connection timing hello every heartbeat."""

    def __init__(self, address: str, connect: ConnectFn, stats: RttStats, settings: MonitorSettings) -> None:
        self.address = address
        self._connect = connect
        self._stats = stats
        self._settings = settings
        self._stop = threading.Event()
        self._conn: Any = None
        self._thread = threading.Thread(target=self._run, name=f"rtt-{address}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._conn is None:
                    self._conn, _reply, rtt_ms = self._connect()
                else:
                    started = time.monotonic()
                    self._conn.command("admin", {"hello": 1})
                    rtt_ms = (time.monotonic() - started) * 1000.0
                self._stats.add_sample(rtt_ms)
            except (DriverError, OSError):
                # A failed RTT check changes nothing by itself (SDAM): the heartbeat decides.
                conn, self._conn = self._conn, None
                if conn is not None:
                    conn.close()
            self._stop.wait(self._settings.heartbeat_frequency_ms / 1000.0)
