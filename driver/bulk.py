"""Pure bulk-write planning (runs, size-bounded batches with original indexes) and result merging (CRUD spec)."""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Mapping, Sequence
from typing import Any, Callable, ClassVar, Iterable, Union

import bson

from driver.errors import BulkWriteError, ConfigurationError, DocumentTooLarge, DriverError
from driver.ops.write import (
    delete_command,
    delete_statement,
    encode_inserts,
    insert_command,
    update_command,
    update_statement,
    with_id,
)
from driver.wire.encode import EncodedDocument, EncodedDocuments

# The server accepts a command document up to maxBsonObjectSize + 16 KiB so that a batch
# filled with documents up to maxBsonObjectSize still leaves room for the command's own fields
# (CRUD / bulk API spec, "Batch splitting"; OP_MSG spec). We keep that 16 KiB for them.
COMMAND_HEADROOM = 16 * 1024


@dataclass(frozen=True)
class InsertOne:
    """Insert `document`; a missing _id is generated client-side when the batch is planned."""

    document: Mapping[str, Any]
    kind: ClassVar[str] = "insert"
    multi: ClassVar[bool] = False

    def statement(self) -> tuple[dict[str, Any], Any]:
        """(document with _id first, _id)."""
        return with_id(self.document)


@dataclass(frozen=True)
class _Update:
    """An update statement's fields; UpdateOne / UpdateMany say how many documents it may touch."""

    filter: Mapping[str, Any]
    update: Any
    upsert: bool | None = None
    collation: Mapping[str, Any] | None = None
    array_filters: Sequence[Mapping[str, Any]] | None = None
    hint: Any = None
    kind: ClassVar[str] = "update"
    multi: ClassVar[bool]
    sort: ClassVar[Any] = None  # UpdateOne only (CRUD spec: updateOne's sort option)

    def statement(self) -> tuple[dict[str, Any], Any]:
        return update_statement(
            self.filter, self.update, multi=self.multi, upsert=self.upsert, collation=self.collation,
            array_filters=self.array_filters, hint=self.hint, sort=self.sort,
        ), None


@dataclass(frozen=True)
class UpdateOne(_Update):
    """Apply update operators (or a pipeline) to the first document matching `filter`."""

    sort: Any = None
    multi: ClassVar[bool] = False


@dataclass(frozen=True)
class UpdateMany(_Update):
    """Apply update operators (or a pipeline) to every document matching `filter`."""

    multi: ClassVar[bool] = True


@dataclass(frozen=True)
class ReplaceOne:
    """Replace the first document matching `filter` with `replacement` (no $-keys)."""

    filter: Mapping[str, Any]
    replacement: Mapping[str, Any]
    upsert: bool | None = None
    collation: Mapping[str, Any] | None = None
    hint: Any = None
    sort: Any = None
    kind: ClassVar[str] = "update"
    multi: ClassVar[bool] = False

    def statement(self) -> tuple[dict[str, Any], Any]:
        return update_statement(
            self.filter, self.replacement, replacement=True, upsert=self.upsert,
            collation=self.collation, hint=self.hint, sort=self.sort,
        ), None


@dataclass(frozen=True)
class _Delete:
    """A delete statement's fields; DeleteOne / DeleteMany say how many documents it may remove."""

    filter: Mapping[str, Any]
    collation: Mapping[str, Any] | None = None
    hint: Any = None
    kind: ClassVar[str] = "delete"
    multi: ClassVar[bool]

    def statement(self) -> tuple[dict[str, Any], Any]:
        return delete_statement(self.filter, multi=self.multi, collation=self.collation, hint=self.hint), None


@dataclass(frozen=True)
class DeleteOne(_Delete):
    """Delete the first document matching `filter`."""

    multi: ClassVar[bool] = False


@dataclass(frozen=True)
class DeleteMany(_Delete):
    """Delete every document matching `filter`."""

    multi: ClassVar[bool] = True


WriteRequest = Union[InsertOne, UpdateOne, UpdateMany, ReplaceOne, DeleteOne, DeleteMany]
_REQUEST_TYPES = (InsertOne, UpdateOne, UpdateMany, ReplaceOne, DeleteOne, DeleteMany)
_KIND_ORDER = ("insert", "update", "delete")
# The command field its statements travel in (as an OP_MSG document sequence).
SEQUENCE_FIELD = {"insert": "documents", "update": "updates", "delete": "deletes"}


