"""Diagnostics commands: hello, topology, monitor (the incident side of mongocli)."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import click

from mongocli.commands._app import App, pass_app
from mongocli.errors import UserError


@click.command(short_help="Raw hello of one server, or of every member (--all).")
@click.option("--legacy", is_flag=True, help="Send legacy isMaster as OP_QUERY instead of hello as OP_MSG.")
@click.option("--address", metavar="HOST:PORT", default=None, help="Server to ask (default: the URI's first host).")
@click.option("--all", "all_members", is_flag=True,
              help="Ask every member the topology knows; show them side by side, differences marked.")
@pass_app
def hello(app: App, legacy: bool, address: str | None, all_members: bool) -> None:
    """Show one server's raw hello (or isMaster) reply and the measured round trip."""
    from mongocli.service import diagnostics
    if all_members and address:
        raise UserError("give --all or --address, not both")
    if not all_members:
        app.preflight()
        app.renderer().hello(diagnostics.hello(app.options, address, legacy=legacy))
        return
    from mongocli.service.connect import discover
    with app.topology() as live:
        addresses = list(discover(live).servers)
    app.renderer().hello_all(diagnostics.hello_all(app.options, addresses, legacy=legacy))


@click.command(short_help="The topology, and what each read preference selects.")
@click.option("--watch", is_flag=True, help="Redraw on every topology change until Ctrl-C.")
@click.option("--duration", type=click.FloatRange(0), default=None, help="With --watch: stop after S seconds.")
@click.option("--read-preference", "mode", default=None,
              type=click.Choice(["primary", "primaryPreferred", "secondary", "secondaryPreferred", "nearest"]),
              help="Show selection for this mode only (default: every mode).")
@click.option("--tag-sets", metavar="JSON", default=None, help="Tag sets in order, e.g. '[{\"dc\": \"east\"}, {}]'.")
@click.option("--max-staleness", "max_staleness", type=click.IntRange(-1), default=None,
              help="maxStalenessSeconds for the selection shown.")
@pass_app
def topology(app: App, watch: bool, duration: float | None, mode: str | None, tag_sets: str | None,
             max_staleness: int | None) -> None:
    """Show the client's view after discovery: topology type, set name, every server, and which
    server each read preference would select now (and why not the others)."""
    from mongocli.service import diagnostics
    from mongocli.service.connect import discover
    preferences = diagnostics.read_preferences(mode, _tag_sets(tag_sets), max_staleness)
    renderer = app.renderer()
    changed = threading.Event()
    with app.topology(lambda _event: changed.set()) as live:
        snapshot = discover(live)
        if not watch:
            renderer.topology(diagnostics.topology_view(snapshot, preferences))
            return
        _watch_topology(app, renderer, live, changed, duration, preferences)


def _tag_sets(text: str | None) -> list[dict[str, str]] | None:
    if text is None:
        return None
    from mongocli.service.inputs import parse_json_option
    value = parse_json_option('{"t": %s}' % text, "--tag-sets")["t"]  # type: ignore[index]
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise UserError("--tag-sets must be a JSON array of objects, e.g. '[{\"dc\": \"east\"}, {}]'")
    return value


def _watch_topology(app: App, renderer: Any, live: Any, changed: threading.Event,
                    duration: float | None, preferences: list[Any]) -> None:
    from mongocli.service.diagnostics import topology_view as plain_view

    def topology_view(td: Any) -> Any:
        return plain_view(td, preferences)
    deadline = time.monotonic() + duration if duration is not None else None
    view = topology_view(live.description)

    def wait() -> bool:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        changed.wait(left if left is not None else 1.0)
        changed.clear()
        return True

    try:
        if hasattr(renderer, "topology_renderable") and app.env.is_tty:
            from rich.live import Live
            with Live(renderer.topology_renderable(view), console=renderer.console, auto_refresh=False) as screen:
                while wait():
                    screen.update(renderer.topology_renderable(topology_view(live.description)), refresh=True)
            return
        renderer.topology(view)
        while wait():
            fresh = topology_view(live.description)
            if fresh != view:
                view = fresh
                renderer.topology(view)
    except KeyboardInterrupt:
        return  # Ctrl-C is how a watch ends


@click.command(short_help="Live heartbeats and topology changes.")
@click.option("--heartbeat-frequency-ms", "--heartbeat-ms", "heartbeat_ms", type=click.IntRange(500), default=None,
              help="heartbeatFrequencyMS (default: the URI's, else 10000).")
