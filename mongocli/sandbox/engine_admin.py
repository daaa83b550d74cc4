"""Catalog commands of the sandbox data engine: collections, indexes, databases, stats, explain."""

from __future__ import annotations

from typing import Any

from bson import Int64
from mongomock.filtering import filter_applies

from mongocli.sandbox.engine_cursors import Cursors
from mongocli.sandbox.engine_store import ID_INDEX, Catalog, index_name, validate_ns
from mongocli.sandbox.engine_filter import validate_filter
from mongocli.sandbox.engine_validation import check_options
from mongocli.sandbox.engine_values import error

# Databases a real deployment always lists, with the sizes a fresh server reports.
_SYSTEM_DBS = {"admin": 40960, "config": 12288, "local": 40960}
_INDEX_KEY_TYPES = {"text", "2d", "2dsphere", "hashed", "geoHaystack", "wildcard"}
# Index options a server accepts in createIndexes (index_key_validate.cpp); kept as given.
_INDEX_OPTIONS = {"background", "unique", "sparse", "partialFilterExpression", "expireAfterSeconds",
                  "hidden", "collation", "weights", "default_language", "language_override",
                  "textIndexVersion", "2dsphereIndexVersion", "bits", "min", "max", "bucketSize",
                  "storageEngine", "wildcardProjection", "clustered", "prepareUnique", "dropDups"}


def create(catalog: Catalog, db: str, cmd: dict) -> dict:
    """create: NamespaceExists (48) when the collection is already there."""
    name = cmd["create"]
    validate_ns(db, name)
    if catalog.get(db, name) is not None:
        raise error(48, f"Collection {db}.{name} already exists.")
    check_options(cmd)
    if cmd.get("capped") and not cmd.get("size"):
        raise error(72, "the 'size' field is required when 'capped' is true")
    clustered = _clustered_index(cmd) if "clusteredIndex" in cmd else None
    coll = catalog.ensure(db, name)
    coll.options = {k: v for k, v in cmd.items()
                    if k not in ("create", "$db", "lsid", "$clusterTime", "txnNumber",
                                 "writeConcern", "comment", "$readPreference", "readConcern")}
    if clustered is not None:
        coll.options["clusteredIndex"] = clustered
    return {"ok": 1.0}


def _clustered_index(cmd: dict) -> dict:
    """The clusteredIndex create option as the server keeps it (5.3+: clustered collections are
    ordered by _id, so the sandbox's _id index already is that order): key {_id: 1}, unique."""
    spec = cmd["clusteredIndex"]
    if not isinstance(spec, dict):
        raise error(14, "BSON field 'create.clusteredIndex' is the wrong type, expected type 'object'")
    if spec.get("key") != {"_id": 1}:
        raise error(72, "The clusteredIndex option is only supported for key: {_id: 1}")
    if spec.get("unique") is not True:
        raise error(72, "The clusteredIndex option requires unique: true")
    if cmd.get("capped"):
        raise error(72, "Clustered collections cannot be capped")
    unknown = set(spec) - {"key", "unique", "name", "v"}
    if unknown:
        raise error(40415, f"BSON field 'create.clusteredIndex.{sorted(unknown)[0]}' is an unknown field.")
    return {"v": 2, "key": {"_id": 1}, "name": spec.get("name", "_id_"), "unique": True}


def drop(catalog: Catalog, cursors: Cursors, db: str, cmd: dict) -> dict:
    """drop: like 7.0+, dropping a missing collection succeeds."""
    name = cmd["drop"]
    validate_ns(db, name)
    coll = catalog.drop(db, name)
    cursors.drop_namespace(f"{db}.{name}")
    if coll is None:
        return {"ok": 1.0}
    return {"nIndexesWas": len(coll.indexes), "ns": coll.ns, "ok": 1.0}


def drop_database(catalog: Catalog, cursors: Cursors, db: str) -> dict:
    """dropDatabase."""
    catalog.dbs.pop(db, None)
    cursors.drop_namespace(f"{db}.")
    return {"ok": 1.0}


