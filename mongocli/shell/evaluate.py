"""Turns a parsed chain (db.coll.find(...).sort(...)) into driver calls and a Result to render."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Mapping

from mongocli.shell.lexer import ShellError
from mongocli.shell.parser import Attr, Call, Chain, Index

__all__ = ["EvalError", "Result", "ShellState", "CollRef", "DbRef", "Query", "evaluate", "PAGE_SIZE",
           "DB_METHODS", "COLLECTION_METHODS", "CURSOR_METHODS", "RS_METHODS"]

PAGE_SIZE = 20  # documents per page, like mongosh's "Type "it" for more"


class EvalError(ShellError):
    """A statement that parses but cannot run (unknown method, wrong arguments); has a position."""

    def __init__(self, message: str, line: int = 0, column: int = 0, source: str = "") -> None:
        self.reason, self.line, self.column, self.source = message, line, column, source
        super().__init__(f"{message} at {line}:{column}" if line else message)

    def caret(self) -> str:
        lines = self.source.split("\n")
        if not self.source or not 1 <= self.line <= len(lines):
            return ""
        return f"{lines[self.line - 1]}\n{' ' * (self.column - 1)}^"


@dataclass
class Result:
    """What a statement produced. kind: value | documents | text | nothing.

    `documents` is one page of a cursor; `has_more` tells the renderer to say 'Type "it" for more'.
    """

    kind: str
    value: Any = None
    has_more: bool = False


class Pager:
    """Pages through a driver cursor PAGE_SIZE at a time, looking one document ahead for has_more."""

    def __init__(self, iterator: Iterator[Any], close: Callable[[], None] | None = None) -> None:
        self._it = iterator
        self._ahead: list[Any] = []
        self._close = close
        self.exhausted = False

    def next_page(self, size: int = PAGE_SIZE) -> tuple[list[Any], bool]:
        """Up to `size` documents and whether more remain."""
        page: list[Any] = self._ahead[:size]
        self._ahead = self._ahead[size:]
        while len(page) < size + 1 and not self.exhausted:
            try:
                page.append(next(self._it))
            except StopIteration:
                self.exhausted = True
        if len(page) > size:
            self._ahead = page[size:] + self._ahead
            page = page[:size]
        return page, bool(self._ahead)

    def close(self) -> None:
        if self._close is not None:
            self._close()


@dataclass
class ShellState:
    """The session: the client, the current database, the cursor `it` continues."""

    client: Any
    db_name: str = "test"
    pager: Pager | None = None
    page_size: int = PAGE_SIZE


@dataclass(frozen=True)
class DbRef:
    name: str


@dataclass(frozen=True)
class CollRef:
    db: str
    name: str


@dataclass(frozen=True)
class RsRef:
    pass


@dataclass(frozen=True)
class Query:
    """A find or aggregate not yet run: cursor modifiers return a changed copy (mongosh semantics)."""

    coll: CollRef
    kind: str  # "find" | "aggregate"
    filter: Mapping[str, Any] | None = None
    projection: Mapping[str, Any] | None = None
    pipeline: tuple = ()
    options: Mapping[str, Any] = field(default_factory=dict)


# ---- argument helpers --------------------------------------------------------------------------

class _ArgError(Exception):
    pass


class _NameError(_ArgError):
    """An unknown method or property: reported at the name, not at the call's parenthesis."""


def _args(name: str, args: tuple, lo: int, hi: int) -> None:
    if not lo <= len(args) <= hi:
        want = str(lo) if lo == hi else f"{lo} to {hi}"
        raise _ArgError(f"{name}() takes {want} argument(s), got {len(args)}")


def _doc(name: str, value: Any, what: str = "argument", optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, Mapping):
        raise _ArgError(f"{name}() {what} must be a document {{...}}, got {_type_name(value)}")
    return value


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise _ArgError(f"{name}() needs an integer, got {_type_name(value)}")
    return int(value)


