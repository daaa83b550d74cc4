"""Opening a live client or topology from the command line's ConnectOptions, failing fast."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from driver.client import Client
from driver.errors import ServerSelectionTimeout
from driver.events import sdam as sdam_events
from driver.events.listeners import EventBus
from driver.hello import server_description_from_hello
from driver.read_preference import ReadPreference
from driver.sdam.description import CheckFailure, ServerDescription, ServerType, TopologyDescription
from driver.sdam.topology import Topology, rejected_servers, unknown_servers_hint
from driver.settings import ClientSettings
from driver.topology_builder import build_topology
from mongocli.service.options import ConnectOptions


@contextmanager
def open_topology(options: ConnectOptions, listener: Callable[[Any], None] | None = None,
                  warn: Callable[[str], None] | None = None) -> Iterator[Topology]:
    """A live, opened topology for the duration of the block; `listener` sees every driver event.

    The settings are built and checked once first (ConnectOptions.settings); `warn` receives the
    URI's warnings.
    """
    settings = checked_settings(options, warn)
    bus = EventBus()
    if listener is not None:
        bus.subscribe(listener)
    topology = build_topology(settings, bus)
    topology.open()
    try:
        yield topology
    finally:
        topology.close()


@contextmanager
def open_client(options: ConnectOptions, listener: Callable[[Any], None] | None = None,
                warn: Callable[[str], None] | None = None, *, verify: bool = False) -> Iterator[Client]:
    """A driver Client for the block (monitoring started), closed afterwards.

    The settings are built and checked once first (ConnectOptions.settings), then handed to the
    Client as they are; `warn` receives the URI's warnings. `verify` runs ping before the block (the shell: a wrong password is exit 4 at connect, as
    for every command, not an error inside the session). Unless the user asked to wait (`options.fail_fast` is False), first waits for the first
    check of every seed and raises Unreachable at once when none can ever answer now.
    """
    settings = checked_settings(options, warn)
    first_checks = FirstChecks()
    listeners = [first_checks] + ([listener] if listener else [])
    client = Client(settings=settings, event_listeners=listeners)
    try:
        if options.fail_fast:
            first_checks.raise_if_hopeless(client.topology)
        if verify:
            client.get_database("admin").run_command({"ping": 1})
        yield client
    finally:
        client.close()


def checked_settings(options: ConnectOptions, warn: Callable[[str], None] | None = None) -> ClientSettings:
    """The options' ClientSettings, built and checked once (exit 2 when invalid); warnings to `warn`."""
    settings = options.settings()
    if warn is not None:
        for warning in settings.warnings:
            warn(warning)
        if options.tls_allow_invalid_certificates:
            warn("--tlsAllowInvalidCertificates: the server's certificate is not checked; "
                 "anyone on the path can impersonate it")
    return settings


class Unreachable(ServerSelectionTimeout):
    """Every seed failed its first check in a way waiting will not fix (refused, unresolvable,
    or removed from the topology), so the command stops before serverSelectionTimeoutMS."""


# A first check failing with one of these means nothing listens or the name does not exist:
# waiting 30 s for serverSelectionTimeoutMS will not change that (mongosh fails at once too).
_HOPELESS_CAUSES = (ConnectionRefusedError, socket.gaierror)