@dataclass(frozen=True)
class BatchLimits:
    """Server limits from the hello reply; defaults are the server's own defaults.

    `document_sequences`: True when statements travel as an OP_MSG document sequence (bounded
    by maxMessageSizeBytes), False when embedded in the command document (bounded by
    maxBsonObjectSize, the command's own fields living in the 16 KiB headroom).
    """

    max_write_batch_size: int = 100_000
    max_bson_object_size: int = 16 * 1024 * 1024
    max_message_size_bytes: int = 48_000_000
    document_sequences: bool = True

    @classmethod
    def from_server(cls, description: Any, *, document_sequences: bool = True) -> "BatchLimits":
        """Limits of a ServerDescription (anything with the three max_* attributes)."""
        return cls(
            max_write_batch_size=description.max_write_batch_size,
            max_bson_object_size=description.max_bson_object_size,
            max_message_size_bytes=description.max_message_size_bytes,
            document_sequences=document_sequences,
        )

    def payload_budget(self) -> int:
        """Bytes available for the statements of one batch."""
        if self.document_sequences:
            return self.max_message_size_bytes - COMMAND_HEADROOM
        return self.max_bson_object_size

    def element_cost(self, encoded_size: int, position: int) -> int:
        """Bytes a statement adds: the document, plus type byte and key "i\\0" when embedded in an array."""
        if self.document_sequences:
            return encoded_size
        return encoded_size + 2 + len(str(position))


@dataclass(frozen=True)
class Batch:
    """One write command's worth of statements of a single kind.

    `indexes[i]` is the index in the caller's request list of `statements[i]`, so write errors
    and upserts (reported by the server with batch-relative indexes) can be mapped back.
    `multi` is True when any statement may touch many documents: such a batch is not a
    retryable write (retryable-writes spec, "Unsupported Write Operations"). Insert batches
    hold their documents as EncodedDocuments (BSON bytes, _id first; items read as
    RawBSONDocument); update and delete batches hold their statement dicts.
    """

    kind: str
    statements: Sequence[Mapping[str, Any]]
    indexes: tuple[int, ...]
    # insert batches: the _id of each statement (ids[i] is that of statements[i], request indexes[i]),
    # kept beside `indexes`, not paired: a pair per document made the garbage collector run during
    # large bulk inserts.
    ids: tuple[Any, ...] = ()
    multi: bool = False


    def command(
        self,
        collection: str,
        *,
        ordered: bool = True,
        write_concern: Mapping[str, Any] | None = None,
        bypass_document_validation: bool | None = None,
        let: Mapping[str, Any] | None = None,
        comment: Any = None,
        encoded: bool = False,
    ) -> dict[str, Any]:
        """The insert/update/delete command for this batch (session fields are the caller's).

        An insert command's "documents" is a list of RawBSONDocument, or with `encoded` the
        EncodedDocuments itself, for a caller that sends it as an OP_MSG document sequence
        (encode_op_msg joins its bytes without decoding anything).
        """
        if self.kind == "insert":
            documents = self.statements if encoded else list(self.statements)
            return insert_command(collection, documents, ordered=ordered, write_concern=write_concern,
                                  bypass_document_validation=bypass_document_validation, comment=comment)
        if self.kind == "update":
            return update_command(collection, self.statements, ordered=ordered, write_concern=write_concern,
                                  bypass_document_validation=bypass_document_validation, let=let, comment=comment)
        return delete_command(collection, self.statements, ordered=ordered, write_concern=write_concern,
                              let=let, comment=comment)


# A validated statement: (request index, kind, multi, statement, encoded size, inserted _id).
# A plain tuple: a frozen dataclass per statement cost more than encoding small documents.
_Prepared = tuple



def _too_large(where: str, what: str, size: int, limits: BatchLimits) -> DocumentTooLarge:
    return DocumentTooLarge(
        f"{where}: the {what} is {size} bytes, larger than the server's maxBsonObjectSize of "
        f"{limits.max_bson_object_size} bytes; nothing was sent"
    )


