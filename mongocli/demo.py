"""`mongocli demo`: a failover tour on a sandbox replica set, seen live through our driver."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from driver.events.sdam import TopologyDescriptionChangedEvent
from driver.sdam.description import ServerType, TopologyDescription
from mongocli.errors import EXIT_FAILURE, UserError
from mongocli.output.environment import Environment
from mongocli.output.renderers import Renderer
from mongocli.sandbox import Sandbox
from mongocli.service.connect import open_client
from mongocli.service.data import find, insert
from mongocli.service.diagnostics import event_record, note, topology_view
from mongocli.service.options import ConnectOptions

STEP_TIMEOUT_MS = 8_000      # every wait is bounded: the demo never hangs
HEARTBEAT_MS = 500           # the spec's minimum; quick to notice a restarted member
SHOWN_EVENTS = {"heartbeat_failed", "server_changed", "topology_changed", "server_opening", "server_closed"}


@dataclass(frozen=True)
class DemoResult:
    """What the tour measured (milliseconds)."""

    old_primary: str
    new_primary: str
    kill_to_new_primary_ms: float
    blocked_write_ms: float


class _Printer:
    """One thread draws everything, in arrival order: driver events and the tour's own notes."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="demo-printer", daemon=True)
        self._thread.start()
        self.quiet = False  # set while the client closes: its shutdown noise is not part of the tour
        self.reader_gone = False  # stdout's reader went away (`mongocli demo | head -3`)
        self._printing = threading.Event()  # cleared while a prompt waits: lines are kept, not printed
        self._printing.set()
        # Topology descriptions in the order their change events were queued for printing: the
        # tour waits on these, not on the live topology, so its note about a change is always
        # printed after the driver's lines about it (the live topology changes before the
        # events are published, and a busy machine showed the note first).
        self._published: list[TopologyDescription] = []
        self._published_changed = threading.Condition()

    def _run(self) -> None:
        # Every job is marked done, printed or not: flush() joins the queue and must never hang.
        while (job := self._queue.get()) is not None:
            self._printing.wait()
            try:
                if not self.reader_gone:
                    job()
            except (BrokenPipeError, SystemExit):
                # rich answers a broken pipe with SystemExit (Console.on_broken_pipe): in this
                # thread that would end the printer silently and leave flush() waiting forever.
                self.reader_gone = True
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def show(self, job: Callable[[], None]) -> None:
        if self.reader_gone:
            raise BrokenPipeError("stdout was closed by its reader")  # ends the tour: nobody watches it
        self._queue.put(job)

    def note(self, text: str, **facts: Any) -> None:
        record = note(text, **facts)
        self.show(lambda: self.renderer.event(record))

    def driver_event(self, event: Any) -> None:
        self._show_event(event)
        if isinstance(event, TopologyDescriptionChangedEvent):  # after its server lines (SDAM order)
            with self._published_changed:
                self._published.append(event.new)
                self._published_changed.notify_all()

    def _show_event(self, event: Any) -> None:
        record = event_record(event)
        if record is None or self.quiet or self.reader_gone or record.kind not in SHOWN_EVENTS:
            return
        if record.kind == "topology_changed" and record.facts["from"] == record.facts["to"]:
            return  # the server line just before says what changed
        self.show(lambda: self.renderer.event(record))

    def checkpoint(self) -> int:
        """A mark before an action: wait_for(since=mark) looks only at changes published after it."""
        with self._published_changed:
            return len(self._published)

    def wait_for(self, predicate: Callable[[TopologyDescription], bool], since: int,
                 timeout_ms: float) -> tuple[TopologyDescription | None, bool]:
        """Wait until a change published after `since` satisfies `predicate`; (that or the last one, held)."""
        deadline = time.monotonic() + timeout_ms / 1000.0
        with self._published_changed:
            while True:
                for td in self._published[since:]:
                    if predicate(td):
                        return td, True
                since = len(self._published)
                left = deadline - time.monotonic()
                if left <= 0:
                    return (self._published[-1] if self._published else None), False
                self._published_changed.wait(left)

    def topology(self, td: TopologyDescription) -> None:
        view = topology_view(td)
        self.show(lambda: self.renderer.topology(view))

    def flush(self) -> None:
        self._queue.join()

    def hold(self) -> None:
        """Keep lines back (a prompt is waiting: heartbeat lines must not scroll it away)."""
        self.flush()
        self._printing.clear()

    def release(self) -> None:
        self._printing.set()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(5)


def run_demo(env: Environment, renderer: Renderer, *, members: int = 3, election_delay_ms: int = 300,
             pause: bool = False) -> DemoResult:
    """Start a sandbox replica set, connect, kill the primary, show what the client sees, restart it.

    `pause` waits for Enter before the kill and the restart (interactive terminals only).
    Raises UserError (exit code 1) if a step does not complete within STEP_TIMEOUT_MS.
    """
    out = _Printer(renderer)
    try:
        out.note(f"starting a {members}-member sandbox replica set on 127.0.0.1 "
                 f"(election delay {election_delay_ms} ms)")
        with Sandbox(topology="replset", members=members, election_delay_ms=election_delay_ms,
                     host="127.0.0.1", port=0) as sandbox:
            out.note(f"sandbox up: {sandbox.uri}")
            return _tour(env, out, sandbox, members, election_delay_ms, pause)
    finally:
        out.flush()
        out.close()


