"""Unified test format operations: one small function per operation name, camelCase JSON to the driver API."""

from __future__ import annotations

import re
import time
from typing import Any, Callable

from tests.spec.unified.runner import Skip

Op = Callable[[Any, Any, dict], Any]
# waitForEvent / waitForThread deadlines are derived from what the test configures (see wait_budget_ms):
# a passing test never waits them out, a failing one fails as soon as the event is overdue.
SCHEDULING_SLACK_MS = 1_000   # thread wake-ups and sandbox replies on a loaded 2-core machine
MIN_HEARTBEAT_MS = 500        # SDAM minHeartbeatFrequencyMS: immediate checks are spaced by this

_RENAMES = {"maxTimeMS": "max_time_ms", "let": "let", "upsertedId": "upserted_id", "timeoutMS": "timeout_ms"}
UNSUPPORTED_ARGS: dict[str, str] = {}
# The operations whose driver method takes raw_data (CRUD spec, "rawData"); on others it is unsupported.
RAW_DATA_OPERATIONS = frozenset({
    "aggregate", "bulkWrite", "clientBulkWrite", "count", "countDocuments", "estimatedDocumentCount", "distinct",
    "find", "findOne", "createFindCursor", "findOneAndDelete", "findOneAndReplace", "findOneAndUpdate",
    "insertOne", "insertMany", "updateOne", "updateMany", "replaceOne", "deleteOne", "deleteMany",
    "listCollections", "listCollectionObjects", "listCollectionNames"})


def snake(name: str) -> str:
    """camelCase -> snake_case (maxTimeMS -> max_time_ms)."""
    if name in _RENAMES:
        return _RENAMES[name]
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def kwargs(run: Any, args: dict, *skip: str) -> dict[str, Any]:
    """Every argument not in `skip`, renamed to snake_case; session names become session objects."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if key in skip:
            continue
        if key in UNSUPPORTED_ARGS:
            raise Skip(f"argument {UNSUPPORTED_ARGS[key]} is unsupported by the driver")
        if key == "session":
            value = run.entities.get(value, "session")
        elif key == "returnDocument":
            value = value.lower()
        elif key == "readPreference":
            value = read_preference_from(value)
        elif key == "writeConcern":
            value = write_concern_from(value)
        out[snake(key)] = value
    return out


def read_preference_from(doc: dict) -> Any:
    """A readPreference document as the driver's ReadPreference."""
    from driver.read_preference import ReadPreference

    return ReadPreference.from_document(doc)


def write_concern_from(doc: dict) -> dict:
    return dict(doc)


# ----- results as documents ----------------------------------------------------------------------
def _ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return {str(i): v for i, v in enumerate(value)}
    return value


def result_document(result: Any) -> Any:
    """A driver result object as the CRUD spec's result document (insertedId, matchedCount, ...).

    Recognised by attributes, not class names: the driver may wrap results (e.g. `acknowledged`)."""
    from tests.spec.unified import client_bulk_ops

    if client_bulk_ops.is_result(result):
        return client_bulk_ops.result_document(result)
    if getattr(result, "acknowledged", True) is False:
        return {"acknowledged": False}
    if hasattr(result, "upserted_ids") and hasattr(result, "inserted_count"):
        return {"insertedCount": result.inserted_count, "matchedCount": result.matched_count,
                "modifiedCount": result.modified_count, "deletedCount": result.deleted_count,
                "upsertedCount": result.upserted_count, "upsertedIds": _ids(result.upserted_ids),
                "insertedIds": _ids(getattr(result, "inserted_ids", {}))}
    if hasattr(result, "inserted_id"):
        return {"insertedId": result.inserted_id}
    if hasattr(result, "inserted_ids"):
        return {"insertedIds": _ids(result.inserted_ids)}
    if hasattr(result, "matched_count"):
        doc = {"matchedCount": result.matched_count, "modifiedCount": result.modified_count,
               "upsertedCount": getattr(result, "upserted_count", int(result.upserted_id is not None))}
        if result.upserted_id is not None:
            doc["upsertedId"] = result.upserted_id
        return doc
    if hasattr(result, "deleted_count"):
        return {"deletedCount": result.deleted_count}
    return result


