"""Tests for driver/ops: direct unit tests plus the CRUD spec's expected command documents.

The data-driven part rebuilds, without a server, the command each CRUD operation of
crud/unified/*.json sends, and matches it against the file's expected commandStartedEvents
with the unified matcher. getMore/killCursors events need a live cursor and are not compared.
"""

from __future__ import annotations

from bson import Int64

from typing import Any

import pytest
from bson import ObjectId, json_util

from driver.bulk import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne, plan_bulk
from driver.errors import ConfigurationError, ProtocolError
from driver.ops import (
    aggregate_command,
    count_documents_command,
    create_collection_command,
    drop_collection_command,
    create_indexes_command,
    delete_statement,
    distinct_command,
    drop_indexes_command,
    estimated_document_count_command,
    find_and_modify_command,
    find_command,
    get_more_command,
    has_write_stage,
    index_document,
    index_keys,
    index_name,
    kill_cursors_command,
    list_collections_command,
    list_databases_command,
    parse_count_documents_reply,
    parse_cursor_reply,
    parse_distinct_reply,
    parse_find_and_modify_reply,
    rename_collection_command,
    update_statement,
    validate_replacement,
    validate_update,
    with_id,
)
from driver.ops.find import next_batch_size
from tests.spec.specfiles import spec_files, spec_id, specs_root
from tests.spec.unified.matching import match

# ----------------------------------------------------------------------------- find


def test_find_command_options_and_unset_omitted():
    cmd = find_command("c", {"a": 1}, projection=["a", "b"], sort=[("a", 1), ("b", -1)], skip=2, limit=5,
                       batch_size=2, hint="a_1", collation={"locale": "en"}, max_time_ms=10, comment="hi",
                       allow_disk_use=True, let={"x": 1}, read_concern={"level": "majority"})
    assert cmd == {"find": "c", "filter": {"a": 1}, "sort": {"a": 1, "b": -1}, "projection": {"a": 1, "b": 1},
                   "hint": "a_1", "skip": 2, "limit": 5, "batchSize": 2, "comment": "hi", "maxTimeMS": 10,
                   "readConcern": {"level": "majority"}, "collation": {"locale": "en"}, "allowDiskUse": True,
                   "let": {"x": 1}}
    assert list(cmd["sort"]) == ["a", "b"]
    assert find_command("c") == {"find": "c", "filter": {}}
    assert "readConcern" not in find_command("c", read_concern={})


def test_find_limits():
    assert find_command("c", limit=-3) == {"find": "c", "filter": {}, "limit": 3, "singleBatch": True}
    assert "limit" not in find_command("c", limit=0)
    assert find_command("c", limit=4, batch_size=4)["batchSize"] == 5
    assert find_command("c", limit=4, batch_size=3)["batchSize"] == 3
    assert find_command("c", hint=[("a", 1)])["hint"] == {"a": 1}
    with pytest.raises(ConfigurationError, match="skip"):
        find_command("c", skip=-1)
    with pytest.raises(ConfigurationError, match="filter"):
        find_command("c", [1, 2])
    with pytest.raises(ConfigurationError, match="batch_size"):
        find_command("c", batch_size=True)


def test_get_more_kill_cursors_and_batch_sizes():
    assert get_more_command("c", 42, batch_size=2, max_time_ms=5) == {
        "getMore": 42, "collection": "c", "batchSize": 2, "maxTimeMS": 5}
    assert get_more_command("c", 42, batch_size=0) == {"getMore": 42, "collection": "c"}
    with pytest.raises(ConfigurationError, match="non-zero"):
        get_more_command("c", 0)
    assert kill_cursors_command("c", [7]) == {"killCursors": "c", "cursors": [7]}
    assert all(type(c) is Int64 for c in kill_cursors_command("c", [7, 2**40])["cursors"])  # int64 on the wire, even small ids
    with pytest.raises(ConfigurationError):
        kill_cursors_command("c", [])
    assert next_batch_size(10, 3, 8) == 2
    assert next_batch_size(10, 0, 4) == 6
    assert next_batch_size(0, 3, 100) == 3


