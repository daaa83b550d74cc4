"""Pure bulk-write planning (runs, size-bounded batches with original indexes) and result merging (CRUD spec)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence, Union

import bson
from bson.raw_bson import RawBSONDocument

from driver.errors import BulkWriteError, ConfigurationError, DocumentTooLarge, DriverError
from driver.ops.write import (
    delete_command,
    delete_statement,
    insert_command,
    update_command,
    update_statement,
    with_id,
)

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
class UpdateOne:
    """Apply update operators (or a pipeline) to the first document matching `filter`."""

    filter: Mapping[str, Any]
    update: Any
    upsert: bool | None = None
    collation: Mapping[str, Any] | None = None
    array_filters: Sequence[Mapping[str, Any]] | None = None
    hint: Any = None
    sort: Any = None
    kind: ClassVar[str] = "update"
    multi: ClassVar[bool] = False

    def statement(self) -> tuple[dict[str, Any], Any]:
        return update_statement(
            self.filter, self.update, multi=False, upsert=self.upsert, collation=self.collation,
            array_filters=self.array_filters, hint=self.hint, sort=self.sort,
        ), None


@dataclass(frozen=True)
class UpdateMany:
    """Apply update operators (or a pipeline) to every document matching `filter`."""

    filter: Mapping[str, Any]
    update: Any
    upsert: bool | None = None
    collation: Mapping[str, Any] | None = None
    array_filters: Sequence[Mapping[str, Any]] | None = None
    hint: Any = None
    kind: ClassVar[str] = "update"
    multi: ClassVar[bool] = True

    def statement(self) -> tuple[dict[str, Any], Any]:
        return update_statement(
            self.filter, self.update, multi=True, upsert=self.upsert, collation=self.collation,
            array_filters=self.array_filters, hint=self.hint,
        ), None


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
class DeleteOne:
    """Delete the first document matching `filter`."""

    filter: Mapping[str, Any]
    collation: Mapping[str, Any] | None = None
    hint: Any = None
    kind: ClassVar[str] = "delete"
    multi: ClassVar[bool] = False

    def statement(self) -> tuple[dict[str, Any], Any]:
        return delete_statement(self.filter, multi=False, collation=self.collation, hint=self.hint), None


@dataclass(frozen=True)
class DeleteMany:
    """Delete every document matching `filter`."""

    filter: Mapping[str, Any]
    collation: Mapping[str, Any] | None = None
    hint: Any = None
    kind: ClassVar[str] = "delete"
    multi: ClassVar[bool] = True

    def statement(self) -> tuple[dict[str, Any], Any]:
        return delete_statement(self.filter, multi=True, collation=self.collation, hint=self.hint), None


WriteRequest = Union[InsertOne, UpdateOne, UpdateMany, ReplaceOne, DeleteOne, DeleteMany]
_REQUEST_TYPES = (InsertOne, UpdateOne, UpdateMany, ReplaceOne, DeleteOne, DeleteMany)
_KIND_ORDER = ("insert", "update", "delete")
_COMMAND_FIELD = {"insert": "documents", "update": "updates", "delete": "deletes"}


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
    retryable write (retryable-writes spec, "Unsupported Write Operations").
    """

    kind: str
    statements: tuple[Mapping[str, Any], ...]
    indexes: tuple[int, ...]
    inserted_ids: tuple[tuple[int, Any], ...] = ()
    multi: bool = False

    @property
    def command_field(self) -> str:
        """"documents", "updates" or "deletes"."""
        return _COMMAND_FIELD[self.kind]

    @property
    def retryable(self) -> bool:
        """True when this batch may carry a transaction id and be retried."""
        return not self.multi

    def command(
        self,
        collection: str,
        *,
        ordered: bool = True,
        write_concern: Mapping[str, Any] | None = None,
        bypass_document_validation: bool | None = None,
        let: Mapping[str, Any] | None = None,
        comment: Any = None,
    ) -> dict[str, Any]:
        """The insert/update/delete command for this batch (session fields are the caller's)."""
        if self.kind == "insert":
            return insert_command(collection, self.statements, ordered=ordered, write_concern=write_concern,
                                  bypass_document_validation=bypass_document_validation, comment=comment)
        if self.kind == "update":
            return update_command(collection, self.statements, ordered=ordered, write_concern=write_concern,
                                  bypass_document_validation=bypass_document_validation, let=let, comment=comment)
        return delete_command(collection, self.statements, ordered=ordered, write_concern=write_concern,
                              let=let, comment=comment)


@dataclass(frozen=True)
class _Prepared:
    index: int
    kind: str
    multi: bool
    statement: Mapping[str, Any]
    size: int
    inserted_id: Any