def _prepare(requests: Sequence[Any], limits: BatchLimits) -> list[_Prepared]:
    if not isinstance(requests, (list, tuple)) or not requests:
        raise ConfigurationError("a bulk write needs a non-empty list of write requests")
    for i, request in enumerate(requests):
        if not isinstance(request, _REQUEST_TYPES):
            names = ", ".join(t.__name__ for t in _REQUEST_TYPES)
            raise ConfigurationError(f"requests[{i}] must be one of {names}, not {type(request).__name__}")
    # Insert documents are encoded together, in passes over the list (encode_inserts): an invalid
    # insert document is reported before an invalid request of another kind that precedes it.
    insert_at = [i for i, request in enumerate(requests) if type(request) is InsertOne]
    inserts = iter(zip(insert_at, *_encode_inserts([requests[i].document for i in insert_at],
                                                    lambda k: _INSERT_LABEL.format(insert_at[k]), limits)))
    prepared = []
    max_size = limits.max_bson_object_size
    for i, request in enumerate(requests):
        if type(request) is InsertOne:
            _, encoded, size, _id = next(inserts)
            prepared.append((i, "insert", False, encoded, size, _id))
            continue
        where = f"requests[{i}] ({type(request).__name__})"
        try:
            statement, _ = request.statement()
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}: {exc}") from None
        size = len(bson.encode(statement))
        if size > max_size:
            raise _too_large(where, f"{request.kind} statement", size, limits)
        prepared.append((i, request.kind, request.multi, statement, size, None))
    return prepared


# How an insert request is named in errors, by its index (insert_many's documents[i] is requests[i]).
_INSERT_LABEL = "requests[{}] (InsertOne)"


def _encode_inserts(documents: Sequence[Any], name: Callable[[int], str],
                    limits: BatchLimits) -> tuple[list[EncodedDocument], list[int], list[Any]]:
    """The one insert path of plan_bulk and plan_inserts: each document encoded once (_id first),
    measured, checked against maxBsonObjectSize: (encoded, sizes, _ids).

    These bytes measure the documents here and are sent as they are. Errors name `name(index)`.
    """
    encoded, ids = encode_inserts(documents, name)
    sizes = list(map(len, encoded))
    if sizes and max(sizes) > limits.max_bson_object_size:
        index = next(k for k, size in enumerate(sizes) if size > limits.max_bson_object_size)
        raise _too_large(name(index), "document", sizes[index], limits)
    return encoded, sizes, ids


def _runs(prepared: list[_Prepared], ordered: bool) -> list[list[_Prepared]]:
    """Ordered: consecutive requests of the same kind; unordered: one run per kind.

    CRUD spec, bulk write "Merging / ordering": unordered writes may be regrouped by kind; we
    use insert, update, delete order and keep the caller's order inside each kind.
    """
    if ordered:
        runs: list[list[_Prepared]] = []
        for p in prepared:
            if runs and runs[-1][0][1] == p[1]:
                runs[-1].append(p)
            else:
                runs.append([p])
        return runs
    return [run for kind in _KIND_ORDER if (run := [p for p in prepared if p[1] == kind])]


def _split_sizes(sizes: Sequence[int], limits: BatchLimits) -> list[tuple[int, int]]:
    """[start, stop) ranges of consecutive statements that fit one batch each.

    A batch holds at most max_write_batch_size statements whose costs (limits.element_cost)
    fit the payload budget, and always at least one (each fits maxBsonObjectSize).
    """
    budget = limits.payload_budget()
    max_count = limits.max_write_batch_size
    ranges = []
    start = used = 0
    if limits.document_sequences:  # cost == size: the common case, kept tight
        if len(sizes) <= max_count and sum(sizes) <= budget:
            return [(0, len(sizes))]  # one batch holds them all: no pass per statement
        for k, size in enumerate(sizes):
            if k > start and (k - start >= max_count or used + size > budget):
                ranges.append((start, k))
                start, used = k, 0
            used += size
    else:
        for k, size in enumerate(sizes):
            cost = limits.element_cost(size, k - start)
            if k > start and (k - start >= max_count or used + cost > budget):
                ranges.append((start, k))
                start, used = k, 0
                cost = limits.element_cost(size, 0)
            used += cost
    if start < len(sizes):
        ranges.append((start, len(sizes)))
    return ranges


def _batches_of_run(run: list[_Prepared], limits: BatchLimits) -> Iterable[Batch]:
    # One transposition (C speed) instead of a pass over the run per field.
    indexes, kinds, multis, statements, sizes, ids = zip(*run)
    return _batches(kinds[0], indexes, statements, sizes, limits, multis=multis, ids=ids)


def _batches(kind: str, indexes: Sequence[int], statements: Sequence[Any], sizes: Sequence[int], limits: BatchLimits,
             *, multis: Sequence[bool] = (), ids: Sequence[Any] = ()) -> Iterable[Batch]:
    """The batches of one run of statements of `kind`, given as columns (statements[i] is request indexes[i])."""
    for start, stop in _split_sizes(sizes, limits):
        if kind == "insert":
            yield Batch(kind=kind, statements=EncodedDocuments(statements[start:stop], sum(sizes[start:stop])),
                        indexes=tuple(indexes[start:stop]), ids=tuple(ids[start:stop]))
        else:
            yield Batch(kind=kind, statements=statements[start:stop], indexes=tuple(indexes[start:stop]),
                        multi=any(multis[start:stop]))


