"""The 8.0 `bulkWrite` command (client bulk write): models, ops/nsInfo documents, batch splitting, result merging. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import bson
from bson import ObjectId

from driver.errors import ConfigurationError, DocumentTooLarge, DriverError

# Bulk write spec, "Total Message Size": the command document, ops and nsInfo together stay within
# maxMessageSizeBytes - 1000 (room for the OP_MSG header, lsid, txnNumber, $clusterTime, ...).
MESSAGE_OVERHEAD_BYTES = 1000
# Bulk write spec, "Size Limits": command documents may exceed maxBsonObjectSize by 16 KiB.
COMMAND_HEADROOM_BYTES = 16 * 1024


# ----- write models (bulk write spec, "Write Models"): each carries its namespace "db.coll" -------
@dataclass(frozen=True)
class ClientInsertOne:
    namespace: str
    document: Mapping[str, Any]


@dataclass(frozen=True)
class ClientUpdateOne:
    namespace: str
    filter: Mapping[str, Any]
    update: Any
    array_filters: Sequence[Mapping[str, Any]] | None = None
    collation: Mapping[str, Any] | None = None
    hint: Any = None
    upsert: bool | None = None
    sort: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ClientUpdateMany:
    namespace: str
    filter: Mapping[str, Any]
    update: Any
    array_filters: Sequence[Mapping[str, Any]] | None = None
    collation: Mapping[str, Any] | None = None
    hint: Any = None
    upsert: bool | None = None


@dataclass(frozen=True)
class ClientReplaceOne:
    namespace: str
    filter: Mapping[str, Any]
    replacement: Mapping[str, Any]
    collation: Mapping[str, Any] | None = None
    hint: Any = None
    upsert: bool | None = None
    sort: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ClientDeleteOne:
    namespace: str
    filter: Mapping[str, Any]
    collation: Mapping[str, Any] | None = None
    hint: Any = None


@dataclass(frozen=True)
class ClientDeleteMany:
    namespace: str
    filter: Mapping[str, Any]
    collation: Mapping[str, Any] | None = None
    hint: Any = None


MODELS = (ClientInsertOne, ClientUpdateOne, ClientUpdateMany, ClientReplaceOne, ClientDeleteOne, ClientDeleteMany)
_KIND = {ClientInsertOne: "insert", ClientUpdateOne: "update", ClientUpdateMany: "update",
         ClientReplaceOne: "update", ClientDeleteOne: "delete", ClientDeleteMany: "delete"}


def model_kind(model: Any) -> str:
    """"insert", "update" (also replace) or "delete": which result an index's reply becomes."""
    return _KIND[type(model)]


def is_multi(model: Any) -> bool:
    """updateMany/deleteMany: a batch holding one is not a retryable write (retryable-writes spec)."""
    return isinstance(model, (ClientUpdateMany, ClientDeleteMany))


def _check_update(update: Any, where: str) -> None:
    # Bulk write spec, "Update vs. replace document validation".
    if isinstance(update, Mapping):
        if not update or not str(next(iter(update))).startswith("$"):
            raise ConfigurationError(f"{where}: an update document must be non-empty and start with an "
                                     "update operator such as $set (use a replace model to replace documents)")
    elif not isinstance(update, (list, tuple)):
        raise ConfigurationError(f"{where}: an update must be a document or a pipeline (a list of stages)")


def _check_replacement(replacement: Any, where: str) -> None:
    if not isinstance(replacement, Mapping):
        raise ConfigurationError(f"{where}: a replacement must be a document")
    if replacement and str(next(iter(replacement))).startswith("$"):
        raise ConfigurationError(f"{where}: a replacement document must not contain update operators "
                                 "such as $set (use an update model instead)")


