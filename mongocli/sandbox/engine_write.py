"""Write commands of the sandbox data engine: insert, update, delete, findAndModify."""

from __future__ import annotations

from typing import Any, Callable

import bson
import mongomock
from bson import ObjectId
from mongomock.filtering import filter_applies

from mongocli.sandbox.engine_collation import collation
from mongocli.sandbox.engine_filter import validate_filter
from mongocli.sandbox.engine_pipeline import apply_update_pipeline
from mongocli.sandbox.engine_store import Catalog, Collection, bson_size
from mongocli.sandbox.engine_validation import check_document
from mongocli.sandbox.engine_values import (
    CommandError, clone, error, get_path, id_first, sort_docs,
)

UPDATE_OPERATORS = {
    "$set", "$unset", "$inc", "$mul", "$rename", "$setOnInsert", "$min", "$max",
    "$currentDate", "$addToSet", "$push", "$pop", "$pull", "$pullAll", "$bit",
}

# A private, never-stored mongomock collection: its update/projection helpers act on the
# documents we hand them and touch nothing else.
_SCRATCH = mongomock.MongoClient().get_database("sandbox_scratch").get_collection("scratch")


def translate(exc: Exception) -> CommandError:
    """Turn a mongomock/Python failure raised inside query semantics into a server error."""
    if isinstance(exc, CommandError):
        return exc
    if isinstance(exc, NotImplementedError):
        return error(238, f"not supported by the sandbox engine: {exc}")
    if isinstance(exc, mongomock.PyMongoError):
        code = getattr(exc, "code", None)
        return error(code if isinstance(code, int) and code else 2, str(exc))
    if isinstance(exc, (ValueError, TypeError, KeyError)):
        return error(2, f"{type(exc).__name__}: {exc}")
    return error(1, f"sandbox engine internal error: {type(exc).__name__}: {exc}")


def project(doc: dict, projection: dict | None) -> dict:
    """Apply a find projection with mongomock's semantics, keeping ``_id`` first."""
    if not projection:
        return clone(doc)
    try:
        out = _SCRATCH._copy_only_fields(doc, dict(projection), dict)
    except ValueError as exc:
        raise error(31254, f"Cannot do exclusion and inclusion in the same projection: {exc}")
    return id_first(clone(out))


def _array_filter_paths(doc: Any, parts: list[str], filters: dict[str, dict]) -> list[list[str]]:
    # Expand `$[]` and `$[ident]` segments into the concrete array indexes they select.
    if not parts:
        return [[]]
    head, rest = parts[0], parts[1:]
    if head.startswith("$[") and head.endswith("]"):
        ident = head[2:-1]
        if not isinstance(doc, list):
            return []
        if ident and ident not in filters:
            raise error(2, f"No array filter found for identifier '{ident}' in path "
                           f"'{'.'.join(parts)}'")
        out = []
        for i, item in enumerate(doc):
            if ident and not filter_applies(filters[ident], {ident: item}):
                continue
            out.extend([str(i)] + tail for tail in _array_filter_paths(item, rest, filters))
        return out
    child = doc.get(head) if isinstance(doc, dict) else (
        doc[int(head)] if isinstance(doc, list) and head.isdigit() and int(head) < len(doc) else None)
    return [[head] + tail for tail in _array_filter_paths(child, rest, filters)]


def _positional_index(doc: dict, query: dict, prefix: str) -> str:
    # The `$` positional operator names the first element of the array at `prefix` that
    # satisfies the query's conditions on that array (update operators, "$ (update)").
    conds = {k: v for k, v in query.items() if k == prefix or k.startswith(prefix + ".")}
    array = get_path(doc, prefix)
    if isinstance(array, list) and conds:
        for i, item in enumerate(array):
            probe = {"v": [item]}
            renamed = {"v" + k[len(prefix):]: v for k, v in conds.items()}
            if filter_applies(renamed, probe):
                return str(i)
    raise error(2, "The positional operator did not find the match needed from the query.")


def _resolve_positional(doc: dict, query: dict, update: dict) -> dict:
    out: dict = {}
    for op, fields in update.items():
        if not isinstance(fields, dict):
            out[op] = fields
            continue
        new_fields = {}
        for path, value in fields.items():
            parts = path.split(".")
            if "$" in parts:
                at = parts.index("$")
                parts[at] = _positional_index(doc, query, ".".join(parts[:at]))
            new_fields[".".join(parts)] = value
        out[op] = new_fields
    return out