def plan_bulk(requests: Sequence[WriteRequest], *, ordered: bool = True, limits: BatchLimits | None = None) -> list[Batch]:
    """Validate every request, then group them into runs and split runs into batches.

    Raises ConfigurationError (invalid request, naming its index) or DocumentTooLarge before
    anything could be sent. Batches respect max_write_batch_size and the byte budget measured
    with the real encoded size of each statement (bson.encode). Insert batches carry their
    documents encoded once (EncodedDocuments), _id first.
    """
    limits = _checked(limits)
    return [batch for run in _runs(_prepare(requests, limits), ordered) for batch in _batches_of_run(run, limits)]


def plan_inserts(documents: Sequence[Mapping[str, Any]], *, limits: BatchLimits | None = None) -> list[Batch]:
    """plan_bulk for a list of documents to insert (insert_many), without an InsertOne per document.

    The same path as plan_bulk's inserts (one run, _encode_inserts, _batches), so the
    same batches, ids and errors: missing _ids are generated, documents[i] errors name
    requests[i] (InsertOne).
    """
    limits = _checked(limits)
    if not isinstance(documents, (list, tuple)) or not documents:
        raise ConfigurationError("a bulk write needs a non-empty list of write requests")
    encoded, sizes, ids = _encode_inserts(documents, _INSERT_LABEL.format, limits)
    return list(_batches("insert", range(len(encoded)), encoded, sizes, limits, ids=ids))


def _checked(limits: BatchLimits | None) -> BatchLimits:
    limits = limits or BatchLimits()
    if limits.max_write_batch_size < 1:
        raise ConfigurationError(f"max_write_batch_size must be >= 1, not {limits.max_write_batch_size}")
    return limits


@dataclass(frozen=True)
class BulkWriteResult:
    """Merged outcome of all batches; indexes are the caller's request indexes."""

    inserted_count: int = 0
    matched_count: int = 0
    modified_count: int = 0
    deleted_count: int = 0
    upserted_count: int = 0
    upserted_ids: Mapping[int, Any] = field(default_factory=dict)
    inserted_ids: Mapping[int, Any] = field(default_factory=dict)
    write_errors: tuple[Mapping[str, Any], ...] = ()
    write_concern_errors: tuple[Mapping[str, Any], ...] = ()
    acknowledged: bool = True  # an acknowledged write's result (w: 0 gives UnacknowledgedBulkWriteResult)

    def as_document(self) -> dict[str, Any]:
        """The legacy bulk result shape (nInserted, upserted: [{index, _id}], writeErrors, ...)."""
        return {
            "nInserted": self.inserted_count,
            "nUpserted": self.upserted_count,
            "nMatched": self.matched_count,
            "nModified": self.modified_count,
            "nRemoved": self.deleted_count,
            "upserted": [{"index": i, "_id": _id} for i, _id in sorted(self.upserted_ids.items())],
            "writeErrors": [dict(e) for e in self.write_errors],
            "writeConcernErrors": [dict(e) for e in self.write_concern_errors],
        }


@dataclass(frozen=True)
class UnacknowledgedBulkWriteResult:
    """A bulk write sent with w: 0: nothing is known but the generated insert _ids.

    Why no counts: a w: 0 write gets no reply (OP_MSG moreToCome), so nothing is known; there
    are no count fields to be mistaken for "zero documents matched".
    """

    inserted_ids: Mapping[int, Any] = field(default_factory=dict)
    acknowledged: bool = False