def test_parse_cursor_reply():
    r = parse_cursor_reply({"cursor": {"id": 5, "ns": "db.a.b", "firstBatch": [{"x": 1}]}, "ok": 1})
    assert (r.id, r.database, r.collection, r.batch, r.exhausted) == (5, "db", "a.b", [{"x": 1}], False)
    r = parse_cursor_reply({"cursor": {"id": 0, "ns": "db.c", "nextBatch": []}, "ok": 1})
    assert r.exhausted and r.batch == []
    with pytest.raises(ProtocolError, match="firstBatch"):
        parse_cursor_reply({"cursor": {"id": 0, "ns": "db.c"}})
    with pytest.raises(ProtocolError, match="cursor.id"):
        parse_cursor_reply({"cursor": {"id": "x", "ns": "db.c", "firstBatch": []}})
    with pytest.raises(ProtocolError):
        parse_cursor_reply({"ok": 1})


# ----------------------------------------------------------------------------- writes


def test_update_validation_names_the_key():
    validate_update({"$set": {"a": 1}})
    validate_update([{"$set": {"a": 1}}])
    with pytest.raises(ConfigurationError, match="'x'"):
        validate_update({"x": 1})
    with pytest.raises(ConfigurationError, match="'b'"):
        validate_update({"$set": {"a": 1}, "b": 2})
    with pytest.raises(ConfigurationError, match="empty"):
        validate_update({})
    with pytest.raises(ConfigurationError, match="stage 0"):
        validate_update([1])
    validate_replacement({"a": {"$b": 1}})  # only top-level keys are operators
    with pytest.raises(ConfigurationError, match=r"'\$set'"):
        validate_replacement({"a": 1, "$set": {"x": 1}})


def test_statements():
    assert update_statement({"a": 1}, {"$inc": {"x": 1}}, multi=True, upsert=True, array_filters=[{"i": 1}]) == {
        "q": {"a": 1}, "u": {"$inc": {"x": 1}}, "multi": True, "upsert": True, "arrayFilters": [{"i": 1}]}
    with pytest.raises(ConfigurationError, match="sort"):
        update_statement({}, {"$set": {"a": 1}}, multi=True, sort={"a": 1})
    with pytest.raises(ConfigurationError):
        update_statement({}, {"x": 1}, replacement=True, array_filters=[])
    assert delete_statement({"a": 1}, multi=True) == {"q": {"a": 1}, "limit": 0}
    assert delete_statement({}, hint={"a": 1}) == {"q": {}, "limit": 1, "hint": {"a": 1}}


def test_with_id_puts_id_first_without_mutating():
    doc = {"a": 1}
    out, _id = with_id(doc)
    assert isinstance(_id, ObjectId) and list(out) == ["_id", "a"] and doc == {"a": 1}
    out, _id = with_id({"a": 1, "_id": 7})
    assert _id == 7 and list(out) == ["_id", "a"]


def test_find_and_modify():
    cmd = find_and_modify_command("c", {"a": 1}, update={"$set": {"b": 1}}, return_new=True, upsert=True,
                                  projection={"b": 1}, sort={"a": -1})
    assert cmd == {"findAndModify": "c", "query": {"a": 1}, "update": {"$set": {"b": 1}}, "new": True,
                   "upsert": True, "fields": {"b": 1}, "sort": {"a": -1}}
    assert find_and_modify_command("c", {}, remove=True) == {"findAndModify": "c", "query": {}, "remove": True}
    with pytest.raises(ConfigurationError, match="exactly one"):
        find_and_modify_command("c", {}, remove=True, update={"$set": {"a": 1}})
    with pytest.raises(ConfigurationError, match="'x'"):
        find_and_modify_command("c", {}, update={"x": 1})
    with pytest.raises(ConfigurationError, match=r"'\$set'"):
        find_and_modify_command("c", {}, replacement={"$set": {"x": 1}})
    assert parse_find_and_modify_reply({"value": None, "ok": 1}) is None
    with pytest.raises(ProtocolError):
        parse_find_and_modify_reply({"ok": 1})


# ----------------------------------------------------------------------------- aggregate / count / distinct


def test_aggregate_write_stages():
    assert has_write_stage([{"$match": {}}, {"$out": "x"}])
    assert has_write_stage([{"$merge": {"into": "x"}}])
    assert not has_write_stage([{"$match": {}}])
    assert not has_write_stage([])
    out = aggregate_command("c", [{"$out": "x"}], batch_size=2, write_concern={"w": 1})
    assert out["cursor"] == {} and out["writeConcern"] == {"w": 1}
    read = aggregate_command("c", [{"$match": {}}], batch_size=2, write_concern={"w": 1})
    assert read["cursor"] == {"batchSize": 2} and "writeConcern" not in read
    assert aggregate_command(1, [])["aggregate"] == 1
    with pytest.raises(ConfigurationError, match="stage 0"):
        aggregate_command("c", [{"$match": {}, "$limit": 1}])


