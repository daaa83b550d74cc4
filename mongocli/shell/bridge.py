"""The one door from the shell's JavaScript into the driver: canonical Extended JSON requests in, replies out.

Each request names an operation (`op`) and carries its arguments as canonical Extended JSON,
so BSON types survive exactly; the reply is {"ok": value} or {"error": {name, message, code,
codeName, ...}} (a Python exception cannot cross into QuickJS, so errors travel as data and the
prelude throws them). Only the driver's public API (`driver.__all__`) is used: Client, Database,
Collection, Cursor, ChangeStream, ClientSession, the bulk request and client bulk write models, the errors. Results are shaped as mongosh prints them (acknowledged, insertedId, ...).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from typing import Any, Callable, Mapping

from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS, DatetimeConversion, JSONOptions

from driver import BulkWriteError, ClientBulkWriteError, ConfigurationError, DriverError, OperationFailure, ServerSelectionTimeout
from mongocli.shell.connections import ConnectionClosed, Connections

__all__ = ["Bridge"]

_IN = JSONOptions(json_mode=CANONICAL_JSON_OPTIONS.json_mode, datetime_conversion=DatetimeConversion.DATETIME_AUTO,
                  uuid_representation=CANONICAL_JSON_OPTIONS.uuid_representation, tz_aware=True)
_BATCH = 101  # documents per nextBatch request: a first find batch's worth (find spec default)

# find options: mongosh/Node spelling -> driver keyword
_FIND_OPTIONS = {"projection": "projection", "sort": "sort", "skip": "skip", "limit": "limit",
                 "batchSize": "batch_size", "hint": "hint", "collation": "collation", "maxTimeMS": "max_time_ms",
                 "comment": "comment", "allowDiskUse": "allow_disk_use", "let": "let", "min": "min", "max": "max",
                 "returnKey": "return_key", "showRecordId": "show_record_id", "noCursorTimeout": "no_cursor_timeout"}
_AGG_OPTIONS = {"batchSize": "batch_size", "allowDiskUse": "allow_disk_use", "let": "let", "comment": "comment",
                "maxTimeMS": "max_time_ms", "collation": "collation", "hint": "hint",
                "bypassDocumentValidation": "bypass_document_validation"}
_WRITE_OPTIONS = {"upsert": "upsert", "arrayFilters": "array_filters", "hint": "hint", "collation": "collation",
                  "let": "let", "comment": "comment", "bypassDocumentValidation": "bypass_document_validation",
                  "ordered": "ordered", "sort": "sort", "projection": "projection", "maxTimeMS": "max_time_ms",
                  "skip": "skip", "limit": "limit"}

_WATCH_OPTIONS = {"fullDocument": "full_document", "fullDocumentBeforeChange": "full_document_before_change",
                  "resumeAfter": "resume_after", "startAfter": "start_after",
                  "startAtOperationTime": "start_at_operation_time", "showExpandedEvents": "show_expanded_events",
                  "batchSize": "batch_size", "maxAwaitTimeMS": "max_await_time_ms", "collation": "collation",
                  "comment": "comment"}
_TXN_OPTIONS = {"readConcern": "read_concern", "writeConcern": "write_concern", "readPreference": "read_preference",
                "maxCommitTimeMS": "max_commit_time_ms"}
# Mongo.bulkWrite (Node driver's AnyClientBulkWriteModel): name -> (driver model, field renames)
_CLIENT_MODELS = {"insertOne": ("ClientInsertOne", {"document": "document"}),
                  "updateOne": ("ClientUpdateOne", {"filter": "filter", "update": "update", "upsert": "upsert",
                                                    "arrayFilters": "array_filters", "collation": "collation",
                                                    "hint": "hint", "sort": "sort"}),
                  "updateMany": ("ClientUpdateMany", {"filter": "filter", "update": "update", "upsert": "upsert",
                                                      "arrayFilters": "array_filters", "collation": "collation",
                                                      "hint": "hint"}),
                  "replaceOne": ("ClientReplaceOne", {"filter": "filter", "replacement": "replacement",
                                                      "upsert": "upsert", "collation": "collation", "hint": "hint",
                                                      "sort": "sort"}),
                  "deleteOne": ("ClientDeleteOne", {"filter": "filter", "collation": "collation", "hint": "hint"}),
                  "deleteMany": ("ClientDeleteMany", {"filter": "filter", "collation": "collation", "hint": "hint"})}
_CLIENT_BULK_OPTIONS = {"ordered": "ordered", "verboseResults": "verbose_results",
                        "bypassDocumentValidation": "bypass_document_validation", "comment": "comment", "let": "let"}


def _kwargs(options: Mapping[str, Any] | None, table: Mapping[str, str], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (options or {}).items():
        if key in ("writeConcern", "readConcern", "readPreference"):
            continue  # applied to the collection handle (Bridge._coll)
        if key not in table:
            raise _InvalidInput(f"{what}: unknown option {key!r} (known: {', '.join(sorted(table))})")
        out[table[key]] = value
    return out


class _InvalidInput(Exception):
    """A request the bridge cannot run as given (reported as MongoshInvalidInputError)."""


class _Unsupported(Exception):
    """A mongosh feature this shell does not offer yet (reported as MongoshUnimplementedError)."""


class _TransactionMisuse(Exception):
    """A transaction call out of order (reported as MongoTransactionError, as the Node driver names it)."""


def _require_transaction(step: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def run(session: Any) -> Any:
        if session.transaction_state == "none":
            raise _TransactionMisuse("No transaction started")  # the Node driver's words, which mongosh shows
        return step(session)
    return run


class _Stream:
    """A change stream as the shell holds it: one reader at a time, and nothing lost to a Ctrl-C.

    `fill` (the getMore, on a worker thread a Ctrl-C abandons) only parks what it brings in
    `pending`, with the resume token that follows it; `pop` hands it over on the shell's thread.
    So a change fetched by an abandoned call waits for the next call instead of being dropped."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.lock = threading.Lock()
        self.pending: deque[tuple[Any, Any]] = deque()
        self.closed = False

    def fill(self) -> None:
        with self.lock:
            if self.pending or self.closed:
                return
            change = self.stream.try_next()
            if change is not None:
                self.pending.append((change, self.stream.resume_token))
            elif not self.stream.alive:
                self.closed = True  # e.g. an invalidate event ended it

    def pop(self) -> tuple[Any, Any]:
        with self.lock:
            if self.pending:
                return self.pending.popleft()
            return None, self.stream.resume_token

    def close(self) -> None:
        with self.lock:  # not under a getMore still running for an abandoned call
            self.closed = True
            self.stream.close()


