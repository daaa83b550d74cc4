"""Change streams for `mongocli watch`: a namespace and options in, the driver's ChangeStream out; no click, no rich."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from bson import json_util

from driver import Client
from mongocli.errors import UserError

FULL_DOCUMENT_MODES = ("default", "updateLookup", "whenAvailable", "required")


def parse_target(text: str) -> tuple[str | None, str | None]:
    """"DB" (every collection of a database), "DB.COLL", or "*" (the whole deployment)."""
    if text == "*":
        return None, None
    db, dot, coll = text.partition(".")
    if not db or (dot and not coll):
        raise UserError(f"watch target {text!r} must be DATABASE, DATABASE.COLLECTION or * (everything)")
    if any(c in db for c in ' /\\"$'):
        raise UserError(f"database name {db!r} in {text!r} may not contain spaces, /, \\, \" or $")
    return db, coll or None


def parse_pipeline(text: str | None) -> list[dict[str, Any]]:
    """--pipeline: a JSON array of stage documents (Extended JSON), e.g. '[{"$match": {"operationType": "insert"}}]'."""
    if text is None:
        return []
    try:
        value = json_util.loads(text)
    except (ValueError, TypeError) as exc:
        raise UserError(f"--pipeline: not valid JSON ({exc}): {text!r}") from None
    if not isinstance(value, list) or not all(isinstance(stage, Mapping) for stage in value):
        raise UserError(f"--pipeline must be a JSON array of stage objects, e.g. '[{{\"$match\": {{}}}}]', "
                        f"not {text!r}")
    return [dict(stage) for stage in value]


def open_stream(client: Client, db: str | None, collection: str | None, pipeline: Sequence[Mapping[str, Any]],
                *, full_document: str | None = None, resume_after: Mapping[str, Any] | None = None) -> Any:
    """watch() on the collection, the database or the client; the stream is open when this returns."""
    options: dict[str, Any] = {"resume_after": resume_after}
    if full_document and full_document != "default":
        options["full_document"] = full_document
    if db is None:
        return client.watch(pipeline, **options)
    database = client.get_database(db)
    target = database if collection is None else database.get_collection(collection)
    return target.watch(pipeline, **options)
