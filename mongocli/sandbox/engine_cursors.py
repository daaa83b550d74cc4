"""Read commands of the sandbox data engine: find, getMore, killCursors, aggregate, count, distinct."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

import bson
from bson import Int64

from mongocli.sandbox.engine_collation import comparison_form
from mongocli.sandbox.engine_filter import validate_filter
from mongocli.sandbox.engine_plan import hinted_scan
from mongocli.sandbox.engine_text import split_meta, text_query
from mongocli.sandbox.engine_pipeline import SOURCE_STAGES, run_stages, source_documents
from mongocli.sandbox.engine_collation import filter_applies
from mongocli.sandbox.engine_store import Catalog, bson_size
from mongocli.sandbox.engine_values import (
    CommandError, clone, error, hkey, id_first, order_key, path_values, sort_docs,
)
from mongocli.sandbox.engine_write import project, translate

DEFAULT_FIRST_BATCH = 101


@dataclass
class OpenCursor:
    """A server-side cursor: what is left to return and how it goes on.

    ``limit_left``: documents the cursor may still return (None: no limit). A tailable cursor
    (capped collections only) also reads documents inserted after its last one: ``source`` is
    the collection, ``last_record`` the RecordId of the newest document it has read."""

    ns: str
    docs: list
    limit_left: int | None = None
    max_time_ms: int = 0
    tailable: bool = False
    await_data: bool = False
    source: Any = None
    filter: dict = field(default_factory=dict)
    projection: Any = None
    last_record: int = 0


class Cursors:
    """Open cursors by id."""

    def __init__(self) -> None:
        self.open: dict[int, OpenCursor] = {}

    def reply(self, ns: str, docs: list[dict], batch_size: int | None, single: bool,
              max_bson_size: int, *, cursor: OpenCursor | None = None) -> dict:
        """The first batch off ``docs``; the rest stays under a new cursor id unless done.

        Like a server's plan executor, a batch that fills ``batchSize`` exactly leaves the
        cursor open even when nothing follows (the next getMore answers an empty final batch);
        a tailable cursor stays open at the end of its collection."""
        batch, rest = take_batch(docs, batch_size, max_bson_size)
        cursor = cursor or OpenCursor(ns, [])
        if cursor.limit_left is not None:
            cursor.limit_left -= len(batch)
        cursor.docs = rest
        cursor_id = 0
        if not single and self._stays_open(cursor, batch, batch_size):
            cursor_id = random.randint(1, 2**62)
            self.open[cursor_id] = cursor
        return {"cursor": {"firstBatch": batch, "id": Int64(cursor_id), "ns": ns}, "ok": 1.0}

    @staticmethod
    def _stays_open(cursor: OpenCursor, batch: list, batch_size: int | None) -> bool:
        if cursor.limit_left is not None and cursor.limit_left <= 0:
            return False
        if cursor.docs or cursor.tailable:
            return True
        return bool(batch_size) and len(batch) == batch_size

    def max_time_ms(self, cursor_id: Any) -> int:
        """The maxTimeMS an open cursor's getMores inherit (0: none)."""
        cursor = self.open.get(cursor_id) if isinstance(cursor_id, int) else None
        return cursor.max_time_ms if cursor is not None and not cursor.await_data else 0

    def awaits_data(self, cursor_id: Any) -> bool:
        """Whether a getMore on this cursor waits for new documents (tailable + awaitData)."""
        cursor = self.open.get(cursor_id) if isinstance(cursor_id, int) else None
        return cursor is not None and cursor.await_data

    def get_more(self, db: str, cmd: dict, max_bson_size: int) -> dict:
        """getMore: the next batch; CursorNotFound (43) for ids this engine does not hold."""
        cursor_id = cmd.get("getMore")
        if not isinstance(cursor_id, int) or isinstance(cursor_id, bool):
            raise error(14, "BSON field 'getMore.getMore' is the wrong type, expected type 'long'")
        coll = cmd.get("collection")
        if not isinstance(coll, str):
            raise error(14, "BSON field 'getMore.collection' is the wrong type, expected 'string'")
        cursor = self.open.get(int(cursor_id))
        if cursor is None:
            raise error(43, f"cursor id {cursor_id} not found")
        ns = cursor.ns
        if ns != f"{db}.{coll}":
            raise error(13, f"Requested getMore on namespace '{db}.{coll}', but cursor "
                            f"{cursor_id} belongs to a different namespace {ns}")
        batch_size = cmd.get("batchSize")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 0):
            raise error(2, "batchSize must be non-negative")
        if cursor.tailable and not cursor.docs:
            try:
                cursor.docs = self._tail(cursor)
            except CommandError:
                del self.open[int(cursor_id)]
                raise
        if cursor.limit_left is not None and batch_size:
            batch_size = min(batch_size, cursor.limit_left)
        batch, cursor.docs = take_batch(cursor.docs, batch_size or cursor.limit_left or None, max_bson_size)
        if cursor.limit_left is not None:
            cursor.limit_left -= len(batch)
        if self._stays_open(cursor, batch, batch_size):
            out_id = int(cursor_id)
        else:
            del self.open[int(cursor_id)]
            out_id = 0
        return {"cursor": {"nextBatch": batch, "id": Int64(out_id), "ns": ns}, "ok": 1.0}

    @staticmethod
    def _tail(cursor: OpenCursor) -> list[dict]:
        """Documents a tailable cursor has not read yet (RecordId order). Its position is the
        newest document it read; once the capped collection deletes that one, the scan dies
        (the server's CappedPositionLost, 136)."""
        source = cursor.source
        live = source.record_ids
        if cursor.last_record and cursor.last_record not in live.values():
            raise error(136, "CollectionScan died due to position in capped collection being "
                             f"deleted. Last seen record id: RecordId({cursor.last_record})")
        fresh = [doc for key, doc in source.docs.items() if live.get(key, 0) > cursor.last_record]
        if fresh:
            cursor.last_record = live[hkey(fresh[-1]["_id"])]
        return [project(d, cursor.projection) for d in fresh
                if not cursor.filter or filter_applies(cursor.filter, d)]

    def kill(self, db: str, cmd: dict) -> dict:
        """killCursors: cursorsKilled / cursorsNotFound / cursorsAlive / cursorsUnknown."""
        ids = cmd.get("cursors")
        if not isinstance(ids, list):
            raise error(9, "BSON field 'killCursors.cursors' is missing but a required field")
        killed, not_found = [], []
        for cid in ids:
            entry = self.open.get(int(cid))
            if entry is not None and entry.ns == f"{db}.{cmd['killCursors']}":
                del self.open[int(cid)]
                killed.append(Int64(cid))
            else:
                not_found.append(Int64(cid))
        return {"cursorsKilled": killed, "cursorsNotFound": not_found, "cursorsAlive": [],
                "cursorsUnknown": [], "ok": 1.0}

    def drop_namespace(self, ns_prefix: str) -> None:
        """Close cursors over a dropped collection (prefix ``db.`` closes a whole database)."""
        for cid in [c for c, cursor in self.open.items()
                    if cursor.ns == ns_prefix or (ns_prefix.endswith(".") and cursor.ns.startswith(ns_prefix))]:
            del self.open[cid]


