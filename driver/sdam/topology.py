"""The live topology: one writer of the TopologyDescription, published snapshots, waiters woken on change."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Mapping, Protocol, Sequence

from driver.errors import ConfigurationError, DriverError, ServerSelectionTimeout
from driver.events.listeners import EventBus
from driver.hello import load_balancer_server
from driver.sdam import app_errors, selection, transitions
from driver.sdam.description import (CheckFailure, ServerDescription, ServerType, TopologyDescription,
                                     TopologySettings)
from driver.events import sdam as sdam_events


class ServerHandle(Protocol):
    """What the topology needs of a live server (monitor + pool); see driver/sdam/server.py."""

    address: str
    operation_count: int

    @property
    def pool_generation(self) -> int: ...
    def open(self) -> None: ...
    def close(self) -> None: ...
    def request_check(self) -> None: ...
    def cancel_check(self, *, only_if_streaming: bool = False) -> None: ...
    def clear_pool(self) -> None: ...
    def on_description(self, description: ServerDescription) -> None: ...


ServerFactory = Callable[[str, "Topology"], ServerHandle]


class Topology:
    """Owns the client's TopologyDescription (SDAM "TopologyDescription", multi-threaded client).

    One writer: every change goes through `_apply` under one lock, with a pure transition
    (driver/sdam/transitions.py). No I/O under the lock: monitors and pools are started and
    stopped, and events published, after it is released. Readers take `description`, an
    immutable snapshot. Server selection waits on the condition and is woken by any change.
    """

    def __init__(self, seeds: Sequence[str], settings: TopologySettings, server_factory: ServerFactory,
                 *, events: EventBus | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.events = events or EventBus()
        self._clock = clock
        self._factory = server_factory
        # The condition's lock, held directly by server selection (its `with` costs two Python calls).
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._description = transitions.initial_topology(list(seeds), settings)
        self._servers: dict[str, ServerHandle] = {}
        # Selection is a pure function of (snapshot, criteria, deprioritized): its results are
        # kept until the snapshot changes, so an unchanged topology selects without re-filtering.
        self._selected_for: TopologyDescription | None = None
        self._selected: dict[Any, list[ServerDescription]] = {}
        self._opened = False
        self._closed = False

    # -- reading -----------------------------------------------------------------------
    @property
    def description(self) -> TopologyDescription:
        """The current snapshot; never mutated, safe to keep."""
        return self._description

    def server(self, address: str) -> ServerHandle | None:
        return self._servers.get(address)

    # -- lifecycle ---------------------------------------------------------------------
    def open(self) -> None:
        """Publish the opening events and start one monitor per seed."""
        with self._cond:
            if self._opened:
                return
            self._opened = True
            initial = self._description
            handles = {addr: self._factory(addr, self) for addr in initial.servers}
            self._servers.update(handles)
        for event in sdam_events.events_for_opening(initial, id(self)):
            self.events.publish(event)
        for handle in handles.values():
            handle.open()
        if self.settings.load_balanced:
            # Load balancer spec: no monitoring; the single seed is a LoadBalancer at once.
            for address in initial.servers:
                self.on_server_description(load_balancer_server(address))

    def close(self) -> None:
        """Stop every monitor and pool; wake waiters so they fail fast."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            handles = list(self._servers.values())
            self._servers.clear()
            final = self._description
            # SDAM monitoring (DRIVERS-2711): a closing client empties its description, type
            # Unknown with no servers, and publishes that change before TopologyClosedEvent.
            self._description = sdam_events.empty_topology(final)
            self._cond.notify_all()
        for handle in handles:
            handle.close()
        *server_closed, topology_closed = sdam_events.events_for_closing(final, id(self))
        for event in server_closed:
            self.events.publish(event)
        self.events.publish(sdam_events.TopologyDescriptionChangedEvent(final, self._description, id(self)))
        self.events.publish(topology_closed)

    # -- the one writer ----------------------------------------------------------------
    def on_server_description(self, server: ServerDescription) -> None:
        """A monitor (or an application error) produced a new description of one server."""
        self._apply(lambda td: transitions.update_topology(td, server), server)

    def handle_application_error(self, address: str, error: BaseException | None, *, phase: app_errors.Phase,
                                 generation: int, reply: Mapping[str, Any] | None = None) -> app_errors.ErrorOutcome:
        """SDAM "handleError": the one door for application errors, from operations and pool population alike.

        `error` met in `phase` on a connection of pool `generation` (or an unchecked `reply`
        with ok: 0 or a writeConcernError) is classified (app_errors.classify_error), then the
        pure decision (app_errors.handle_application_error) is taken as the one writer, against
        the current description and the server's current pool generation. When it says to
        clear the pool, that runs under the same lock: SDAM "Clearing the connection pool for a
        server MUST be synchronized with the update to the corresponding ServerDescription".
        Cleared outside it, a monitor could report the server (and ready its pool) between the
        two, leaving a paused pool under a selectable server. After the lock: labels the
        outcome names are added to `error`, and the server's monitor is asked to check again
        or cancel its check.
        """
        report = app_errors.classify_error(error, phase, reply)
        if report is None:
            return app_errors.ErrorOutcome(self._description, ignored="not an error SDAM inspects")
        outcome: list[app_errors.ErrorOutcome] = []
        handles: list[ServerHandle] = []

        def change(current: TopologyDescription) -> TopologyDescription:
            handle = self._servers.get(address)
            sd = current.servers.get(address)
            result = app_errors.handle_application_error(
                current, address, report.kind, generation=generation,
                pool_generation=handle.pool_generation if handle is not None else generation,
                max_wire_version=sd.max_wire_version if sd is not None and sd.max_wire_version else None,
                code=report.code, message=report.message, topology_version=report.topology_version,
                phase=report.phase)
            outcome.append(result)
            if handle is not None:
                handles.append(handle)
                if result.clear_pool:
                    handle.clear_pool()  # a quick, non-blocking pool call (no I/O), like on_description's
            return result.topology

        self._apply(change, None)
        if not outcome:
            return app_errors.ErrorOutcome(self._description, ignored="topology closed")
        result = outcome[0]
        if isinstance(error, DriverError):
            for label in result.error_labels:
                error.add_error_label(label)
        for handle in handles:
            if result.request_check:
                handle.request_check()
                # A streaming monitor sits in an awaitable hello that the server answers only
                # when its topologyVersion moves or after maxAwaitTimeMS (a whole heartbeat). A
                # state change error without a topologyVersion (shutdown errors outside quiesce
                # mode, or failCommand) leaves the server's version where it was, so the
                # requested check would not run for heartbeatFrequencyMS while the server stays
                # Unknown. Cancel the awaitable hello: the monitor then checks again after
                # minHeartbeatFrequencyMS, as a polling monitor would on request.
                if report.topology_version is None:
                    handle.cancel_check(only_if_streaming=True)
            if result.cancel_check:
                handle.cancel_check()
        return result

    def _apply(self, change: Callable[[TopologyDescription], TopologyDescription],
               server: ServerDescription | None) -> None:
        with self._cond:
            if self._closed:
                return
            previous = self._description
            new = change(previous)
            self._description = new
            added = [a for a in new.servers if a not in self._servers]
            removed = [self._servers.pop(a) for a in list(self._servers) if a not in new.servers]
            for address in added:
                self._servers[address] = self._factory(address, self)
            started = [self._servers[a] for a in added]
            handle = self._servers.get(server.address) if server is not None else None
            if handle is not None and server is not None and server.address in new.servers:
                # Under the lock, before waiters wake: a selectable server's pool is ready, and
                # a failed check's pool clear is synchronized with marking it Unknown (SDAM
                # monitoring, "Marking the connection pool as ready"; "Network or command
                # error during server check"). Both are quick, non-blocking pool calls.
                handle.on_description(new.servers[server.address])
            self._cond.notify_all()
        # Outside the lock: I/O (start/stop monitors and pools) and event publication.
        for gone in removed:
            gone.close()
        for event in sdam_events.events_for_change(previous, new, id(self)):
            self.events.publish(event)
        for fresh in started:
            fresh.open()

    # -- server selection --------------------------------------------------------------
    def select_server(self, criteria: Any, *, timeout_ms: float | None = None,
                      deprioritized: Sequence[str] = ()) -> ServerHandle:
        """Block until a server suits `criteria` ("write" or a ReadPreference), or time out.

        Spec (server-selection, "multi-threaded"): on each pass take a snapshot, select,
        and if nothing suits request immediate checks and wait for a topology change, until
        serverSelectionTimeoutMS; among two random candidates prefer the one with fewer
        operations in flight. The timeout error says what was seen (see `explain`).
        """
        if not self._opened:
            self.open()
        timeout_ms = self.settings.server_selection_timeout_ms if timeout_ms is None else timeout_ms
        deadline = None  # taken at the first pass that finds no server (a found one needs no clock)
        while True:
            with self._lock:
                if self._closed:
                    raise ServerSelectionTimeout("the client is closed; no server can be selected")
                snapshot = self._description
                if not snapshot.compatible:
                    # Server selection spec, "Server Selection Algorithm" step 2: an invalid
                    # topology wire version fails selection at once, with SDAM's message.
                    raise ConfigurationError(f"{snapshot.compatibility_error}; no server can be selected")
                if self._selected_for is not snapshot:
                    self._selected_for, self._selected = snapshot, {}
                key = (criteria, tuple(deprioritized))
                suitable = self._selected.get(key)
                if suitable is None:
                    suitable = self._selected[key] = selection.select_servers(
                        snapshot, criteria, local_threshold_ms=self.settings.local_threshold_ms,
                        deprioritized=deprioritized)
                if len(suitable) == 1 and suitable[0].address in self._servers:
                    return self._servers[suitable[0].address]  # one candidate: nothing to weigh
                known = [s for s in suitable if s.address in self._servers]
                if known:
                    counts = {s.address: self._servers[s.address].operation_count for s in known}
                    chosen = selection.choose_server(known, counts)
                    return self._servers[chosen.address]
                now = self._clock()
                if deadline is None:
                    deadline = now + timeout_ms / 1000.0
                remaining = deadline - now
                if remaining <= 0:
                    raise ServerSelectionTimeout(self.explain(criteria, snapshot, timeout_ms))
                waiting_on = list(self._servers.values())
            for handle in waiting_on:
                handle.request_check()
            with self._cond:
                if self._description is snapshot and not self._closed:
                    self._cond.wait(remaining)

    def explain(self, criteria: Any, snapshot: TopologyDescription, timeout_ms: float) -> str:
        """A selection failure in words: each server's address, type, RTT, error and why not."""
        wanted = "a writable server" if criteria == "write" else f"a server for read preference {criteria}"
        lines = [f"No server selected within serverSelectionTimeoutMS={timeout_ms:g}: wanted {wanted}; "
                 f"topology is {snapshot.type.value}"
                 + (f" (replica set {snapshot.set_name!r})" if snapshot.set_name else "") + "."]
        if not snapshot.compatible and snapshot.compatibility_error:
            lines.append(f"  incompatible: {snapshot.compatibility_error}")
        reasons = dict(selection.explain_unsuitable(snapshot, criteria))
        for address, sd in sorted(snapshot.servers.items()):
            rtt = f"{sd.round_trip_time_ms:.1f} ms" if sd.round_trip_time_ms is not None else "n/a"
            line = f"  {address}: {sd.type.value}, rtt {rtt}"
            if sd.error:
                line += f", {_FAILURE_WORDS.get(sd.failure, 'last error')}: {sd.error}"
            if address in reasons and not (sd.error and sd.type is ServerType.Unknown):  # the error says why
                line += f"; not suitable: {reasons[address]}"
            lines.append(line)
        if not snapshot.servers:
            lines.append("  no servers are known (all seeds were removed from the topology)")
        hint = unknown_servers_hint(snapshot)
        if hint:
            lines.append(f"  Hint: {hint}")
        return "\n".join(lines)