def test_count_documents():
    cmd = count_documents_command("c", {"a": 1}, skip=1, limit=2)
    assert cmd["pipeline"] == [{"$match": {"a": 1}}, {"$skip": 1}, {"$limit": 2},
                               {"$group": {"_id": 1, "n": {"$sum": 1}}}]
    assert parse_count_documents_reply({"cursor": {"id": 0, "ns": "d.c", "firstBatch": []}}) == 0
    assert parse_count_documents_reply({"cursor": {"id": 0, "ns": "d.c", "firstBatch": [{"_id": 1, "n": 4}]}}) == 4
    assert estimated_document_count_command("c", max_time_ms=5) == {"count": "c", "maxTimeMS": 5}


def test_distinct():
    assert distinct_command("c", "x") == {"distinct": "c", "key": "x", "query": {}}
    assert parse_distinct_reply({"values": [1, 2], "ok": 1}) == [1, 2]
    with pytest.raises(ProtocolError):
        parse_distinct_reply({"ok": 1})


# ----------------------------------------------------------------------------- indexes / admin


def test_index_specs_and_names():
    assert index_keys("a") == {"a": 1}
    assert index_keys([("a", 1), ("b", -1)]) == {"a": 1, "b": -1}
    assert index_name([("a", 1), ("b", -1)]) == "a_1_b_-1"
    assert index_name({"t": "text"}) == "t_text"
    assert index_document("a", unique=True, sparse=None) == {"key": {"a": 1}, "name": "a_1", "unique": True}
    with pytest.raises(ConfigurationError, match="direction 0"):
        index_keys({"a": 0})
    with pytest.raises(ConfigurationError, match="twice"):
        index_keys([("a", 1), ("a", -1)])
    with pytest.raises(ConfigurationError):
        index_keys([])
    cmd = create_indexes_command("c", [index_document({"a": 1})])
    assert cmd == {"createIndexes": "c", "indexes": [{"key": {"a": 1}, "name": "a_1"}]}
    assert drop_indexes_command("c", [("a", 1)])["index"] == "a_1"


def test_admin_commands():
    assert list_databases_command(name_only=True) == {"listDatabases": 1, "nameOnly": True}
    assert list_collections_command(filter={"name": "x"}) == {"listCollections": 1, "cursor": {}, "filter": {"name": "x"}}
    assert rename_collection_command("d.a", "d.b", drop_target=True) == {
        "renameCollection": "d.a", "to": "d.b", "dropTarget": True}
    with pytest.raises(ConfigurationError, match="database.collection"):
        rename_collection_command("a", "d.b")


# ----------------------------------------------------------------------------- CRUD spec commands

_ARG = {"batchSize": "batch_size", "maxTimeMS": "max_time_ms", "allowDiskUse": "allow_disk_use",
        "arrayFilters": "array_filters", "bypassDocumentValidation": "bypass_document_validation"}
_COMMAND_LEVEL = {"let", "comment", "bypassDocumentValidation", "ordered"}


def _kw(args: dict, drop: tuple = ()) -> dict:
    return {_ARG.get(k, k): v for k, v in args.items() if k not in drop}


def _request(name: str, a: dict) -> Any:
    stmt = {k: v for k, v in a.items() if k not in _COMMAND_LEVEL}
    cls = {"insertOne": InsertOne, "updateOne": UpdateOne, "updateMany": UpdateMany, "replaceOne": ReplaceOne,
           "deleteOne": DeleteOne, "deleteMany": DeleteMany}[name]
    return cls(**_kw(stmt))