def take_batch(docs: list[dict], batch_size: int | None, max_bson_size: int) -> tuple[list, list]:
    """Split off at most ``batch_size`` documents whose total size stays under the BSON limit."""
    limit = len(docs) if not batch_size else min(batch_size, len(docs))
    total = 0
    count = 0
    for doc in docs[:limit]:
        total += len(bson.encode(doc))
        if count and total > max_bson_size:
            break
        count += 1
    return docs[:count], docs[count:]


def _int_field(cmd: dict, name: str, command: str, default: Any = None) -> Any:
    value = cmd.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(14, f"BSON field '{command}.{name}' is the wrong type "
                        f"'{type(value).__name__}', expected types '[long, int, decimal, double]'")
    return int(value)


def _view_or_collection_match(catalog: Catalog, coll: Any, filt: dict,
                              limit: int = 0) -> list[dict]:
    # Reads of a view see the output of its pipeline, filtered like a $match after it.
    if not coll.is_view:
        return coll.match(filt, limit)
    return run_pipeline(catalog, coll.db, coll.name, [{"$match": filt}] if filt else [])


def run_find(catalog: Catalog, cursors: Cursors, db: str, cmd: dict, max_bson_size: int) -> dict:
    """The find command, with sort/skip/limit (negative = single batch)/projection/batchSize."""
    name = cmd["find"]
    filt = cmd.get("filter") or {}
    if not isinstance(filt, dict):
        raise error(14, "BSON field 'find.filter' is the wrong type, expected type 'object'")
    skip = _int_field(cmd, "skip", "find", 0)
    limit = _int_field(cmd, "limit", "find", 0)
    batch_size = _int_field(cmd, "batchSize", "find")
    if skip < 0:
        raise error(51024, f"BSON field 'skip' value must be >= 0, actual value '{skip}'")
    if batch_size is not None and batch_size < 0:
        raise error(51024, f"BSON field 'batchSize' value must be >= 0, actual value '{batch_size}'")
    single = bool(cmd.get("singleBatch", False))
    if limit < 0:  # legacy negative limit: one batch of |limit| documents
        limit, single = -limit, True
    sort = cmd.get("sort")
    if sort is not None and not isinstance(sort, dict):
        raise error(14, f"BSON field 'find.sort' is the wrong type '{_bson_type(sort)}', "
                        "expected type 'object'")
    validate_filter(filt)  # even with no collection, a bad filter is an error
    coll = catalog.get(db, name)
    ns = f"{db}.{name}"
    tailable = bool(cmd.get("tailable"))
    if cmd.get("awaitData") and not tailable:
        raise error(9, "Cannot set 'awaitData' without also setting 'tailable'")
    if tailable and coll is not None and not coll.options.get("capped"):
        raise error(2, f"error processing query: ns={ns} tree: tailable cursor requested on "
                       "non capped collection")
    if coll is None:
        return cursors.reply(ns, [], batch_size, True, max_bson_size)
    try:
        # Without a sort or hint, only skip+limit matches are needed: stop the scan there.
        whole = sort or cmd.get("hint") or cmd.get("min") or cmd.get("max") or not limit
        docs = _view_or_collection_match(catalog, coll, filt, 0 if whole else skip + limit)
        docs = hinted_scan(coll, docs, filt, cmd)
        scores = _text_scores(coll, filt, docs)
        if sort:
            docs = sort_docs(docs, sort)
            if _sorts_by_score(sort):
                docs = sorted(docs, key=lambda d: -scores.get(id(d), 0.0))
    except CommandError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise translate(exc) from exc
    last_record = coll.record_id(docs[-1]) if tailable and docs else 0
    if skip:
        docs = docs[skip:]
    if limit:
        docs = docs[:limit]
    projection, score_fields = split_meta(cmd.get("projection"))
    if cmd.get("returnKey"):
        # returnKey: only the keys of the index the plan used, {} for a collection scan (the
        # server's ReturnKeyStage); it replaces the projection and showRecordId.
        index = None if coll.is_view else (coll.usable_index(filt, cmd.get("hint"))
                                           or coll.sort_index(cmd.get("sort")))
        docs = [index_key(d, index) for d in docs]
    else:
        stored = not coll.is_view
        docs = [_with_score(_with_record_id(project(d, projection), coll.record_id(d))
                            if cmd.get("showRecordId") and stored else project(d, projection),
                            score_fields, scores.get(id(d), 0.0)) for d in docs]
    if single and batch_size is None:
        batch_size = limit or None
    elif batch_size is None:
        batch_size = DEFAULT_FIRST_BATCH
    cursor = OpenCursor(ns, [], limit_left=limit or None, max_time_ms=_int_field(cmd, "maxTimeMS", "find", 0),
                        tailable=tailable, await_data=bool(cmd.get("awaitData")), source=coll,
                        filter=filt, projection=projection, last_record=last_record)
    if batch_size == 0:
        # batchSize 0: an empty first batch and an open cursor (if anything matched)
        cursor.docs = docs
        if (docs or tailable) and not single:
            cid = random.randint(1, 2**62)
            cursors.open[cid] = cursor
            return {"cursor": {"firstBatch": [], "id": Int64(cid), "ns": ns}, "ok": 1.0}
        return {"cursor": {"firstBatch": [], "id": Int64(0), "ns": ns}, "ok": 1.0}
    return cursors.reply(ns, docs, batch_size, single, max_bson_size, cursor=cursor)


