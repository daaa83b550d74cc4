"""Data commands for scripts: ping, run, find, insert (one-shot, clean JSON, honest exit codes)."""

from __future__ import annotations

from typing import Any

import click

from mongocli.commands._app import App, pass_app
from mongocli.errors import EXIT_FAILURE, UserError


@click.command()
@pass_app
def ping(app: App) -> None:
    """Select the primary and run ping on it."""
    from mongocli.service.data import ping as run_ping
    with app.client() as client:
        app.renderer().command(run_ping(client))


@click.command()
@click.argument("namespace", metavar="DB.COLL")
@click.option("--filter", "filter_", metavar="JSON", default=None,
              help="Query filter: Extended JSON or mongosh style ({age: {$gt: 30}}).")
@click.option("--sort", metavar="JSON", default=None, help="Sort document, e.g. '{\"a\": -1}'.")
@click.option("--projection", metavar="JSON", default=None, help="Projection document.")
@click.option("--limit", type=click.IntRange(0), default=0, help="At most N documents (0: all).")
@pass_app
def find(app: App, namespace: str, filter_: str | None, sort: str | None, projection: str | None,
         limit: int) -> None:
    """Find documents in DB.COLL."""
    from mongocli.service import inputs
    from mongocli.service.data import find as run_find
    db, coll = inputs.parse_namespace(namespace)
    filter_doc = inputs.parse_json_option(filter_, "--filter")
    sort_doc = inputs.parse_json_option(sort, "--sort")
    projection_doc = inputs.parse_json_option(projection, "--projection")
    with app.client() as client:
        app.renderer().find(run_find(client, db, coll, filter=filter_doc, sort=sort_doc,
                                     projection=projection_doc, limit=limit))


@click.command(short_help="Insert JSON lines; bad lines named, none lost.")
@click.argument("namespace", metavar="DB.COLL")
@click.option("--file", "path", type=click.File("rb"), default=None,
              help="JSON-lines file: one Extended JSON document per line (default: stdin).")
@pass_app
def insert(app: App, namespace: str, path: Any) -> None:
    """Insert documents (one Extended JSON object per line) into DB.COLL.

    Lines that do not parse are reported with their line number and not sent; every other
    line is inserted. The exit code is non-zero if any line was not inserted.
    """
    from mongocli.service import inputs
    from mongocli.service.data import insert as run_insert
    from mongocli.service.results import InsertReport
    db, coll = inputs.parse_namespace(namespace)
    if path is None and app.env.stdin_is_tty:
        raise UserError("no input: pipe JSON lines to stdin or pass --file F.jsonl")
    source = path if path is not None else inputs.binary_stdin(app.env.stdin)
    good, bad = inputs.parse_lines(source)
    if not good and not bad:
        raise UserError("no documents in the input (it is empty or only blank lines)")
    if good:
        with app.client() as client:
            report = run_insert(client, db, coll, good, bad)
    else:
        report = InsertReport(namespace=namespace, inserted_lines=(), inserted_ids=(), bad_lines=tuple(bad))
    app.renderer().insert(report)
    if not report.ok:
        missing = len(report.bad_lines) + len(report.failed_lines)
        raise UserError(f"{missing} line(s) not inserted, {len(report.inserted_lines)} inserted",
                        exit_code=EXIT_FAILURE,
                        details=tuple(f"line {n}: {e}" for n, e in (*report.bad_lines, *report.failed_lines)))


@click.command("run", short_help="Run a database command (JSON).")
@click.argument("db")
@click.argument("command_json", metavar="COMMAND_JSON")
@pass_app
def run_(app: App, db: str, command_json: str) -> None:
    """Run a database command, e.g. mongocli run admin '{"buildInfo": 1}'."""
    from mongocli.service import inputs
    from mongocli.service.data import run_command
    body = inputs.parse_json_option(command_json, "COMMAND_JSON")
    if not body:
        raise UserError("COMMAND_JSON must name a command, e.g. '{\"ping\": 1}'")
    with app.client() as client:
        app.renderer().command(run_command(client, db, body))


@click.command(short_help="Count the documents matching --filter.")
@click.argument("namespace", metavar="DB.COLL")
@click.option("--filter", "filter_", metavar="JSON", default=None, help="Query filter (default: all).")
@pass_app
def count(app: App, namespace: str, filter_: str | None) -> None:
    """Count the documents in DB.COLL matching --filter (exact: countDocuments)."""
    from mongocli.service import inputs
    from mongocli.service.data import count as run_count
    db, coll = inputs.parse_namespace(namespace)
    filter_doc = inputs.parse_json_option(filter_, "--filter")
    with app.client() as client:
        app.renderer().document(run_count(client, db, coll, filter_doc))