def _resolve_array_filters(doc: dict, update: dict, array_filters: list[dict]) -> dict:
    filters: dict[str, dict] = {}
    for f in array_filters:
        idents = {k.split(".")[0] for k in f}
        if len(idents) != 1:
            raise error(9, "Error parsing array filter :: caused by :: Expected a single "
                           "top-level field name, found " + ", ".join(sorted(idents)))
        filters[idents.pop()] = f
    out: dict = {}
    for op, fields in update.items():
        new_fields = {}
        for path, value in fields.items():
            if "$[" not in path:
                new_fields[path] = value
                continue
            for concrete in _array_filter_paths(doc, path.split("."), filters):
                new_fields[".".join(concrete)] = value
        if new_fields:
            out[op] = new_fields
    return out


def is_replacement(update: Any) -> bool:
    """Whether an update is a whole replacement document (no operators, not a pipeline)."""
    return isinstance(update, dict) and not any(k.startswith("$") for k in update)


def validate_update(update: Any) -> None:
    """FailedToParse (9) for unknown modifiers; BadValue for non-documents."""
    if isinstance(update, list):
        return
    if not isinstance(update, dict):
        raise error(14, "Update argument must be either an object or an array")
    ops = [k for k in update if k.startswith("$")]
    if ops and len(ops) != len(update):
        raise error(9, "Unknown modifier: mixing operators and fields in an update")
    for op in ops:
        if op not in UPDATE_OPERATORS:
            raise error(9, f"Unknown modifier: {op}. Expected a valid update modifier or "
                           "pipeline-style update specified as an array")
        if not isinstance(update[op], dict):
            raise error(9, f"Modifiers operate on fields but we found type "
                           f"{type(update[op]).__name__} instead.")


def apply_update(doc: dict, query: dict, update: Any, *, inserting: bool,
                 array_filters: list | None = None) -> dict:
    """Return the updated copy of ``doc`` (operator update, replacement or pipeline)."""
    new = clone(doc)
    try:
        if isinstance(update, list):
            new = apply_update_pipeline(new, update)
            if "_id" in doc and "_id" not in new:  # a pipeline that drops _id keeps the old one
                new = {"_id": doc["_id"], **new}
        elif any(k.startswith("$") for k in update):
            if array_filters or any("$[" in path for fields in update.values()
                                    if isinstance(fields, dict) for path in fields):
                update = _resolve_array_filters(new, update, array_filters or [])
                if not update:  # no array element matched: nothing to change
                    return id_first(new)
            if not inserting and any("$" in path.split(".") for fields in update.values()
                                     if isinstance(fields, dict) for path in fields):
                update = _resolve_positional(new, query, update)
            _SCRATCH._apply_update_document(new, query, update, inserting)
        else:
            new = {"_id": doc["_id"]} if "_id" in doc else {}
            new.update(clone(update))
    except Exception as exc:  # noqa: BLE001 - every semantic failure becomes a server error
        raise translate(exc) from exc
    if "_id" in doc and ("_id" not in new or bson.encode({"v": new["_id"]}) != bson.encode(
            {"v": doc["_id"]})):
        raise error(66, "Performing an update on the path '_id' would modify the immutable "
                        "field '_id'")
    return id_first(new)


def upsert_seed(query: dict, update: Any) -> dict:
    """The document an upsert starts from: the query's equality fields, and an ``_id``."""
    try:
        seed, _ = _SCRATCH._discard_operators(_SCRATCH._expand_dots(dict(query)))
    except Exception as exc:  # noqa: BLE001
        raise translate(exc) from exc
    seed = dict(seed or {})
    if "_id" not in seed:
        replacement = isinstance(update, dict) and not any(k.startswith("$") for k in update)
        set_id = update.get("$set", {}).get("_id") if isinstance(update, dict) else None
        if replacement and "_id" in update:
            seed["_id"] = update["_id"]
        elif set_id is not None:
            seed["_id"] = set_id
        else:
            seed["_id"] = ObjectId()
    return id_first(seed)


def _write_error(index: int, exc: CommandError) -> dict:
    doc = {"index": index, "code": exc.code}
    for key in ("keyPattern", "keyValue", "errInfo"):
        if key in exc.extra:
            doc[key] = exc.extra[key]
    doc["errmsg"] = exc.errmsg
    return doc


def _write_reply(n: int, errors: list[dict]) -> dict:
    """An insert or delete reply: the count, then writeErrors only when there are some."""
    reply: dict = {"n": n}
    if errors:
        reply["writeErrors"] = errors
    reply["ok"] = 1.0
    return reply


def check_id(value: Any) -> None:
    """Refuse an ``_id`` the server will not store: an array, or a document with a $-prefixed key."""
    if isinstance(value, list):
        raise error(2, "can't use an array for _id")
    if isinstance(value, dict):
        for key in value:
            if key.startswith("$"):
                raise error(52, f"_id fields may not contain '$'-prefixed fields: {key} is not "
                                "valid for storage.")