def _text_scores(coll: Any, filt: dict, docs: list[dict]) -> dict[int, float]:
    # textScore of each matched document of a $text query (by object identity), else {}.
    if "$text" not in filt or coll.is_view:
        return {}
    query = text_query(coll, filt["$text"])
    return {id(d): query.score(d) for d in docs}


def _sorts_by_score(sort: dict) -> bool:
    return any(isinstance(v, dict) and v.get("$meta") == "textScore" for v in sort.values())


def _with_score(doc: dict, fields: list[str], score: float) -> dict:
    # {$meta: "textScore"} projection fields come after the projected ones.
    for name in fields:
        doc[name] = score
    return doc


def _bson_type(value: Any) -> str:
    return {bool: "bool", int: "int", float: "double", str: "string", list: "array"}.get(type(value), "object")


def index_key(doc: dict, index: Any) -> dict:
    """The index key ``doc`` was found under: each key-pattern field with its value (null when
    missing, one element of an array as a multikey entry); {} without an index."""
    if index is None:
        return {}
    key = {}
    for field, _ in index.keys:
        values = path_values(doc, field)
        value = values[0] if values else None
        if isinstance(value, list):
            value = value[0] if value else None
        key[field] = clone(value)
    return key


def _with_record_id(doc: dict, record_id: int) -> dict:
    # showRecordId: the server appends $recordId (a long) after the projected fields.
    doc = dict(doc)
    doc["$recordId"] = Int64(record_id)
    return doc