def partial_result_document(exc: BaseException) -> Any:
    """The partial result a failed bulk write carries, as a BulkWriteResult document.

    A BulkWriteError has the counts in `details`; any other error raised from a bulk write (network,
    command) carries `partial_result`, the driver's BulkWriteResult of the batches completed before it
    (CRUD spec: the error reports what was written)."""
    from tests.spec.unified import client_bulk_ops

    if hasattr(exc, "write_concern_errors"):  # a client bulk write error
        return client_bulk_ops.partial_result(exc)
    details = getattr(exc, "details", {}) or {}
    if "nInserted" not in details:
        partial = getattr(exc, "partial_result", None)
        if partial is None:
            return details
        details = partial.as_document()
    upserted = {str(u["index"]): u["_id"] for u in details.get("upserted", [])}
    return {"insertedCount": details.get("nInserted", 0), "matchedCount": details.get("nMatched", 0),
            "modifiedCount": details.get("nModified", 0), "deletedCount": details.get("nRemoved", 0),
            "upsertedCount": details.get("nUpserted", len(upserted)), "upsertedIds": upserted}


def entity_kind(op_name: str, result: Any) -> str:
    """The entity kind saveResultAsEntity stores a result as."""
    if op_name in ("createFindCursor", "createCommandCursor"):
        return "cursor"
    if op_name == "createChangeStream":
        return "changeStream"
    if op_name == "createCollection":
        return "collection"
    return "value"


# ----- client, database, collection operations ----------------------------------------------------
def _listing(fn_name: str, names: bool = False) -> Op:
    def op(run: Any, target: Any, args: dict) -> Any:
        from tests.spec.unified.entities import ClientEntity

        target = target.client if isinstance(target, ClientEntity) else target
        return list(getattr(target, fn_name)(**kwargs(run, args)))
    return op


def _client_close(run: Any, entity: Any, args: dict) -> None:
    entity.client.close()


def _run_command(run: Any, db: Any, args: dict) -> Any:
    return db.run_command(args["command"], **kwargs(run, args, "command", "commandName"))


def _aggregate(run: Any, target: Any, args: dict) -> list:
    return list(target.aggregate(args["pipeline"], **kwargs(run, args, "pipeline")))


def _create_collection(run: Any, db: Any, args: dict) -> Any:
    return db.create_collection(args["collection"], **kwargs(run, args, "collection"))


def _modify_collection(run: Any, db: Any, args: dict) -> Any:
    """modifyCollection: the driver has no collMod helper (no spec defines one), so the runner sends
    collMod through runCommand with the test's options as the server names them."""
    options = {k: v for k, v in args.items() if k not in ("collection", "session")}
    session = run.entities.get(args["session"], "session") if "session" in args else None
    return db.run_command({"collMod": args["collection"], **options}, session=session)


def _create_command_cursor(run: Any, db: Any, args: dict) -> Any:
    """createCommandCursor / runCursorCommand (run-command spec): the command as given; batchSize,
    maxTimeMS and comment are the getMore options; cursorType as the CRUD spec names it."""
    return db.run_cursor_command(args["command"], **kwargs(run, args, "command", "commandName"))


def _run_cursor_command(run: Any, db: Any, args: dict) -> list:
    cursor = _create_command_cursor(run, db, args)
    try:
        return list(cursor)
    finally:
        cursor.close()


def _drop_collection(run: Any, db: Any, args: dict) -> None:
    db.drop_collection(args["collection"], **kwargs(run, args, "collection"))


def _find(run: Any, coll: Any, args: dict) -> list:
    cursor = coll.find(args.get("filter", {}), **kwargs(run, args, "filter"))
    try:
        return list(cursor)
    finally:
        cursor.close()


def _create_find_cursor(run: Any, coll: Any, args: dict) -> Any:
    """createFindCursor: the find is sent now (unified format), its errors raised here."""
    return coll.find(args.get("filter", {}), **kwargs(run, args, "filter")).open()


def _find_one(run: Any, coll: Any, args: dict) -> Any:
    return coll.find_one(args.get("filter", {}), **kwargs(run, args, "filter"))