def _on_shell_thread(op: Callable[..., Any]) -> Callable[..., Any]:
    """Marks an op that runs on the shell's thread and hands only its blocking part to `call_driver`."""
    op.on_shell_thread = True  # type: ignore[attr-defined]
    return op


class Bridge:
    """Runs bridge requests against one driver Client; owns the open cursors and sessions of the shell.

    `call_driver(fn)` runs a driver call (the engine passes one that a Ctrl-C can abandon).
    """

    def __init__(self, client: Any, uri: str, call_driver: Callable[[Callable[[], Any]], Any]) -> None:
        self.connections = Connections(client, uri)  # a request's "conn" picks one (none: the shell's)
        self.call_driver = call_driver
        self.cursors: dict[int, Any] = {}
        self.sessions: dict[int, Any] = {}
        self._ids = itertools.count(1)

    # -- the door ------------------------------------------------------------------------
    def handle(self, request_text: str) -> str:
        """One request (canonical Extended JSON text) -> one reply (canonical Extended JSON text)."""
        try:
            request = json_util.loads(request_text, json_options=_IN)
            op = request.pop("op")
            handler = getattr(self, f"op_{op}", None)
            if handler is None:
                raise _Unsupported(f"{op} is not supported by this shell yet")
            if getattr(handler, "on_shell_thread", False):
                reply: dict[str, Any] = {"ok": handler(request)}
            else:
                reply = {"ok": self.call_driver(lambda: handler(request))}
        except KeyboardInterrupt:
            reply = {"error": {"name": "MongoshInterruptedError", "message": "execution was interrupted"}}
        except _InvalidInput as exc:
            reply = {"error": {"name": "MongoshInvalidInputError", "message": str(exc)}}
        except ConnectionClosed as exc:  # the Node driver's name and words, which mongosh shows
            reply = {"error": {"name": "MongoNotConnectedError",
                               "message": f"Client must be connected before running operations ({exc})"}}
        except _TransactionMisuse as exc:
            reply = {"error": {"name": "MongoTransactionError", "message": str(exc)}}
        except _Unsupported as exc:
            reply = {"error": {"name": "MongoshUnimplementedError", "message": str(exc)}}
        except BulkWriteError as exc:
            reply = {"error": _bulk_error(exc)}
        except ClientBulkWriteError as exc:
            reply = {"error": _client_bulk_error(exc)}
        except OperationFailure as exc:
            reply = {"error": _server_error(exc)}
        except ServerSelectionTimeout as exc:
            reply = {"error": {"name": "MongoServerSelectionError", "message": str(exc)}}
        except DriverError as exc:
            reply = {"error": {"name": "MongoError", "message": str(exc)}}
        except (TypeError, ValueError, KeyError) as exc:
            reply = {"error": {"name": "MongoshInvalidInputError", "message": str(exc)}}
        return json_util.dumps(reply, json_options=CANONICAL_JSON_OPTIONS)

    # -- helpers -------------------------------------------------------------------------
    def _session(self, request: Mapping[str, Any]) -> Any:
        sid = request.get("session")
        if sid is None:
            return None
        if sid not in self.sessions:
            raise _InvalidInput(f"session {sid} has ended")
        return self.sessions[sid]

    def _coll(self, request: Mapping[str, Any]) -> Any:
        """The collection, with the operation's writeConcern/readConcern/readPreference options applied."""
        options = request.get("options") or request.get("spec") or {}
        return self._client(request).get_database(request["db"]).get_collection(
            request["coll"], write_concern=options.get("writeConcern"), read_concern=options.get("readConcern"),
            read_preference=options.get("readPreference"))

    def _db(self, request: Mapping[str, Any]) -> Any:
        return self._client(request).get_database(request["db"])

    def _client(self, request: Mapping[str, Any]) -> Any:
        return self.connections.get(request.get("conn"))

    # -- commands ------------------------------------------------------------------------
    def op_command(self, r: dict[str, Any]) -> Any:
        return self._db(r).run_command(r["command"], session=self._session(r))

    def op_connectionInfo(self, r: dict[str, Any]) -> Any:
        return {"uri": self.connections.uri(r.get("conn"))}

    def op_connect(self, r: dict[str, Any]) -> Any:
        """new Mongo(uri) / connect(uri): another connection, opened as the shell's own was."""
        number, client = self.connections.open(str(r["uri"]))
        return {"conn": number, "db": client.default_database_name or "test"}

    def op_closeConnection(self, r: dict[str, Any]) -> Any:
        self.connections.close(r.get("conn") or 0)
        return None

    def op_topologyText(self, r: dict[str, Any]) -> Any:
        from mongocli.shell.metacommands import topology_lines
        return "\n".join(topology_lines(self._client(r).topology_description))

    def op_listDatabases(self, r: dict[str, Any]) -> Any:
        docs = list(self._client(r).list_databases())
        return {"databases": docs, "totalSize": sum(float(d.get("sizeOnDisk", 0) or 0) for d in docs), "ok": 1}

    def op_listCollections(self, r: dict[str, Any]) -> Any:
        options = dict(r.get("options") or {})
        name_only = bool(options.pop("nameOnly", False))
        options.pop("authorizedCollections", None)
        if options:
            raise _InvalidInput(f"getCollectionInfos: unknown option(s) {', '.join(options)}")
        return list(self._db(r).list_collections(r.get("filter") or None, session=self._session(r),
                                                 name_only=name_only))

    def op_createCollection(self, r: dict[str, Any]) -> Any:
        self._db(r).create_collection(r["name"], session=self._session(r), **(r.get("options") or {}))
        return {"ok": 1}

    def op_dropDatabase(self, r: dict[str, Any]) -> Any:
        reply = self._db(r).drop(session=self._session(r))
        return {"ok": 1, "dropped": r["db"]} if reply.get("ok") else reply

    # -- cursors -------------------------------------------------------------------------
    def op_openCursor(self, r: dict[str, Any]) -> Any:
        spec, session = dict(r.get("spec") or {}), self._session(r)
        kind = r["kind"]
        if kind == "find":
            cursor = self._coll(r).find(r.get("filter") or {}, session=session,
                                        **_kwargs(spec, _FIND_OPTIONS, "find"))
        elif kind == "aggregate":
            target = self._coll(r) if r.get("coll") else self._db(r)
            cursor = target.aggregate(list(r["pipeline"]), session=session, **_kwargs(spec, _AGG_OPTIONS, "aggregate"))
        else:
            raise _InvalidInput(f"unknown cursor kind {kind!r}")
        cursor_id = next(self._ids)
        self.cursors[cursor_id] = cursor
        return cursor_id

    def op_nextBatch(self, r: dict[str, Any]) -> Any:
        cursor = self.cursors.get(r["id"])
        if cursor is None:
            raise _InvalidInput("the cursor was closed")
        docs = []
        for doc in cursor:
            docs.append(doc)
            if len(docs) >= _BATCH:
                break
        more = len(docs) >= _BATCH and cursor.alive
        if not more:
            self.cursors.pop(r["id"], None)
        return {"docs": docs, "more": more}

    def op_closeCursor(self, r: dict[str, Any]) -> Any:
        cursor = self.cursors.pop(r["id"], None)
        if cursor is not None:
            cursor.close()
        return None

    # -- change streams (mongosh ChangeStreamCursor) ----------------------------------------
    def op_openChangeStream(self, r: dict[str, Any]) -> Any:
        """watch(): the aggregate runs now, so the stream sees every change made after this call."""
        target = self._client(r) if r.get("cluster") else (self._coll(r) if r.get("coll") else self._db(r))
        stream = target.watch(list(r.get("pipeline") or []), session=self._session(r),
                              **_kwargs(r.get("options"), _WATCH_OPTIONS, "watch"))
        stream_id = next(self._ids)
        self.cursors[stream_id] = _Stream(stream)
        return {"id": stream_id, "resumeToken": stream.resume_token}

    @_on_shell_thread
    def op_changeStreamNext(self, r: dict[str, Any]) -> Any:
        """At most one getMore (never blocks longer than the server's await time): {change|null, resumeToken, closed}."""
        handle = self.cursors.get(r["id"])
        if not isinstance(handle, _Stream):
            raise _InvalidInput("the change stream was closed")
        self.call_driver(handle.fill)
        change, token = handle.pop()
        if handle.closed:
            self.cursors.pop(r["id"], None)
        return {"change": change, "resumeToken": token, "closed": handle.closed}

    def op_explain(self, r: dict[str, Any]) -> Any:
        spec = dict(r.get("spec") or {})
        if r["kind"] == "find":
            body: dict[str, Any] = {"find": r["coll"], "filter": r.get("filter") or {}}
            body.update(spec)
        else:
            body = {"aggregate": r.get("coll") or 1, "pipeline": list(r["pipeline"]), "cursor": {}}
            body.update(spec)
        return self._db(r).run_command({"explain": body, "verbosity": r.get("verbosity") or "queryPlanner"},
                                       session=self._session(r))

    # -- reads ---------------------------------------------------------------------------
    def op_countDocuments(self, r: dict[str, Any]) -> Any:
        return self._coll(r).count_documents(r.get("filter") or {}, session=self._session(r),
                                             **_kwargs(r.get("options"), _WRITE_OPTIONS, "countDocuments"))

    def op_estimatedDocumentCount(self, r: dict[str, Any]) -> Any:
        return self._coll(r).estimated_document_count(session=self._session(r),
                                                      **_kwargs(r.get("options"), _WRITE_OPTIONS,
                                                                "estimatedDocumentCount"))

    def op_count(self, r: dict[str, Any]) -> Any:
        return self._coll(r).count(r.get("filter") or {}, session=self._session(r),
                                   **_kwargs(r.get("options"), _WRITE_OPTIONS, "count"))

    def op_distinct(self, r: dict[str, Any]) -> Any:
        return self._coll(r).distinct(r["key"], r.get("filter") or {}, session=self._session(r),
                                      **_kwargs(r.get("options"), _WRITE_OPTIONS, "distinct"))

    def op_listIndexes(self, r: dict[str, Any]) -> Any:
        return list(self._coll(r).list_indexes(session=self._session(r)))

    # -- writes --------------------------------------------------------------------------
    def op_insertOne(self, r: dict[str, Any]) -> Any:
        res = self._coll(r).insert_one(r["document"], session=self._session(r),
                                       **_kwargs(r.get("options"), _WRITE_OPTIONS, "insertOne"))
        return {"acknowledged": res.acknowledged, "insertedId": res.inserted_id}

    def op_insertMany(self, r: dict[str, Any]) -> Any:
        res = self._coll(r).insert_many(r["documents"], session=self._session(r),
                                        **_kwargs(r.get("options"), _WRITE_OPTIONS, "insertMany"))
        return {"acknowledged": res.acknowledged, "insertedIds": {str(i): v for i, v in enumerate(res.inserted_ids)}}

    def _update(self, r: dict[str, Any], method: str) -> Any:
        res = getattr(self._coll(r), method)(r["filter"], r["update"], session=self._session(r),
                                             **_kwargs(r.get("options"), _WRITE_OPTIONS, method))
        return {"acknowledged": res.acknowledged, "insertedId": res.upserted_id,
                "matchedCount": res.matched_count, "modifiedCount": res.modified_count,
                "upsertedCount": res.upserted_count}

    def op_updateOne(self, r: dict[str, Any]) -> Any:
        return self._update(r, "update_one")

    def op_updateMany(self, r: dict[str, Any]) -> Any:
        return self._update(r, "update_many")

    def op_replaceOne(self, r: dict[str, Any]) -> Any:
        return self._update(r, "replace_one")

    def _delete(self, r: dict[str, Any], method: str) -> Any:
        res = getattr(self._coll(r), method)(r["filter"], session=self._session(r),
                                             **_kwargs(r.get("options"), _WRITE_OPTIONS, method))
        return {"acknowledged": res.acknowledged, "deletedCount": res.deleted_count}

    def op_deleteOne(self, r: dict[str, Any]) -> Any:
        return self._delete(r, "delete_one")

    def op_deleteMany(self, r: dict[str, Any]) -> Any:
        return self._delete(r, "delete_many")

    def _find_and_modify(self, r: dict[str, Any], method: str) -> Any:
        options = dict(r.get("options") or {})
        after = options.pop("returnNewDocument", None)
        if "returnDocument" in options:
            after = options.pop("returnDocument") == "after"
        kwargs = _kwargs(options, _WRITE_OPTIONS, method)
        kwargs.pop("ordered", None)
        if method != "find_one_and_delete":
            kwargs["return_document"] = "after" if after else "before"
            args = (r["filter"], r["update"])
        else:
            args = (r["filter"],)
        return getattr(self._coll(r), method)(*args, session=self._session(r), **kwargs)

    def op_findOneAndUpdate(self, r: dict[str, Any]) -> Any:
        return self._find_and_modify(r, "find_one_and_update")

    def op_findOneAndReplace(self, r: dict[str, Any]) -> Any:
        return self._find_and_modify(r, "find_one_and_replace")

    def op_findOneAndDelete(self, r: dict[str, Any]) -> Any:
        return self._find_and_modify(r, "find_one_and_delete")

    def op_bulkWrite(self, r: dict[str, Any]) -> Any:
        from driver import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
        requests = []
        for i, model in enumerate(r["operations"]):
            if not isinstance(model, Mapping) or len(model) != 1:
                raise _InvalidInput(f"bulkWrite: operations[{i}] must be a document with one operation name")
            (name, spec), = model.items()
            spec = dict(spec)
            if name == "insertOne":
                requests.append(InsertOne(spec["document"]))
            elif name in ("updateOne", "updateMany", "replaceOne"):
                cls = {"updateOne": UpdateOne, "updateMany": UpdateMany, "replaceOne": ReplaceOne}[name]
                update = spec.get("replacement") if name == "replaceOne" else spec.get("update")
                extra = _kwargs({k: v for k, v in spec.items() if k not in ("filter", "update", "replacement")},
                                {"upsert": "upsert", "collation": "collation", "arrayFilters": "array_filters",
                                 "hint": "hint", "sort": "sort"}, f"bulkWrite operations[{i}] ({name})")
                if name == "replaceOne":
                    extra.pop("array_filters", None)
                requests.append(cls(spec["filter"], update, **extra))
            elif name in ("deleteOne", "deleteMany"):
                cls = DeleteOne if name == "deleteOne" else DeleteMany
                requests.append(cls(spec["filter"]))
            else:
                raise _InvalidInput(f"bulkWrite: operations[{i}]: unknown operation {name!r} (insertOne, updateOne, "
                                    "updateMany, replaceOne, deleteOne, deleteMany)")
        options = r.get("options") or {}
        res = self._coll(r).bulk_write(requests, ordered=options.get("ordered", True), session=self._session(r))
        if not getattr(res, "acknowledged", True):
            return {"acknowledged": False, "insertedIds": {str(k): v for k, v in res.inserted_ids.items()}}
        return {"acknowledged": True, "insertedCount": res.inserted_count,
                "insertedIds": {str(k): v for k, v in sorted(res.inserted_ids.items())},
                "matchedCount": res.matched_count, "modifiedCount": res.modified_count,
                "deletedCount": res.deleted_count, "upsertedCount": res.upserted_count,
                "upsertedIds": {str(k): v for k, v in sorted(res.upserted_ids.items())}}

    # -- indexes and collections ---------------------------------------------------------
    def op_createIndexes(self, r: dict[str, Any]) -> Any:
        coll, names = self._coll(r), []
        for spec in r["indexes"]:
            spec = dict(spec)
            keys = spec.pop("key")
            names.append(coll.create_index(list(keys.items()) if isinstance(keys, Mapping) else keys,
                                           session=self._session(r), **spec))
        return names[0] if r.get("one") else names

    def op_dropIndexes(self, r: dict[str, Any]) -> Any:
        index = r["index"]
        return self._db(r).run_command({"dropIndexes": r["coll"], "index": index}, session=self._session(r))

    def op_drop(self, r: dict[str, Any]) -> Any:
        # mongosh answers true whenever the server accepted the drop (a missing collection included).
        self._db(r).drop_collection(r["coll"], session=self._session(r))
        return True

    def op_renameCollection(self, r: dict[str, Any]) -> Any:
        return self._client(r).get_database("admin").run_command(
            {"renameCollection": f"{r['db']}.{r['coll']}", "to": f"{r['db']}.{r['target']}",
             "dropTarget": bool(r.get("dropTarget"))}, session=self._session(r))

    # -- sessions and transactions -------------------------------------------------------
    def op_startSession(self, r: dict[str, Any]) -> Any:
        options = dict(r.get("options") or {})
        # mongosh: readConcern/writeConcern/readPreference become the session's default transaction options
        defaults = {k: options.pop(k) for k in ("readConcern", "writeConcern", "readPreference") if k in options}
        causal = options.pop("causalConsistency", None)
        if options:
            raise _InvalidInput(f"startSession: unknown option(s) {', '.join(options)} (known: causalConsistency, "
                                "readConcern, writeConcern, readPreference)")
        session = self._client(r).start_session(causal_consistency=causal,
                                            default_transaction_options=defaults or None)
        sid = next(self._ids)
        self.sessions[sid] = session
        return sid

    def op_sessionInfo(self, r: dict[str, Any]) -> Any:
        return {"id": self._session(r).session_id}

    def op_endSession(self, r: dict[str, Any]) -> Any:
        session = self.sessions.pop(r["session"], None)
        if session is not None:
            session.end_session()
        return None

    def _transaction_step(self, r: dict[str, Any], step: Callable[[Any], Any]) -> None:
        """A transaction call; misuse (no transaction, one already running...) is a MongoTransactionError as in mongosh."""
        session = self._session(r)
        if session is None:
            raise _InvalidInput("transactions need a session: db.getMongo().startSession()")
        try:
            step(session)
        except ConfigurationError as exc:
            raise _TransactionMisuse(str(exc)) from exc

    def op_startTransaction(self, r: dict[str, Any]) -> Any:
        options = _transaction_options(r.get("options"), "startTransaction")
        self._transaction_step(r, lambda s: s.start_transaction(**options))

    def op_commitTransaction(self, r: dict[str, Any]) -> Any:
        self._transaction_step(r, _require_transaction(lambda s: s.commit_transaction()))

    def op_abortTransaction(self, r: dict[str, Any]) -> Any:
        self._transaction_step(r, _require_transaction(lambda s: s.abort_transaction()))

    # -- client bulk write (Mongo.bulkWrite, MongoDB 8.0) ----------------------------------
    def op_clientBulkWrite(self, r: dict[str, Any]) -> Any:
        import driver
        models = []
        for i, model in enumerate(r["models"]):
            where = f"Mongo.bulkWrite: models[{i}]"
            if not isinstance(model, Mapping) or model.get("name") not in _CLIENT_MODELS:
                raise _InvalidInput(f"{where} must be a document whose name is one of {', '.join(_CLIENT_MODELS)}")
            if not isinstance(model.get("namespace"), str) or "." not in model["namespace"]:
                raise _InvalidInput(f"{where}: namespace must be a string \"db.collection\"")
            cls_name, fields = _CLIENT_MODELS[model["name"]]
            rest = {k: v for k, v in model.items() if k not in ("name", "namespace")}
            models.append(getattr(driver, cls_name)(model["namespace"], **_kwargs(rest, fields, where)))
        options = dict(r.get("options") or {})
        write_concern = options.pop("writeConcern", None)
        res = self._client(r).bulk_write(models, session=self._session(r), write_concern=write_concern,
                                     **_kwargs(options, _CLIENT_BULK_OPTIONS, "Mongo.bulkWrite"))
        return _client_bulk_result(res)

    def close(self) -> None:
        """Close open cursors and end sessions (the shell is leaving)."""
        for cursor in self.cursors.values():
            cursor.close()
        for session in self.sessions.values():
            session.end_session()
        self.cursors.clear()
        self.sessions.clear()
        self.connections.close_all()


