"""The tour: `mongocli demo`, a failover seen live on a local sandbox replica set."""

from __future__ import annotations

import click

from mongocli.commands._app import App, pass_app


@click.command(short_help="A failover tour on a local sandbox replica set.")
@click.option("--members", type=click.IntRange(2, 7), default=3, show_default=True,
              help="Replica set members.")
@click.option("--election-delay-ms", type=click.IntRange(0, 5000), default=300, show_default=True,
              help="Time the sandbox takes to elect a new primary.")
@click.option("--no-pause", is_flag=True, help="Do not wait for Enter between steps (implied on a pipe).")
@pass_app
def demo(app: App, members: int, election_delay_ms: int, no_pause: bool) -> None:
    """A tour on a local sandbox replica set: discovery, failover seen live, rejoin."""
    from mongocli.demo import run_demo
    from mongocli.output.renderers import make_renderer
    pause = not no_pause and app.env.is_tty and app.env.stdin_is_tty
    renderer = app.renderer(streaming=True) if app.fmt != "auto" else make_renderer("pretty", app.env, app.ejson)
    run_demo(app.env, renderer, members=members, election_delay_ms=election_delay_ms, pause=pause)


COMMANDS = [demo]