def _simple(method: str, *positional: str) -> Op:
    """An operation whose JSON arguments `positional` are passed in order, the rest as keywords."""
    def op(run: Any, target: Any, args: dict) -> Any:
        values = [args[p] if p in args else ({} if p == "filter" else None) for p in positional]
        return getattr(target, method)(*values, **kwargs(run, args, *positional))
    op.__name__ = method
    return op


def _count(run: Any, coll: Any, args: dict) -> Any:
    if not hasattr(coll, "count"):
        raise Skip("operation count (deprecated count command helper) is not in the driver's Collection API")
    return coll.count(args.get("filter", {}), **kwargs(run, args, "filter"))


def _bulk_write(run: Any, coll: Any, args: dict) -> Any:
    from driver import bulk

    builders = {"insertOne": lambda a: bulk.InsertOne(a["document"]),
                "updateOne": lambda a: bulk.UpdateOne(**_model_args(a)),
                "updateMany": lambda a: bulk.UpdateMany(**_model_args(a)),
                "replaceOne": lambda a: bulk.ReplaceOne(**_model_args(a)),
                "deleteOne": lambda a: bulk.DeleteOne(**_model_args(a)),
                "deleteMany": lambda a: bulk.DeleteMany(**_model_args(a))}
    requests = []
    for request in args["requests"]:
        ((kind, body),) = request.items()
        requests.append(builders[kind](body))
    return coll.bulk_write(requests, **kwargs(run, args, "requests"))


def _model_args(body: dict) -> dict:
    return {snake(k): v for k, v in body.items()}


def _create_index(run: Any, coll: Any, args: dict) -> Any:
    return coll.create_index(args["keys"], **kwargs(run, args, "keys"))


def _list_index_names(run: Any, coll: Any, args: dict) -> list:
    return [ix["name"] for ix in coll.list_indexes(**kwargs(run, args))]


def _unsupported(reason: str) -> Op:
    def op(run: Any, target: Any, args: dict) -> Any:
        raise Skip(reason)
    op.skip_reason = reason  # type: ignore[attr-defined]  # read by the preflight check
    return op


def _drop_database(run: Any, entity: Any, args: dict) -> None:
    entity.client.drop_database(args["database"], **kwargs(run, args, "database"))


def _if_driver_has(owner: str, attribute: str, ops: dict[str, Any], reason: str,
                   skipper: Callable[[str], Any] = _unsupported) -> dict[str, Any]:
    """`ops` when the driver class `owner` ("module:Class") offers `attribute`, else each op skips
    with `reason` (a driver feature not built yet is a stated skip, not a runner error)."""
    import importlib

    module, _, name = owner.partition(":")
    if hasattr(getattr(importlib.import_module(module), name), attribute):
        return ops
    return {op: skipper(reason) for op in ops}


from tests.spec.unified.change_stream_ops import CHANGE_STREAM_OPS, create_change_stream  # noqa: E402
from tests.spec.unified.client_bulk_ops import client_bulk_write  # noqa: E402
from tests.spec.unified.transaction_ops import RUNNER_OPS as _TXN_RUNNER_OPS  # noqa: E402
from tests.spec.unified.transaction_ops import SESSION_OPS as _TXN_SESSION_OPS  # noqa: E402

_NO_TXN = "requires transactions: the driver's ClientSession has no start_transaction yet"
_NO_WATCH = "operation createChangeStream: the driver has no watch() (change streams) yet"
_CHANGE_STREAM = _if_driver_has("driver.collection:Collection", "watch",
                                {"createChangeStream": create_change_stream}, _NO_WATCH)

# ----- sessions and cursors -----------------------------------------------------------------------
def _end_session(run: Any, session: Any, args: dict) -> None:
    session.end_session()


def _iterate_until_document(run: Any, cursor: Any, args: dict) -> Any:
    return next(iter(cursor))


def _iterate_once(run: Any, cursor: Any, args: dict) -> None:
    if not hasattr(cursor, "try_next"):
        raise Skip("operation iterateOnce needs Cursor.try_next, which the driver's cursor lacks")
    cursor.try_next()


def _cursor_close(run: Any, cursor: Any, args: dict) -> None:
    cursor.close(**kwargs(run, args))