def list_databases(catalog: Catalog, cmd: dict) -> dict:
    """listDatabases: name, sizeOnDisk, empty; nameOnly; filter; totalSize."""
    entries = []
    names = sorted(set(catalog.dbs) | set(_SYSTEM_DBS))
    for name in names:
        colls = catalog.dbs.get(name, {})
        size = sum(c.data_size() + 4096 * (1 + len(c.indexes)) for c in colls.values())
        entries.append({"name": name, "sizeOnDisk": Int64(size or _SYSTEM_DBS.get(name, 0)),
                        "empty": not colls and name not in _SYSTEM_DBS})
    if cmd.get("filter"):
        entries = [e for e in entries if filter_applies(cmd["filter"], e)]
    if cmd.get("nameOnly"):
        return {"databases": [{"name": e["name"]} for e in entries], "ok": 1.0}
    total = sum(int(e["sizeOnDisk"]) for e in entries)
    return {"databases": entries, "totalSize": Int64(total), "totalSizeMb": Int64(total >> 20),
            "ok": 1.0}


def list_collections(catalog: Catalog, db: str, cmd: dict) -> dict:
    """listCollections: a cursor reply; filter on name/type/options; nameOnly."""
    out = []
    for name, coll in sorted(catalog.dbs.get(db, {}).items()):
        if cmd.get("nameOnly"):
            entry: dict[str, Any] = {"name": name, "type": "collection"}
        else:
            entry = {"name": name, "type": "collection", "options": dict(coll.options),
                     "info": {"readOnly": False, "uuid": coll.uuid}}
            if "clusteredIndex" not in coll.options:  # a clustered collection has no separate _id index
                entry["idIndex"] = dict(ID_INDEX)
        if cmd.get("filter") and not filter_applies(cmd["filter"], entry):
            continue
        out.append(entry)
    return {"cursor": {"id": Int64(0), "ns": f"{db}.$cmd.listCollections", "firstBatch": out},
            "ok": 1.0}


def list_indexes(catalog: Catalog, db: str, cmd: dict) -> dict:
    """listIndexes: NamespaceNotFound (26) for a missing collection."""
    coll = catalog.require(db, cmd["listIndexes"])
    specs = [dict(ix.spec) for ix in coll.indexes.values()]
    clustered = coll.options.get("clusteredIndex")
    if clustered is not None:  # the clustered index stands where the _id index would
        specs = [{**clustered, "clustered": True} if s["name"] == "_id_" else s for s in specs]
    return {"cursor": {"id": Int64(0), "ns": f"{db}.$cmd.listIndexes.{coll.name}",
                       "firstBatch": specs}, "ok": 1.0}


def _normalise_spec(raw: Any) -> dict:
    if not isinstance(raw, dict):
        raise error(14, "The field 'indexes' must be an array of objects")
    key = raw.get("key")
    if not isinstance(key, dict) or not key:
        raise error(9, "The 'key' field is a required property of an index specification")
    for field, direction in key.items():
        ok_number = isinstance(direction, (int, float)) and not isinstance(direction, bool) \
            and direction != 0
        if not ok_number and direction not in _INDEX_KEY_TYPES:
            raise error(67, f"Values in the index key pattern can only be numbers or strings; "
                            f"bad value for field {field}: {direction!r}")
    spec = {"v": 2, "key": dict(key), "name": raw.get("name") or index_name(key)}
    for opt, value in raw.items():
        if opt in ("key", "name", "v", "ns"):
            continue
        if opt not in _INDEX_OPTIONS:
            raise error(197, f"The field '{opt}' is not valid for an index specification. "
                             f"Specification: {raw}")
        spec[opt] = value
    if not isinstance(spec["name"], str):
        raise error(14, "The index name must be a string")
    partial = spec.get("partialFilterExpression")
    if "partialFilterExpression" in spec:
        if not isinstance(partial, dict):
            raise error(14, "BSON field 'createIndexes.indexes.partialFilterExpression' is the wrong "
                            f"type '{type(partial).__name__}', expected type 'object'")
        validate_filter(partial)
    if "text" in key.values():
        # A text index as listIndexes shows it (server: fts_spec.cpp): the text fields move into
        # `weights` (default weight 1) and the key becomes {_fts: "text", _ftsx: 1}.
        text_fields = [f for f, d in key.items() if d == "text"]
        stored_key: dict = {}
        for field, direction in key.items():
            if direction != "text":
                stored_key[field] = direction
            elif "_fts" not in stored_key:
                stored_key.update(_fts="text", _ftsx=1)
        spec["key"] = stored_key
        spec["weights"] = {f: 1 for f in text_fields} | dict(spec.get("weights") or {})
        spec.setdefault("default_language", "english")
        spec.setdefault("language_override", "language")
        spec.setdefault("textIndexVersion", 3)
    return spec


