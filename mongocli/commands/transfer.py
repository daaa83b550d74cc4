"""Moving data in and out: import, export (mongoimport/mongoexport's jobs) and bulk (a file of writes)."""

from __future__ import annotations

import os
from typing import Any

import click

from mongocli.commands._app import App, pass_app
from mongocli.errors import EXIT_FAILURE, UserError

MAX_DETAILS = 20  # lines of "line N: why" printed; the JSON report holds them all


def _open_input(app: App, path: str) -> Any:
    """The input as bytes: FILE, or stdin for "-" (refused when stdin is a terminal)."""
    from mongocli.service.inputs import binary_stdin
    if path == "-":
        if app.env.stdin_is_tty:
            raise UserError("no input: give a FILE or pipe data to stdin (FILE is -)")
        return binary_stdin(app.env.stdin)
    try:
        return open(path, "rb")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None


def _fields(value: str | None) -> tuple[str, ...] | None:
    return tuple(f.strip() for f in value.split(",") if f.strip()) if value else None


def _report(app: App, document: dict[str, Any], summary: str) -> None:
    """The summary line on stderr; the JSON report on stdout when the output is JSON."""
    if app.fmt in ("json", "jsonl") or (app.fmt == "auto" and not app.env.is_tty):
        app.renderer().document(document)
    app.env.stderr.write(summary + "\n")
    app.env.stderr.flush()


def _fail_if_lost(problems: list[tuple[int, str]], headline: str) -> None:
    if problems:
        details = [f"line {n}: {reason}" for n, reason in problems[:MAX_DETAILS]]
        if len(problems) > MAX_DETAILS:
            details.append(f"... and {len(problems) - MAX_DETAILS} more (all in the JSON report: --format json)")
        raise UserError(headline, exit_code=EXIT_FAILURE, details=tuple(details))


@click.command("import", short_help="Import JSON lines, a JSON array, CSV or TSV.")
@click.argument("namespace", metavar="DB.COLL")
@click.argument("path", metavar="[FILE|-]", default="-")
@click.option("--type", "kind", type=click.Choice(["json", "csv", "tsv"]), default="json", show_default=True,
              help="json: one Extended JSON document per line, or one JSON array (detected).")
@click.option("--fields", metavar="A,B.C,AGE.int32()", default=None,
              help="CSV/TSV columns in order; NAME.TYPE() types a column (string, int32, int64, double, "
                   "decimal, boolean, date, objectid).")
@click.option("--header-line", is_flag=True, help="CSV/TSV: the first line names the columns.")
@click.option("--mode", type=click.Choice(["insert", "upsert", "merge"]), default="insert", show_default=True,
              help="insert new documents; upsert replaces matching ones; merge $sets their fields.")
@click.option("--upsert-fields", metavar="A,B", default="_id", show_default=True,
              help="With --mode upsert/merge: the fields that identify a document.")
