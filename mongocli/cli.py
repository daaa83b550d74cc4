"""The click command tree: global options, one thin command per job, errors to exit codes."""

from __future__ import annotations

import functools
import queue
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import click

from mongocli import __version__, service
from mongocli import errors as cli_errors
from mongocli.output import EJSON_MODES, FORMATS, Environment, PrettyRenderer, Renderer, make_renderer
from mongocli.sandbox.cli_command import sandbox_command
from mongocli.service.session import DEFAULT_URI
from mongocli.shell.command import shell_command

EPILOG = ("Exit codes: 0 ok, 1 failure, 2 usage (bad option, URI or JSON), 3 no reachable/suitable "
          "server, 4 authentication failed, 5 the server returned an error, 130 interrupted.")


@dataclass
class App:
    """What every command needs: the environment, connection options, output choices."""

    env: Environment
    options: service.ConnectOptions
    fmt: str
    ejson: str
    debug: bool

    def renderer(self, *, streaming: bool = False) -> Renderer:
        return make_renderer(self.fmt, self.env, self.ejson, streaming=streaming)


_pass_app = click.make_pass_decorator(App)


def pass_app(command: Callable[..., Any]) -> Callable[..., Any]:
    """Pass the App, and accept --format/--ejson/--debug after the command name as well."""
    @functools.wraps(command)
    def wrapper(app: App, *args: Any, fmt: str | None, ejson: str | None, debug: bool, **kwargs: Any) -> Any:
        app.fmt = fmt or app.fmt
        app.ejson = ejson or app.ejson
        app.debug = app.debug or debug
        return command(app, *args, **kwargs)

    wrapper = click.option("--debug", is_flag=True, help="Show tracebacks for errors.")(wrapper)
    wrapper = click.option("--ejson", type=click.Choice(EJSON_MODES), default=None,
                           help="Extended JSON mode (as the global option).")(wrapper)
    wrapper = click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                           help="Output format (as the global option).")(wrapper)
    return _pass_app(wrapper)


class Group(click.Group):
    """The root group: turns driver and user errors into one message and an exit code (errors.py)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            # The reader went away (`mongocli monitor | head`): stop quietly, as Unix tools do.
            _silence_stdout()
            ctx.exit(cli_errors.EXIT_OK)
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - every error ends here, once
            app = ctx.obj if isinstance(ctx.obj, App) else None
            debug = app.debug if app else bool(ctx.params.get("debug"))
            stream = app.env.stderr if app else sys.stderr
            ctx.exit(cli_errors.report(exc, debug=debug, stream=stream))


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    import os
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # not a real file descriptor (a test runner's buffer): nothing to flush


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=EPILOG)
@click.version_option(__version__, prog_name="mongocli")
@click.option("--uri", envvar="MONGODB_URI", default=DEFAULT_URI, show_default=True, show_envvar=True,
              help="Connection string (mongodb:// or mongodb+srv://).")
@click.option("--connect-timeout-ms", type=click.IntRange(0), default=None,
              help="connectTimeoutMS: limit for each TCP/TLS connect and monitoring check.")
@click.option("--server-selection-timeout-ms", type=click.IntRange(0), default=None,
              help="serverSelectionTimeoutMS: how long to wait for a suitable server.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True,
              help="Output format; auto is pretty on a terminal, JSON (or plain log lines) on a pipe.")
@click.option("--ejson", type=click.Choice(EJSON_MODES), default="relaxed", show_default=True,
              help="Extended JSON mode for json/jsonl output.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, uri: str, connect_timeout_ms: int | None, server_selection_timeout_ms: int | None,
        fmt: str, ejson: str, debug: bool) -> None:
    """mongocli: a MongoDB shell and diagnostics tool for the terminal."""
    ctx.obj = App(env=Environment.from_system(),
                  options=service.ConnectOptions(uri=uri, connect_timeout_ms=connect_timeout_ms,
                                                 server_selection_timeout_ms=server_selection_timeout_ms),
                  fmt=fmt, ejson=ejson, debug=debug)


cli.add_command(sandbox_command)
cli.add_command(shell_command)


# -- diagnostics -----------------------------------------------------------------------------
@cli.command()
@click.option("--legacy", is_flag=True, help="Send legacy isMaster as OP_QUERY instead of hello as OP_MSG.")
@click.option("--address", metavar="HOST:PORT", default=None, help="Server to ask (default: the URI's first host).")
@pass_app
def hello(app: App, legacy: bool, address: str | None) -> None:
    """Show one server's raw hello (or isMaster) reply and the measured round trip."""
    app.renderer().hello(service.hello(app.options, address, legacy=legacy))