def check_storable_names(doc: dict, *, inserting: bool, path: str = "") -> None:
    """A pre-5.0 server's storage validation: no $-prefixed field name at any depth, except a
    DBRef's $ref/$id/$db (5.0 allowed them: "Field Names with Periods and Dollar Signs")."""
    for key, value in doc.items():
        if key.startswith("$") and key not in ("$ref", "$id", "$db"):
            if inserting and not path:
                raise error(2, f"Document can't have $ prefixed field names: {key}")
            raise error(52, f"The dollar ($) prefixed field '{key}' in '{path}{key}' is not valid for storage.")
        if isinstance(value, dict):
            check_storable_names(value, inserting=inserting, path=f"{path}{key}.")


def _statements(cmd: dict, command: str, field: str) -> tuple[list, bool]:
    """A write command's statements (a required array) and whether they stop at the first error."""
    statements = cmd.get(field)
    if not isinstance(statements, list):
        raise error(9, f"BSON field '{command}.{field}' is missing but a required field")
    return statements, cmd.get("ordered", True)


def _apply_each(statements: list, ordered: bool,
                apply: Callable[[Any], Any]) -> tuple[list[tuple[int, Any]], list[dict]]:
    """Apply each statement in turn: (index, result) of those that succeeded and a writeError for
    each that failed; an ordered write stops at its first failure."""
    done: list[tuple[int, Any]] = []
    errors: list[dict] = []
    for i, statement in enumerate(statements):
        try:
            done.append((i, apply(statement)))
        except CommandError as exc:
            errors.append(_write_error(i, exc))
            if ordered:
                break
    return done, errors


def insert(catalog: Catalog, db: str, cmd: dict, max_bson_size: int) -> dict:
    """The insert command: ordered or not, one writeError per failed document."""
    docs, ordered = _statements(cmd, "insert", "documents")
    coll = catalog.ensure(db, cmd["insert"])
    bypass = bool(cmd.get("bypassDocumentValidation"))

    def insert_one(doc: Any) -> None:
        if not isinstance(doc, dict):
            raise error(14, "document must be an object")
        if "_id" in doc:
            check_id(doc["_id"])
            stored = id_first(clone(doc))
        else:
            stored = {"_id": ObjectId()}
            stored.update(clone(doc))
        if catalog.dollar_names_refused:
            check_storable_names(stored, inserting=True)
        check_document(coll, stored, None, bypass)
        coll.insert(stored, bson_size(stored, max_bson_size))

    done, errors = _apply_each(docs, ordered, insert_one)
    return _write_reply(len(done), errors)


def _update_one_statement(coll: Collection, stmt: dict, max_bson_size: int, bypass: bool = False, *,
                          dollar_names_refused: bool = False) -> tuple:
    query = stmt.get("q", {}) or {}
    update = stmt.get("u")
    validate_update(update)
    multi = bool(stmt.get("multi", False))
    if multi and isinstance(update, dict) and update and not any(k.startswith("$") for k in update):
        raise error(9, "multi update is not supported for replacement-style update")
    array_filters = stmt.get("arrayFilters")
    try:
        matched = coll.match(query, 0 if multi or stmt.get("sort") else 1)
    except Exception as exc:  # noqa: BLE001
        raise translate(exc) from exc
    if stmt.get("sort") and matched:
        matched = sort_docs(matched, stmt["sort"])
    if not multi:
        matched = matched[:1]
    n = modified = 0
    for doc in matched:
        new = apply_update(doc, query, update, inserting=False, array_filters=array_filters)
        n += 1
        if dollar_names_refused:
            check_storable_names(new, inserting=False)
        if bson.encode(new) != bson.encode(doc):
            check_document(coll, new, doc, bypass)
            coll.replace(doc, new, bson_size(new, max_bson_size), replacement=is_replacement(update))
            modified += 1
    if n == 0 and stmt.get("upsert"):
        seed = upsert_seed(query, update)
        new = apply_update(seed, query, update, inserting=True, array_filters=array_filters)
        if "_id" not in new:
            new = id_first({"_id": seed["_id"], **new})
        check_document(coll, new, None, bypass)
        coll.insert(new, bson_size(new, max_bson_size))
        return 1, 0, (new["_id"],)  # a tuple: an upserted _id may itself be null
    return n, modified, None


