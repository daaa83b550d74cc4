"""The sandbox's data engine: answers MongoDB data commands with real query semantics.

Filters, update operators, projections and most aggregation stages come from mongomock 4.3.0;
this package owns storage, ``_id`` placement (always first), unique-index enforcement with the
server's exact E11000 messages, index lookups for equality filters, cursors, write-command
replies (n/nModified/upserted/writeErrors), arrayFilters, BSON sort order (Decimal128 included),
$out/$merge and the catalog commands.

Also here: command ``let`` variables, $getField/$setField/$unsetField, update pipelines,
$listLocalSessions/$collStats/$documents, filter validation before any document is read, and
collation strength 1/2 (case-/accent-insensitive) string matching.

Not covered (a clear error or a documented approximation, never a silent fake):
collation ordering (sorts stay binary; strength 3+ and numericOrdering are not modelled),
geo/hashed index semantics (the specs are stored, queries scan; $text in find/count is
engine_text.py's simplified FTS), $where below the top level of a filter ($where, $function
and $accumulator run as JavaScript, see server_js.py), $text in aggregation, $near and other
operators mongomock lacks (code 238 NotImplemented),
$lookup with ``pipeline``/``let``, $indexStats/$currentOp/$setWindowFields/$densify/$fill (238),
views, TTL expiry, $jsonSchema validators, read/write concern
semantics (the server layer owns sessions), equality between Decimal128 and other numeric types
in filters (ordering comparisons do work), sizes in stats that are BSON sizes rather than
storage-engine figures, mongomock quirks we pass through ($slice/$elemMatch projections drop the
other fields, $addToSet compares with Python equality so 1 and True collide, errors from update
operators applied to the wrong type come back as BadValue 2 rather than the server's exact code),
and indexes speed up only equality filters on single-field indexes (other filters scan; explain
still names one).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from mongocli.sandbox import bulk_write
from mongocli.sandbox import engine_admin as admin
from mongocli.sandbox import engine_collation, engine_expr, mongomock_patches
from mongocli.sandbox import engine_cursors as reads
from mongocli.sandbox import engine_validation as validation
from mongocli.sandbox import engine_write as writes
from mongocli.sandbox.engine_profile import Profiler
from mongocli.sandbox.engine_store import Catalog, WriteObserver, observing
from mongocli.sandbox.engine_values import CommandError, error

DEFAULT_MAX_BSON_SIZE = 16 * 1024 * 1024


class DataEngine:
    """One in-memory data store shared by every member of a simulated deployment (thread-safe)."""

    def __init__(self, catalog: Catalog | None = None, cursors: reads.Cursors | None = None) -> None:
        """A fresh store, or (a transaction's view) one over ``catalog`` sharing ``cursors``."""
        mongomock_patches.install()  # the pinned mongomock's gaps, process-wide: see that module
        self._lock = threading.RLock()
        self.catalog = catalog if catalog is not None else Catalog()
        self.cursors = cursors if cursors is not None else reads.Cursors()
        self.profiler = Profiler(self.catalog)
        # Told of every document write run() makes (engine_store.observing); None: nobody.
        self.observer: WriteObserver | None = None
        # Where $listLocalSessions reads the server's session cache (run() may supply one).
        self._local_sessions: Callable[[], list[dict]] = list
        c, k = self.catalog, self.cursors
        self._handlers: dict[str, Callable[[str, dict, int], dict]] = {
            "find": lambda db, cmd, m: reads.run_find(c, k, db, cmd, m),
            "getMore": lambda db, cmd, m: k.get_more(db, cmd, m),
            "killCursors": lambda db, cmd, m: k.kill(db, cmd),
            "aggregate": lambda db, cmd, m: reads.run_aggregate(c, k, db, cmd, m,
                                                                self._local_sessions),
            "count": lambda db, cmd, m: reads.run_count(c, db, cmd),
            "distinct": lambda db, cmd, m: reads.run_distinct(c, db, cmd),
            "insert": lambda db, cmd, m: writes.insert(c, db, cmd, m),
            "update": lambda db, cmd, m: writes.update(c, db, cmd, m),
            "delete": lambda db, cmd, m: writes.delete(c, db, cmd),
            "findAndModify": lambda db, cmd, m: writes.find_and_modify(c, db, cmd, m),
            "findandmodify": lambda db, cmd, m: writes.find_and_modify(c, db, cmd, m),
            "create": lambda db, cmd, m: admin.create(c, db, cmd),
            "drop": lambda db, cmd, m: admin.drop(c, k, db, cmd),
            "dropDatabase": lambda db, cmd, m: admin.drop_database(c, k, db),
            "listDatabases": lambda db, cmd, m: admin.list_databases(c, cmd),
            "listCollections": lambda db, cmd, m: admin.list_collections(c, db, cmd),
            "listIndexes": lambda db, cmd, m: admin.list_indexes(c, db, cmd),
            "createIndexes": lambda db, cmd, m: admin.create_indexes(c, db, cmd),
            "dropIndexes": lambda db, cmd, m: admin.drop_indexes(c, db, cmd),
            "deleteIndexes": lambda db, cmd, m: admin.drop_indexes(c, db, cmd),
            "renameCollection": lambda db, cmd, m: admin.rename_collection(c, k, db, cmd),
            "dbStats": lambda db, cmd, m: admin.db_stats(c, db, cmd),
            "profile": lambda db, cmd, m: self.profiler.command(db, cmd),
            "collMod": lambda db, cmd, m: validation.coll_mod(c, db, cmd),
            "validate": lambda db, cmd, m: validation.validate(c, db, cmd),
            "collStats": lambda db, cmd, m: admin.coll_stats(c, db, cmd),
            "bulkWrite": lambda db, cmd, m: bulk_write.run(
                db, cmd, lambda d, inner: self._dispatch(d, inner, m),
                lambda ns, docs, size: k.reply(ns, docs, size, False, m)),
            "explain": lambda db, cmd, m: admin.explain(
                c, db, cmd, lambda d, inner: self._dispatch(d, inner, m)),
        }

    def handles(self, command_name: str) -> bool:
        """Whether ``run`` answers this command (name as the first key of the command doc)."""
        return command_name in self._handlers

    def cursor_max_time_ms(self, cursor_id: object) -> int:
        """The maxTimeMS an open cursor's getMores inherit from its find/aggregate (0: none)."""
        with self._lock:
            return self.cursors.max_time_ms(cursor_id)

    def cursor_awaits_data(self, cursor_id: object) -> bool:
        """Whether getMore on this cursor waits for new data (a tailable awaitData cursor)."""
        with self._lock:
            return self.cursors.awaits_data(cursor_id)

    def run(self, db_name: str, command: dict, *, max_bson_size: int = DEFAULT_MAX_BSON_SIZE,
            local_sessions: Callable[[], list[dict]] | None = None) -> dict:
        """Execute one command document against ``db_name``; always returns a reply document.

        ``local_sessions`` lists the server's logical sessions (``{id, lastUse}`` each) for
        $listLocalSessions; without it that stage sees none.
        """
        with self._lock, observing(self.observer):
            self._local_sessions = local_sessions or list
            started = time.monotonic()
            try:
                reply = self._dispatch(db_name, command, max_bson_size)
            except CommandError as exc:
                reply = exc.reply()
            if command and next(iter(command)) != "profile":
                self.profiler.record(db_name, command, reply, int((time.monotonic() - started) * 1000))
            return reply

    def _dispatch(self, db_name: str, command: dict, max_bson_size: int) -> dict:
        if not command:
            raise error(59, "no such command: ''")
        name = next(iter(command))
        handler = self._handlers.get(name)
        if handler is None:
            raise error(59, f"no such command: '{name}'")
        if name not in ("getMore", "killCursors", "profile", "listDatabases", "listCollections",
                        "dbStats", "dropDatabase", "explain", "renameCollection", "bulkWrite") \
                and not isinstance(command[name], str) \
                and not (name == "aggregate" and command[name] == 1):
            raise error(73, f"collection name has invalid type {type(command[name]).__name__}")
        try:
            with engine_expr.let_vars(command.get("let")), \
                    engine_collation.collation(command.get("collation")):
                return handler(db_name, command, max_bson_size)
        except CommandError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the server's connection
            raise writes.translate(exc) from exc
