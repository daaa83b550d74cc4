"""File formats for import and export: JSON lines, a JSON array, CSV/TSV (typed columns); streaming.

Readers yield (line number, document) or BadLine, one item at a time; writers take one
document at a time. Memory follows one document, never the file (issue 10 item 2).
"""

from __future__ import annotations

import csv
import datetime
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import IO, Any, Callable, Iterator, Mapping, Sequence

from bson import Decimal128, Int64, ObjectId, json_util

from mongocli.errors import UserError
from mongocli.service.inputs import (MAX_DOCUMENT_BYTES, MAX_LINE_BYTES, BadLine, check_document,
                                     read_json_lines)

INPUT_TYPES = ("json", "csv", "tsv")
OUTPUT_TYPES = ("json", "jsonarray", "csv", "tsv")
_BOM = b"\xef\xbb\xbf"
_UNDECODABLE = "\ufffeundecodable:"  # marks a line that was not UTF-8 (see _decoded_lines)


# -- reading ------------------------------------------------------------------------------------
def read_documents(stream: IO[bytes], kind: str, *, fields: Sequence[str] | None = None,
                   header_line: bool = False) -> Iterator[Any]:
    """Documents from `stream` in format `kind`: JSON lines or a JSON array (detected), CSV or TSV."""
    if kind == "json":
        return _read_json(stream)
    if kind in ("csv", "tsv"):
        return read_delimited(stream, delimiter="," if kind == "csv" else "\t", fields=fields,
                              header_line=header_line)
    raise UserError(f"unknown input type {kind!r} (one of {', '.join(INPUT_TYPES)})")


def _read_json(stream: IO[bytes]) -> Iterator[Any]:
    """JSON lines, or a JSON array when the first character is `[` (no flag needed)."""
    head = stream.peek(64)[:64] if hasattr(stream, "peek") else b""
    if head.startswith(_BOM):
        head = head[len(_BOM):]
    if head.lstrip().startswith(b"["):
        return read_json_array(stream)
    return read_json_lines(stream)


def read_json_array(stream: IO[bytes]) -> Iterator[Any]:
    """The elements of one JSON array, decoded one at a time (a buffer of one element plus a chunk).

    An element that is not an object is a BadLine and the next one is read; a malformed
    element ends the array (its structure is lost), reported as a BadLine with its line.
    """
    decoder = json.JSONDecoder(object_pairs_hook=lambda pairs: json_util.object_pairs_hook(
        pairs, json_util.DEFAULT_JSON_OPTIONS))
    reader = _TextChunks(stream)
    buffer, line = reader.read(), 1
    pos = _skip(buffer, 0, "\ufeff \t\r\n")
    if not buffer[pos:pos + 1] == "[":
        yield BadLine(1, "expected a JSON array starting with [")
        return
    pos += 1
    while True:
        line += buffer.count("\n", 0, pos)
        buffer, pos = buffer[pos:], 0
        pos = _skip(buffer, 0, " \t\r\n,")
        while pos >= len(buffer) and not reader.eof:
            buffer += reader.read()
            pos = _skip(buffer, 0, " \t\r\n,")
        if buffer[pos:pos + 1] == "]" or pos >= len(buffer):
            return
        line += buffer.count("\n", 0, pos)
        buffer, pos = buffer[pos:], 0
        while True:
            try:
                value, end = decoder.raw_decode(buffer)
                break
            except RecursionError:
                yield BadLine(line, "element nested too deep; the rest of the array cannot be read")
                return
            except json.JSONDecodeError as exc:
                if reader.eof or len(buffer) > MAX_LINE_BYTES:
                    yield BadLine(line + exc.lineno - 1, f"invalid JSON at column {exc.colno}: {exc.msg}; "
                                                          "the rest of the array cannot be read")
                    return
                buffer += reader.read(len(buffer))  # doubling: a large element costs O(size)
        if isinstance(value, Mapping):
            try:
                yield line, check_document(dict(value), size=end > MAX_DOCUMENT_BYTES // 8,
                                           depth=buffer.count("{", 0, end) + buffer.count("[", 0, end) > 100)
            except ValueError as exc:
                yield BadLine(line, str(exc))
        else:
            yield BadLine(line, f"expected a JSON object {{...}}, got {type(value).__name__}")
        pos = end


class _TextChunks:
    """UTF-8 text from a byte stream in chunks, never splitting a character; a BOM is dropped."""

    CHUNK = 1 << 16

    def __init__(self, stream: IO[bytes]) -> None:
        import codecs
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
        self.eof = False

    def read(self, size: int = 0) -> str:
        data = self._stream.read(max(size, self.CHUNK))
        self.eof = not data
        try:
            return self._decoder.decode(data, final=self.eof)
        except UnicodeDecodeError as exc:
            raise UserError(f"input is not UTF-8 (byte 0x{data[exc.start]:02x}); a JSON array must be "
                            "UTF-8 throughout") from None


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


# CSV/TSV typed columns, as mongoimport's --columnsHaveTypes: name.int32(), when.date(), ...
_COLUMN = re.compile(r"^(?P<name>[^()]+?)(?:\.(?P<type>[a-zA-Z0-9_]+)\((?P<arg>[^)]*)\))?$")


@dataclass(frozen=True)
class Column:
    """A CSV column: its (dotted) field name and how a cell becomes a value."""

    name: str
    type: str = "auto"

    @classmethod
    def parse(cls, spec: str) -> "Column":
        match = _COLUMN.match(spec.strip())
        if not match or not match.group("name").strip():
            raise UserError(f"bad field {spec!r}: expected NAME or NAME.TYPE() (e.g. age.int32())")
        kind = (match.group("type") or "auto").lower()
        if kind not in _CONVERTERS:
            raise UserError(f"field {spec!r}: unknown type {kind!r} (one of {', '.join(sorted(_CONVERTERS))})")
        return cls(match.group("name").strip(), kind)

    def convert(self, cell: str) -> Any:
        try:
            return _CONVERTERS[self.type](cell)
        except (ValueError, InvalidOperation, ArithmeticError) as exc:
            raise ValueError(f"column {self.name!r}: {cell!r} is not a valid {self.type} ({exc})") from None