def with_id(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document with an _id first: the caller's, or a new ObjectId (bulk write spec, "Insert")."""
    if "_id" in document:
        return dict(document)
    return {"_id": ObjectId(), **document}


def _put(doc: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:  # options are "sent only if the caller explicitly provides a value"
        doc[key] = value


def op_document(model: Any, ns_index: int, where: str) -> dict[str, Any]:
    """One entry of `ops` (bulk write spec, "Operations"); the first key names the kind and nsInfo index."""
    if isinstance(model, ClientInsertOne):
        if not isinstance(model.document, Mapping):
            raise ConfigurationError(f"{where}: the document to insert must be a document")
        return {"insert": ns_index, "document": with_id(model.document)}
    if isinstance(model, (ClientUpdateOne, ClientUpdateMany, ClientReplaceOne)):
        replace = isinstance(model, ClientReplaceOne)
        mods = model.replacement if replace else model.update
        (_check_replacement if replace else _check_update)(mods, where)
        doc: dict[str, Any] = {"update": ns_index, "filter": model.filter,
                               "updateMods": list(mods) if isinstance(mods, tuple) else mods,
                               "multi": isinstance(model, ClientUpdateMany)}
        _put(doc, "upsert", model.upsert)
        if not replace:
            _put(doc, "arrayFilters", model.array_filters)
        _put(doc, "hint", model.hint)
        _put(doc, "collation", model.collation)
        _put(doc, "sort", getattr(model, "sort", None))
        return doc
    if isinstance(model, (ClientDeleteOne, ClientDeleteMany)):
        doc = {"delete": ns_index, "filter": model.filter, "multi": isinstance(model, ClientDeleteMany)}
        _put(doc, "hint", model.hint)
        _put(doc, "collation", model.collation)
        return doc
    raise ConfigurationError(f"{where}: {model!r} is not a client bulk write model "
                             f"(expected one of {', '.join(m.__name__ for m in MODELS)})")


def check_namespace(namespace: Any, where: str) -> str:
    if not isinstance(namespace, str) or "." not in namespace or namespace.startswith("."):
        raise ConfigurationError(f"{where}: namespace {namespace!r} must be 'database.collection'")
    return namespace


# ----- the command and its batches ---------------------------------------------------------------
def command_body(*, ordered: bool, verbose_results: bool | None, bypass_document_validation: bool | None,
                 comment: Any, let: Mapping[str, Any] | None, write_concern: Mapping[str, Any] | None,
                 raw_data: bool | None = None) -> dict[str, Any]:
    """The `bulkWrite` command without ops/nsInfo (they travel as document sequences).

    Bulk write spec: errorsOnly is the inverse of verboseResults (true when not given); ordered is
    always sent; bypassDocumentValidation is sent whenever the caller gave it, true or false."""
    body: dict[str, Any] = {"bulkWrite": 1, "errorsOnly": not verbose_results, "ordered": bool(ordered)}
    _put(body, "bypassDocumentValidation", bypass_document_validation)
    _put(body, "comment", comment)
    _put(body, "let", let)
    _put(body, "rawData", raw_data)
    if write_concern:
        body["writeConcern"] = dict(write_concern)
    return body


def check_unacknowledged(*, acknowledged: bool, ordered: bool, verbose_results: bool | None) -> None:
    """Bulk write spec (unified tests "Requesting unacknowledged write with ..."): w:0 allows neither."""
    if acknowledged:
        return
    if verbose_results:
        raise ConfigurationError("Cannot request unacknowledged write concern and verbose results; "
                                 "drop verbose_results or use an acknowledged write concern")
    if ordered:
        raise ConfigurationError("Cannot request unacknowledged write concern and ordered writes; "
                                 "pass ordered=False or use an acknowledged write concern")


@dataclass
class Batch:
    """One `bulkWrite` command's worth: ops with batch-local nsInfo indexes, and the models' positions."""

    ops: list[dict[str, Any]] = field(default_factory=list)
    ns_info: list[dict[str, str]] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)   # position in the caller's list of each op

    @property
    def retryable(self) -> bool:
        """No multi-document op in this batch (retryable-writes spec, "Supported Write Operations")."""
        return not any(op.get("multi") for op in self.ops)


def plan_batches(models: Sequence[Any], *, max_write_batch_size: int, max_message_size_bytes: int,
                 max_bson_object_size: int, command_size: int, acknowledged: bool = True) -> list[Batch]:
    """Split the models into batches (bulk write spec, "Command Batching").

    A batch holds at most maxWriteBatchSize ops, and the ops plus nsInfo sequences fit in
    maxMessageSizeBytes - (1000 + the command document's size); nsInfo lists only the batch's
    namespaces, each once. An op that cannot fit even alone is an error naming it."""
    if not models:
        raise ConfigurationError("client bulk_write needs at least one write model")
    budget = max_message_size_bytes - (MESSAGE_OVERHEAD_BYTES + command_size)
    batches: list[Batch] = []
    batch, ns_index, size = Batch(), {}, 0
    for position, model in enumerate(models):
        where = f"write model #{position}"
        namespace = check_namespace(getattr(model, "namespace", None), where)
        op = op_document(model, 0, where)  # the nsInfo index is set below, once the batch is known
        kind = next(iter(op))
        op_size = len(bson.encode(op))  # an Int32 index: its size does not depend on the value
        if not acknowledged:
            _check_unacknowledged_sizes(model, op_size, max_bson_object_size, where)
        ns_size = 0 if namespace in ns_index else len(bson.encode({"ns": namespace}))
        if batch.ops and (len(batch.ops) >= max_write_batch_size or size + op_size + ns_size > budget):
            batches.append(batch)
            batch, ns_index, size = Batch(), {}, 0
            ns_size = len(bson.encode({"ns": namespace}))
        if op_size + ns_size > budget:
            raise DocumentTooLarge(f"{where} is {op_size} bytes, larger than the {budget} bytes one bulkWrite "
                                   f"message leaves for operations (maxMessageSizeBytes {max_message_size_bytes})")
        if namespace not in ns_index:
            ns_index[namespace] = len(ns_index)
            batch.ns_info.append({"ns": namespace})
        op[kind] = ns_index[namespace]
        batch.ops.append(op)
        batch.indexes.append(position)
        size += op_size + ns_size
    batches.append(batch)
    return batches


def _check_unacknowledged_sizes(model: Any, op_size: int, max_bson: int, where: str) -> None:
    # Bulk write spec, "Size Limits": with w:0 the driver checks what the server would refuse silently.
    document = getattr(model, "document", None) if isinstance(model, ClientInsertOne) else \
        getattr(model, "replacement", None)
    if document is not None and len(bson.encode(document)) > max_bson:
        raise DocumentTooLarge(f"{where}: the document is larger than maxBsonObjectSize ({max_bson} bytes)")
    if op_size > max_bson + COMMAND_HEADROOM_BYTES:
        raise DocumentTooLarge(f"{where}: the operation is larger than maxBsonObjectSize + 16 KiB")


# ----- results (bulk write spec, "Result", "Handling the bulkWrite Server Response") -------------
@dataclass
class ClientBulkWriteResult:
    """Summary counts, and per-index results when verbose results were asked for."""

    acknowledged: bool = True
    has_verbose_results: bool = False
    inserted_count: int = 0
    upserted_count: int = 0
    matched_count: int = 0
    modified_count: int = 0
    deleted_count: int = 0
    insert_results: dict[int, dict[str, Any]] = field(default_factory=dict)
    update_results: dict[int, dict[str, Any]] = field(default_factory=dict)
    delete_results: dict[int, dict[str, Any]] = field(default_factory=dict)


class ClientBulkWriteError(DriverError):
    """A client bulk write failed in part or whole (bulk write spec, "Exception").

    `error` is the top-level error (network, command, getMore) if any; `write_errors` maps the
    caller's model index to the server's error document; `write_concern_errors` lists every
    batch's; `partial_result` is what was written before, or None when nothing is known written."""

    def __init__(self, message: str, *, error: BaseException | None, write_errors: Mapping[int, Mapping[str, Any]],
                 write_concern_errors: Sequence[Mapping[str, Any]], partial_result: ClientBulkWriteResult | None):
        labels = getattr(error, "error_labels", ()) if error is not None else ()
        super().__init__(message, labels)
        self.error = error
        self.write_errors = dict(write_errors)
        self.write_concern_errors = list(write_concern_errors)
        self.partial_result = partial_result


class ResultMerger:
    """Merges each batch's reply and result cursor documents into one result or one error."""

    def __init__(self, models: Sequence[Any], *, ordered: bool, verbose: bool) -> None:
        self.models = models
        self.ordered = ordered
        self.result = ClientBulkWriteResult(has_verbose_results=verbose)
        self.write_errors: dict[int, dict[str, Any]] = {}
        self.write_concern_errors: list[dict[str, Any]] = []
        self.any_success = False
        self._ops: dict[int, Mapping[str, Any]] = {}

    def add_reply(self, batch: Batch, reply: Mapping[str, Any]) -> None:
        """The summary counts and write concern error of one batch's (ok: 1) reply."""
        r = self.result
        r.inserted_count += int(reply.get("nInserted", 0))
        r.upserted_count += int(reply.get("nUpserted", 0))
        r.matched_count += int(reply.get("nMatched", 0))
        r.modified_count += int(reply.get("nModified", 0))
        r.deleted_count += int(reply.get("nDeleted", 0))
        for position, op in zip(batch.indexes, batch.ops):
            self._ops[position] = op
        errors = int(reply.get("nErrors", 0))
        if not self.ordered and errors < len(batch.ops):
            self.any_success = True
        elif self.ordered and errors == 0:
            self.any_success = True
        wce = reply.get("writeConcernError")
        if isinstance(wce, Mapping):
            self.write_concern_errors.append(dict(wce))

    def add_results(self, batch: Batch, documents: Sequence[Mapping[str, Any]]) -> bool:
        """Results cursor documents of a batch; False when an ordered bulk write must stop here."""
        go_on = True
        for doc in documents:
            local = int(doc.get("idx", 0))
            position = batch.indexes[local]
            if not doc.get("ok"):
                self.write_errors[position] = dict(doc)
                if self.ordered:
                    if local > 0:
                        self.any_success = True  # bulk write spec: an ordered error after idx 0
                    go_on = False
                continue
            self._record(position, doc)
        return go_on

    def _record(self, position: int, doc: Mapping[str, Any]) -> None:
        if not self.result.has_verbose_results:
            return
        kind = model_kind(self.models[position])
        if kind == "insert":
            # Bulk write spec, "Handling Insert Results": only confirmed inserts report an _id.
            self.result.insert_results[position] = {"inserted_id": self._ops[position]["document"]["_id"]}
        elif kind == "update":
            item: dict[str, Any] = {"matched_count": int(doc.get("n", 0)),
                                    "modified_count": int(doc.get("nModified", 0))}
            if isinstance(doc.get("upserted"), Mapping):
                item["upserted_id"] = doc["upserted"].get("_id")
            self.result.update_results[position] = item
        else:
            self.result.delete_results[position] = {"deleted_count": int(doc.get("n", 0))}

    def finish(self, error: BaseException | None = None) -> ClientBulkWriteResult:
        """The result, or raise: a lone top-level error as itself, anything else as ClientBulkWriteError."""
        observed = bool(self.write_errors or self.write_concern_errors or self.any_success)
        if error is not None and not observed:
            raise error
        if error is None and not self.write_errors and not self.write_concern_errors:
            return self.result
        partial = self.result if self.any_success else None
        what = []
        if error is not None:
            what.append(f"stopped by {error}")
        if self.write_errors:
            first = min(self.write_errors)
            what.append(f"{len(self.write_errors)} write error(s), the first at model #{first}: "
                        f"{self.write_errors[first].get('errmsg', '')} (code {self.write_errors[first].get('code')})")
        if self.write_concern_errors:
            wce = self.write_concern_errors[0]
            what.append(f"write concern error: {wce.get('errmsg', '')} (code {wce.get('code')})")
        raise ClientBulkWriteError("client bulk write failed: " + "; ".join(what), error=error,
                                   write_errors=self.write_errors, write_concern_errors=self.write_concern_errors,
                                   partial_result=partial)
