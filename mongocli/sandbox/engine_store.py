"""Storage for the sandbox data engine: collections of documents with enforced, usable indexes."""

from __future__ import annotations

import contextlib
import contextvars
import copy
import uuid
from typing import Any, Callable, Iterable, Iterator

import bson
from bson import Binary

from mongocli.sandbox import engine_collation
from mongocli.sandbox.engine_collation import filter_applies
from mongocli.sandbox.engine_filter import validate_filter
from mongocli.sandbox.engine_plan import filter_implies
from mongocli.sandbox.engine_text import text_query
from mongocli.sandbox.engine_values import (
    dup_key_text, error, hkey, index_entries,
)
from mongocli.sandbox.server_js import where_predicate

ID_INDEX = {"v": 2, "key": {"_id": 1}, "name": "_id_"}

# Who hears of each document write, just before it is applied: observer(collection, old, new,
# replacement) with old None for an insert and new None for a delete. The server layer uses it
# for the change-stream/snapshot journal and for transactions' write-conflict checks (which
# may raise a CommandError to refuse the write). None: nobody listens.
WriteObserver = Callable[["Collection", "dict | None", "dict | None", bool], None]
_OBSERVER: contextvars.ContextVar[WriteObserver | None] = contextvars.ContextVar(
    "sandbox_write_observer", default=None)


@contextlib.contextmanager
def observing(observer: WriteObserver | None) -> Iterator[None]:
    """Report every document write inside the block to ``observer``."""
    token = _OBSERVER.set(observer)
    try:
        yield
    finally:
        _OBSERVER.reset(token)


def _notify(coll: "Collection", old: dict | None, new: dict | None, replacement: bool = False) -> None:
    observer = _OBSERVER.get()
    if observer is not None:
        observer(coll, old, new, replacement)


def index_name(keys: dict) -> str:
    """Default index name, as the server builds it: ``a_1_b_-1``."""
    return "_".join(f"{k}_{v}" for k, v in keys.items())


class Index:
    """One index: its spec (as listIndexes shows it) and a map key-tuple -> {doc id key}."""

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.name: str = spec["name"]
        self.keys: list[tuple[str, Any]] = list(spec["key"].items())
        self.unique: bool = bool(spec.get("unique")) or self.name == "_id_"
        self.sparse: bool = bool(spec.get("sparse"))
        self.partial: dict | None = spec.get("partialFilterExpression")
        self.entries: dict[tuple, dict] = {}

    def entries_of(self, doc: dict) -> Iterator[tuple[tuple, tuple]]:
        """(hashable key, raw values) pairs this index holds for ``doc``."""
        if self.partial is not None and not filter_applies(self.partial, doc):
            return iter(())
        return index_entries(doc, self.keys, self.sparse)

    def conflict(self, doc: dict, own_key: Any, entries: list | None = None) -> tuple | None:
        """The raw key values of ``doc`` already held by another document, if unique."""
        if not self.unique:
            return None
        for key, raw in (self.entries_of(doc) if entries is None else entries):
            holders = self.entries.get(key)
            if holders and (len(holders) > 1 or own_key not in holders):
                return raw
        return None

    def add(self, doc: dict, doc_key: Any, entries: list | None = None) -> None:
        """Record ``doc`` under each of its index keys."""
        for key, _ in (self.entries_of(doc) if entries is None else entries):
            self.entries.setdefault(key, {})[doc_key] = None

    def remove(self, doc: dict, doc_key: Any) -> None:
        """Forget ``doc``'s index keys."""
        for key, _ in self.entries_of(doc):
            holders = self.entries.get(key)
            if holders is not None:
                holders.pop(doc_key, None)
                if not holders:
                    del self.entries[key]


