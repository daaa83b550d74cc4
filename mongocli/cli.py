"""The click command tree: global options, one thin command per job, errors to exit codes."""

from __future__ import annotations

import click

from mongocli import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mongocli")
@click.option("--debug", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """mongocli: a MongoDB shell and diagnostics tool for the terminal."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main() -> None:
    cli(obj={})