ENTITY_OPS: dict[str, dict[str, Op]] = {
    "client": {
        "listDatabases": _listing("list_databases"), "listDatabaseObjects": _listing("list_databases"),
        "listDatabaseNames": _listing("list_database_names"), "close": _client_close,
        **_CHANGE_STREAM, "dropDatabase": _drop_database,
        **_if_driver_has("driver.client:Client", "bulk_write", {"clientBulkWrite": client_bulk_write},
                         "operation clientBulkWrite: the driver has no Client.bulk_write yet"),
        "appendMetadata": lambda run, entity, args: entity.client.append_metadata(**args["driverInfoOptions"]),
    },
    "database": {
        "runCommand": _run_command, "aggregate": _aggregate, "createCollection": _create_collection,
        "dropCollection": _drop_collection, "listCollections": _listing("list_collections"),
        "listCollectionObjects": _listing("list_collections"),
        "listCollectionNames": _listing("list_collection_names"), **_CHANGE_STREAM,
        "modifyCollection": _modify_collection,
        "createCommandCursor": _create_command_cursor, "runCursorCommand": _run_cursor_command,
    },
    "collection": {
        "aggregate": _aggregate, "bulkWrite": _bulk_write, "count": _count,
        "countDocuments": _simple("count_documents", "filter"),
        "estimatedDocumentCount": _simple("estimated_document_count"),
        "distinct": _simple("distinct", "fieldName", "filter"),
        "find": _find, "findOne": _find_one, "createFindCursor": _create_find_cursor,
        "findOneAndDelete": _simple("find_one_and_delete", "filter"),
        "findOneAndReplace": _simple("find_one_and_replace", "filter", "replacement"),
        "findOneAndUpdate": _simple("find_one_and_update", "filter", "update"),
        "insertOne": _simple("insert_one", "document"), "insertMany": _simple("insert_many", "documents"),
        "updateOne": _simple("update_one", "filter", "update"), "updateMany": _simple("update_many", "filter", "update"),
        "replaceOne": _simple("replace_one", "filter", "replacement"),
        "deleteOne": _simple("delete_one", "filter"), "deleteMany": _simple("delete_many", "filter"),
        "createIndex": _create_index, "dropIndex": _simple("drop_index", "name"),
        "dropIndexes": _simple("drop_indexes"), "listIndexes": _listing("list_indexes"),
        "listIndexNames": _list_index_names, "drop": _simple("drop"), "rename": _simple("rename", "to"),
        **_CHANGE_STREAM,
        "mapReduce": _unsupported("operation mapReduce is deprecated and not in the driver API"),
    },
    "session": {
        "endSession": _end_session,
        **_if_driver_has("driver.session:ClientSession", "start_transaction", _TXN_SESSION_OPS, _NO_TXN),
        "getSnapshotTime": lambda run, session, args: session.snapshot_time,
    },
    "cursor": {"iterateUntilDocumentOrError": _iterate_until_document, "iterateOnce": _iterate_once,
               "close": _cursor_close},
    "changeStream": CHANGE_STREAM_OPS,
    "bucket": {},
}


def lookup(kind: str, name: str) -> Op:
    """The function for operation `name` on an entity of `kind`; Skip naming it when unsupported."""
    fn = ENTITY_OPS.get(kind, {}).get(name)
    if fn is None:
        raise Skip(f"unsupported operation {name!r} on a {kind} entity")
    return fn


# ----- testRunner operations (unified format, "Special Test Operations") ---------------------------
def _fail_point(run: Any, args: dict) -> None:
    """failPoint: configure it through the named client entity; disabled on every member afterwards."""
    entity = run.entities.get(args["client"], "client")
    command = args["failPoint"]
    run.failpoints.append((None, command["configureFailPoint"]))
    run.failpoint_block_ms = max(run.failpoint_block_ms, int((command.get("data") or {}).get("blockTimeMS", 0)))
    entity.client.get_database("admin").run_command(command)


def _create_entities(run: Any, args: dict) -> None:
    run.create_entities(args["entities"])


