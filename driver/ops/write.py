"""Build insert/update/delete command bodies and validate update and replacement documents (CRUD spec)."""

from __future__ import annotations

import struct
import time
from collections import deque
from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Any, Callable

import bson
from bson import ObjectId

from driver.errors import ConfigurationError
from driver.ops._util import (
    array_filters_list,
    non_empty_concern,
    optional_bool,
    optional_mapping,
    put,
    require_mapping,
    require_string,
)
from driver.ops.find import hint_value
from driver.ops._util import key_document
from driver.wire.encode import COALESCE_BELOW, EncodedDocument, EncodedDocuments, SplicedDocument, encode_bson


def validate_update(update: Any, *, where: str = "update") -> None:
    """An update is a non-empty document whose keys all start with "$", or a pipeline (a list).

    CRUD spec, "Update vs. replacement document validation": drivers MUST raise a client error
    when an update document's first key does not start with "$". We check every key so the
    message can name the offending one ({"$set": ..., "x": 1} is also rejected).
    """
    if isinstance(update, (list, tuple)):
        for i, stage in enumerate(update):
            if not isinstance(stage, Mapping):
                raise ConfigurationError(f"{where}: pipeline stage {i} must be a document, not {stage!r}")
        return
    if not isinstance(update, Mapping):
        raise ConfigurationError(f"{where} must be a document of update operators or a pipeline, not {update!r}")
    if not update:
        raise ConfigurationError(f"{where} must not be empty: give update operators such as {{'$set': {{...}}}}")
    for key in update:
        if not str(key).startswith("$"):
            raise ConfigurationError(
                f"{where} must only contain update operators (keys starting with '$'); "
                f"found field {key!r}. To replace the whole document use a replace operation."
            )


def validate_replacement(replacement: Any, *, where: str = "replacement") -> None:
    """A replacement is a document without top-level "$" keys (CRUD spec, same section)."""
    if not isinstance(replacement, Mapping):
        raise ConfigurationError(f"{where} must be a document, not {replacement!r}")
    for key in replacement:
        if str(key).startswith("$"):
            raise ConfigurationError(
                f"{where} must not contain update operators; found key {key!r}. "
                "To modify fields use an update operation."
            )


