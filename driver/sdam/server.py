"""A live server: its monitor and connection pool, driven by the descriptions SDAM gives it."""

from __future__ import annotations

import threading
from typing import Any, Callable

from driver.errors import NetworkTimeout
from driver.events.listeners import EventBus
from driver.pool import Pool
from driver.sdam.description import ServerDescription, ServerType
from driver.sdam.monitor import Monitor, MonitorSettings


class Server:
    """One server of the topology (SDAM "Server"): a Monitor feeding the topology, and a Pool.

    SDAM/CMAP coupling kept here: a check that finds a data-bearing server marks its pool
    ready; a check that fails (Unknown with an error) clears it. The topology calls
    `on_description` after every change it applies for this server.
    """

    def __init__(self, address: str, *, pool: Pool, monitor: Monitor | None) -> None:
        self.address = address
        self.pool = pool
        self.monitor = monitor
        self._operations = 0
        self._ops_lock = threading.Lock()

    @property
    def operation_count(self) -> int:
        """Operations in flight here (server-selection "operationCount", for power-of-two choice)."""
        return self._operations

    def begin_operation(self) -> None:
        with self._ops_lock:
            self._operations += 1

    def end_operation(self) -> None:
        with self._ops_lock:
            self._operations -= 1

    def open(self) -> None:
        if self.monitor is not None:
            self.monitor.start()

    def close(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
        self.pool.close()

    @property
    def pool_generation(self) -> int:
        return self.pool.generation

    def request_check(self) -> None:
        if self.monitor is not None:
            self.monitor.request_check()

    def cancel_check(self, *, only_if_streaming: bool = False) -> None:
        """SDAM "cancelCheck" on this server's monitor (none in load-balanced mode)."""
        if self.monitor is not None and (self.monitor.streaming or not only_if_streaming):
            self.monitor.cancel_check()

    def clear_pool(self) -> None:
        """Clear the pool after an application error (SDAM "handleError"); no I/O."""
        self.pool.clear()

    def on_description(self, description: ServerDescription) -> None:
        if description.type is ServerType.Unknown:
            if description.error:
                # SDAM monitoring, "Network or command error during server check": clear the
                # pool after the server is marked Unknown; interrupt in-use connections only
                # when the check failed with a network timeout (CMAP interruptInUseConnections).
                error = self.monitor.last_error if self.monitor is not None else None
                self.pool.clear(interrupt_in_use_connections=isinstance(error, NetworkTimeout))
        elif description.is_data_bearing or description.type is ServerType.LoadBalancer:
            self.pool.ready()


def server_factory(*, pool_factory: Callable[[str, Any], Pool],
                   connect_monitor: Callable[[str], Callable[[], Any]] | None,
                   monitor_settings: MonitorSettings, events: EventBus) -> Callable[[str, Any], Server]:
    """Build Servers for a Topology: each with a pool and (unless load-balanced) a monitor."""

    def make(address: str, topology: Any) -> Server:
        monitor = None
        if connect_monitor is not None:
            monitor = Monitor(address, connect_monitor(address), topology.on_server_description,
                              monitor_settings, events=events)
        return Server(address, pool=pool_factory(address, topology), monitor=monitor)

    return make