def create_indexes(catalog: Catalog, db: str, cmd: dict) -> dict:
    """createIndexes: unique indexes are built over the data and fail on duplicates."""
    raw_specs = cmd.get("indexes")
    if not isinstance(raw_specs, list) or not raw_specs:
        raise error(2, "Must specify at least one index to create")
    specs = [_normalise_spec(s) for s in raw_specs]
    created = catalog.get(db, cmd["createIndexes"]) is None
    coll = catalog.ensure(db, cmd["createIndexes"])
    before = len(coll.indexes)
    for spec in specs:
        existing = coll.indexes.get(spec["name"])
        if existing is not None:
            if existing.spec["key"] == spec["key"] and \
                    bool(existing.spec.get("unique")) == bool(spec.get("unique")):
                continue
            raise error(86, f"An existing index has the same name as the requested index. "
                            f"When index names are not specified, they are auto generated and can "
                            f"cause conflicts. Please refer to our documentation. Requested index: "
                            f"{spec}, existing index: {existing.spec}")
        same_key = [ix for ix in coll.indexes.values() if ix.spec["key"] == spec["key"]]
        if same_key:
            raise error(85, f"Index already exists with a different name: {same_key[0].name}")
        coll.add_index(spec)
    reply: dict[str, Any] = {"numIndexesBefore": before, "numIndexesAfter": len(coll.indexes)}
    if before == len(coll.indexes):
        reply["note"] = "all indexes already exist"
    reply["createdCollectionAutomatically"] = created
    reply["ok"] = 1.0
    return reply


def drop_indexes(catalog: Catalog, db: str, cmd: dict) -> dict:
    """dropIndexes: ``"*"``, a name, a key pattern, or a list of names."""
    name = cmd.get("dropIndexes", cmd.get("deleteIndexes"))
    coll = catalog.require(db, name)
    target = cmd.get("index")
    was = len(coll.indexes)
    if target == "*":
        for ix_name in [n for n in coll.indexes if n != "_id_"]:
            del coll.indexes[ix_name]
        return {"nIndexesWas": was, "msg": "non-_id indexes dropped for collection", "ok": 1.0}
    if isinstance(target, dict):
        names = [ix.name for ix in coll.indexes.values() if ix.spec["key"] == target]
        if not names:
            raise error(27, f"can't find index with key: {target}")
    elif isinstance(target, str):
        names = [target]
    elif isinstance(target, list):
        names = list(target)
    else:
        raise error(14, "BSON field 'dropIndexes.index' is the wrong type")
    for ix_name in names:
        if ix_name == "_id_":
            raise error(72, "cannot drop _id index")
        if ix_name not in coll.indexes:
            raise error(27, f"index not found with name [{ix_name}]")
    for ix_name in names:
        del coll.indexes[ix_name]
    return {"nIndexesWas": was, "ok": 1.0}


def rename_collection(catalog: Catalog, cursors: Cursors, db: str, cmd: dict) -> dict:
    """renameCollection (admin only): from/to full names, dropTarget."""
    if db != "admin":
        raise error(13, "renameCollection may only be run against the admin database.")
    source, target = cmd.get("renameCollection"), cmd.get("to")
    if not isinstance(source, str) or not isinstance(target, str):
        raise error(14, "renameCollection and to must be strings")
    sdb, _, sname = source.partition(".")
    tdb, _, tname = target.partition(".")
    validate_ns(sdb, sname)
    validate_ns(tdb, tname)
    coll = catalog.get(sdb, sname)
    if coll is None:
        raise error(26, f"Source collection {source} does not exist")
    if source == target:
        raise error(20, "Can't rename a collection to itself")
    if catalog.get(tdb, tname) is not None:
        if not cmd.get("dropTarget"):
            raise error(48, "target namespace exists")
        catalog.drop(tdb, tname)
        cursors.drop_namespace(target)
    catalog.drop(sdb, sname)
    cursors.drop_namespace(source)
    coll.db, coll.name = tdb, tname
    catalog.dbs.setdefault(tdb, {})[tname] = coll
    return {"ok": 1.0}


def _scaled(value: int, scale: int) -> int:
    return value // scale if scale > 1 else value