class FirstChecks:
    """Listens to SDAM events: what each seed's first check said (issue 10 item 1, fail fast)."""

    # Heartbeats only: no command event is built for it (and cursors' large batches stay encoded).
    listens_to = ("sdam",)

    def __init__(self) -> None:
        self.failures: dict[str, BaseException] = {}
        self.answers: dict[str, ServerDescription] = {}

    def __call__(self, event: Any) -> None:
        if isinstance(event, sdam_events.ServerHeartbeatFailedEvent) and isinstance(event.error, BaseException):
            self.failures.setdefault(event.address, event.error)
        elif isinstance(event, sdam_events.ServerHeartbeatSucceededEvent):
            # Kept even if SDAM then removes the server (a wrong replicaSet name): it says why.
            self.answers.setdefault(event.address, server_description_from_hello(event.address, event.reply, rtt_ms=event.duration_ms))

    def raise_if_hopeless(self, topology: Topology) -> None:
        """Wait until a server is known (return) or no server can answer now (raise Unreachable)."""
        timeout_ms = topology.settings.server_selection_timeout_ms
        snapshot, decided = wait_until(topology, self._decided, timeout_ms)
        if decided and not snapshot.known_servers:
            # A server that answered is not "unreachable": the message says what it answered.
            error = ServerSelectionTimeout if rejected_servers(snapshot) else Unreachable
            raise error(self._explain(topology, snapshot))
        if not decided:
            # The whole serverSelectionTimeoutMS passed with no server known (e.g. servers that
            # accept and never answer): the command's own selection would wait it a second time
            # (61 s at the default 30 s). Fail now with the same per-server explanation.
            raise ServerSelectionTimeout(no_server_answered(topology, snapshot, "within serverSelectionTimeoutMS="
                                                            f"{timeout_ms:g}"))

    def _decided(self, td: TopologyDescription) -> bool:
        if td.known_servers or not td.servers:
            return True
        # A server that answered and was rejected (an invalid hello, ok: 0) says the same on
        # every re-check: as hopeless as a refused port.
        return all(_is_hopeless(self.failures.get(address)) or sd.failure is CheckFailure.REJECTED
                   for address, sd in td.servers.items())

    def _explain(self, topology: Topology, td: TopologyDescription) -> str:
        wait_hint = "(--wait or --server-selection-timeout-ms waits for servers that may come up)"
        if not td.servers:
            lines = ["every seed answered but was removed from the topology:"]
            for address, sd in sorted(self.answers.items()):
                lines.append(f"  {address}: {sd.type.value}, replica set name {sd.set_name!r}")
            wanted = topology.settings.replica_set_name or td.set_name
            if wanted is not None:
                lines.append(f"  Hint: the URI asks for replicaSet={wanted!r}; use the set name the "
                             "members report, or leave replicaSet out to connect directly.")
            return "\n".join(lines)
        rejected = rejected_servers(td)
        lines = [f"no server can be {'used' if rejected else 'reached'} now {wait_hint}:"]
        for address, sd in sorted(td.servers.items()):
            if address in rejected:
                lines.append(f"  {address}: answered but was rejected: {sd.error}")
            else:
                lines.append(f"  {address}: {self.failures.get(address)}")
        if rejected:
            lines.append(f"  Hint: {unknown_servers_hint(td)}")
        return "\n".join(lines)


def _is_hopeless(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, _HOPELESS_CAUSES):
            return True
        error = error.__cause__
    return False


def is_settled(td: TopologyDescription) -> bool:
    """Discovery is done when every known address has been checked once (answered or failed).

    PossiblePrimary is a member another member named as primary but not yet checked itself
    (SDAM "updateRSWithoutPrimary"): not settled either.
    """
    unchecked = (ServerType.Unknown, ServerType.PossiblePrimary)
    return bool(td.servers) and all(
        sd.type not in unchecked or sd.error is not None for sd in td.servers.values())


def wait_until(topology: Topology, predicate: Callable[[TopologyDescription], bool],
               timeout_ms: float) -> tuple[TopologyDescription, bool]:
    """Block until predicate(description) holds or timeout_ms passes; woken by topology events.

    Returns (last description, whether the predicate held). Never raises for a timeout.
    """
    changed = threading.Event()
    unsubscribe = topology.events.subscribe(lambda _event: changed.set())
    try:
        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            snapshot = topology.description
            if predicate(snapshot):
                return snapshot, True
            left = deadline - time.monotonic()
            if left <= 0:
                return snapshot, False
            changed.wait(left)
            changed.clear()
    finally:
        unsubscribe()


def discover(topology: Topology) -> TopologyDescription:
    """Wait (up to serverSelectionTimeoutMS) until every known server has been checked once.

    Raises ServerSelectionTimeout, with the topology's per-server explanation, when no server
    answered: a diagnostics command must not show an empty view as if it were fine.
    """
    timeout_ms = topology.settings.server_selection_timeout_ms
    snapshot, settled = wait_until(topology, is_settled, timeout_ms)
    if not snapshot.known_servers:
        waited = "within serverSelectionTimeoutMS=%g" % timeout_ms if not settled else "when first checked"
        raise ServerSelectionTimeout(no_server_answered(topology, snapshot, waited))
    return topology.description


def no_server_answered(topology: Topology, snapshot: TopologyDescription, waited: str) -> str:
    """The message for "no server is known": the topology's explanation names each server, its
    last error and a hint."""
    timeout_ms = topology.settings.server_selection_timeout_ms
    explanation = topology.explain(ReadPreference(mode="nearest"), snapshot, timeout_ms).splitlines()[1:]
    what = "no usable server" if rejected_servers(snapshot) else "no server answered"
    return "\n".join([f"{what} {waited}; topology is {snapshot.type.value}."] + explanation)