def _prepare(requests: Sequence[Any], limits: BatchLimits) -> list[_Prepared]:
    if not isinstance(requests, (list, tuple)) or not requests:
        raise ConfigurationError("a bulk write needs a non-empty list of write requests")
    prepared = []
    for i, request in enumerate(requests):
        if not isinstance(request, _REQUEST_TYPES):
            names = ", ".join(t.__name__ for t in _REQUEST_TYPES)
            raise ConfigurationError(f"requests[{i}] must be one of {names}, not {type(request).__name__}")
        try:
            statement, _id = request.statement()
        except ConfigurationError as exc:
            raise ConfigurationError(f"requests[{i}] ({type(request).__name__}): {exc}") from None
        # Encode once: the bytes measure the statement here and are sent as they are
        # (bson.encode copies a RawBSONDocument verbatim), instead of encoding twice.
        encoded = bson.encode(statement)
        size = len(encoded)
        if request.kind == "insert":  # the bulk of a bulk write; other statements stay dicts
            statement = RawBSONDocument(encoded)
        if size > limits.max_bson_object_size:
            what = "document" if request.kind == "insert" else f"{request.kind} statement"
            raise DocumentTooLarge(
                f"requests[{i}] ({type(request).__name__}): the {what} is {size} bytes, larger than the "
                f"server's maxBsonObjectSize of {limits.max_bson_object_size} bytes; nothing was sent"
            )
        prepared.append(_Prepared(i, request.kind, request.multi, statement, size,
                                  _id if request.kind == "insert" else None))
    return prepared


def _runs(prepared: list[_Prepared], ordered: bool) -> list[list[_Prepared]]:
    """Ordered: consecutive requests of the same kind; unordered: one run per kind.

    CRUD spec, bulk write "Merging / ordering": unordered writes may be regrouped by kind; we
    use insert, update, delete order and keep the caller's order inside each kind.
    """
    if ordered:
        runs: list[list[_Prepared]] = []
        for p in prepared:
            if runs and runs[-1][0].kind == p.kind:
                runs[-1].append(p)
            else:
                runs.append([p])
        return runs
    return [run for kind in _KIND_ORDER if (run := [p for p in prepared if p.kind == kind])]


def _split(run: list[_Prepared], limits: BatchLimits) -> Iterable[list[_Prepared]]:
    budget = limits.payload_budget()
    current: list[_Prepared] = []
    used = 0
    for p in run:
        cost = limits.element_cost(p.size, len(current))
        full = len(current) >= limits.max_write_batch_size or used + cost > budget
        if current and full:
            yield current
            current, used = [], 0
            cost = limits.element_cost(p.size, 0)
        current.append(p)  # a batch always takes at least one statement (it fits maxBsonObjectSize)
        used += cost
    if current:
        yield current


def plan_bulk(requests: Sequence[WriteRequest], *, ordered: bool = True, limits: BatchLimits | None = None) -> list[Batch]:
    """Validate every request, then group them into runs and split runs into batches.

    Raises ConfigurationError (invalid request, naming its index) or DocumentTooLarge before
    anything could be sent. Batches respect max_write_batch_size and the byte budget measured
    with the real encoded size of each statement (bson.encode).
    """
    limits = limits or BatchLimits()
    if limits.max_write_batch_size < 1:
        raise ConfigurationError(f"max_write_batch_size must be >= 1, not {limits.max_write_batch_size}")
    batches = []
    for run in _runs(_prepare(requests, limits), ordered):
        for chunk in _split(run, limits):
            kind = chunk[0].kind
            batches.append(Batch(
                kind=kind,
                statements=tuple(p.statement for p in chunk),
                indexes=tuple(p.index for p in chunk),
                inserted_ids=tuple((p.index, p.inserted_id) for p in chunk) if kind == "insert" else (),
                multi=any(p.multi for p in chunk),
            ))
    return batches


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
            stop = min(failed) if (failed and self.ordered) else len(batch.indexes)
            for local, (index, _id) in enumerate(batch.inserted_ids):
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
    error = BulkWriteError(message, code=code, details=result.as_document(), error_labels=labels)
    error.result = error.partial_result = result  # type: ignore[attr-defined]  # partial result (CRUD spec)
    return error


def run_bulk(batches: Sequence[Batch], send: Callable[[Batch], Mapping[str, Any]], *, ordered: bool = True) -> BulkWriteResult:
    """Send batches in order through `send` (the I/O, injected) and merge the replies.

    Stops after the first batch with a write error when ordered. Raises BulkWriteError when
    any write or write concern error was reported; an exception from `send` (network or
    command error) propagates with `partial_result`, the BulkWriteResult of the batches that
    completed before it (CRUD spec: a bulk write error carries what was written).
    """
    acc = BulkResultAccumulator(ordered=ordered)
    for batch in batches:
        try:
            reply = send(batch)
        except DriverError as exc:
            exc.partial_result = acc.result()  # type: ignore[attr-defined]
            raise
        acc.merge(batch, reply)
        if acc.should_stop:
            break
    acc.raise_for_errors()
    return acc.result()