def with_id(document: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """Return (document with `_id` first, its _id); a missing _id gets a new ObjectId.

    CRUD spec, "insert": drivers generate _id client-side so insertedId(s) can be reported;
    `_id` goes first as the server would put it there anyway. The input is not mutated.
    """
    require_mapping(document, "document")
    _id = document.get("_id", _MISSING)
    if _id is _MISSING:
        _id = ObjectId()
    elif next(iter(document)) == "_id":
        return dict(document), _id
    # {"_id": x, **doc}: the key keeps its first position even when doc holds _id later.
    return {"_id": _id, **document}, _id


def encode_insert(document: Mapping[str, Any], new_id: Callable[[], Any] = ObjectId) -> tuple[EncodedDocument, Any]:
    """BSON of a document to insert, `_id` first, and that _id (`new_id()` when it has none).

    The same bytes and id as `bson.encode(with_id(document)[0])`, without copying the mapping:
    bson's encoder already writes a top-level `_id` first, and a generated ObjectId element goes
    in front of the encoded bytes (see _with_id_elements). A {"_id": ..., **document} copy of a
    document with 100k keys costs more than encoding it. The input is not mutated.
    """
    if type(document) is not dict:
        require_mapping(document, "document")
    _id = document.get("_id", _MISSING)
    encoded = encode_bson(document, False, _ENCODE_OPTIONS)
    if _id is not _MISSING:
        return encoded, _id
    _id = new_id()
    return _with_id_elements([encoded], [_id.binary])[0], _id


def encode_inserts(documents: Sequence[Mapping[str, Any]], name: Callable[[int], str] = "documents[{}]".format,
                   ) -> tuple[list[EncodedDocument], list[Any]]:
    """encode_insert for each of `documents`: their BSON (_id first) and their _ids, new ones
    from one new_object_ids call, in document order.

    Bulk inserts spend most of their client time here, so each step is one pass at C speed
    (comprehensions over the whole list) instead of a Python call per document. A non-document
    raises ConfigurationError naming `name(index)`. The inputs are not mutated.
    """
    if not all(type(d) is dict for d in documents):  # one scan; plain dicts need no further check
        for k, d in enumerate(documents):
            require_mapping(d, f"{name(k)}: document")
    encoded = [encode_bson(d, False, _ENCODE_OPTIONS) for d in documents]
    missing = [k for k, d in enumerate(documents) if "_id" not in d]
    raws, new_ids = new_object_ids(len(missing))
    spliced = _with_id_elements(encoded if len(missing) == len(encoded) else [encoded[k] for k in missing], raws)
    if len(missing) == len(documents):  # none had an _id (the common case): nothing to merge
        return spliced, new_ids
    ids = [d.get("_id") for d in documents]
    for k, doc, _id in zip(missing, spliced, new_ids):
        encoded[k], ids[k] = doc, _id
    return encoded, ids


def _with_id_elements(encoded: list[bytes], raw_ids: list[bytes]) -> list[EncodedDocument]:
    """Each of `encoded` (BSON documents) with the ObjectId element `_id: raw_ids[i]` first.

    The new length and element go in front of the encoder's output minus its length prefix:
    joined (two short copies) for a small document, and for a large one kept as a
    SplicedDocument (the new head, then a view of the encoder's output) that the connection
    sends without copying. One comprehension: a call per document would cost as much as the work.
    """
    pack, head, size, small = _NEW_HEAD.pack, _OID_ELEMENT_HEAD, _OID_ELEMENT_SIZE, COALESCE_BELOW
    return [pack(len(e) + size, head, raw) + e[4:] if len(e) < small
            else SplicedDocument(pack(len(e) + size, head, raw), memoryview(e)[4:])
            for e, raw in zip(encoded, raw_ids)]


_ENCODE_OPTIONS = bson.DEFAULT_CODEC_OPTIONS
_OID_ELEMENT_HEAD = b"\x07_id\x00"  # BSON type 0x07 (ObjectId), key "_id"
_OID_ELEMENT_SIZE = len(_OID_ELEMENT_HEAD) + 12
# A document's new start: int32 total length, then the element 0x07 "_id\0" + the 12 ObjectId bytes.
_NEW_HEAD = struct.Struct("<i5s12s")
_MISSING = object()
_TIMESTAMP = struct.Struct(">I")
_COUNTER_MASK = 0xFFFFFF
# Batched generation reserves a range of bson's own ObjectId counter, so ids stay unique with
# every ObjectId() made elsewhere in the process. It needs these (undocumented) class
# attributes; without them we fall back to one ObjectId() per id.
_BATCH_IDS = all(hasattr(ObjectId, a) for a in ("_inc", "_inc_lock", "_random"))
# ...and each id's 12 bytes go into ObjectId's one slot directly: ObjectId(raw) re-validates bytes
# made right here (type checks, length) at ~0.15 us a document.
_OID_SLOT = getattr(ObjectId, "_ObjectId__id", None)


def new_object_ids(n: int) -> tuple[list[bytes], list[ObjectId]]:
    """`n` new ObjectIds and the 12 bytes of each, as ObjectId() would make them (ObjectId spec:
    4-byte seconds, 5-byte per-process random, 3-byte counter), with one lock and one clock read.

    ObjectId() costs ~5 us each (lock, clock, pid check, packing); a bulk insert of 100k
    documents without _id spent most of its client time there. The bytes come back too because
    ObjectId.binary is a Python property.
    """
    if n <= 0:
        return [], []
    if not _BATCH_IDS:
        ids = [ObjectId() for _ in range(n)]
        return [oid.binary for oid in ids], ids
    with ObjectId._inc_lock:
        start = ObjectId._inc
        ObjectId._inc = (start + n) % (_COUNTER_MASK + 1)
    prefix = _TIMESTAMP.pack(int(time.time()) & 0xFFFFFFFF) + ObjectId._random()
    raws = [prefix + (k & _COUNTER_MASK).to_bytes(3, "big") for k in range(start, start + n)]
    if _OID_SLOT is None:
        return raws, [ObjectId(raw) for raw in raws]
    ids = list(map(ObjectId.__new__, repeat(ObjectId, n)))
    deque(map(_OID_SLOT.__set__, ids, raws), maxlen=0)  # fill each one's slot, at C speed
    return raws, ids


def update_statement(
    filter: Mapping[str, Any],
    update: Any,
    *,
    multi: bool = False,
    replacement: bool = False,
    upsert: bool | None = None,
    collation: Mapping[str, Any] | None = None,
    array_filters: Sequence[Mapping[str, Any]] | None = None,
    hint: Any = None,
    sort: Any = None,
) -> dict[str, Any]:
    """One element of the update command's `updates` array, validated.

    `sort` is only meaningful for single-document updates (CRUD spec, updateOne/replaceOne
    "sort", server 8.0+); a replacement cannot be multi or carry arrayFilters.
    """
    if replacement:
        validate_replacement(update)
        if multi:
            raise ConfigurationError("a replacement cannot apply to many documents (multi=True)")
        if array_filters is not None:
            raise ConfigurationError("array_filters is not allowed with a replacement")
    else:
        validate_update(update)
    if sort is not None and multi:
        raise ConfigurationError("sort is only allowed when updating one document")
    stmt: dict[str, Any] = {"q": dict(require_mapping(filter, "filter")), "u": update, "multi": bool(multi)}
    put(stmt, "upsert", optional_bool(upsert, "upsert"))
    put(stmt, "collation", optional_mapping(collation, "collation"))
    put(stmt, "arrayFilters", array_filters_list(array_filters))
    put(stmt, "hint", hint_value(hint))
    put(stmt, "sort", key_document(sort, "sort") if sort is not None else None)
    return stmt


def delete_statement(
    filter: Mapping[str, Any],
    *,
    multi: bool = False,
    collation: Mapping[str, Any] | None = None,
    hint: Any = None,
) -> dict[str, Any]:
    """One element of the delete command's `deletes` array: limit 0 = all matches, 1 = one."""
    stmt: dict[str, Any] = {"q": dict(require_mapping(filter, "filter")), "limit": 0 if multi else 1}
    put(stmt, "collation", optional_mapping(collation, "collation"))
    put(stmt, "hint", hint_value(hint))
    return stmt


def _write_command(
    name: str,
    collection: str,
    field: str,
    statements: Sequence[Mapping[str, Any]],
    *,
    ordered: bool,
    write_concern: Mapping[str, Any] | None,
    comment: Any,
    let: Mapping[str, Any] | None = None,
    bypass_document_validation: bool | None = None,
) -> dict[str, Any]:
    cmd: dict[str, Any] = {
        name: require_string(collection, "collection name"),
        # Pre-encoded insert documents stay encoded: they go out as an OP_MSG document sequence.
        field: statements if type(statements) is EncodedDocuments else list(statements),
        "ordered": bool(ordered),
    }
    # Unset options are not sent; each is checked only when given (one write per operation).
    if write_concern is not None:
        put(cmd, "writeConcern", non_empty_concern(write_concern, "write_concern"))
    if bypass_document_validation is not None:
        cmd["bypassDocumentValidation"] = optional_bool(bypass_document_validation, "bypass_document_validation")
    if let is not None:
        cmd["let"] = require_mapping(let, "let")
    if comment is not None:
        cmd["comment"] = comment
    return cmd


def insert_command(
    collection: str,
    documents: Sequence[Mapping[str, Any]],
    *,
    ordered: bool = True,
    write_concern: Mapping[str, Any] | None = None,
    bypass_document_validation: bool | None = None,
    comment: Any = None,
) -> dict[str, Any]:
    """The `insert` command body (documents as given: call with_id first to get insertedIds)."""
    if not documents:
        raise ConfigurationError("insert needs at least one document")
    return _write_command(
        "insert", collection, "documents", documents, ordered=ordered, write_concern=write_concern,
        comment=comment, bypass_document_validation=bypass_document_validation,
    )


def update_command(
    collection: str,
    updates: Sequence[Mapping[str, Any]],
    *,
    ordered: bool = True,
    write_concern: Mapping[str, Any] | None = None,
    bypass_document_validation: bool | None = None,
    let: Mapping[str, Any] | None = None,
    comment: Any = None,
) -> dict[str, Any]:
    """The `update` command body from update_statement() elements."""
    if not updates:
        raise ConfigurationError("update needs at least one statement")
    return _write_command(
        "update", collection, "updates", updates, ordered=ordered, write_concern=write_concern,
        comment=comment, let=let, bypass_document_validation=bypass_document_validation,
    )


def delete_command(
    collection: str,
    deletes: Sequence[Mapping[str, Any]],
    *,
    ordered: bool = True,
    write_concern: Mapping[str, Any] | None = None,
    let: Mapping[str, Any] | None = None,
    comment: Any = None,
) -> dict[str, Any]:
    """The `delete` command body from delete_statement() elements."""
    if not deletes:
        raise ConfigurationError("delete needs at least one statement")
    return _write_command(
        "delete", collection, "deletes", deletes, ordered=ordered, write_concern=write_concern,
        comment=comment, let=let,
    )