_FAILURE_WORDS = {CheckFailure.UNREACHABLE: "unreachable",
                  CheckFailure.REJECTED: "answered but was rejected"}


def rejected_servers(snapshot: TopologyDescription) -> list[str]:
    """Addresses of the servers that answered their last check and whose answer was refused."""
    return sorted(a for a, sd in snapshot.servers.items() if sd.failure is CheckFailure.REJECTED)


def unknown_servers_hint(snapshot: TopologyDescription) -> str | None:
    """What to check when no server is known: nothing answered, or servers answered and were
    rejected (each one's reason is on its line); None while some server is known."""
    if not snapshot.servers or any(sd.type is not ServerType.Unknown for sd in snapshot.servers.values()):
        return None
    rejected = rejected_servers(snapshot)
    if not rejected:
        return ("no server answered; check the address, that the server runs, "
                "and firewalls (connectTimeoutMS bounds each attempt).")
    others = len(snapshot.servers) - len(rejected)
    return (f"{', '.join(rejected)} answered, but {'its reply was' if len(rejected) == 1 else 'their replies were'} "
            "rejected (reason on each line above): not a MongoDB server mongocli can use, a misconfigured "
            "server, or wrong settings for it; waiting will not change that"
            + (f"; {others} other server(s) did not answer." if others else "."))