def _str(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _ArgError(f"{name}() needs a non-empty string, got {_type_name(value)}")
    return value


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "a document", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _snake_options(options: Mapping[str, Any] | None, allowed: set[str], name: str) -> dict[str, Any]:
    """mongosh option names (upsert, arrayFilters, ...) to the driver's keyword names."""
    out: dict[str, Any] = {}
    for key, value in (options or {}).items():
        snake = _CAMEL.sub("_", key).lower()
        if snake == "max_time_m_s":
            snake = "max_time_ms"
        if snake not in allowed:
            raise _ArgError(f"{name}() does not know the option '{key}' (known: "
                            f"{', '.join(sorted(allowed))})")
        out[snake] = value
    return out


# ---- collection methods ---------------------------------------------------------------------------

def _coll(state: ShellState, ref: CollRef) -> Any:
    return state.client.get_database(ref.db).get_collection(ref.name)


_FIND_OPTS = {"sort", "skip", "limit", "batch_size", "hint", "collation", "max_time_ms", "comment",
              "allow_disk_use", "let"}
_UPDATE_OPTS = {"upsert", "array_filters", "hint", "collation", "let", "sort", "bypass_document_validation",
                "comment"}
_DELETE_OPTS = {"hint", "collation", "let", "comment"}
_AGG_OPTS = {"batch_size", "allow_disk_use", "let", "comment", "max_time_ms", "collation", "hint",
             "bypass_document_validation"}


def _m_find(state, ref, args):
    _args("find", args, 0, 3)
    filt = _doc("find", args[0], "filter", optional=True) if args else None
    proj = _doc("find", args[1], "projection", optional=True) if len(args) > 1 else None
    opts = _snake_options(_doc("find", args[2], "options") if len(args) > 2 else None, _FIND_OPTS, "find")
    return Query(ref, "find", filter=filt, projection=proj, options=opts)


def _m_find_one(state, ref, args):
    _args("findOne", args, 0, 3)
    filt = _doc("findOne", args[0], "filter", optional=True) if args else None
    proj = _doc("findOne", args[1], "projection", optional=True) if len(args) > 1 else None
    opts = _snake_options(_doc("findOne", args[2], "options") if len(args) > 2 else None, _FIND_OPTS, "findOne")
    return _coll(state, ref).find_one(filt, proj, **opts)


def _m_insert_one(state, ref, args):
    _args("insertOne", args, 1, 2)
    result = _coll(state, ref).insert_one(_doc("insertOne", args[0], "document"))
    return {"acknowledged": result.acknowledged, "insertedId": result.inserted_id}


def _m_insert_many(state, ref, args):
    _args("insertMany", args, 1, 2)
    docs = args[0]
    if not isinstance(docs, list) or not all(isinstance(d, Mapping) for d in docs):
        raise _ArgError("insertMany() needs an array of documents")
    if not docs:
        raise _ArgError("insertMany() needs at least one document")
    opts = _snake_options(_doc("insertMany", args[1], "options") if len(args) > 1 else None,
                          {"ordered", "bypass_document_validation", "comment"}, "insertMany")
    result = _coll(state, ref).insert_many(docs, **opts)
    return {"acknowledged": result.acknowledged,
            "insertedIds": {str(i): _id for i, _id in enumerate(result.inserted_ids)}}


def _update_result(result: Any) -> dict[str, Any]:
    return {"acknowledged": result.acknowledged, "insertedId": result.upserted_id,
            "matchedCount": result.matched_count, "modifiedCount": result.modified_count,
            "upsertedCount": result.upserted_count}


def _make_update(method: str, driver_name: str, replacement: bool):
    def run(state, ref, args):
        _args(method, args, 2, 3)
        filt = _doc(method, args[0], "filter")
        update = args[1]
        if replacement:
            _doc(method, update, "replacement")
        elif not isinstance(update, (Mapping, list)):
            raise _ArgError(f"{method}() update must be a document or a pipeline array")
        allowed = _UPDATE_OPTS - {"array_filters"} if replacement else _UPDATE_OPTS
        if method == "updateMany":
            allowed = allowed - {"sort"}
        opts = _snake_options(_doc(method, args[2], "options") if len(args) > 2 else None, allowed, method)
        return _update_result(getattr(_coll(state, ref), driver_name)(filt, update, **opts))
    return run


def _make_delete(method: str, driver_name: str):
    def run(state, ref, args):
        _args(method, args, 1, 2)
        filt = _doc(method, args[0], "filter")
        opts = _snake_options(_doc(method, args[1], "options") if len(args) > 1 else None, _DELETE_OPTS, method)
        result = getattr(_coll(state, ref), driver_name)(filt, **opts)
        return {"acknowledged": result.acknowledged, "deletedCount": result.deleted_count}
    return run


def _m_aggregate(state, ref, args):
    _args("aggregate", args, 0, 2)
    pipeline = args[0] if args else []
    if not isinstance(pipeline, list) or not all(isinstance(s, Mapping) for s in pipeline):
        raise _ArgError("aggregate() needs an array of stage documents, e.g. [{$match: {...}}]")
    opts = _snake_options(_doc("aggregate", args[1], "options") if len(args) > 1 else None, _AGG_OPTS,
                          "aggregate")
    return Query(ref, "aggregate", pipeline=tuple(pipeline), options=opts)


def _m_count_documents(state, ref, args):
    _args("countDocuments", args, 0, 2)
    filt = _doc("countDocuments", args[0], "filter", optional=True) if args else None
    opts = _snake_options(_doc("countDocuments", args[1], "options") if len(args) > 1 else None,
                          {"skip", "limit", "hint", "collation", "comment", "max_time_ms"}, "countDocuments")
    return _coll(state, ref).count_documents(filt or {}, **opts)


def _m_estimated(state, ref, args):
    _args("estimatedDocumentCount", args, 0, 1)
    return _coll(state, ref).estimated_document_count()


def _m_distinct(state, ref, args):
    _args("distinct", args, 1, 2)
    key = _str("distinct", args[0])
    filt = _doc("distinct", args[1], "filter", optional=True) if len(args) > 1 else None
    return _coll(state, ref).distinct(key, filt)


def _m_create_index(state, ref, args):
    _args("createIndex", args, 1, 2)
    keys = _doc("createIndex", args[0], "keys")
    options = dict(_doc("createIndex", args[1], "options") if len(args) > 1 else {})
    return _coll(state, ref).create_index(list(keys.items()), **options)


def _m_get_indexes(state, ref, args):
    _args("getIndexes", args, 0, 0)
    return list(_coll(state, ref).list_indexes())


def _m_drop(state, ref, args):
    _args("drop", args, 0, 0)
    _coll(state, ref).drop()
    return True


def _m_drop_index(state, ref, args):
    _args("dropIndex", args, 1, 1)
    _coll(state, ref).drop_index(args[0] if isinstance(args[0], str) else list(_doc("dropIndex", args[0]).items()))
    return {"ok": 1}


def _m_coll_name(state, ref, args):
    _args("getName", args, 0, 0)
    return ref.name


COLLECTION_METHODS: dict[str, Callable] = {
    "find": _m_find, "findOne": _m_find_one, "insertOne": _m_insert_one, "insertMany": _m_insert_many,
    "updateOne": _make_update("updateOne", "update_one", False),
    "updateMany": _make_update("updateMany", "update_many", False),
    "replaceOne": _make_update("replaceOne", "replace_one", True),
    "deleteOne": _make_delete("deleteOne", "delete_one"), "deleteMany": _make_delete("deleteMany", "delete_many"),
    "aggregate": _m_aggregate, "countDocuments": _m_count_documents, "estimatedDocumentCount": _m_estimated,
    "distinct": _m_distinct, "createIndex": _m_create_index, "getIndexes": _m_get_indexes, "drop": _m_drop,
    "dropIndex": _m_drop_index, "getName": _m_coll_name,
}


# ---- cursor (Query) modifiers ---------------------------------------------------------------------

def _modifier(option: str, check: Callable[[str, Any], Any], kinds: tuple = ("find",)):
    def run(state, query: Query, args):
        name = {"batch_size": "batchSize"}.get(option, option)
        _args(name, args, 1, 1)
        if query.kind not in kinds:
            raise _ArgError(f"{name}() applies to find() cursors, not {query.kind}()")
        if option == "projection":
            return replace(query, projection=check(name, args[0]))
        return replace(query, options={**query.options, option: check(name, args[0])})
    return run


def _c_to_array(state, query, args):
    _args("toArray", args, 0, 0)
    return list(open_cursor(state, query))


def _c_count(state, query, args):
    _args("count", args, 0, 1)
    if query.kind != "find":
        raise _ArgError("count() applies to find() cursors; add a $count stage to the pipeline instead")
    return _coll(state, query.coll).count_documents(query.filter or {})


def _c_itcount(state, query, args):
    _args("itcount", args, 0, 0)
    return sum(1 for _ in open_cursor(state, query))


def _c_next(state, query, args):
    _args("next", args, 0, 0)
    for doc in open_cursor(state, query):
        return doc
    raise _ArgError("next(): the cursor has no documents")


def _c_has_next(state, query, args):
    _args("hasNext", args, 0, 0)
    return any(True for _ in open_cursor(state, replace(query, options={**query.options, "limit": 1})))


def _c_pretty(state, query, args):
    _args("pretty", args, 0, 0)
    return query


CURSOR_METHODS: dict[str, Callable] = {
    "sort": _modifier("sort", lambda n, v: list(_doc(n, v).items())),
    "limit": _modifier("limit", _int), "skip": _modifier("skip", _int),
    "projection": _modifier("projection", lambda n, v: _doc(n, v)),
    "batchSize": _modifier("batch_size", _int, ("find", "aggregate")),
    "hint": _modifier("hint", lambda n, v: v if isinstance(v, str) else list(_doc(n, v).items())),
    "maxTimeMS": _modifier("max_time_ms", _int, ("find", "aggregate")),
    "comment": _modifier("comment", lambda n, v: v, ("find", "aggregate")),
    "toArray": _c_to_array, "count": _c_count, "itcount": _c_itcount, "next": _c_next, "hasNext": _c_has_next,
    "pretty": _c_pretty,
}


def open_cursor(state: ShellState, query: Query) -> Any:
    """Run the find/aggregate and return the driver's lazy cursor."""
    coll = _coll(state, query.coll)
    if query.kind == "aggregate":
        return coll.aggregate(list(query.pipeline), **query.options)
    return coll.find(query.filter or {}, query.projection, **query.options)


# ---- database and replica-set methods -------------------------------------------------------------

def _command(state: ShellState, db: str, body: Any, name: str) -> Any:
    if isinstance(body, str):
        body = {body: 1}
    return state.client.get_database(db).run_command(dict(_doc(name, body, "command")))


def _simple_command(cmd: str, method: str, db: str | None = None, key: str | None = None):
    def run(state, ref, args):
        _args(method, args, 0, 0)
        reply = _command(state, db or ref.name, {cmd: 1}, method)
        return reply.get(key) if key else reply
    return run


def _d_run_command(state, ref, args):
    _args("runCommand", args, 1, 1)
    return _command(state, ref.name, args[0], "runCommand")


def _d_admin_command(state, ref, args):
    _args("adminCommand", args, 1, 1)
    return _command(state, "admin", args[0], "adminCommand")


def _d_collection_names(state, ref, args):
    _args("getCollectionNames", args, 0, 0)
    return sorted(state.client.get_database(ref.name).list_collection_names())


def _d_collection_infos(state, ref, args):
    _args("getCollectionInfos", args, 0, 1)
    filt = _doc("getCollectionInfos", args[0], "filter", optional=True) if args else None
    return list(state.client.get_database(ref.name).list_collections(filt))


def _d_get_collection(state, ref, args):
    _args("getCollection", args, 1, 1)
    return CollRef(ref.name, _str("getCollection", args[0]))


def _d_sibling(state, ref, args):
    _args("getSiblingDB", args, 1, 1)
    return DbRef(_str("getSiblingDB", args[0]))


def _d_name(state, ref, args):
    _args("getName", args, 0, 0)
    return ref.name


def _d_drop_database(state, ref, args):
    _args("dropDatabase", args, 0, 0)
    state.client.get_database(ref.name).drop()
    return {"ok": 1, "dropped": ref.name}


def _d_create_collection(state, ref, args):
    _args("createCollection", args, 1, 2)
    options = dict(_doc("createCollection", args[1], "options") if len(args) > 1 else {})
    state.client.get_database(ref.name).create_collection(_str("createCollection", args[0]), **options)
    return {"ok": 1}


def _d_version(state, ref, args):
    _args("version", args, 0, 0)
    return _command(state, "admin", {"buildInfo": 1}, "version").get("version")


DB_METHODS: dict[str, Callable] = {
    "runCommand": _d_run_command, "adminCommand": _d_admin_command,
    "getCollectionNames": _d_collection_names, "getCollectionInfos": _d_collection_infos,
    "getCollection": _d_get_collection, "getSiblingDB": _d_sibling, "getName": _d_name,
    "stats": _simple_command("dbStats", "stats"), "hello": _simple_command("hello", "hello"),
    "isMaster": _simple_command("isMaster", "isMaster"),
    "serverStatus": _simple_command("serverStatus", "serverStatus", db="admin"),
    "dropDatabase": _d_drop_database, "createCollection": _d_create_collection, "version": _d_version,
}

RS_METHODS: dict[str, Callable] = {
    "status": _simple_command("replSetGetStatus", "rs.status", db="admin"),
    "conf": _simple_command("replSetGetConfig", "rs.conf", db="admin", key="config"),
    "config": _simple_command("replSetGetConfig", "rs.config", db="admin", key="config"),
    "hello": _simple_command("hello", "rs.hello", db="admin"),
    "isMaster": _simple_command("isMaster", "rs.isMaster", db="admin"),
}


# ---- the evaluator --------------------------------------------------------------------------------

def _methods_for(value: Any) -> tuple[str, dict[str, Callable]] | None:
    if isinstance(value, DbRef):
        return "database", DB_METHODS
    if isinstance(value, CollRef):
        return "collection", COLLECTION_METHODS
    if isinstance(value, Query):
        return "cursor", CURSOR_METHODS
    if isinstance(value, RsRef):
        return "rs", RS_METHODS
    return None


def _root(state: ShellState, chain: Chain) -> Any:
    if chain.is_literal:
        return chain.value
    if chain.root == "db":
        return DbRef(state.db_name)
    if chain.root == "rs":
        return RsRef()
    raise EvalError(f"unknown name '{chain.root}' (statements start with db, rs, or a literal value; "
                    "type help)", chain.line, chain.column, chain.text)


def evaluate(state: ShellState, chain: Chain, source: str = "") -> Result:
    """Run one statement against state.client; a find/aggregate shows its first page (see `it`)."""
    source = source or chain.text
    value = _root(state, chain)
    steps = chain.steps
    i = 0
    while i < len(steps):
        step = steps[i]
        call = steps[i + 1] if i + 1 < len(steps) and isinstance(steps[i + 1], Call) else None
        try:
            if isinstance(step, Attr):
                value = _attr(state, value, step, call)
                i += 2 if call is not None else 1
                continue
            if isinstance(step, Index):
                value = _index(value, step)
            else:
                raise _ArgError("this value is not a function")
        except _ArgError as exc:
            at = step if isinstance(exc, _NameError) or call is None else call
            raise EvalError(str(exc), at.line, at.column, source) from None
        i += 1
    return _finish(state, value)


def _attr(state: ShellState, value: Any, step: Attr, call: Call | None) -> Any:
    table = _methods_for(value)
    name = step.name
    if table is not None and name in table[1]:
        if call is None:
            raise _ArgError(f"{name} is a {table[0]} method: call it as {name}()")
        return table[1][name](state, value, call.args)
    if call is not None:
        where = f"{table[0]} " if table else ""
        close = difflib.get_close_matches(name, list(table[1]), n=1) if table else []
        hint = f"; did you mean {close[0]}()?" if close else " (type help for the list)"
        raise _NameError(f"unknown {where}method '{name}'{hint}")
    if isinstance(value, DbRef):
        return CollRef(value.name, name)
    if isinstance(value, CollRef):  # db.system.users means the collection "system.users"
        return CollRef(value.db, f"{value.name}.{name}")
    if isinstance(value, Mapping) and name in value:
        return value[name]
    raise _NameError(f"no property '{name}' on {_type_name(value)}")


def _index(value: Any, step: Index) -> Any:
    key = step.key
    if isinstance(value, DbRef):
        return CollRef(value.name, str(key))
    if isinstance(value, CollRef):
        return CollRef(value.db, f"{value.name}.{key}")
    if isinstance(value, Mapping) and str(key) in value:
        return value[str(key)]
    if isinstance(value, list) and isinstance(key, int) and -len(value) <= key < len(value):
        return value[key]
    raise _ArgError(f"no element [{key!r}] in {_type_name(value)}")


def _finish(state: ShellState, value: Any) -> Result:
    if isinstance(value, Query):
        cursor = open_cursor(state, value)
        if state.pager is not None:
            state.pager.close()
        state.pager = Pager(iter(cursor), getattr(cursor, "close", None))
        return next_page(state)
    if isinstance(value, DbRef):
        return Result("text", value.name)
    if isinstance(value, CollRef):
        return Result("text", f"{value.db}.{value.name}")
    if isinstance(value, RsRef):
        return Result("text", "rs: replica-set helpers " + ", ".join(f"rs.{m}()" for m in RS_METHODS))
    return Result("value", value)


def next_page(state: ShellState) -> Result:
    """The next page of the last cursor (what `it` shows)."""
    if state.pager is None:
        return Result("text", "no cursor")
    docs, more = state.pager.next_page(state.page_size)
    if not more:
        state.pager = None
    return Result("documents", docs, has_more=more)
