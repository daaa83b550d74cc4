"""Pipelines of the sandbox engine: stage rewrites, BSON-ordered $sort, source stages, updates."""

from __future__ import annotations

import datetime
import hashlib
from typing import Any, Callable

from bson import Binary, Int64
from mongomock import aggregate as mm_aggregate

from mongocli.sandbox.engine_filter import validate_filter
from mongocli.sandbox.engine_store import Catalog
from mongocli.sandbox import server_js
from mongocli.sandbox.engine_values import clone, error, hkey, sort_docs

_UNSUPPORTED_STAGES = {"$indexStats", "$currentOp", "$listSessions", "$planCacheStats",
                       "$geoNear", "$search", "$changeStream", "$densify", "$fill",
                       "$setWindowFields"}

# Every stage name a server's parser knows; any other name is "Unrecognized pipeline stage
# name" (40324), checked before the sandbox says what it does not implement (238).
KNOWN_STAGES = {"$addFields", "$bucket", "$bucketAuto", "$changeStream", "$changeStreamSplitLargeEvent",
                "$collStats", "$count", "$currentOp", "$densify", "$documents", "$facet", "$fill",
                "$geoNear", "$graphLookup", "$group", "$indexStats", "$limit", "$listLocalSessions",
                "$listSampledQueries", "$listSearchIndexes", "$listSessions", "$lookup", "$match",
                "$merge", "$out", "$planCacheStats", "$project", "$querySettings", "$redact",
                "$replaceRoot", "$replaceWith", "$sample", "$search", "$searchMeta", "$set",
                "$setWindowFields", "$shardedDataDistribution", "$skip", "$sort", "$sortByCount",
                "$unionWith", "$unset", "$unwind", "$vectorSearch"}

# Stages that produce documents instead of reading the collection: they must come first.
SOURCE_STAGES = {"$listLocalSessions", "$collStats", "$documents"}

# Stages an update pipeline may hold ("Updates with Aggregation Pipeline").
UPDATE_STAGES = {"$addFields", "$set", "$project", "$unset", "$replaceRoot", "$replaceWith"}


def rewrite_pipeline(pipeline: list) -> list:
    """Express stages mongomock lacks ($unset, $replaceWith, $sortByCount) with ones it has."""
    out = []
    for i, stage in enumerate(pipeline):
        if not isinstance(stage, dict) or len(stage) != 1:
            raise error(40323, "A pipeline stage specification object must contain exactly "
                               "one field.")
        (name, spec), = stage.items()
        if name not in KNOWN_STAGES:
            raise error(40324, f"Unrecognized pipeline stage name: '{name}'")
        if name in _UNSUPPORTED_STAGES:
            raise error(238, f"{name} is not supported by the sandbox engine")
        if name in SOURCE_STAGES:
            if i:
                raise error(40602, f"{name} is only valid as the first stage in a pipeline")
            continue  # run_pipeline produced its documents already
        if name == "$match":
            if isinstance(spec, dict) and "$where" in spec:
                raise error(2, "$where is not allowed inside of a $match aggregation expression")
            validate_filter(spec)
        if name == "$unset":
            fields = [spec] if isinstance(spec, str) else list(spec)
            out.append({"$project": {f: 0 for f in fields}})
        elif name == "$replaceWith":
            out.append({"$replaceRoot": {"newRoot": spec}})
        elif name == "$sortByCount":
            out.append({"$group": {"_id": spec, "count": {"$sum": 1}}})
            out.append({"$sort": {"count": -1}})
        elif name in ("$project", "$addFields", "$set") and isinstance(spec, dict) \
                and any("." in k and not _is_flag(v) for k, v in spec.items()):
            out.append({name: _nest_dotted(spec)})
        elif name == "$facet":
            out.append({"$facet": {k: rewrite_pipeline(v) for k, v in spec.items()}})
        else:
            out.append(stage)
    return out


def _is_flag(value: Any) -> bool:
    return isinstance(value, (bool, int, float))  # Int64 is an int


def _nest_dotted(spec: dict) -> dict:
    """{"a.b": expr} as {"a": {"b": expr}} (what the server means by it; mongomock would make
    a field literally named "a.b"). Inclusion/exclusion flags stay dotted: mongomock handles them."""
    out: dict = {}
    for key, value in spec.items():
        if "." not in key or _is_flag(value):
            out[key] = value
            continue
        head, _, rest = key.partition(".")
        inner = out.setdefault(head, {})
        if not isinstance(inner, dict):
            raise error(31250, f"Invalid $project :: caused by :: Path collision at {key}")
        inner.update(_nest_dotted({rest: value}))
    return out


def run_stages(docs: list[dict], pipeline: list, database: Any = None) -> list[dict]:
    """Run ``pipeline`` over ``docs``: $sort here (BSON order), every other stage in mongomock."""
    stages = rewrite_pipeline(pipeline)
    chunk: list = []
    current = docs
    for stage in stages + [None]:
        if stage is None or "$sort" in stage or _has_accumulator(stage):
            if chunk:
                current = list(mm_aggregate.process_pipeline(current, database, chunk, None))
                chunk = []
            if stage is not None and "$sort" in stage:
                current = sort_docs(current, stage["$sort"])
            elif stage is not None:
                current = _group_with_accumulators(current, stage["$group"], database)
        else:
            chunk.append(stage)
    return current