def db_stats(catalog: Catalog, db: str, cmd: dict) -> dict:
    """dbStats: counts and sizes summed over the database's collections."""
    scale = int(cmd.get("scale", 1) or 1)
    colls = catalog.dbs.get(db, {}).values()
    objects = sum(len(c.docs) for c in colls)
    data = sum(c.data_size() for c in colls)
    nindexes = sum(len(c.indexes) for c in colls)
    index_size = 4096 * nindexes
    storage = data + 4096 * len(colls)
    return {"db": db, "collections": len(colls), "views": 0, "objects": objects,
            "avgObjSize": (data / objects) if objects else 0, "dataSize": float(_scaled(data, scale)),
            "storageSize": float(_scaled(storage, scale)), "indexes": nindexes,
            "indexSize": float(_scaled(index_size, scale)),
            "totalSize": float(_scaled(storage + index_size, scale)), "scaleFactor": float(scale),
            "fsUsedSize": 0.0, "fsTotalSize": 0.0, "ok": 1.0}


def coll_stats(catalog: Catalog, db: str, cmd: dict) -> dict:
    """collStats: count, size, avgObjSize, storageSize, nindexes, index sizes."""
    coll = catalog.require(db, cmd["collStats"])
    scale = int(cmd.get("scale", 1) or 1)
    size = coll.data_size()
    count = len(coll.docs)
    index_sizes = {name: 4096 + 16 * count for name in coll.indexes}
    return {"ns": coll.ns, "size": _scaled(size, scale), "count": count,
            "avgObjSize": size // count if count else 0,
            "storageSize": _scaled(size + 4096, scale), "freeStorageSize": 0,
            "capped": bool(coll.options.get("capped")),
            "nindexes": len(coll.indexes),
            "indexBuilds": [], "totalIndexSize": _scaled(sum(index_sizes.values()), scale),
            "totalSize": _scaled(size + 4096 + sum(index_sizes.values()), scale),
            "indexSizes": {k: _scaled(v, scale) for k, v in index_sizes.items()},
            "scaleFactor": scale, "ok": 1.0}


def explain(catalog: Catalog, db: str, cmd: dict, run_inner) -> dict:
    """explain of find/aggregate/count/distinct/update/delete: a plausible queryPlanner."""
    inner = cmd.get("explain")
    if not isinstance(inner, dict) or not inner:
        raise error(14, "explain command requires a nested object")
    verb = next(iter(inner))
    if verb not in ("find", "aggregate", "count", "distinct", "update", "delete",
                    "findAndModify", "findandmodify"):
        raise error(2, f"Explain failed due to unknown command: {verb}")
    name = inner[verb]
    if verb == "aggregate":
        first = (inner.get("pipeline") or [{}])[0]
        filt = first.get("$match", {}) if isinstance(first, dict) else {}
    elif verb in ("update", "delete"):
        stmts = inner.get("updates" if verb == "update" else "deletes") or [{}]
        filt = stmts[0].get("q", {})
    else:
        filt = inner.get("filter", inner.get("query", {})) or {}
    coll = catalog.get(db, name) if isinstance(name, str) else None
    index = coll.usable_index(filt, inner.get("hint")) if coll else None
    if index is None:
        plan: dict[str, Any] = {"stage": "COLLSCAN", "filter": filt, "direction": "forward"}
    else:
        field = index.keys[0][0]
        plan = {"stage": "FETCH", "inputStage": {
            "stage": "IXSCAN", "keyPattern": dict(index.keys), "indexName": index.name,
            "isMultiKey": False, "isUnique": index.unique, "isSparse": index.sparse,
            "isPartial": index.partial is not None, "indexVersion": 2, "direction": "forward",
            "indexBounds": {field: ["[MinKey, MaxKey]"]}}}
    reply: dict[str, Any] = {"explainVersion": "1", "queryPlanner": {
        "namespace": f"{db}.{name}", "indexFilterSet": False, "parsedQuery": filt,
        "winningPlan": plan, "rejectedPlans": []}}
    verbosity = cmd.get("verbosity", "allPlansExecution")
    if verbosity in ("executionStats", "allPlansExecution") and verb in ("find", "count"):
        result = run_inner(db, dict(inner, **({"batchSize": 2**31 - 1} if verb == "find" else {})))
        n = result.get("n", len(result.get("cursor", {}).get("firstBatch", [])))
        scanned = len(coll.docs) if coll else 0
        reply["executionStats"] = {
            "executionSuccess": True, "nReturned": n, "executionTimeMillis": 0,
            "totalKeysExamined": n if index else 0,
            "totalDocsExamined": n if index else scanned, "executionStages": plan}
    reply["command"] = dict(inner, **{"$db": db})
    reply["serverInfo"] = {"host": "sandbox", "port": 27017, "version": "7.0.0"}
    reply["ok"] = 1.0
    return reply