def _auto(cell: str) -> Any:
    """Untyped cells: integers and decimals become numbers (as mongoimport), the rest stay text."""
    if re.fullmatch(r"-?\d{1,18}", cell):
        return int(cell)
    if re.fullmatch(r"-?\d+\.\d*(?:[eE][-+]?\d+)?", cell):
        return float(cell)
    return cell


def _int32(cell: str) -> int:
    value = int(cell)
    if not -2**31 <= value < 2**31:
        raise ValueError("out of the int32 range")
    return value


def _boolean(cell: str) -> bool:
    lowered = cell.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no", ""):
        return False
    raise ValueError("expected true or false")


def _date(cell: str) -> datetime.datetime:
    value = datetime.datetime.fromisoformat(cell.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "auto": _auto, "string": str, "int32": _int32, "int64": lambda c: Int64(int(c)), "double": float,
    "decimal": lambda c: Decimal128(Decimal(c)), "boolean": _boolean, "date": _date,
    "objectid": ObjectId,
}


def read_delimited(stream: IO[bytes], *, delimiter: str, fields: Sequence[str] | None,
                   header_line: bool) -> Iterator[Any]:
    """CSV/TSV rows as documents; column names from --fields or the first line (--header-line)."""
    if not fields and not header_line:
        raise UserError("CSV/TSV input needs --fields a,b,c or --header-line")
    rows = csv.reader(_decoded_lines(stream), delimiter=delimiter)
    columns = [Column.parse(f) for f in fields] if fields else None
    for row in rows:
        number = rows.line_num
        if row and row[0].startswith(_UNDECODABLE):
            yield BadLine(number, row[0][len(_UNDECODABLE):])
            continue
        if columns is None:
            columns = [Column.parse(name) for name in row]
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(columns):
            yield BadLine(number, f"{len(row)} cells but {len(columns)} fields")
            continue
        try:
            doc: dict[str, Any] = {}
            for column, cell in zip(columns, row):
                _set_dotted(doc, column.name, column.convert(cell))
            yield number, check_document(doc, size=sum(map(len, row)) > MAX_DOCUMENT_BYTES // 8, depth=False)
        except ValueError as exc:
            yield BadLine(number, str(exc))


def _decoded_lines(stream: IO[bytes]) -> Iterator[str]:
    """Each line decoded alone (a bad byte costs its line only); the BOM before line 1 dropped."""
    for number, raw in enumerate(iter(lambda: stream.readline(MAX_LINE_BYTES + 1), b""), start=1):
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            # csv.reader takes text lines only: the line goes on as one marked cell, so that its
            # number is kept and read_delimited reports it as a BadLine.
            yield f"{_UNDECODABLE}not UTF-8: byte 0x{raw[exc.start]:02x} at column {exc.start + 1}\n"


def _set_dotted(doc: dict[str, Any], name: str, value: Any) -> None:
    *parents, leaf = name.split(".")
    for part in parents:
        child = doc.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValueError(f"field {name!r} conflicts with field {part!r}")
        doc = child
    doc[leaf] = value


# -- writing ------------------------------------------------------------------------------------
class Writer:
    """Writes documents one at a time in an output format; `close()` ends the output (an array's ])."""

    def __init__(self, out: IO[str], kind: str, *, ejson: str = "relaxed",
                 fields: Sequence[str] | None = None, header_line: bool = True) -> None:
        if kind not in OUTPUT_TYPES:
            raise UserError(f"unknown output type {kind!r} (one of {', '.join(OUTPUT_TYPES)})")
        if kind in ("csv", "tsv") and not fields:
            raise UserError(f"--type {kind} needs --fields a,b,c (the columns, in order)")
        self.out, self.kind, self.fields = out, kind, list(fields or ())
        self.options = json_util.CANONICAL_JSON_OPTIONS if ejson == "canonical" else json_util.RELAXED_JSON_OPTIONS
        self.count = 0
        self._csv = csv.writer(out, delimiter="," if kind == "csv" else "\t", lineterminator="\n") \
            if kind in ("csv", "tsv") else None
        if self._csv is not None and header_line:
            self._csv.writerow(self.fields)

    def write(self, doc: Mapping[str, Any]) -> None:
        if self._csv is not None:
            self._csv.writerow([self._cell(get_dotted(doc, f)) for f in self.fields])
        elif self.kind == "jsonarray":
            self.out.write(("[\n" if self.count == 0 else ",\n") + json_util.dumps(doc, json_options=self.options))
        else:
            self.out.write(json_util.dumps(doc, json_options=self.options) + "\n")
        self.count += 1

    def close(self) -> None:
        if self.kind == "jsonarray":
            self.out.write("[]\n" if self.count == 0 else "\n]\n")
        self.out.flush()

    def _cell(self, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, (str, int, float, bool, Decimal128, ObjectId)):
            return str(value).lower() if isinstance(value, bool) else str(value)
        if isinstance(value, datetime.datetime):
            return value.isoformat()
        return json_util.dumps(value, json_options=self.options)


def get_dotted(doc: Mapping[str, Any], name: str, missing: Any = None) -> Any:
    """doc["a"]["b"] for "a.b"; `missing` when a part is absent (or not a document)."""
    value: Any = doc
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return missing
        value = value[part]
    return value