class Collection:
    """Documents of one namespace keyed by hkey(_id), with their BSON sizes and indexes."""

    def __init__(self, db: str, name: str, options: dict | None = None) -> None:
        self.db = db
        self.name = name
        self.options = options or {}
        self.uuid = Binary(uuid.uuid4().bytes, 4)
        self.docs: dict[Any, dict] = {}
        self.sizes: dict[Any, int] = {}
        self.total_size = 0  # sum of `sizes`, kept as documents come and go (capped checks)
        # RecordIds as WiredTiger assigns them: increasing per insert, kept across in-place
        # updates (find's showRecordId reports them as $recordId).
        self.record_ids: dict[Any, int] = {}
        self._last_record_id = 0
        self.indexes: dict[str, Index] = {"_id_": Index(dict(ID_INDEX))}

    @property
    def is_view(self) -> bool:
        """Whether this namespace is a view (created with ``viewOn``): it stores no documents."""
        return self.options.get("viewOn") is not None

    @property
    def ns(self) -> str:
        """Full namespace ``db.coll``."""
        return f"{self.db}.{self.name}"

    def dup_error(self, index: Index, raw: tuple) -> Any:
        """The DuplicateKey error (code 11000) in the server's exact message format."""
        key_value = {f: v for (f, _), v in zip(index.keys, raw)}
        msg = (f"E11000 duplicate key error collection: {self.ns} index: {index.name} "
               f"dup key: {dup_key_text(index.keys, raw)}")
        return error(11000, msg, keyPattern=dict(index.keys), keyValue=key_value)

    def check_unique(self, doc: dict, own_key: Any = None) -> None:
        """Raise DuplicateKey if ``doc`` would violate a unique index."""
        for index in self.indexes.values():
            raw = index.conflict(doc, own_key)
            if raw is not None:
                raise self.dup_error(index, raw)

    def insert(self, doc: dict, size: int) -> None:
        """Store a prepared document (``_id`` first, already size-checked)."""
        key = hkey(doc["_id"])
        # Compute each index's entries once: they serve the uniqueness check and the insert.
        planned = [(index, list(index.entries_of(doc))) for index in self.indexes.values()]
        for index, entries in planned:
            raw = index.conflict(doc, None, entries)  # a new document owns no entry yet
            if raw is not None:
                raise self.dup_error(index, raw)
        _notify(self, None, doc)
        self.docs[key] = doc
        self.sizes[key] = size
        self.total_size += size
        self._last_record_id += 1
        self.record_ids[key] = self._last_record_id
        for index, entries in planned:
            index.add(doc, key, entries)
        if self.options.get("capped"):
            self._trim_capped(key)

    def _trim_capped(self, newest: Any) -> None:
        # A capped collection deletes its oldest documents (insertion order) once it holds more
        # than `max` documents or `size` bytes; the newest document always stays.
        max_docs = self.options.get("max") or 0
        max_size = self.options.get("size") or 0
        while len(self.docs) > 1 and ((max_docs and len(self.docs) > max_docs)
                                      or (max_size and self.data_size() > max_size)):
            oldest = next(iter(self.docs))
            if oldest == newest:
                break
            self.delete(self.docs[oldest])

    def replace(self, old: dict, new: dict, size: int, *, replacement: bool = False) -> None:
        """Swap ``old`` for ``new`` (same ``_id``), keeping indexes in step; ``replacement``
        says a whole-document replacement asked for it (not update operators)."""
        key = hkey(old["_id"])
        self.check_unique(new, key)
        _notify(self, old, new, replacement)
        for index in self.indexes.values():
            index.remove(old, key)
            index.add(new, key)
        self.docs[key] = new
        self.total_size += size - self.sizes.get(key, 0)
        self.sizes[key] = size

    def delete(self, doc: dict) -> None:
        """Remove a stored document."""
        key = hkey(doc["_id"])
        _notify(self, doc, None)
        for index in self.indexes.values():
            index.remove(doc, key)
        self.docs.pop(key, None)
        self.total_size -= self.sizes.pop(key, 0)
        self.record_ids.pop(key, None)

    def snapshot(self) -> "Collection":
        """A copy to read and write apart from this one (a transaction's view). Documents are
        shared: the engine never changes a stored document in place, it replaces it."""
        twin = copy.copy(self)
        twin.options = dict(self.options)
        twin.docs, twin.sizes, twin.record_ids = dict(self.docs), dict(self.sizes), dict(self.record_ids)
        twin.indexes = {}
        for name, index in self.indexes.items():
            twin_index = copy.copy(index)
            twin_index.entries = {k: dict(v) for k, v in index.entries.items()}
            twin.indexes[name] = twin_index
        return twin

    def record_id(self, doc: dict) -> int:
        """The RecordId of a stored document (0 for one not stored here)."""
        return self.record_ids.get(hkey(doc["_id"]), 0)

    def add_index(self, spec: dict) -> None:
        """Build an index over existing documents; a unique one fails on duplicates."""
        index = Index(spec)
        for key, doc in self.docs.items():
            if index.unique:
                raw = index.conflict(doc, key)
                if raw is not None:
                    err = self.dup_error(index, raw)
                    err.errmsg = (f"Index build failed: {uuid.UUID(bytes=bytes(self.uuid))}: "
                                  f"Collection {self.ns} ( {uuid.UUID(bytes=bytes(self.uuid))} ) "
                                  f":: caused by :: {err.errmsg}")
                    raise err
            index.add(doc, key)
        self.indexes[index.name] = index

    def usable_index(self, filter_doc: dict, hint: Any = None) -> Index | None:
        """A single-field index the filter constrains (or the hinted one), for plans and lookups."""
        if hint:
            for index in self.indexes.values():
                if index.name == hint or (isinstance(hint, dict) and dict(index.keys) == hint):
                    return index
            raise error(2, "hint provided does not correspond to an existing index")
        for index in self.indexes.values():
            first = index.keys[0][0]
            if first in filter_doc and not index.sparse and (
                    index.partial is None or filter_implies(filter_doc, index.partial)):
                return index
        return None

    def sort_index(self, sort: Any) -> Index | None:
        """An index whose leading keys give ``sort``'s order (forwards or backwards), as the
        planner picks one to avoid an in-memory sort; None when only a scan and sort would do."""
        if not isinstance(sort, dict) or not sort:
            return None
        wanted = list(sort.items())
        for index in self.indexes.values():
            if index.partial is not None or index.sparse or len(index.keys) < len(wanted):
                continue
            pairs = list(zip(index.keys, wanted))
            if any(ik != sk or not isinstance(iv, (int, float)) or not isinstance(sv, (int, float))
                   for (ik, iv), (sk, sv) in pairs):
                continue
            signs = {(iv > 0) == (sv > 0) for (_, iv), (_, sv) in pairs}
            if len(signs) == 1:  # all in the index's direction, or all reversed
                return index
        return None

    def candidates(self, filter_doc: dict) -> Iterable[dict]:
        """Documents that may match: an index lookup for a plain equality, else every document."""
        if engine_collation.active():  # indexes hold binary keys: a collated match scans
            return list(self.docs.values())
        for field, value in filter_doc.items():
            if field.startswith("$") or value is None or isinstance(value, (dict, list)):
                continue
            if hasattr(value, "pattern"):  # regex equality matches by pattern: scan
                continue
            for index in self.indexes.values():
                if len(index.keys) == 1 and index.keys[0][0] == field and index.partial is None \
                        and not index.sparse:
                    holders = index.entries.get((hkey(value),), {})
                    return [self.docs[k] for k in holders]
        return list(self.docs.values())

    def match(self, filter_doc: dict | None, limit: int = 0) -> list[dict]:
        """Stored documents matching a query filter, in natural order; stop after ``limit``."""
        filter_doc = filter_doc or {}
        validate_filter(filter_doc)
        if "$text" in filter_doc:
            query = text_query(self, filter_doc["$text"])
            rest = {k: v for k, v in filter_doc.items() if k != "$text"}
            found = [d for d in self.match(rest) if query.score(d) > 0]
            return found[:limit] if limit else found
        if "$where" in filter_doc:
            # $where runs JavaScript per document: match the rest first, then ask the function.
            predicate = where_predicate(filter_doc["$where"])
            rest = {k: v for k, v in filter_doc.items() if k != "$where"}
            found = [d for d in self.match(rest) if predicate(d)]
            return found[:limit] if limit else found
        if not filter_doc:
            docs = list(self.docs.values())
            return docs[:limit] if limit else docs
        if not limit:
            return [d for d in self.candidates(filter_doc) if filter_applies(filter_doc, d)]
        out = []
        for d in self.candidates(filter_doc):
            if filter_applies(filter_doc, d):
                out.append(d)
                if len(out) >= limit:
                    break
        return out

    def data_size(self) -> int:
        """Sum of BSON sizes of all documents."""
        return self.total_size