@click.option("--connect-timeout-ms", type=click.IntRange(0), default=None,
              help="connectTimeoutMS for each monitoring connect and check (as the global option).")
@click.option("--mode", type=click.Choice(["auto", "stream", "poll"]), default=None,
              help="serverMonitoringMode: streaming (awaitable hello) or polling.")
@click.option("--duration", type=click.FloatRange(0), default=None, help="Stop after S seconds (default: Ctrl-C).")
@click.pass_context
@pass_app
def monitor(app: App, ctx: click.Context, heartbeat_ms: int | None, connect_timeout_ms: int | None,
            mode: str | None, duration: float | None) -> None:
    """Live heartbeat and topology-change log, one timestamped line per event (--format jsonl: one
    JSON object per event); when a primary returns, how long there was none (the failover stopwatch).

    Ctrl-C exits 130, --duration 0; the monitor's own shutdown is not logged.
    """
    import queue
    from mongocli.errors import EXIT_INTERRUPTED
    renderer = app.renderer(streaming=True)
    changes: dict = {"heartbeat_frequency_ms": heartbeat_ms, "monitoring_mode": mode}
    if connect_timeout_ms is not None:
        changes["connect_timeout_ms"] = connect_timeout_ms
    options = app.options.with_changes(**changes)
    inbox: queue.Queue = queue.Queue()
    deadline = time.monotonic() + duration if duration is not None else None
    interrupted = False
    stopwatch = _FailoverStopwatch()
    with app.topology(lambda event: inbox.put((time.time(), event)), options=options):
        try:
            _drain(inbox, lambda record: stopwatch.show(record, renderer.event), deadline)
        except KeyboardInterrupt:
            interrupted = True
        # Leaving the block closes monitors and pools: those events describe our shutdown, not the
        # deployment, so nothing queued from here on is shown.
    if interrupted:
        ctx.exit(EXIT_INTERRUPTED)


def _drain(inbox: Any, show: Callable[[Any], None], deadline: float | None) -> None:
    """Print queued driver events (in this thread: renderers are not thread-safe) until deadline."""
    import queue
    from mongocli.service.diagnostics import event_record
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        try:
            when, event = inbox.get(timeout=max(0.0, left) if left is not None else 0.5)
        except queue.Empty:
            if left is not None and left <= 0:
                return
            continue
        record = event_record(event, when)
        if record is not None:
            show(record)


class _FailoverStopwatch:
    """Watches topology_changed records: when a primary appears after a time without one, adds a
    note saying how long writes had no selectable primary (from the old primary to the new)."""

    def __init__(self) -> None:
        self.primary: str | None = None
        self.lost_at: float | None = None

    def show(self, record: Any, show: Callable[[Any], None]) -> None:
        show(record)
        if record.kind != "topology_changed":
            return
        primary = record.facts.get("primary")
        if self.primary is not None and primary is None:
            self.lost_at = record.time
        elif primary is not None and self.lost_at is not None:
            from mongocli.service.diagnostics import note
            gap_ms = (record.time - self.lost_at) * 1000.0
            show(note(f"failover: no selectable primary for {gap_ms:.0f} ms ({self.primary} -> {primary})",
                      record.time, no_primary_ms=round(gap_ms, 1), old_primary=self.primary, new_primary=primary))
            self.lost_at = None
        if primary is not None:
            self.primary = primary


@click.command(short_help="Check the way to a deployment step by step.")
@click.argument("uri", required=False)
@pass_app
def doctor(app: App, uri: str | None) -> None:
    """Check the way to a deployment step by step (URI, SRV, DNS, TCP, TLS, hello, auth, member
    names, selection), each with its timing and verdict; name the failing step and what to try.

    Exit code 0 when every step passes (warnings allowed), 1 when one fails.
    """
    from mongocli.errors import EXIT_FAILURE
    from mongocli.service.doctor import run_doctor
    options = app.options.with_changes(uri=uri) if uri else app.options
    streaming = app.fmt in ("auto", "pretty", "table")
    renderer = app.renderer(streaming=True)
    report = run_doctor(options, on_step=renderer.doctor_step if streaming else None)
    if not streaming:
        renderer.document(report.as_document())
    failure = report.first_failure
    if failure is not None:
        raise UserError(f"doctor: step '{failure.name}' failed: {failure.detail}", exit_code=EXIT_FAILURE,
                        details=(f"try: {failure.hint}",) if failure.hint else ())


COMMANDS = [hello, topology, monitor, doctor]