@click.option("--ordered/--unordered", default=False, show_default=True,
              help="--ordered stops at the first refused document.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              help="Documents per write command.")
@click.option("--drop", is_flag=True, help="Drop the collection first.")
@click.option("--skip-bad-lines", is_flag=True,
              help="Report lines that do not parse and import the rest (default: stop at the first).")
@pass_app
def import_(app: App, namespace: str, path: str, kind: str, fields: str | None, header_line: bool, mode: str,
            upsert_fields: str, ordered: bool, batch_size: int, drop: bool, skip_bad_lines: bool) -> None:
    """Import documents into DB.COLL from FILE or stdin (JSON lines, a JSON array, CSV, TSV).

    Every line that is not imported is reported with its number and reason; the exit code is 1
    then. Writes are retried through a failover; each document lands exactly once.
    """
    from mongocli.output.progress import progress_bar
    from mongocli.service.formats import read_documents
    from mongocli.service.inputs import parse_namespace
    from mongocli.service.transfer import ImportOptions, import_documents
    db, coll = parse_namespace(namespace)
    options = ImportOptions(mode=mode, upsert_fields=_fields(upsert_fields) or ("_id",), ordered=ordered,
                            batch_size=batch_size, drop=drop, skip_bad_lines=skip_bad_lines)
    stream = _open_input(app, path)
    try:
        items = read_documents(stream, kind, fields=_fields(fields), header_line=header_line)
        size = _size(stream)
        with app.client() as client, progress_bar(app.env, f"import {namespace}", total=size,
                                                  position=(lambda: stream.tell()) if size else None) as advance:
            report = import_documents(client, db, coll, items, options, progress=advance)
    finally:
        if path != "-":
            stream.close()
    rate = report.read / report.elapsed_s if report.elapsed_s > 0 else 0.0
    written = report.inserted + report.upserted + report.modified
    _report(app, report.as_document(),
            f"{namespace}: {report.read} read, {report.inserted} inserted, {report.upserted} upserted, "
            f"{report.modified} modified, {len(report.bad_lines)} bad line(s), {len(report.refused)} refused, "
            f"{report.elapsed_s:.1f} s ({rate:,.0f} docs/s)")
    problems = sorted(report.bad_lines + report.refused)
    if report.stopped_at is not None:
        raise UserError(f"stopped at line {report.stopped_at} (a bad line); {written} document(s) written "
                        "before it; --skip-bad-lines imports the rest", exit_code=EXIT_FAILURE,
                        details=tuple(f"line {n}: {r}" for n, r in problems[:MAX_DETAILS]))
    _fail_if_lost(problems, f"{len(problems)} line(s) not imported, {written} written")


def _size(stream: Any) -> int | None:
    try:
        return os.fstat(stream.fileno()).st_size or None if stream.seekable() else None
    except (OSError, ValueError, AttributeError):
        return None


@click.command(short_help="Export as JSON lines, a JSON array, CSV or TSV.")
@click.argument("namespace", metavar="DB.COLL")
@click.option("-o", "--out", "path", metavar="FILE", default="-", help="Write to FILE (default: stdout).")
@click.option("--type", "kind", type=click.Choice(["json", "jsonarray", "csv", "tsv"]), default="json",
              show_default=True, help="json: one document per line; jsonarray: one JSON array.")
@click.option("--fields", metavar="A,B.C", default=None, help="CSV/TSV columns (required for them).")
@click.option("--no-header-line", is_flag=True, help="CSV/TSV: do not write the column names first.")
@click.option("--filter", "filter_", metavar="JSON", default=None, help="Query filter (Extended JSON or mongosh style).")
@click.option("--projection", metavar="JSON", default=None, help="Projection document.")
@click.option("--sort", metavar="JSON", default=None, help="Sort document.")
@click.option("--limit", type=click.IntRange(0), default=0, help="At most N documents (0: all).")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              help="Documents per getMore.")
@pass_app
def export(app: App, namespace: str, path: str, kind: str, fields: str | None, no_header_line: bool,
           filter_: str | None, projection: str | None, sort: str | None, limit: int, batch_size: int) -> None:
    """Export DB.COLL's documents (Extended JSON per --ejson, a JSON array, CSV or TSV), streaming."""
    from mongocli.output.progress import progress_bar
    from mongocli.service.formats import Writer
    from mongocli.service.inputs import parse_json_option, parse_namespace
    from mongocli.service.transfer import count_for_progress, export_documents
    db, coll = parse_namespace(namespace)
    filter_doc = parse_json_option(filter_, "--filter")
    projection_doc = parse_json_option(projection, "--projection")
    sort_doc = parse_json_option(sort, "--sort")
    out = app.env.stdout if path == "-" else _create(path)
    try:
        writer = Writer(out, kind, ejson=app.ejson, fields=_fields(fields), header_line=not no_header_line)
        with app.client() as client:
            total = count_for_progress(client, db, coll, filter_doc) if _isatty(app.env.stderr) else None
            with progress_bar(app.env, f"export {namespace}", total=total) as advance:
                report = export_documents(client, db, coll, writer.write, filter=filter_doc,
                                          projection=projection_doc, sort=sort_doc, limit=limit,
                                          batch_size=batch_size, progress=advance)
        writer.close()
    finally:
        if out is not app.env.stdout:
            out.close()
    rate = report.exported / report.elapsed_s if report.elapsed_s > 0 else 0.0
    app.env.stderr.write(f"{namespace}: {report.exported} document(s) exported"
                         f"{'' if path == '-' else ' to ' + path}, {report.elapsed_s:.1f} s ({rate:,.0f} docs/s)\n")
    app.env.stderr.flush()


def _create(path: str) -> Any:
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@click.command(short_help="Run a file of bulkWrite operations.")
@click.argument("namespace", metavar="DB.COLL")
@click.argument("path", metavar="[FILE|-]", default="-")
@click.option("--ordered/--unordered", default=True, show_default=True,
              help="--ordered stops at the first failed operation (the report says which ran).")
@pass_app
def bulk(app: App, namespace: str, path: str, ordered: bool) -> None:
    """Run a file of bulkWrite operations on DB.COLL: one per line or a JSON array, e.g.
    {"updateOne": {"filter": {"_id": 1}, "update": {"$inc": {"n": 1}}, "upsert": true}}.

    Operations: insertOne, updateOne, updateMany, replaceOne, deleteOne, deleteMany.
    """
    from mongocli.service.formats import read_documents
    from mongocli.service.inputs import BadLine, parse_namespace
    from mongocli.service.transfer import bulk_request, run_bulk
    db, coll = parse_namespace(namespace)
    stream = _open_input(app, path)
    numbered: list[tuple[int, Any]] = []
    bad: list[tuple[int, str]] = []
    try:
        for item in read_documents(stream, "json"):
            if isinstance(item, BadLine):
                bad.append((item.number, item.reason))
                continue
            try:
                numbered.append((item[0], bulk_request(item[1])))
            except (ValueError, TypeError) as exc:
                bad.append((item[0], str(exc)))
    finally:
        if path != "-":
            stream.close()
    # A bulk is all or (ordered) a known prefix: with a bad line nothing runs, so nothing is half done.
    _fail_if_lost(bad, f"{len(bad)} bad operation line(s); nothing was run")
    if not numbered:
        raise UserError("no operations in the input")
    with app.client() as client:
        report = run_bulk(client, db, coll, numbered, ordered=ordered)
    summary = (f"{namespace}: {report.operations} operation(s): {report.inserted} inserted, {report.matched} "
               f"matched, {report.modified} modified, {report.upserted} upserted, {report.deleted} deleted, "
               f"{len(report.failed)} failed")
    if report.not_attempted_lines:
        summary += (f"; ordered bulk stopped: lines {_ranges(report.applied_lines)} applied, "
                    f"{_ranges(report.not_attempted_lines)} not attempted")
    _report(app, report.as_document(), summary)
    _fail_if_lost(report.failed, f"{len(report.failed)} operation(s) failed")


def _ranges(numbers: list[int]) -> str:
    from mongocli.output.shapes import compress_ranges
    return compress_ranges(numbers) or "none"


COMMANDS = [import_, export, bulk]