def _commands(name: str, coll: str, a: dict, opts: dict) -> list[dict]:
    """The command documents the operation sends (first command per cursor; one per write batch)."""
    wc = opts.get("writeConcern")
    rc = opts.get("readConcern")
    if name == "find":
        return [find_command(coll, **_kw(a), read_concern=rc)]
    if name == "aggregate":
        target = coll if coll != 1 else 1
        return [aggregate_command(target, **_kw(a), read_concern=rc, write_concern=wc)]
    if name == "countDocuments":
        return [count_documents_command(coll, **_kw(a), read_concern=rc)]
    if name == "estimatedDocumentCount":
        return [estimated_document_count_command(coll, **_kw(a), read_concern=rc)]
    if name == "distinct":
        return [distinct_command(coll, a["fieldName"], **_kw(a, ("fieldName",)), read_concern=rc)]
    if name.startswith("findOneAnd"):
        kw = _kw(a, ("returnDocument",))
        kw["return_new"] = a.get("returnDocument") == "After"
        if name == "findOneAndDelete":
            kw["remove"] = True
        return [find_and_modify_command(coll, write_concern=wc, **kw)]
    if name in ("insertOne", "insertMany", "bulkWrite") or name in (
            "updateOne", "updateMany", "replaceOne", "deleteOne", "deleteMany"):
        if name == "insertOne":
            requests = [InsertOne(a["document"])]
        elif name == "insertMany":
            requests = [InsertOne(d) for d in a["documents"]]
        elif name == "bulkWrite":
            requests = [_request(*next(iter(r.items()))) for r in a["requests"]]
        else:
            requests = [_request(name, a)]
        ordered = a.get("ordered", True)
        return [b.command(coll, ordered=ordered, write_concern=wc, let=a.get("let"), comment=a.get("comment"),
                          bypass_document_validation=a.get("bypassDocumentValidation"))
                for b in plan_bulk(requests, ordered=ordered)]
    if name == "dropCollection":
        return [drop_collection_command(a["collection"], write_concern=wc)]
    if name == "createCollection":
        rest = {k: v for k, v in a.items() if k != "collection"}
        return [create_collection_command(a["collection"], write_concern=wc, **rest)]
    raise LookupError(name)


_SUPPORTED = {"find", "aggregate", "countDocuments", "estimatedDocumentCount", "distinct", "findOneAndDelete",
              "findOneAndReplace", "findOneAndUpdate", "insertOne", "insertMany", "bulkWrite", "updateOne",
              "updateMany", "replaceOne", "deleteOne", "deleteMany", "dropCollection", "createCollection"}


def _old_server_only(reqs: list | None) -> bool:
    """True when every runOnRequirement caps the server below 4.4 (we build for modern servers)."""
    if not reqs:
        return False
    def major(v: str) -> tuple:
        return tuple(int(p) for p in v.split(".")[:2])
    return all("maxServerVersion" in r and major(r["maxServerVersion"]) < (4, 4) for r in reqs)


def _entities(doc: dict) -> dict:
    dbs, colls, db_opts, client_opts = {}, {}, {}, {}
    for e in doc.get("createEntities", []):
        if "client" in e:
            uri = e["client"].get("uriOptions", {})
            opts = {}
            if "readConcernLevel" in uri:
                opts["readConcern"] = {"level": uri["readConcernLevel"]}
            if "w" in uri:
                opts["writeConcern"] = {"w": uri["w"]}
            client_opts[e["client"]["id"]] = opts
        if "database" in e:
            d = e["database"]
            dbs[d["id"]] = d["databaseName"]
            db_opts[d["id"]] = {**client_opts.get(d["client"], {}), **d.get("databaseOptions", {})}
        if "collection" in e:
            c = e["collection"]
            opts = {**db_opts.get(c["database"], {}), **c.get("collectionOptions", {})}
            colls[c["id"]] = (c["collectionName"], opts)
    return {"dbs": dbs, "colls": colls, "db_opts": db_opts}