def bson_size(doc: dict, max_bson_size: int) -> int:
    """Encoded size of ``doc``; BSONObjectTooLarge (10334) past the limit."""
    try:
        size = len(bson.encode(doc))
    except (bson.errors.InvalidDocument, TypeError, ValueError) as exc:
        raise error(2, f"invalid document: {exc}") from exc
    if size > max_bson_size:
        raise error(10334, f"object to insert too large. size in bytes: {size}, "
                           f"max size: {max_bson_size}")
    return size


class Catalog:
    """All databases: ``{db_name: {coll_name: Collection}}``."""

    def __init__(self) -> None:
        self.dbs: dict[str, dict[str, Collection]] = {}
        # A pre-5.0 release refuses to store $-prefixed field names (set from the deployment's version).
        self.dollar_names_refused = False

    def get(self, db: str, name: str) -> Collection | None:
        """The collection, or None."""
        return self.dbs.get(db, {}).get(name)

    def require(self, db: str, name: str) -> Collection:
        """The collection, or NamespaceNotFound (26)."""
        coll = self.get(db, name)
        if coll is None:
            raise error(26, f"ns not found {db}.{name}")
        return coll

    def ensure(self, db: str, name: str) -> Collection:
        """The collection, created implicitly as a write would."""
        validate_ns(db, name)
        coll = self.get(db, name)
        if coll is None:
            coll = self.dbs.setdefault(db, {})[name] = Collection(db, name)
        elif coll.is_view:
            raise error(166, f"Namespace {db}.{name} is a view, not a collection")
        return coll

    def drop(self, db: str, name: str) -> Collection | None:
        """Remove a collection; drop its database entry when empty."""
        colls = self.dbs.get(db, {})
        coll = colls.pop(name, None)
        if not colls:
            self.dbs.pop(db, None)
        return coll


def validate_ns(db: str, name: Any) -> None:
    """InvalidNamespace (73) for names a real server refuses."""
    if not isinstance(name, str):
        raise error(2, f"collection name has invalid type {type(name).__name__}")
    if not db or any(c in db for c in '/\\. "$\0') or len(db) >= 64:
        raise error(73, f"Invalid database name: '{db}'")
    if not name or "$" in name or "\0" in name or name.startswith("."):
        raise error(73, f"Invalid namespace specified '{db}.{name}'")