def _lsids(run: Any, args: dict) -> tuple[Any, Any]:
    entity = run.entities.get(args["client"], "client")
    started = [e for e in entity.recorder.of_kind("command") if e.name == "commandStartedEvent"]
    assert len(started) >= 2, f"{args['client']}: fewer than two commandStartedEvents were observed"
    return started[-2].doc["command"].get("lsid"), started[-1].doc["command"].get("lsid")


def _assert_same_lsid(run: Any, args: dict) -> None:
    first, second = _lsids(run, args)
    assert first is not None and first == second, f"last two commands used lsids {first} and {second}"


def _assert_different_lsid(run: Any, args: dict) -> None:
    first, second = _lsids(run, args)
    assert first is not None and second is not None and first != second, \
        f"last two commands should use different lsids, both used {first}"


def _dirty(run: Any, args: dict) -> bool:
    session = run.entities.get(args["session"], "session")
    for attr in ("dirty", "is_dirty"):
        if hasattr(session, attr):
            value = getattr(session, attr)
            return bool(value() if callable(value) else value)
    raise AssertionError("the driver's ClientSession exposes no dirty flag (expected .dirty or .is_dirty)")


def _assert_dirty(run: Any, args: dict) -> None:
    assert _dirty(run, args), f"session {args['session']} should be dirty"


def _assert_not_dirty(run: Any, args: dict) -> None:
    assert not _dirty(run, args), f"session {args['session']} should not be dirty"


def _assert_collection(exists: bool) -> Callable[[Any, dict], None]:
    def op(run: Any, args: dict) -> None:
        names = run.deployment.collection_names(args["databaseName"])
        assert (args["collectionName"] in names) == exists, \
            f"collection {args['databaseName']}.{args['collectionName']} should {'' if exists else 'not '}exist"
    return op


def _assert_index(exists: bool) -> Callable[[Any, dict], None]:
    def op(run: Any, args: dict) -> None:
        names = run.deployment.index_names(args["databaseName"], args["collectionName"])
        assert (args["indexName"] in names) == exists, \
            f"index {args['indexName']} should {'' if exists else 'not '}exist; indexes: {names}"
    return op


def _wait(run: Any, args: dict) -> None:
    time.sleep(args["ms"] / 1000)  # the spec's own "wait" operation: a fixed pause by definition


def _matching(run: Any, event: dict) -> Callable[[list], int]:
    ((name, fields),) = event.items()

    def count(events: list) -> int:
        found = 0
        for recorded in list(events):
            if recorded.name != name:
                continue
            try:
                for key, value in (fields or {}).items():
                    run.assert_match(value, recorded.doc.get(key), key)
            except AssertionError:
                continue
            found += 1
        return found
    return count


def _uri_ms(entity: Any, name: str) -> int | None:
    value = (entity.spec.get("uriOptions") or {}).get(name)
    return int(value) if value else None


def wait_budget_ms(run: Any, entities: list[Any], checks: int = 1) -> int:
    """How long events or threads may take here: slack, plus the longest fail point block, plus
    `checks` + 1 server checks at the clients' heartbeatFrequencyMS (or minHeartbeatFrequencyMS, the
    spacing of the immediate checks a failure requests), plus their connect/socket timeouts."""
    heartbeat = max((_uri_ms(e, "heartbeatFrequencyMS") or MIN_HEARTBEAT_MS for e in entities),
                    default=MIN_HEARTBEAT_MS)
    timeouts = max((sum(_uri_ms(e, n) or 0 for n in ("connectTimeoutMS", "socketTimeoutMS")) for e in entities),
                   default=0)
    return SCHEDULING_SLACK_MS + run.failpoint_block_ms + heartbeat * (checks + 1) + timeouts


def _wait_for_event(run: Any, args: dict) -> None:
    """waitForEvent: block until `count` matching events were observed, within wait_budget_ms."""
    entity = run.entities.get(args["client"], "client")
    count = _matching(run, args["event"])
    budget = wait_budget_ms(run, [entity], checks=int(args["count"]))
    if not entity.recorder.wait_for(lambda evs: count(evs) >= args["count"], budget / 1000):
        seen = [e.name for e in entity.recorder.snapshot()]
        raise AssertionError(f"waited {budget} ms (derived from the test's heartbeat, fail point and timeouts) "
                             f"for {args['count']} x {args['event']}; saw {seen}")


