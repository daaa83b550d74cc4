"""Parse what the user typed or piped: namespaces, Extended JSON arguments, JSON-lines input."""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Mapping

from bson import json_util
from bson.errors import BSONError

from mongocli.errors import UserError


def parse_namespace(text: str) -> tuple[str, str]:
    """"db.coll" (the collection may contain dots) -> (db, coll); anything else is a UserError."""
    db, dot, coll = text.partition(".")
    if not dot or not db or not coll:
        raise UserError(f"namespace {text!r} must be DATABASE.COLLECTION, e.g. test.people")
    if any(c in db for c in ' /\\"$'):
        raise UserError(f"database name {db!r} in {text!r} may not contain spaces, /, \\, \" or $")
    return db, coll


def loads_document(text: str) -> dict[str, Any]:
    """One Extended JSON (relaxed or canonical) object -> a document; ValueError says what is wrong."""
    try:
        value = json_util.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON at column {exc.colno}: {exc.msg}") from None
    except (TypeError, ValueError, BSONError) as exc:  # bad Extended JSON ($oid with a bad hex, ...)
        raise ValueError(f"invalid Extended JSON: {exc}") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a JSON object {{...}}, got {type(value).__name__}")
    return dict(value)


def parse_json_option(text: str | None, option: str) -> dict[str, Any] | None:
    """An option's JSON object value (None stays None); errors name the option."""
    if text is None:
        return None
    try:
        return loads_document(text)
    except ValueError as exc:
        raise UserError(f"{option}: {exc}: {text!r}") from None


def parse_lines(lines: Iterable[str]) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    """JSON-lines input -> ([(line number, document)], [(line number, what is wrong)]).

    Line numbers start at 1; blank lines are skipped. Every line ends up in exactly one list,
    so the caller can report the fate of each one.
    """
    good: list[tuple[int, dict[str, Any]]] = []
    bad: list[tuple[int, str]] = []
    for number, line in _numbered(lines):
        try:
            good.append((number, loads_document(line)))
        except ValueError as exc:
            bad.append((number, str(exc)))
    return good, bad


def _numbered(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield number, line.strip()