def _check_test(test: dict, ents: dict) -> None:
    ops = test["operations"]
    uses_fail_point = any(o.get("object") == "testRunner" for o in ops)
    built: list[dict] = []
    strict = True  # every command-sending operation was rebuilt: counts must agree
    for op in ops:
        name, obj, args = op["name"], op["object"], dict(op.get("arguments", {}))
        if obj == "testRunner":
            continue
        if name not in _SUPPORTED or (obj not in ents["colls"] and obj not in ents["dbs"]):
            strict = False
            continue
        args.pop("session", None)
        if obj in ents["colls"]:
            coll, opts = ents["colls"][obj]
        elif name in ("dropCollection", "createCollection"):
            coll, opts = None, ents["db_opts"].get(obj, {})
        else:
            coll, opts = 1, ents["db_opts"].get(obj, {})
        client_error = op.get("expectError", {}).get("isClientError") and not uses_fail_point
        if client_error:
            with pytest.raises(ConfigurationError):
                _commands(name, coll, args, opts)
            continue
        built.extend(_commands(name, coll, args, opts))
    for block in test.get("expectEvents", []):
        if block.get("eventType", "command") != "command":
            continue
        expected = [e["commandStartedEvent"]["command"] for e in block["events"]
                    if "commandStartedEvent" in e
                    and e["commandStartedEvent"].get("commandName", "") not in ("getMore", "killCursors")
                    and "getMore" not in e["commandStartedEvent"].get("command", {})]
        # $readPreference is added when the command is sent (server selection), not built here.
        expected = [{k: v for k, v in e.items() if k != "$readPreference"} for e in expected]
        if not strict:  # align on the commands we did build, in order
            names = {next(iter(c)) for c in built}
            expected = [e for e in expected if next(iter(e)) in names]
        if not block.get("ignoreExtraEvents"):
            assert len(built) == len(expected), f"built {len(built)} commands, spec expects {len(expected)}"
        for i, (exp, got) in enumerate(zip(expected, built)):
            match(exp, got, root=True, path=f"$.events[{i}].command")


_CRUD_FILES = [p for p in spec_files("crud/unified")
               if not p.name.startswith("client-bulkWrite") and "rawdata" not in p.name]


@pytest.mark.parametrize("path", _CRUD_FILES, ids=[spec_id(p) for p in _CRUD_FILES])
def test_crud_spec_commands(path):
    doc = json_util.loads(path.read_text(encoding="utf-8"))
    if _old_server_only(doc.get("runOnRequirements")):
        pytest.skip("file targets servers older than 4.4 only; these builders target current servers")
    ents = _entities(doc)
    failures = []
    for test in doc["tests"]:
        if test.get("skipReason") or _old_server_only(test.get("runOnRequirements")):
            continue
        try:
            _check_test(test, ents)
        except (AssertionError, ConfigurationError, pytest.fail.Exception) as exc:
            failures.append(f"{test['description']}: {exc}")
    assert not failures, "\n".join(failures)


def test_crud_files_found():
    """Guard: the data-driven test above must not silently run on nothing."""
    if not specs_root().is_dir():
        pytest.skip(f"no specs folder at {specs_root()} (set MONGOCLI_SPECS)")
    assert len(_CRUD_FILES) > 50, "crud/unified spec files not found (see tests/spec/specfiles.py)"


# -- insert/update/delete bodies: fields in the order sent, unset options left out ---------------

def test_write_command_bodies_field_order_and_unset_options() -> None:
    from bson import encode

    from driver.ops.write import delete_command, insert_command, update_command
    from driver.wire.encode import EncodedDocuments

    docs = EncodedDocuments([encode({"_id": 1})])
    full = insert_command("c", docs, ordered=False, write_concern={"w": 2}, bypass_document_validation=True,
                          comment={"k": 1})
    assert list(full) == ["insert", "documents", "ordered", "writeConcern", "bypassDocumentValidation", "comment"]
    assert full["documents"] is docs and full["ordered"] is False and full["writeConcern"] == {"w": 2}
    assert insert_command("c", [{"_id": 1}]) == {"insert": "c", "documents": [{"_id": 1}], "ordered": True}
    assert list(insert_command("c", docs, write_concern={})) == ["insert", "documents", "ordered"]  # default: not sent
    upd = update_command("c", [{"q": {}, "u": {"$set": {"a": 1}}}], let={"x": 1}, comment="why")
    assert list(upd) == ["update", "updates", "ordered", "let", "comment"]
    dele = delete_command("c", ({"q": {}, "limit": 0},), write_concern={"w": 0}, let={"y": 2})
    assert dele == {"delete": "c", "deletes": [{"q": {}, "limit": 0}], "ordered": True, "writeConcern": {"w": 0},
                    "let": {"y": 2}}
    for bad, match in [({"write_concern": "w1"}, "write_concern"), ({"bypass_document_validation": 1}, "bypass"),
                       ({"comment": None, "write_concern": []}, "write_concern")]:
        with pytest.raises(ConfigurationError, match=match):
            insert_command("c", docs, **bad)
    with pytest.raises(ConfigurationError, match="let"):
        update_command("c", [{"q": {}, "u": {}}], let=[1])
    with pytest.raises(ConfigurationError, match="collection name"):
        delete_command("", [{"q": {}, "limit": 1}])