@click.command(short_help="Run an aggregation pipeline on DB.COLL.")
@click.argument("namespace", metavar="DB.COLL")
@click.argument("pipeline", metavar="PIPELINE_JSON")
@pass_app
def aggregate(app: App, namespace: str, pipeline: str) -> None:
    """Run an aggregation pipeline, e.g. '[{$group: {_id: "$city", n: {$sum: 1}}}]'."""
    from mongocli.service import inputs
    from mongocli.service.data import aggregate as run_aggregate
    db, coll = inputs.parse_namespace(namespace)
    stages = inputs.parse_json_option('{"pipeline": %s}' % pipeline, "PIPELINE_JSON")["pipeline"]  # type: ignore[index]
    if not isinstance(stages, list) or not all(isinstance(s, dict) for s in stages):
        raise UserError("PIPELINE_JSON must be an array of stage objects, e.g. '[{\"$match\": {}}]'")
    with app.client() as client:
        app.renderer().find(run_aggregate(client, db, coll, stages))


@click.command()
@click.argument("namespace", metavar="DB.COLL")
@click.option("--filter", "filter_", metavar="JSON", required=True, help="Which documents ('{}' for all).")
@click.option("--update", "change", metavar="JSON", required=True,
              help="Update operators, e.g. '{$set: {a: 1}}' (or a pipeline array).")
@click.option("--many", is_flag=True, help="Every matching document (default: the first).")
@click.option("--upsert", is_flag=True, help="Insert when nothing matches.")
@pass_app
def update(app: App, namespace: str, filter_: str, change: str, many: bool, upsert: bool) -> None:
    """Update one (or --many) documents in DB.COLL."""
    from mongocli.service import inputs
    from mongocli.service.data import update as run_update
    db, coll = inputs.parse_namespace(namespace)
    filter_doc = inputs.parse_json_option(filter_, "--filter")
    wrapped = inputs.parse_json_option('{"u": %s}' % change, "--update")
    change_doc = wrapped["u"] if wrapped else None
    if not isinstance(change_doc, (dict, list)) or not change_doc:
        raise UserError("--update must be an object of update operators or a pipeline array")
    with app.client() as client:
        app.renderer().document(run_update(client, db, coll, filter_doc or {}, change_doc, many=many, upsert=upsert))


@click.command()
@click.argument("namespace", metavar="DB.COLL")
@click.option("--filter", "filter_", metavar="JSON", required=True, help="Which documents ('{}' for all).")
@click.option("--many", is_flag=True, help="Every matching document (default: the first).")
@pass_app
def delete(app: App, namespace: str, filter_: str, many: bool) -> None:
    """Delete one (or --many) documents from DB.COLL."""
    from mongocli.service import inputs
    from mongocli.service.data import delete as run_delete
    db, coll = inputs.parse_namespace(namespace)
    filter_doc = inputs.parse_json_option(filter_, "--filter")
    with app.client() as client:
        app.renderer().document(run_delete(client, db, coll, filter_doc or {}, many=many))


@click.command()
@click.argument("namespace", metavar="DB.COLL")
@click.option("--create", "keys", metavar="JSON", default=None, help="Create an index on these keys, e.g. '{a: 1}'.")
@click.option("--name", default=None, help="With --create: the index name.")
@click.option("--unique", is_flag=True, help="With --create: a unique index.")
@click.option("--drop", "drop_name", metavar="NAME", default=None, help="Drop the index named NAME.")
@pass_app
def indexes(app: App, namespace: str, keys: str | None, name: str | None, unique: bool, drop_name: str | None) -> None:
    """List DB.COLL's indexes, or --create / --drop one."""
    from mongocli.service import data, inputs
    db, coll = inputs.parse_namespace(namespace)
    if keys and drop_name:
        raise UserError("give --create or --drop, not both")
    key_doc = inputs.parse_json_option(keys, "--create")
    with app.client() as client:
        if key_doc is not None:
            app.renderer().document(data.create_index(client, db, coll, key_doc, name=name, unique=unique))
        elif drop_name:
            app.renderer().document(data.drop_index(client, db, coll, drop_name))
        else:
            app.renderer().find(data.list_indexes(client, db, coll))


COMMANDS = [ping, find, count, aggregate, update, delete, indexes, insert, run_]