class _LookupSource:
    """What mongomock's $lookup/$graphLookup need from a foreign collection: ``find``."""

    def __init__(self, catalog: Catalog, db: str, name: str) -> None:
        self.coll = catalog.get(db, name)

    def find(self, filt: dict | None = None, *args: Any, **kwargs: Any) -> list[dict]:
        return [clone(d) for d in self.coll.match(filt or {})] if self.coll else []


class _LookupDatabase:
    def __init__(self, catalog: Catalog, db: str) -> None:
        self.catalog, self.db = catalog, db

    def get_collection(self, name: str) -> _LookupSource:
        return _LookupSource(self.catalog, self.db, name)


def run_pipeline(catalog: Catalog, db: str, name: str | None, pipeline: list,
                 local_sessions: Callable[[], list[dict]] = list) -> list[dict]:
    """Run a pipeline (minus any final $out/$merge) over a collection's documents."""
    first = pipeline[0] if pipeline and isinstance(pipeline[0], dict) else {}
    try:
        if len(first) == 1 and next(iter(first)) in SOURCE_STAGES:
            docs = source_documents(catalog, db, name, first, local_sessions)
        else:
            coll = catalog.get(db, name) if isinstance(name, str) else None
            if coll is not None and coll.is_view:
                # A view reads its source through its own pipeline first (recursively).
                docs = run_pipeline(catalog, db, coll.options["viewOn"],
                                    list(coll.options.get("pipeline") or []), local_sessions)
            else:
                docs = [clone(d) for d in coll.docs.values()] if coll else []
        result = run_stages(docs, pipeline, _LookupDatabase(catalog, db))
    except CommandError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise translate(exc) from exc
    return [id_first(d) for d in result]


def _write_out(catalog: Catalog, db: str, stage: dict, docs: list[dict],
               max_bson_size: int) -> None:
    (name, spec), = stage.items()
    if name == "$out":
        target_db, target = (spec.get("db", db), spec.get("coll")) if isinstance(spec, dict) \
            else (db, spec)
        catalog.drop(target_db, target)
        coll = catalog.ensure(target_db, target)
        for d in docs:
            d = d if "_id" in d else {"_id": bson.ObjectId(), **d}
            coll.insert(d, bson_size(d, max_bson_size))
        return
    into = spec.get("into") if isinstance(spec, dict) else spec
    target_db, target = (into.get("db", db), into.get("coll")) if isinstance(into, dict) \
        else (db, into)
    on = spec.get("on", "_id") if isinstance(spec, dict) else "_id"
    on_fields = [on] if isinstance(on, str) else list(on)
    matched_mode = spec.get("whenMatched", "merge") if isinstance(spec, dict) else "merge"
    unmatched_mode = spec.get("whenNotMatched", "insert") if isinstance(spec, dict) else "insert"
    coll = catalog.ensure(target_db, target)
    for d in docs:
        d = d if "_id" in d else {"_id": bson.ObjectId(), **d}
        existing = coll.match({f: d.get(f) for f in on_fields})
        if existing:
            old = existing[0]
            if matched_mode == "fail":
                raise coll.dup_error(coll.indexes["_id_"], (old["_id"],))
            if matched_mode == "keepExisting":
                continue
            new = {**old, **d} if matched_mode == "merge" else {**d, "_id": old["_id"]}
            new = id_first({**new, "_id": old["_id"]})
            coll.replace(old, new, bson_size(new, max_bson_size))
        elif unmatched_mode == "insert":
            coll.insert(id_first(d), bson_size(d, max_bson_size))
        elif unmatched_mode == "fail":
            raise error(13113, "$merge could not find a matching document in the target "
                               "collection for at least one document in the source collection")