def _has_accumulator(stage: dict) -> bool:
    group = stage.get("$group")
    return isinstance(group, dict) and any(isinstance(v, dict) and "$accumulator" in v for v in group.values())


def _group_with_accumulators(docs: list[dict], spec: dict, database: Any) -> list[dict]:
    """$group whose outputs include $accumulator (JavaScript, server_js.py): the other outputs
    go through mongomock's $group, the JavaScript ones are folded here, joined on _id."""
    plain = {k: v for k, v in spec.items() if not (isinstance(v, dict) and "$accumulator" in v)}
    grouped = list(mm_aggregate.process_pipeline(docs, database, [{"$group": plain}], None))
    members: dict[Any, list[dict]] = {}
    for doc in docs:
        key = mm_aggregate._Parser(doc, ignore_missing_keys=True).parse(spec["_id"]) if spec["_id"] else None
        members.setdefault(hkey(key), []).append(doc)
    for out in grouped:
        group_docs = members.get(hkey(out["_id"]), [])
        for name, value in spec.items():
            if name != "_id" and name not in plain:
                out[name] = server_js.accumulate(value["$accumulator"], group_docs, mm_aggregate._Parser)
    return grouped


def apply_update_pipeline(doc: dict, pipeline: list) -> dict:
    """The document an update pipeline (``u`` given as an array) makes of ``doc``."""
    for stage in pipeline:
        name = next(iter(stage), "") if isinstance(stage, dict) else ""
        if name not in UPDATE_STAGES:
            raise error(72, f"{name or 'A non-object stage'} is not allowed to be used within "
                            "an update")
    (out,) = run_stages([doc], pipeline)
    return out


def _session_uid() -> Binary:
    # Without authentication a session's uid is the SHA-256 digest of the empty user name.
    return Binary(hashlib.sha256(b"").digest(), 0)


def source_documents(catalog: Catalog, db: str, name: Any, stage: dict,
                     local_sessions: Callable[[], list[dict]]) -> list[dict]:
    """Documents produced by a first stage of SOURCE_STAGES."""
    (kind, spec), = stage.items()
    if kind == "$documents":
        values = mm_aggregate._Parser({}, ignore_missing_keys=True).parse(spec)
        if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
            raise error(5858203, "an array is expected in $documents")
        return clone(values)
    if kind == "$listLocalSessions":
        if name != 1:
            raise error(50851, "$listLocalSessions must be run as {aggregate: 1}")
        if not isinstance(spec, dict):
            raise error(14, "$listLocalSessions must take a nested object but found: "
                            f"{spec!r}")
        return [{"_id": {"id": s["id"], "uid": _session_uid()}, "lastUse": s["lastUse"]}
                for s in local_sessions()]
    # $collStats
    if not isinstance(spec, dict):
        raise error(5447000, "$collStats must take a nested object")
    coll = catalog.get(db, name) if isinstance(name, str) else None
    if coll is None:
        raise error(26, f"Unable to retrieve storageStats in $collStats stage :: caused by :: "
                        f"Collection [{db}.{name}] not found.")
    out: dict[str, Any] = {"ns": coll.ns, "host": "localhost",
                           "localTime": datetime.datetime.now(datetime.timezone.utc)}
    count = len(coll.docs)
    if "count" in spec:
        out["count"] = count
    if "storageStats" in spec:
        scale = int((spec["storageStats"] or {}).get("scale", 1) or 1)
        size = coll.data_size()
        index_sizes = {n: 4096 + 16 * count for n in coll.indexes}
        stats: dict[str, Any] = {
            "size": size // scale, "count": count, "avgObjSize": size // count if count else 0,
            "storageSize": (size + 4096) // scale, "freeStorageSize": 0,
            "capped": bool(coll.options.get("capped")), "nindexes": len(coll.indexes),
            "totalIndexSize": sum(index_sizes.values()) // scale,
            "totalSize": (size + 4096 + sum(index_sizes.values())) // scale,
            "indexSizes": {k: v // scale for k, v in index_sizes.items()}, "scaleFactor": scale}
        if coll.options.get("capped"):
            stats["max"] = coll.options.get("max", 0)
            stats["maxSize"] = coll.options.get("size", 0) // scale
        out["storageStats"] = stats
    if "latencyStats" in spec:
        zero = {"latency": Int64(0), "ops": Int64(0)}
        out["latencyStats"] = {"reads": dict(zero), "writes": dict(zero),
                               "commands": dict(zero), "transactions": dict(zero)}
    if "queryExecStats" in spec:
        out["queryExecStats"] = {"collectionScans": {"total": Int64(0),
                                                     "nonTailable": Int64(0)}}
    return [out]