@cli.command()
@click.option("--watch", is_flag=True, help="Redraw on every topology change until Ctrl-C.")
@click.option("--duration", type=click.FloatRange(0), default=None, help="With --watch: stop after S seconds.")
@pass_app
def topology(app: App, watch: bool, duration: float | None) -> None:
    """Show the client's view after discovery: topology type, set name, every server."""
    renderer = app.renderer()
    changed = threading.Event()
    with service.open_topology(app.options, lambda _event: changed.set()) as live:
        snapshot = service.discover(live)
        if not watch:
            renderer.topology(service.topology_view(snapshot))
            return
        _watch_topology(app, renderer, live, changed, duration)


def _watch_topology(app: App, renderer: Renderer, live: Any, changed: threading.Event,
                    duration: float | None) -> None:
    deadline = time.monotonic() + duration if duration is not None else None
    view = service.topology_view(live.description)

    def wait() -> bool:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        changed.wait(left if left is not None else 1.0)
        changed.clear()
        return True

    try:
        if isinstance(renderer, PrettyRenderer) and app.env.is_tty:
            from rich.live import Live
            with Live(renderer.topology_renderable(view), console=renderer.console, auto_refresh=False) as screen:
                while wait():
                    screen.update(renderer.topology_renderable(service.topology_view(live.description)),
                                  refresh=True)
            return
        renderer.topology(view)
        while wait():
            fresh = service.topology_view(live.description)
            if fresh != view:
                view = fresh
                renderer.topology(view)
    except KeyboardInterrupt:
        return  # Ctrl-C is how a watch ends


@cli.command()
@click.option("--heartbeat-ms", type=click.IntRange(500), default=None,
              help="heartbeatFrequencyMS (default: the URI's, else 10000).")
@click.option("--mode", type=click.Choice(["auto", "stream", "poll"]), default=None,
              help="serverMonitoringMode: streaming (awaitable hello) or polling.")
@click.option("--duration", type=click.FloatRange(0), default=None, help="Stop after S seconds (default: Ctrl-C).")
@pass_app
def monitor(app: App, heartbeat_ms: int | None, mode: str | None, duration: float | None) -> None:
    """Live heartbeat and topology-change log, one timestamped line per event."""
    renderer = app.renderer(streaming=True)
    options = app.options.with_changes(heartbeat_frequency_ms=heartbeat_ms, monitoring_mode=mode)
    inbox: queue.Queue = queue.Queue()
    deadline = time.monotonic() + duration if duration is not None else None
    with service.open_topology(options, lambda event: inbox.put((time.time(), event))):
        try:
            _drain(inbox, renderer.event, deadline)
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a monitor ends
    # Events published while closing (server closed...) are shown too.
    _drain(inbox, renderer.event, time.monotonic())


def _drain(inbox: queue.Queue, show: Callable[[service.EventRecord], None], deadline: float | None) -> None:
    """Print queued driver events (in this thread: renderers are not thread-safe) until deadline."""
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        try:
            when, event = inbox.get(timeout=max(0.0, left) if left is not None else 0.5)
        except queue.Empty:
            if left is not None and left <= 0:
                return
            continue
        record = service.event_record(event, when)
        if record is not None:
            show(record)


# -- data --------------------------------------------------------------------------------------
@cli.command()
@pass_app
def ping(app: App) -> None:
    """Select the primary and run ping on it."""
    with service.open_client(app.options) as client:
        app.renderer().command(service.ping(client))