def update(catalog: Catalog, db: str, cmd: dict, max_bson_size: int) -> dict:
    """The update command: n, nModified, upserted [{index, _id}], writeErrors."""
    stmts, ordered = _statements(cmd, "update", "updates")
    coll = catalog.ensure(db, cmd["update"])
    bypass = bool(cmd.get("bypassDocumentValidation"))

    def update_one(stmt: Any) -> tuple:
        with collation(stmt.get("collation") if isinstance(stmt, dict) else None):
            return _update_one_statement(coll, stmt, max_bson_size, bypass,
                                         dollar_names_refused=catalog.dollar_names_refused)

    done, errors = _apply_each(stmts, ordered, update_one)
    reply: dict = {"n": sum(n for _i, (n, _m, _id) in done), "nModified": sum(m for _i, (_n, m, _id) in done)}
    upserted = [{"index": i, "_id": sid[0]} for i, (_n, _m, sid) in done if sid is not None]
    if upserted:
        reply["upserted"] = upserted
    if errors:
        reply["writeErrors"] = errors
    reply["ok"] = 1.0
    return reply


def delete(catalog: Catalog, db: str, cmd: dict) -> dict:
    """The delete command: each statement's ``limit`` is 0 (all) or 1."""
    stmts, ordered = _statements(cmd, "delete", "deletes")
    coll = catalog.get(db, cmd["delete"])
    if coll is not None and coll.is_view:
        raise error(166, f"Namespace {coll.ns} is a view, not a collection")

    def delete_matching(stmt: Any) -> int:
        limit = stmt.get("limit", 0)
        if limit not in (0, 1):
            raise error(9, "The limit field in delete objects must be 0 or 1. Got " + str(limit))
        validate_filter(stmt.get("q"))
        if coll is None:
            return 0
        try:
            with collation(stmt.get("collation")):
                matched = coll.match(stmt.get("q", {}) or {}, limit)
        except CommandError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise translate(exc) from exc
        if limit == 1:
            matched = matched[:1]
        for doc in matched:
            coll.delete(doc)
        return len(matched)

    done, errors = _apply_each(stmts, ordered, delete_matching)
    return _write_reply(sum(n for _i, n in done), errors)


def find_and_modify(catalog: Catalog, db: str, cmd: dict, max_bson_size: int) -> dict:
    """findAndModify: lastErrorObject {n, updatedExisting, upserted} and value."""
    name = cmd.get("findAndModify", cmd.get("findandmodify"))
    query = cmd.get("query") or {}
    remove = bool(cmd.get("remove", False))
    upd = cmd.get("update")
    if remove and upd is not None:
        raise error(9, "Cannot specify both an update and remove=true")
    if not remove and upd is None:
        raise error(9, "Either an update or remove=true must be specified")
    if remove and cmd.get("new"):
        raise error(9, "Cannot specify both new=true and remove=true; 'remove' always returns "
                       "the deleted document")
    if remove and cmd.get("upsert"):
        raise error(9, "Cannot specify both upsert=true and remove=true")
    if not remove:
        validate_update(upd)
    coll = catalog.get(db, name) if remove else catalog.ensure(db, name)
    if coll is not None and coll.is_view:
        raise error(166, f"Namespace {coll.ns} is a view, not a collection")
    fields = cmd.get("fields")
    matched: list = []
    if coll is not None:
        try:
            matched = coll.match(query, 0 if cmd.get("sort") else 1)
        except Exception as exc:  # noqa: BLE001
            raise translate(exc) from exc
        if cmd.get("sort") and matched:
            matched = sort_docs(matched, cmd["sort"])
    target = matched[0] if matched else None
    if remove:
        if target is None:
            return {"lastErrorObject": {"n": 0}, "value": None, "ok": 1.0}
        coll.delete(target)
        return {"lastErrorObject": {"n": 1}, "value": project(target, fields), "ok": 1.0}
    if target is not None:
        new = apply_update(target, query, upd, inserting=False,
                           array_filters=cmd.get("arrayFilters"))
        if catalog.dollar_names_refused:
            check_storable_names(new, inserting=False)
        if bson.encode(new) != bson.encode(target):
            check_document(coll, new, target, bool(cmd.get("bypassDocumentValidation")))
            coll.replace(target, new, bson_size(new, max_bson_size), replacement=is_replacement(upd))
        value = new if cmd.get("new") else target
        return {"lastErrorObject": {"n": 1, "updatedExisting": True},
                "value": project(value, fields), "ok": 1.0}
    if not cmd.get("upsert"):
        return {"lastErrorObject": {"n": 0, "updatedExisting": False}, "value": None, "ok": 1.0}
    seed = upsert_seed(query, upd)
    new = apply_update(seed, query, upd, inserting=True, array_filters=cmd.get("arrayFilters"))
    if "_id" not in new:
        new = id_first({"_id": seed["_id"], **new})
    check_document(coll, new, None, bool(cmd.get("bypassDocumentValidation")))
    coll.insert(new, bson_size(new, max_bson_size))
    return {"lastErrorObject": {"n": 1, "updatedExisting": False, "upserted": new["_id"]},
            "value": project(new, fields) if cmd.get("new") else None, "ok": 1.0}
