"""Read commands of the sandbox data engine: find, getMore, killCursors, aggregate, count, distinct."""

from __future__ import annotations

import random
from typing import Any, Callable

import bson
from bson import Int64

from mongocli.sandbox.engine_filter import validate_filter
from mongocli.sandbox.engine_pipeline import SOURCE_STAGES, run_stages, source_documents
from mongocli.sandbox.engine_store import Catalog, bson_size
from mongocli.sandbox.engine_values import (
    CommandError, clone, error, hkey, id_first, order_key, path_values, sort_docs,
)
from mongocli.sandbox.engine_write import project, translate

DEFAULT_FIRST_BATCH = 101


class Cursors:
    """Open cursors: id -> [namespace, remaining documents]."""

    def __init__(self) -> None:
        self.open: dict[int, list] = {}

    def reply(self, ns: str, docs: list[dict], batch_size: int | None, single: bool,
              max_bson_size: int, first: bool = True) -> dict:
        """Cut a batch off ``docs``; keep the rest under a new cursor id unless exhausted."""
        batch, rest = take_batch(docs, batch_size, max_bson_size)
        cursor_id = 0
        if rest and not single:
            cursor_id = random.randint(1, 2**62)
            self.open[cursor_id] = [ns, rest]
        key = "firstBatch" if first else "nextBatch"
        return {"cursor": {key: batch, "id": Int64(cursor_id), "ns": ns}, "ok": 1.0}

    def get_more(self, db: str, cmd: dict, max_bson_size: int) -> dict:
        """getMore: the next batch; CursorNotFound (43) for ids this engine does not hold."""
        cursor_id = cmd.get("getMore")
        if not isinstance(cursor_id, int) or isinstance(cursor_id, bool):
            raise error(14, "BSON field 'getMore.getMore' is the wrong type, expected type 'long'")
        coll = cmd.get("collection")
        if not isinstance(coll, str):
            raise error(14, "BSON field 'getMore.collection' is the wrong type, expected 'string'")
        entry = self.open.get(int(cursor_id))
        if entry is None:
            raise error(43, f"cursor id {cursor_id} not found")
        ns, docs = entry
        if ns != f"{db}.{coll}":
            raise error(13, f"Requested getMore on namespace '{db}.{coll}', but cursor "
                            f"{cursor_id} belongs to a different namespace {ns}")
        batch_size = cmd.get("batchSize")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 0):
            raise error(2, "batchSize must be non-negative")
        batch, rest = take_batch(docs, batch_size or None, max_bson_size)
        if rest:
            entry[1] = rest
            out_id = int(cursor_id)
        else:
            del self.open[int(cursor_id)]
            out_id = 0
        return {"cursor": {"nextBatch": batch, "id": Int64(out_id), "ns": ns}, "ok": 1.0}

    def kill(self, db: str, cmd: dict) -> dict:
        """killCursors: cursorsKilled / cursorsNotFound / cursorsAlive / cursorsUnknown."""
        ids = cmd.get("cursors")
        if not isinstance(ids, list):
            raise error(9, "BSON field 'killCursors.cursors' is missing but a required field")
        killed, not_found = [], []
        for cid in ids:
            entry = self.open.get(int(cid))
            if entry is not None and entry[0] == f"{db}.{cmd['killCursors']}":
                del self.open[int(cid)]
                killed.append(Int64(cid))
            else:
                not_found.append(Int64(cid))
        return {"cursorsKilled": killed, "cursorsNotFound": not_found, "cursorsAlive": [],
                "cursorsUnknown": [], "ok": 1.0}

    def drop_namespace(self, ns_prefix: str) -> None:
        """Close cursors over a dropped collection (prefix ``db.`` closes a whole database)."""
        for cid in [c for c, (ns, _) in self.open.items()
                    if ns == ns_prefix or (ns_prefix.endswith(".") and ns.startswith(ns_prefix))]:
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
    validate_filter(filt)  # even with no collection, a bad filter is an error
    coll = catalog.get(db, name)
    ns = f"{db}.{name}"
    if coll is None:
        return cursors.reply(ns, [], batch_size, True, max_bson_size)
    if cmd.get("hint"):
        coll.usable_index(filt, cmd["hint"])  # BadValue for an unknown hint
    try:
        # Without a sort, only skip+limit matches are needed: stop the scan there.
        docs = _view_or_collection_match(catalog, coll, filt,
                                         0 if cmd.get("sort") or not limit else skip + limit)
        if cmd.get("sort"):
            docs = sort_docs(docs, cmd["sort"])
    except CommandError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise translate(exc) from exc
    if skip:
        docs = docs[skip:]
    if limit:
        docs = docs[:limit]
    if cmd.get("returnKey"):
        # returnKey: only the keys of the index the plan used, {} for a collection scan (the
        # server's ReturnKeyStage); it replaces the projection and showRecordId.
        index = None if coll.is_view else (coll.usable_index(filt, cmd.get("hint"))
                                           or coll.sort_index(cmd.get("sort")))
        docs = [index_key(d, index) for d in docs]
    else:
        projection = cmd.get("projection")
        stored = not coll.is_view
        docs = [_with_record_id(project(d, projection), coll.record_id(d))
                if cmd.get("showRecordId") and stored else project(d, projection) for d in docs]
    if single and batch_size is None:
        batch_size = limit or None
    elif batch_size is None:
        batch_size = DEFAULT_FIRST_BATCH
    if batch_size == 0:
        # batchSize 0: an empty first batch and an open cursor (if anything matched)
        if docs and not single:
            cid = random.randint(1, 2**62)
            cursors.open[cid] = [ns, docs]
            return {"cursor": {"firstBatch": [], "id": Int64(cid), "ns": ns}, "ok": 1.0}
        return {"cursor": {"firstBatch": [], "id": Int64(0), "ns": ns}, "ok": 1.0}
    return cursors.reply(ns, docs, batch_size, single, max_bson_size)


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
            cursors.open[cid] = [ns, docs]
        return {"cursor": {"firstBatch": [], "id": Int64(cid), "ns": ns}, "ok": 1.0}
    return cursors.reply(ns, docs, batch_size, False, max_bson_size)


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
                    seen.setdefault(hkey(v), v)
    values = sorted(seen.values(), key=order_key)
    return {"values": [clone(v) for v in values], "ok": 1.0}
