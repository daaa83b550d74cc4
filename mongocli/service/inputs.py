"""Parse what the user typed or piped: namespaces, Extended JSON arguments, JSON-lines input."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Any, Iterable, Iterator, Mapping

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
    except RecursionError:
        raise ValueError(f"document nested too deep (MongoDB allows {MAX_NESTING} levels)") from None
    except (TypeError, ValueError, BSONError) as exc:  # bad Extended JSON ($oid with a bad hex, ...)
        raise ValueError(f"invalid Extended JSON: {exc}") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a JSON object {{...}}, got {type(value).__name__}")
    return dict(value)


def parse_json_option(text: str | None, option: str) -> dict[str, Any] | None:
    """An option's object value, as Extended JSON or mongosh-style relaxed syntax (`{age: {$gt: 30}}`,
    what people paste); None stays None; errors name the option."""
    if text is None:
        return None
    try:
        return loads_document(text)
    except ValueError as strict_error:
        from mongocli.service.relaxed_json import to_json
        try:
            return loads_document(to_json(text))
        except ValueError:
            raise UserError(f"{option}: {strict_error}: {text!r}") from None


# MongoDB's documented limits: a BSON document of at most 16 MiB, nested at most 100 levels.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
MAX_NESTING = 100
# A line longer than this cannot hold a document under 16 MiB (Extended JSON of a large
# document is longer than its BSON, but not by this much); it is skipped without being kept.
MAX_LINE_BYTES = 4 * MAX_DOCUMENT_BYTES
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class BadLine:
    """An input line that was not turned into a document, and why (never silently dropped)."""

    number: int
    reason: str


def read_json_lines(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any]] | BadLine]:
    """The one reader of JSON-lines input (insert and import): (line number, document) or BadLine.

    Streams: one line in memory at a time, however large the file. Each line stands alone:
    a line too large, nested too deep, not an object, or not UTF-8 becomes a BadLine and
    the next line is read as usual. A UTF-8 byte order mark before line 1 is accepted.
    Line numbers start at 1; blank lines are skipped.
    """
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            skipped = len(raw) + _skip_rest_of_line(stream)
            yield BadLine(number, f"line is {skipped:,} bytes, over the {MAX_LINE_BYTES:,}-byte limit "
                                  f"(a document holds at most {MAX_DOCUMENT_BYTES:,} bytes)")
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield BadLine(number, f"not UTF-8: byte 0x{raw[exc.start]:02x} at column {exc.start + 1}")
            continue
        if not text.strip():
            continue
        try:
            # BSON is at most ~6.5x its Extended JSON text (`[0,0,...]`: 2 bytes -> 1 + 7 + 4), so
            # only a line over 1/8 of the limit can encode too large: only those are sized here.
            # Likewise only a line with over 100 brackets can nest too deep (str.count is C-fast).
            yield number, check_document(loads_document(text),
                                         size=len(raw) > MAX_DOCUMENT_BYTES // 8,
                                         depth=text.count("{") + text.count("[") > MAX_NESTING)
        except ValueError as exc:
            yield BadLine(number, str(exc))


def check_document(doc: dict[str, Any], *, size: bool = True, depth: bool = True) -> dict[str, Any]:
    """ValueError unless `doc` fits MongoDB's limits (nesting depth, 16 MiB once encoded)."""
    levels = _depth(doc) if depth else 0
    if levels > MAX_NESTING:
        raise ValueError(f"document nested more than {MAX_NESTING} levels deep (MongoDB's limit)")
    if not size:
        return doc
    import bson
    encoded_size = len(bson.encode(doc))
    if encoded_size > MAX_DOCUMENT_BYTES:
        raise ValueError(f"document is {encoded_size:,} bytes as BSON, over the {MAX_DOCUMENT_BYTES:,}-byte limit")
    return doc


def _depth(value: Any) -> int:
    """Nesting depth of documents and arrays (a flat document is 1); iterative, any depth."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_NESTING:
            return deepest
        stack.extend((child, level + 1) for child in children if isinstance(child, (Mapping, list)))
    return deepest


def _skip_rest_of_line(stream: IO[bytes]) -> int:
    skipped = 0
    while True:
        chunk = stream.readline(1 << 20)
        skipped += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return skipped


def parse_lines(lines: IO[bytes]) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    """All of read_json_lines at once -> ([(line number, document)], [(line number, what is wrong)])."""
    good: list[tuple[int, dict[str, Any]]] = []
    bad: list[tuple[int, str]] = []
    for item in read_json_lines(lines):
        if isinstance(item, BadLine):
            bad.append((item.number, item.reason))
        else:
            good.append(item)
    return good, bad


def binary_stdin(stdin: IO[str]) -> IO[bytes]:
    """The byte stream under a text stdin (input files are read as bytes, decoded per line)."""
    return getattr(stdin, "buffer", stdin)  # type: ignore[return-value]