def _tour(env: Environment, out: _Printer, sandbox: Sandbox, members: int, election_delay_ms: int,
          pause: bool) -> DemoResult:
    options = ConnectOptions(uri=sandbox.uri, heartbeat_frequency_ms=HEARTBEAT_MS,
                                     server_selection_timeout_ms=10_000, connect_timeout_ms=2_000)
    out.note(f"connecting with mongocli's driver (heartbeatFrequencyMS={HEARTBEAT_MS}, streaming monitors)")
    with open_client(options, out.driver_event) as client:
        def wait(predicate: Callable[[TopologyDescription], bool], what: str, since: int) -> TopologyDescription:
            snapshot, ok = out.wait_for(predicate, since, STEP_TIMEOUT_MS)
            if not ok:
                snapshot = snapshot or client.topology.description
                seen = ", ".join(f"{a}={s.type.value}" for a, s in sorted(snapshot.servers.items()))
                raise UserError(f"demo: {what} did not happen within {STEP_TIMEOUT_MS / 1000:g} s "
                                f"(the client sees {snapshot.type.value}: {seen})", exit_code=EXIT_FAILURE)
            return snapshot

        # 1. Discovery: from the seed list to the whole set with a primary.
        td = wait(lambda td: len(td.known_servers) == members and td.has_writable_server,
                  "discovery of all members and the primary", 0)
        out.note("discovery complete: the client knows every member")
        out.topology(td)

        # 2. Some data through the primary.
        docs = [(n, {"n": n, "step": "before failover"}) for n in (1, 2, 3)]
        report = insert(client, "demo", "tour", docs)
        found = find(client, "demo", "tour")
        out.note(f"inserted {len(report.inserted_lines)} documents into demo.tour on {found.address}; "
                 f"read back {len(found.documents)}")

        # 3. Kill the primary and watch.
        old = _primary(td)
        _pause(out, env, pause, f"press Enter to kill the primary {old}")
        out.note(f"killing the primary {old}")
        before_kill = out.checkpoint()
        killed_at = time.monotonic()
        sandbox.kill(old)
        wait(lambda td: td.servers[old].type is ServerType.Unknown, f"the client marking {old} Unknown", before_kill)

        write: dict[str, Any] = {}
        write_done = threading.Event()

        def blocked_write() -> None:
            started = time.monotonic()
            try:
                write["report"] = insert(client, "demo", "tour", [(4, {"n": 4, "step": "during failover"})])
            except Exception as exc:  # noqa: BLE001 - reported below as the demo's failure
                write["error"] = exc
            write["ms"] = (time.monotonic() - started) * 1000.0
            write_done.set()

        out.note("a write now waits in server selection: there is no primary")
        threading.Thread(target=blocked_write, name="demo-write", daemon=True).start()

        td = wait(lambda td: any(s.type is ServerType.RSPrimary and a != old for a, s in td.servers.items()),
                  "election of a new primary", before_kill)
        new = _primary(td)
        kill_to_new_ms = (time.monotonic() - killed_at) * 1000.0
        out.note(f"new primary {new}: seen by the client {kill_to_new_ms:.0f} ms after the kill")
        if not write_done.wait(STEP_TIMEOUT_MS / 1000.0):
            raise UserError("demo: the blocked write did not finish", exit_code=EXIT_FAILURE)
        if "error" in write:
            raise write["error"]
        out.note(f"the blocked write proceeded on {new} after waiting {write['ms']:.0f} ms")

        # 4. Bring the old primary back: it rejoins as a secondary.
        _pause(out, env, pause, f"press Enter to restart {old}")
        before_restart = out.checkpoint()
        sandbox.restart(old)
        out.note(f"restarted {old}")
        td = wait(lambda td: td.servers[old].type is ServerType.RSSecondary, f"{old} rejoining as a secondary",
                  before_restart)
        out.note(f"{old} rejoined as a secondary")
        out.topology(td)
        count = len(find(client, "demo", "tour").documents)
        out.note(f"demo.tour holds {count} documents: nothing was lost")
        out.note(f"measured: kill -> new primary {kill_to_new_ms:.0f} ms "
                 f"(election delay {election_delay_ms} ms, heartbeat {HEARTBEAT_MS} ms)")
        out.quiet = True
    out.note("stopping the sandbox; done")
    return DemoResult(old_primary=old, new_primary=new, kill_to_new_primary_ms=kill_to_new_ms,
                      blocked_write_ms=write["ms"])


def _primary(td: TopologyDescription) -> str:
    return next(a for a, s in sorted(td.servers.items()) if s.type is ServerType.RSPrimary)


def _pause(out: _Printer, env: Environment, pause: bool, prompt: str) -> None:
    if not pause:
        return
    out.hold()
    try:
        env.stdout.write(f"{prompt} ")
        env.stdout.flush()
        env.stdin.readline()
    finally:
        out.release()
