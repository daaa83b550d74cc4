"""`mongocli watch`: stream a collection's, database's or deployment's change events until Ctrl-C."""

from __future__ import annotations

import click

from mongocli.commands._app import App, pass_app


@click.command()
@click.argument("target", metavar="DB[.COLL]|*")
@click.option("--pipeline", metavar="JSON", default=None,
              help="Stages after $changeStream, a JSON array, e.g. '[{\"$match\": {\"operationType\": \"insert\"}}]'.")
@click.option("--full-document", type=click.Choice(["default", "updateLookup", "whenAvailable", "required"]),
              default=None, help="fullDocument: also show the whole document after an update.")
@click.option("--resume-after", metavar="JSON", default=None,
              help="A resume token (an event's _id) to continue after.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Stop after N events (default: Ctrl-C).")
@pass_app
def watch(app: App, target: str, pipeline: str | None, full_document: str | None, resume_after: str | None,
          limit: int | None) -> None:
    """Stream change events of DB.COLL, DB, or * (everything) as they happen, until Ctrl-C.

    One JSON line per event on a pipe (pretty on a terminal); a note on stderr says when the
    stream is open. Needs a replica set or sharded cluster. Ctrl-C exits 130 (the exit-code table).
    """
    from mongocli.errors import EXIT_INTERRUPTED
    from mongocli.output.renderers import make_renderer
    from mongocli.service import inputs
    from mongocli.service.watch import open_stream, parse_pipeline, parse_target
    db, coll = parse_target(target)
    stages = parse_pipeline(pipeline)
    token = inputs.parse_json_option(resume_after, "--resume-after")
    renderer = app.renderer(streaming=True) if app.fmt != "auto" or app.env.is_tty else \
        make_renderer("jsonl", app.env, app.ejson)
    with app.client() as client:
        stream = open_stream(client, db, coll, stages, full_document=full_document, resume_after=token)
        app.env.stderr.write(f"watching {target} (Ctrl-C to stop)\n")
        app.env.stderr.flush()
        shown = 0
        interrupted = False
        try:
            for change in stream:
                renderer.document(change)
                shown += 1
                if limit is not None and shown >= limit:
                    break
        except KeyboardInterrupt:
            interrupted = True  # Ctrl-C is how a watch ends
        finally:
            stream.close()
    if interrupted:
        click.get_current_context().exit(EXIT_INTERRUPTED)


COMMANDS = [watch]
