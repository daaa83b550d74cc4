"""`mongocli shell [URI] [FILE.js ...] [--eval CODE] [--file F.js]`: the interactive shell or a script run."""

from __future__ import annotations

import sys
from typing import Any

import click

from mongocli.output.environment import Environment
from mongocli.service.connect import open_client
from mongocli.service.options import DEFAULT_URI, ConnectOptions

__all__ = ["shell_command"]


def _connect_options(obj: Any, uri: str | None) -> ConnectOptions:
    """The group's connection options (if run under `mongocli`), with the positional URI winning."""
    options = getattr(obj, "options", None)
    if not isinstance(options, ConnectOptions):
        options = ConnectOptions(uri=DEFAULT_URI)
    return options.with_changes(uri=uri) if uri else options


def _output_mode(obj: Any, json_mode: str | None) -> str:
    """--json[=relaxed|canonical] wins; else the global --format json|jsonl (with --ejson); else mongosh text."""
    if json_mode:
        return json_mode
    fmt = getattr(obj, "fmt", None)
    if fmt == "jsonl":
        return "jsonl"
    if fmt == "json":
        return "canonical" if getattr(obj, "ejson", "relaxed") == "canonical" else "relaxed"
    return "shell"


def _split_target(target: str | None, scripts: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """mongosh accepts `shell script.js` as well as `shell URI script.js`: a .js first argument is a script."""
    if target is not None and target.endswith(".js") and "://" not in target:
        return None, (target, *scripts)
    return target, scripts


@click.command("shell")
@click.argument("uri", required=False)
@click.argument("scripts", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--eval", "evals", multiple=True, metavar="CODE",
              help="Run CODE and print the value of its last expression. Repeatable: all run as one program.")
@click.option("--file", "-f", "files", multiple=True, type=click.Path(dir_okay=False),
              help="Run a JavaScript file (like a script argument). Repeatable.")
@click.option("--json", "json_mode", is_flag=False, flag_value="relaxed", default=None,
              type=click.Choice(["relaxed", "canonical"]),
              help="With --eval: print the result as Extended JSON (relaxed unless =canonical).")
@click.option("--db", "db_name", default=None, help="Start in this database (default: the URI's, else test).")
@click.option("--debug", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.pass_context
def shell_command(ctx: click.Context, uri: str | None, scripts: tuple[str, ...], evals: tuple[str, ...],
                  files: tuple[str, ...], json_mode: str | None, db_name: str | None, debug: bool) -> None:
    """A MongoDB shell that runs JavaScript and speaks mongosh's API.

    \b
    Examples:
      mongocli shell mongodb://127.0.0.1:27017/shop
      mongocli shell --eval 'db.orders.countDocuments({})'
      mongocli shell --eval 'rs.status().members.length' --json
      mongocli shell mongodb://127.0.0.1:27017 report.js
      echo 'db.c.find({a: {$gt: 1}})' | mongocli shell

    With stdin not a terminal, stdin runs line by line like the REPL. History is kept in
    $XDG_DATA_HOME/mongocli/history (lines with passwords are left out). Exit code: 1 after an
    uncaught error, quit(n)'s n, else 0.
    """
    uri, scripts = _split_target(uri, scripts)
    env = getattr(ctx.obj, "env", None) or Environment.from_system()
    options = _connect_options(ctx.obj, uri)
    output = _output_mode(ctx.obj, json_mode)
    programs = scripts + files
    from mongocli.shell.app import Shell
    with open_client(options, verify=True) as client:
        interactive = not (evals or programs) and env.stdin_is_tty and env.is_tty
        shell = Shell(client, options.uri, env.stdout, env.stderr,
                      db_name=db_name or client.default_database_name or "test",
                      interactive=interactive, output=output, color=env.color)
        try:
            ctx.exit(_run(shell, env, evals, programs, interactive, getattr(ctx.obj, "editing_mode", "emacs")))
        finally:
            shell.close()


def _run(shell: Any, env: Environment, evals: tuple[str, ...], programs: tuple[str, ...], interactive: bool,
         editing_mode: str) -> int:
    if evals or programs:
        for path in programs:
            try:
                with open(path, encoding="utf-8") as handle:
                    source = handle.read()
            except OSError as exc:
                env.stderr.write(f"mongocli shell: cannot read script {path!r}: {exc.strerror or exc}\n")
                return 1
            if not shell.run_program(source, filename=path, show=False):
                return shell.status()
        if evals:
            # mongosh: every --eval is one program; only the last expression's value is printed.
            shell.run_program("\n".join(evals), filename="<eval>", show=True)
        return shell.status()
    if not interactive:
        return shell.run_lines(env.stdin)
    from mongocli.shell.app import make_name_source
    from mongocli.shell.history import history_path
    shell.names = make_name_source(shell.client).start(shell.db_name)
    try:
        env.stdout.write("mongocli shell: JavaScript with mongosh's API; type help, exit or Ctrl-D to leave\n")
        return shell.run_interactive(history_path(), editing_mode=editing_mode)
    finally:
        shell.names.close()


if __name__ == "__main__":  # pragma: no cover - `python -m mongocli.shell.command URI`
    sys.exit(shell_command())