@cli.command()
@click.argument("namespace", metavar="DB.COLL")
@click.option("--filter", "filter_", metavar="JSON", default=None, help="Query filter (Extended JSON).")
@click.option("--sort", metavar="JSON", default=None, help="Sort document, e.g. '{\"a\": -1}'.")
@click.option("--projection", metavar="JSON", default=None, help="Projection document.")
@click.option("--limit", type=click.IntRange(0), default=0, help="At most N documents (0: all).")
@pass_app
def find(app: App, namespace: str, filter_: str | None, sort: str | None, projection: str | None,
         limit: int) -> None:
    """Find documents in DB.COLL."""
    db, coll = service.inputs.parse_namespace(namespace)
    filter_doc = service.inputs.parse_json_option(filter_, "--filter")
    sort_doc = service.inputs.parse_json_option(sort, "--sort")
    projection_doc = service.inputs.parse_json_option(projection, "--projection")
    with service.open_client(app.options) as client:
        app.renderer().find(service.find(client, db, coll, filter=filter_doc, sort=sort_doc,
                                         projection=projection_doc, limit=limit))


@cli.command()
@click.argument("namespace", metavar="DB.COLL")
@click.option("--file", "path", type=click.File("r", encoding="utf-8"), default=None,
              help="JSON-lines file: one Extended JSON document per line (default: stdin).")
@pass_app
def insert(app: App, namespace: str, path: Any) -> None:
    """Insert documents (one Extended JSON object per line) into DB.COLL.

    Lines that do not parse are reported with their line number and not sent; every other
    line is inserted. The exit code is non-zero if any line was not inserted.
    """
    db, coll = service.inputs.parse_namespace(namespace)
    source = path if path is not None else app.env.stdin
    if path is None and app.env.stdin_is_tty:
        raise cli_errors.UserError("no input: pipe JSON lines to stdin or pass --file F.jsonl")
    good, bad = service.inputs.parse_lines(source)
    if not good and not bad:
        raise cli_errors.UserError("no documents in the input (it is empty or only blank lines)")
    if good:
        with service.open_client(app.options) as client:
            report = service.insert(client, db, coll, good, bad)
    else:
        report = service.InsertReport(namespace=namespace, inserted_lines=(), inserted_ids=(), bad_lines=tuple(bad))
    app.renderer().insert(report)
    if not report.ok:
        missing = len(report.bad_lines) + len(report.failed_lines)
        raise cli_errors.UserError(
            f"{missing} line(s) not inserted, {len(report.inserted_lines)} inserted",
            exit_code=cli_errors.EXIT_FAILURE,
            details=tuple(f"line {n}: {e}" for n, e in (*report.bad_lines, *report.failed_lines)))


@cli.command("run")
@click.argument("db")
@click.argument("command_json", metavar="COMMAND_JSON")
@pass_app
def run_(app: App, db: str, command_json: str) -> None:
    """Run a database command, e.g. mongocli run admin '{"buildInfo": 1}'."""
    body = service.inputs.parse_json_option(command_json, "COMMAND_JSON")
    if not body:
        raise cli_errors.UserError("COMMAND_JSON must name a command, e.g. '{\"ping\": 1}'")
    with service.open_client(app.options) as client:
        app.renderer().command(service.run_command(client, db, body))


# -- the tour ------------------------------------------------------------------------------------
@cli.command()
@click.option("--members", type=click.IntRange(2, 7), default=3, show_default=True,
              help="Replica set members.")
@click.option("--election-delay-ms", type=click.IntRange(0, 5000), default=300, show_default=True,
              help="Time the sandbox takes to elect a new primary.")
@click.option("--no-pause", is_flag=True, help="Do not wait for Enter between steps (implied on a pipe).")
@pass_app
def demo(app: App, members: int, election_delay_ms: int, no_pause: bool) -> None:
    """A tour on a local sandbox replica set: discovery, failover seen live, rejoin."""
    from mongocli.demo import run_demo
    pause = not no_pause and app.env.is_tty and app.env.stdin_is_tty
    run_demo(app.env, app.renderer(streaming=True) if app.fmt != "auto" else
             make_renderer("pretty", app.env, app.ejson), members=members,
             election_delay_ms=election_delay_ms, pause=pause)


def main() -> None:
    """Console entry point (`mongocli`, `python -m mongocli`)."""
    cli(obj=None, prog_name="mongocli")
