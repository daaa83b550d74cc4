"""Completion: a pure "what fits at the cursor" function and a background-refreshed source of names."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from mongocli.shell.metacommands import SHOW_TOPICS, WORDS

__all__ = ["Names", "Suggestion", "complete", "NameSource", "OPERATORS"]

QUERY_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$and", "$or", "$nor", "$not",
                   "$exists", "$type", "$regex", "$options", "$elemMatch", "$size", "$all", "$mod", "$expr",
                   "$text", "$search", "$where", "$jsonSchema", "$near", "$geoWithin", "$geoIntersects")
UPDATE_OPERATORS = ("$set", "$unset", "$inc", "$mul", "$min", "$max", "$rename", "$setOnInsert",
                    "$currentDate", "$push", "$pull", "$pullAll", "$addToSet", "$pop", "$each", "$position",
                    "$slice", "$sort")
STAGES = ("$match", "$group", "$project", "$sort", "$limit", "$skip", "$unwind", "$lookup", "$count",
          "$addFields", "$set", "$unset", "$replaceRoot", "$facet", "$bucket", "$sample", "$out", "$merge",
          "$sortByCount", "$graphLookup", "$unionWith")
ACCUMULATORS = ("$sum", "$avg", "$first", "$last", "$push", "$addToSet", "$min", "$max", "$count")
OPERATORS = tuple(sorted(set(QUERY_OPERATORS + UPDATE_OPERATORS + STAGES + ACCUMULATORS)))


@dataclass(frozen=True)
class Names:
    """What completion may offer: databases, collections of the current database, the methods of
    the shell's objects (kind -> names, read from the prelude) and the user's global variables
    (name -> property names, a snapshot taken after each input)."""

    databases: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    methods: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    globals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Suggestion:
    """Replace the `start` characters before the cursor (a negative offset or 0) with `text`."""

    text: str
    start: int
    meta: str = ""


_WORD = r"[A-Za-z0-9_$]*"
_IDENT_OK = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_TOP_LEVEL = re.compile(rf"(?:^|[^\w$.])([A-Za-z_$]{_WORD})$")
_SHOW = re.compile(rf"^\s*show\s+({_WORD})$")
_USE = re.compile(r"^\s*use\s+(\S*)$")
_DB_DOT = re.compile(rf"(?<![\w$.\]\)])db\.({_WORD})$")
_COLL_DOT = re.compile(rf"(?<![\w$.\]\)])db(?:\.[A-Za-z_$][\w$]*|\[\s*(?:\"[^\"]*\"|'[^']*')\s*\]"
                       rf"|\.getCollection\(\s*(?:\"[^\"]*\"|'[^']*')\s*\))+\.({_WORD})$")
_OBJ_DOT = re.compile(rf"(?<![\w$.\]\)])([A-Za-z_$][\w$]*)\.({_WORD})$")
_CALL_DOT = re.compile(rf"\)\s*\.({_WORD})$")
_KEY = re.compile(rf"[{{,]\s*(\$?{_WORD})$")
_TOP_WORDS = ("db", "rs", "sh", "print", "printjson", "load", "sleep", "quit", "exit", "ObjectId", "ISODate",
              "NumberInt", "NumberLong", "NumberDecimal", "UUID", "BinData", "Timestamp", "MinKey", "MaxKey",
              "DBRef", "EJSON", "JSON", "Math", "Object", "Array", "Date")


def _filtered(candidates: Iterable[tuple[str, str]], prefix: str) -> list[Suggestion]:
    seen: set[str] = set()
    out: list[Suggestion] = []
    for text, meta in candidates:
        if text.startswith(prefix) and text != prefix and text not in seen:
            seen.add(text)
            out.append(Suggestion(text, -len(prefix), meta))
    return out


def _open_brackets(text: str) -> list[str]:
    """The unclosed brackets before the cursor, ignoring those inside strings (a small scanner)."""
    stack: list[str] = []
    quote = ""
    escaped = False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
            continue
        if ch in "\"'`":
            quote = ch
        elif ch in "{[(":
            stack.append(ch)
        elif ch in "}])" and stack:
            stack.pop()
    if quote:
        stack.append(quote)
    return stack


def _methods(names: Names, kind: str) -> list[str]:
    return sorted(names.methods.get(kind, ()))


def complete(text: str, names: Names) -> list[Suggestion]:
    """What fits at the end of `text` (the input before the cursor); pure, no I/O."""
    statement = text.rsplit(";", 1)[-1]
    if m := _SHOW.match(statement):
        return _filtered(((t, "show") for t in SHOW_TOPICS), m.group(1))
    if m := _USE.match(statement):
        return _filtered(((d, "database") for d in names.databases), m.group(1))
    if re.fullmatch(rf"\s*{_WORD}", statement):
        words = [(w, "shell command") for w in WORDS] + [(w, "global") for w in _TOP_WORDS]
        words += [(g, "variable") for g in sorted(names.globals)]
        return _filtered(words, statement.strip())
    open_brackets = _open_brackets(statement)
    if open_brackets and open_brackets[-1] in "\"'`":
        return []  # inside a string literal: nothing to suggest
    if open_brackets and open_brackets[-1] == "{" and (m := _KEY.search(statement)):
        prefix = m.group(1)
        if prefix.startswith("$"):
            return _filtered(((op, "operator") for op in OPERATORS), prefix)
        return []
    if m := _COLL_DOT.search(statement):
        return _filtered(((n, "collection method") for n in _methods(names, "collection")), m.group(1))
    if m := _DB_DOT.search(statement):
        colls = ((c, "collection") for c in names.collections if _IDENT_OK.match(c))
        methods = ((n, "db method") for n in _methods(names, "db"))
        return _filtered(list(colls) + list(methods), m.group(1))
    if m := _OBJ_DOT.search(statement):
        obj, prefix = m.group(1), m.group(2)
        if obj in names.methods:
            return _filtered(((n, f"{obj} method") for n in _methods(names, obj)), prefix)
        if obj in names.globals:
            return _filtered(((n, "property") for n in sorted(names.globals[obj])), prefix)
        return []
    if m := _CALL_DOT.search(statement):
        return _filtered(((n, "cursor method") for n in _methods(names, "cursor")), m.group(1))
    if m := _TOP_LEVEL.search(statement):
        words = [(w, "global") for w in _TOP_WORDS] + [(g, "variable") for g in sorted(names.globals)]
        return _filtered(words, m.group(1))
    return []


class NameSource:
    """Database/collection names refreshed by a background thread; `names()` never blocks on I/O.

    `list_databases()` and `list_collections(db)` are called only on the refresher thread; a failed
    refresh keeps the previous names (completion must not break because a server is down).
    """

    def __init__(self, list_databases: Callable[[], list[str]], list_collections: Callable[[str], list[str]],
                 *, interval_s: float = 30.0) -> None:
        self._list_databases = list_databases
        self._list_collections = list_collections
        self._interval_s = interval_s
        self._lock = threading.Condition()
        self._databases: tuple[str, ...] = ()
        self._collections: dict[str, tuple[str, ...]] = {}
        self._wanted_db: str | None = None
        self._requested = False
        self._stopped = False
        self.generation = 0  # counts finished refreshes; tests wait for it to grow
        self.last_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mongocli-shell-names", daemon=True)

    def start(self, db_name: str) -> "NameSource":
        self._wanted_db = db_name
        self._requested = True
        self._thread.start()
        return self

    def names(self, db_name: str) -> Names:
        """The latest known names for `db_name` (possibly empty); asks for a refresh if unknown."""
        with self._lock:
            collections = self._collections.get(db_name)
            if collections is None or db_name != self._wanted_db:
                self._wanted_db = db_name
                self._requested = True
                self._lock.notify_all()
            return Names(self._databases, collections or ())

    def refresh(self, db_name: str | None = None) -> int:
        """Ask for a refresh (after `use` or a write); returns the generation to wait beyond."""
        with self._lock:
            if db_name is not None:
                self._wanted_db = db_name
            self._requested = True
            self._lock.notify_all()
            return self.generation

    def wait_for(self, generation: int, timeout: float) -> bool:
        """Block until a refresh newer than `generation` finished (for tests and scripts)."""
        with self._lock:
            return self._lock.wait_for(lambda: self.generation > generation or self._stopped, timeout)

    def close(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._requested or self._stopped, timeout=self._interval_s)
                if self._stopped:
                    return
                self._requested = False
                db_name = self._wanted_db
            try:
                databases = tuple(sorted(self._list_databases()))
                collections = tuple(sorted(self._list_collections(db_name))) if db_name else ()
                error = None
            except Exception as exc:  # noqa: BLE001 - keep old names; shown only via last_error
                databases, collections, error = None, None, exc
            with self._lock:
                if error is None:
                    self._databases = databases
                    if db_name:
                        self._collections[db_name] = collections
                self.last_error = error
                self.generation += 1
                self._lock.notify_all()