class BulkResultAccumulator:
    """Merges successful (ok: 1) batch replies; ordered bulks stop at the first write error."""

    def __init__(self, *, ordered: bool = True) -> None:
        self.ordered = ordered
        self._counts = {"inserted": 0, "matched": 0, "modified": 0, "deleted": 0}
        self._upserted: dict[int, Any] = {}
        self._inserted: dict[int, Any] = {}
        self._write_errors: list[dict[str, Any]] = []
        self._wc_errors: list[dict[str, Any]] = []

    @property
    def has_write_errors(self) -> bool:
        return bool(self._write_errors)

    @property
    def should_stop(self) -> bool:
        """True when an ordered bulk must not send further batches."""
        return self.ordered and self.has_write_errors

    def merge(self, batch: Batch, reply: Mapping[str, Any]) -> None:
        """Fold one batch reply in, mapping batch-relative indexes to request indexes.

        The reply must be ok: 1 (a command failure is raised by the caller, not merged).
        """
        if not reply.get("ok"):
            raise DriverError("BulkResultAccumulator.merge takes ok: 1 replies; raise the command error instead")
        n = int(reply.get("n", 0))
        errors = sorted(reply.get("writeErrors") or (), key=lambda e: e.get("index", 0))
        failed = set()
        for err in errors:
            local = int(err.get("index", 0))
            if not 0 <= local < len(batch.indexes):
                raise DriverError(f"write error index {local} is outside the batch of {len(batch.indexes)} statements")
            failed.add(local)
            mapped = dict(err)
            mapped["index"] = batch.indexes[local]
            mapped.setdefault("op", batch.statements[local])
            self._write_errors.append(mapped)
        if batch.kind == "insert":
            self._counts["inserted"] += n
            # Ordered: statements after the first failure were never attempted.
            if not failed:
                self._inserted.update(zip(batch.indexes, batch.ids))
            else:
                stop = min(failed) if self.ordered else len(batch.indexes)
                for local, (index, _id) in enumerate(zip(batch.indexes, batch.ids)):
                    if local < stop and local not in failed:
                        self._inserted[index] = _id
        elif batch.kind == "update":
            upserted = reply.get("upserted") or ()
            for up in upserted:
                self._upserted[batch.indexes[int(up["index"])]] = up.get("_id")
            self._counts["matched"] += n - len(upserted)
            self._counts["modified"] += int(reply.get("nModified", 0))
        else:
            self._counts["deleted"] += n
        wce = reply.get("writeConcernError")
        if wce:
            self._wc_errors.append(dict(wce))

    def result(self) -> BulkWriteResult:
        """The merged result so far."""
        return BulkWriteResult(
            inserted_count=self._counts["inserted"],
            matched_count=self._counts["matched"],
            modified_count=self._counts["modified"],
            deleted_count=self._counts["deleted"],
            upserted_count=len(self._upserted),
            upserted_ids=dict(self._upserted),
            inserted_ids=dict(self._inserted),
            write_errors=tuple(sorted(self._write_errors, key=lambda e: e["index"])),
            write_concern_errors=tuple(self._wc_errors),
        )

    def raise_for_errors(self) -> None:
        """Raise BulkWriteError (details = as_document(), `.result` = BulkWriteResult) if anything failed."""
        result = self.result()
        if result.write_errors or result.write_concern_errors:
            raise bulk_write_error(result)


def bulk_write_error(result: BulkWriteResult) -> BulkWriteError:
    """A BulkWriteError whose message names the first failure; `.result` holds the partial result."""
    if result.write_errors:
        first = result.write_errors[0]
        code = first.get("code")
        message = (f"bulk write failed: {len(result.write_errors)} write error(s); first at request "
                   f"{first['index']}: {first.get('errmsg', '')} (code {code})")
    else:
        first = result.write_concern_errors[0]
        code = first.get("code")
        message = f"bulk write concern error: {first.get('errmsg', '')} (code {code})"
    labels = [label for e in result.write_concern_errors for label in e.get("errorLabels", ())]
    return BulkWriteError(message, code=code, details=result.as_document(), error_labels=labels, result=result)


def run_bulk(batches: Sequence[Batch], send: Callable[[Batch], Mapping[str, Any] | None], *, ordered: bool = True,
             acknowledged: bool = True) -> BulkWriteResult | UnacknowledgedBulkWriteResult:
    """Send batches in order through `send` (the I/O, injected) and merge the replies.

    The one bulk path: Collection.bulk_write and insert_many send through the executor, tests
    through a stub. Stops after the first batch with a write error when ordered. Raises
    BulkWriteError when any write or write concern error was reported; an exception from
    `send` (network or command error) propagates with `partial_result`, the BulkWriteResult of
    the batches that completed before it (CRUD spec: a bulk write error carries what was
    written). Unacknowledged (w: 0): `send` returns None and the result holds only the
    inserted _ids.
    """
    acc = BulkResultAccumulator(ordered=ordered)
    unacknowledged_ids: dict[int, Any] = {}
    for batch in batches:
        try:
            reply = send(batch)
        except DriverError as exc:
            if acknowledged:
                exc.partial_result = acc.result()
            raise
        if reply is None:
            unacknowledged_ids.update(zip(batch.indexes, batch.ids))
            continue
        acc.merge(batch, reply)
        if acc.should_stop:
            break
    if not acknowledged:
        return UnacknowledgedBulkWriteResult(unacknowledged_ids)
    acc.raise_for_errors()
    return acc.result()