def run_aggregate(catalog: Catalog, cursors: Cursors, db: str, cmd: dict,
                  max_bson_size: int, local_sessions: Callable[[], list[dict]] = list) -> dict:
    """The aggregate command: pipeline, cursor.batchSize, explain, $out/$merge at the end."""
    pipeline = cmd.get("pipeline")
    if not isinstance(pipeline, list):
        raise error(14, "'pipeline' option must be specified as an array")
    if "cursor" not in cmd and not cmd.get("explain"):
        raise error(9, "The 'cursor' option is required, except for aggregate with the "
                       "explain argument")
    name = cmd["aggregate"]
    out_stage = None
    if pipeline and isinstance(pipeline[-1], dict) and (
            "$out" in pipeline[-1] or "$merge" in pipeline[-1]):
        out_stage, pipeline = pipeline[-1], pipeline[:-1]
    if out_stage is not None and (cmd.get("readConcern") or {}).get("level") == "linearizable":
        raise error(72, f"{next(iter(out_stage))} cannot be used with a 'linearizable' read "
                        "concern level")
    for stage in pipeline:
        if isinstance(stage, dict) and ("$out" in stage or "$merge" in stage):
            raise error(40601, "$out/$merge can only be the final stage in the pipeline")
    docs = run_pipeline(catalog, db, name, pipeline, local_sessions)
    if out_stage is not None:
        _write_out(catalog, db, out_stage, docs, max_bson_size)
        docs = []
    batch_size = (cmd.get("cursor") or {}).get("batchSize")
    if batch_size is None:
        batch_size = DEFAULT_FIRST_BATCH
    ns = f"{db}.{name}" if isinstance(name, str) else f"{db}.$cmd.aggregate"
    if batch_size == 0:
        cid = random.randint(1, 2**62) if docs else 0
        if docs:
            cursors.open[cid] = OpenCursor(ns, docs)
        return {"cursor": {"firstBatch": [], "id": Int64(cid), "ns": ns}, "ok": 1.0}
    return cursors.reply(ns, docs, batch_size, False, max_bson_size,
                         cursor=OpenCursor(ns, [], max_time_ms=_int_field(cmd, "maxTimeMS", "aggregate", 0)))


def run_count(catalog: Catalog, db: str, cmd: dict) -> dict:
    """The count command: query, skip, limit (a negative limit counts as its absolute value)."""
    coll = catalog.get(db, cmd["count"])
    skip = _int_field(cmd, "skip", "count", 0)
    limit = abs(_int_field(cmd, "limit", "count", 0))
    if skip < 0:
        raise error(2, "skip value is negative in count query")
    validate_filter(cmd.get("query"))
    if coll is None:
        return {"n": 0, "ok": 1.0}
    try:
        n = len(_view_or_collection_match(catalog, coll, cmd.get("query") or {}))
    except Exception as exc:  # noqa: BLE001
        raise translate(exc) from exc
    n = max(n - skip, 0)
    if limit:
        n = min(n, limit)
    return {"n": n, "ok": 1.0}


def run_distinct(catalog: Catalog, db: str, cmd: dict) -> dict:
    """The distinct command: values of ``key`` (arrays unwound), in BSON order."""
    key = cmd.get("key")
    if not isinstance(key, str):
        raise error(14, "BSON field 'distinct.key' is the wrong type, expected type 'string'")
    validate_filter(cmd.get("query"))
    coll = catalog.get(db, cmd["distinct"])
    seen: dict = {}
    if coll is not None:
        try:
            docs = coll.match(cmd.get("query") or {})
        except Exception as exc:  # noqa: BLE001
            raise translate(exc) from exc
        for doc in docs:
            for value in path_values(doc, key):
                for v in (value if isinstance(value, list) else [value]):
                    # Under a collation, values equal by it count once (the first seen).
                    seen.setdefault(hkey(comparison_form(v)), v)
    values = sorted(seen.values(), key=order_key)
    return {"values": [clone(v) for v in values], "ok": 1.0}
