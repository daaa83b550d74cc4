"""`mongocli shell [URI] [--eval EXPR] [--file F.js]`: the interactive shell or a script run."""

from __future__ import annotations

import sys
from typing import Any

import click

from mongocli.output.environment import Environment
from mongocli.service.connect import open_client
from mongocli.service.options import DEFAULT_URI, ConnectOptions
from mongocli.shell.app import Shell, history_path, make_name_source
from mongocli.shell.render import ShellPrinter

__all__ = ["shell_command"]


def _connect_options(obj: Any, uri: str | None) -> ConnectOptions:
    """The group's connection options (if run under `mongocli`), with the positional URI winning."""
    options = getattr(obj, "options", None)
    if not isinstance(options, ConnectOptions):
        options = ConnectOptions(uri=DEFAULT_URI)
    return options.with_changes(uri=uri) if uri else options


@click.command("shell")
@click.argument("uri", required=False)
@click.option("--eval", "evals", multiple=True, metavar="EXPR",
              help="Run EXPR (a statement or meta-command), print the result, exit. Repeatable.")
@click.option("--file", "files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Run a script file line by line, stop at its first error. Repeatable.")
@click.option("--db", "db_name", default=None, help="Start in this database (default: the URI's, else test).")
@click.option("--debug", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.pass_context
def shell_command(ctx: click.Context, uri: str | None, evals: tuple[str, ...], files: tuple[str, ...],
                  db_name: str | None, debug: bool) -> None:
    """An interactive MongoDB shell with mongosh-style syntax.

    \b
    Examples:
      mongocli shell mongodb://127.0.0.1:27017/shop
      mongocli shell --eval 'db.orders.countDocuments({})'
      echo 'db.c.find({a: {$gt: 1}})' | mongocli shell

    With stdin not a terminal, lines from stdin run as a script. Type `help` in the shell for its
    commands. History is kept in ~/.mongocli_history (or $MONGOCLI_HISTORY).
    """
    debug = debug or bool(getattr(ctx.obj, "debug", False))
    env = getattr(ctx.obj, "env", None) or Environment.from_system()
    options = _connect_options(ctx.obj, uri)
    printer = ShellPrinter(env.stdout, env.stderr, color=env.color and not (evals or files),
                           width=env.width, debug=debug)
    with open_client(options) as client:
        shell = Shell(client, printer, db_name=db_name or client.default_database_name or "test")
        ctx.exit(_run(shell, env, evals, files))


def _run(shell: Shell, env: Environment, evals: tuple[str, ...], files: tuple[str, ...]) -> int:
    if evals or files:
        for path in files:
            with open(path, encoding="utf-8") as handle:
                if shell.run_script(handle, stop_on_error=True):
                    return 1
        for expr in evals:
            if shell.run_script(expr.splitlines(), stop_on_error=True):
                return 1
        return 0
    if not env.stdin_is_tty or not env.is_tty:
        return shell.run_script(env.stdin)
    shell.names = make_name_source(shell.client).start(shell.state.db_name)
    try:
        env.stdout.write("mongocli shell: type help for commands, exit or Ctrl-D to leave\n")
        return shell.run_interactive(history_path())
    finally:
        shell.names.close()


if __name__ == "__main__":  # pragma: no cover - `python -m mongocli.shell.command URI`
    sys.exit(shell_command())