_CODE_NAMES = {11000: "DuplicateKey", 26: "NamespaceNotFound", 48: "NamespaceExists", 59: "CommandNotFound",
               13: "Unauthorized", 2: "BadValue", 121: "DocumentValidationFailure", 50: "MaxTimeMSExpired"}


def _server_error(exc: OperationFailure) -> dict[str, Any]:
    details = dict(exc.details or {})
    message = details.get("errmsg") or str(exc)
    out: dict[str, Any] = {"name": "MongoServerError", "message": message}
    if exc.code is not None:
        out["code"] = exc.code
    code_name = details.get("codeName")
    if code_name:
        out["codeName"] = code_name
    labels = sorted(exc.error_labels) if hasattr(exc, "error_labels") else []
    if labels:
        out["errorLabels"] = labels
    for key in ("errInfo", "keyPattern", "keyValue"):
        if key in details:
            out[key] = details[key]
    return out


def _transaction_options(options: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (options or {}).items():
        if key not in _TXN_OPTIONS:
            raise _InvalidInput(f"{what}: unknown option {key!r} (known: {', '.join(sorted(_TXN_OPTIONS))})")
        out[_TXN_OPTIONS[key]] = value
    return out


def _client_bulk_result(res: Any) -> dict[str, Any]:
    """ClientBulkWriteResult as mongosh shows it (Node's shape: per-model Maps only with verboseResults)."""
    out: dict[str, Any] = {"acknowledged": res.acknowledged, "insertedCount": res.inserted_count,
                           "matchedCount": res.matched_count, "modifiedCount": res.modified_count,
                           "deletedCount": res.deleted_count, "upsertedCount": res.upserted_count}
    if res.has_verbose_results:
        out["insertResults"] = [[i, {"insertedId": v["inserted_id"]}] for i, v in sorted(res.insert_results.items())]
        out["updateResults"] = [[i, {"matchedCount": v["matched_count"], "modifiedCount": v["modified_count"],
                                     **({"upsertedId": v["upserted_id"]} if "upserted_id" in v else {}),
                                     "didUpsert": "upserted_id" in v}]
                                for i, v in sorted(res.update_results.items())]
        out["deleteResults"] = [[i, {"deletedCount": v["deleted_count"]}] for i, v in sorted(res.delete_results.items())]
    return out


def _client_bulk_error(exc: Any) -> dict[str, Any]:
    """MongoClientBulkWriteError: writeErrors by model index, writeConcernErrors, partialResult."""
    first = exc.write_errors[min(exc.write_errors)] if exc.write_errors else {}
    out: dict[str, Any] = {"name": "MongoClientBulkWriteError", "message": first.get("errmsg") or str(exc)}
    if first.get("code") is not None:
        out["code"] = first["code"]
    out["writeErrors"] = [[i, dict(e)] for i, e in sorted(exc.write_errors.items())]
    out["writeConcernErrors"] = exc.write_concern_errors
    if exc.partial_result is not None:
        out["partialResult"] = _client_bulk_result(exc.partial_result)
    return out


def _bulk_error(exc: BulkWriteError) -> dict[str, Any]:
    details = dict(exc.details or {})
    errors = details.get("writeErrors") or []
    first = errors[0] if errors else {}
    out: dict[str, Any] = {"name": "MongoBulkWriteError", "message": first.get("errmsg") or str(exc)}
    if first.get("code") is not None:
        out["code"] = first["code"]
    out["writeErrors"] = errors
    out["result"] = {k: v for k, v in details.items() if k != "writeErrors"}
    return out