def _assert_event_count(run: Any, args: dict) -> None:
    entity = run.entities.get(args["client"], "client")
    found = _matching(run, args["event"])(entity.recorder.snapshot())
    assert found == args["count"], f"expected {args['count']} x {args['event']}, observed {found}"


def _run_on_thread(run: Any, args: dict) -> None:
    run.entities.get(args["thread"], "thread").submit(args["operation"])


def _wait_for_thread(run: Any, args: dict) -> None:
    """waitForThread: its operations may each wait for server selection as well as for events."""
    from tests.spec.unified.runner import selection_timeout_ms

    clients = [value for _name, kind, value in run.entities.items() if kind == "client"]
    budget = wait_budget_ms(run, clients) + max((selection_timeout_ms(run.test, c.spec) for c in clients), default=0)
    run.entities.get(args["thread"], "thread").join(budget / 1000)


def topology_description(client: Any) -> Any:
    """The driver client's current TopologyDescription (attribute name tolerant while the API settles)."""
    for path in ("topology_description", "topology.description"):
        value: Any = client
        try:
            for part in path.split("."):
                value = getattr(value, part)
        except AttributeError:
            continue
        return value() if callable(value) else value
    raise AssertionError("the driver Client exposes no topology description (.topology_description)")


def _record_topology(run: Any, args: dict) -> None:
    entity = run.entities.get(args["client"], "client")
    run.entities.add(args["id"], "topologyDescription", topology_description(entity.client))


def _assert_topology_type(run: Any, args: dict) -> None:
    description = run.entities.get(args["topologyDescription"], "topologyDescription")
    actual = getattr(description.type, "value", description.type)
    assert actual == args["topologyType"], f"topology type is {actual}, expected {args['topologyType']}"


def _primary(description: Any) -> str | None:
    for address, server in description.servers.items():
        if getattr(server.type, "value", server.type) == "RSPrimary":
            return address
    return None


def _wait_for_primary_change(run: Any, args: dict) -> None:
    """waitForPrimaryChange: poll the client's published description until another primary shows."""
    entity = run.entities.get(args["client"], "client")
    prior = _primary(run.entities.get(args["priorTopologyDescription"], "topologyDescription"))
    deadline = time.monotonic() + args.get("timeoutMS", 10_000) / 1000
    while time.monotonic() < deadline:
        now = _primary(topology_description(entity.client))
        if now is not None and now != prior:
            return
        time.sleep(0.05)  # the driver offers no change notification to the runner; short poll
    raise AssertionError(f"no new primary (other than {prior}) within {args.get('timeoutMS', 10_000)} ms")


def _skip(reason: str) -> Callable[[Any, dict], None]:
    def op(run: Any, args: dict) -> None:
        raise Skip(reason)
    op.skip_reason = reason  # type: ignore[attr-defined]  # read by the preflight check
    return op


TEST_RUNNER: dict[str, Callable[[Any, dict], None]] = {
    "failPoint": _fail_point, "createEntities": _create_entities,
    **_if_driver_has("driver.session:ClientSession", "start_transaction", _TXN_RUNNER_OPS, _NO_TXN, _skip),
    "assertSameLsidOnLastTwoCommands": _assert_same_lsid,
    "assertDifferentLsidOnLastTwoCommands": _assert_different_lsid,
    "assertSessionDirty": _assert_dirty, "assertSessionNotDirty": _assert_not_dirty,
    "assertCollectionExists": _assert_collection(True), "assertCollectionNotExists": _assert_collection(False),
    "assertIndexExists": _assert_index(True), "assertIndexNotExists": _assert_index(False),
    "wait": _wait, "waitForEvent": _wait_for_event, "assertEventCount": _assert_event_count,
    "runOnThread": _run_on_thread, "waitForThread": _wait_for_thread,
    "recordTopologyDescription": _record_topology, "assertTopologyType": _assert_topology_type,
    "waitForPrimaryChange": _wait_for_primary_change,
    "loop": _skip("operation loop (astrolabe workloads) is unsupported"),
}
