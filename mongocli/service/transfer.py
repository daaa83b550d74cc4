"""import, export and bulk: streaming batches through the driver, every line's fate reported.

Writes are retryable (the driver retries once, retryable-writes spec); a batch that still
fails with a transient error (a failover longer than one retry) is sent again here until
IMPORT_RETRY_S passes. Insert mode gives every document its _id before the first attempt,
so a batch sent again cannot insert twice: a duplicate key on an _id of our own earlier
attempt means "already in" (exactly once, issue 10 item 2).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from bson import ObjectId

from driver import errors as driver_errors
from driver.bulk import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from driver.retry import should_retry_write
from mongocli.service.formats import get_dotted
from mongocli.service.inputs import BadLine

MODES = ("insert", "upsert", "merge")
IMPORT_RETRY_S = 120.0      # how long one batch may keep failing transiently before the import stops
DUPLICATE_KEY = 11000


@dataclass
class ImportReport:
    """Counts and the fate of every line that did not make it (numbers and reasons)."""

    namespace: str
    mode: str
    read: int = 0
    inserted: int = 0
    upserted: int = 0
    matched: int = 0
    modified: int = 0
    retried_batches: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    stopped_at: int | None = None           # the bad line that stopped the import (no --skip-bad-lines)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.bad_lines and not self.refused and self.stopped_at is None

    def as_document(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "mode": self.mode, "read": self.read, "inserted": self.inserted,
                "upserted": self.upserted, "matched": self.matched, "modified": self.modified,
                "retried_batches": self.retried_batches,
                "bad_lines": [{"line": n, "error": e} for n, e in self.bad_lines],
                "refused": [{"line": n, "error": e} for n, e in self.refused],
                "stopped_at_line": self.stopped_at, "seconds": round(self.elapsed_s, 3)}


@dataclass(frozen=True)
class ImportOptions:
    mode: str = "insert"
    upsert_fields: tuple[str, ...] = ("_id",)
    ordered: bool = False
    batch_size: int = 1000
    drop: bool = False
    skip_bad_lines: bool = False


def import_documents(client: Any, db: str, coll: str, items: Iterable[Any], options: ImportOptions,
                     progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import (line, document) items (BadLine items reported) in batches of options.batch_size."""
    started = time.monotonic()
    collection = client.get_database(db).get_collection(coll)
    report = ImportReport(namespace=f"{db}.{coll}", mode=options.mode)
    if options.drop:
        collection.drop()
    batch: list[tuple[int, Any]] = []

    def flush() -> bool:
        sent = _send(collection, batch, options, report)
        if progress is not None:
            progress(len(batch))
        batch.clear()
        return sent

    refused_and_ordered = False
    for item in items:
        if isinstance(item, BadLine):
            number, reason = item.number, item.reason
        else:
            number, doc = item
            report.read += 1
            try:
                batch.append((number, _request(doc, options)))
                reason = None
            except ValueError as exc:
                reason = str(exc)
        if reason is not None:
            report.bad_lines.append((number, reason))
            if not options.skip_bad_lines:
                report.stopped_at = number  # the good lines before it are still sent below
                break
        if len(batch) >= options.batch_size and not flush():
            refused_and_ordered = True
            break
    if batch and not refused_and_ordered:
        flush()
    report.elapsed_s = time.monotonic() - started
    return report


def _request(doc: dict[str, Any], options: ImportOptions) -> Any:
    if options.mode == "insert":
        if "_id" not in doc:
            doc = {"_id": ObjectId(), **doc}  # ours, before the first attempt: a resend is detectable
        return InsertOne(doc)
    missing = [f for f in options.upsert_fields if _get(doc, f) is _MISSING]
    if missing:
        raise ValueError(f"no value for --upsert-fields {', '.join(missing)}")
    selector = {f: _get(doc, f) for f in options.upsert_fields}
    if options.mode == "upsert":
        return ReplaceOne(selector, doc, upsert=True)
    changes = {k: v for k, v in doc.items() if not (k == "_id" and "_id" in selector)}
    return UpdateOne(selector, {"$set": changes}, upsert=True)


_MISSING = object()


def _get(doc: Mapping[str, Any], dotted: str) -> Any:
    return get_dotted(doc, dotted, _MISSING)


def _send(collection: Any, batch: list[tuple[int, Any]], options: ImportOptions, report: ImportReport) -> bool:
    """One batch, sent again while it fails transiently; False when an ordered import must stop."""
    deadline = time.monotonic() + IMPORT_RETRY_S
    attempt = 0
    while True:
        attempt += 1
        try:
            result = collection.bulk_write([request for _n, request in batch], ordered=options.ordered)
            errors: list[Mapping[str, Any]] = []
        except driver_errors.BulkWriteError as exc:
            result = exc.result
            if result.write_concern_errors and not result.write_errors:
                if _transient(exc) and time.monotonic() < deadline:
                    report.retried_batches += 1
                    continue
                raise
            errors = list(result.write_errors)
        except driver_errors.DriverError as exc:
            if _transient(exc) and time.monotonic() < deadline:
                report.retried_batches += 1
                continue
            raise
        _count(result, report)
        stop = False
        for error in errors:
            number, request = batch[int(error["index"])]
            if attempt > 1 and error.get("code") == DUPLICATE_KEY and isinstance(request, InsertOne):
                report.inserted += 1   # our own earlier attempt inserted it: present exactly once
                continue
            report.refused.append((number, str(error.get("errmsg", error))))
            stop = stop or options.ordered
        return not stop


def _transient(error: BaseException) -> bool:
    return isinstance(error, (driver_errors.ServerSelectionTimeout, driver_errors.ConnectionFailure)) \
        or should_retry_write(error)


def _count(result: Any, report: ImportReport) -> None:
    report.inserted += result.inserted_count
    report.upserted += result.upserted_count
    report.matched += result.matched_count
    report.modified += result.modified_count


# -- export -------------------------------------------------------------------------------------
@dataclass
class ExportReport:
    namespace: str
    exported: int = 0
    elapsed_s: float = 0.0

    def as_document(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "exported": self.exported, "seconds": round(self.elapsed_s, 3)}


def export_documents(client: Any, db: str, coll: str, write: Callable[[Mapping[str, Any]], None], *,
                     filter: Mapping[str, Any] | None = None, projection: Mapping[str, Any] | None = None,
                     sort: Mapping[str, Any] | None = None, limit: int = 0, batch_size: int = 1000,
                     progress: Callable[[int], None] | None = None) -> ExportReport:
    """Stream a find's documents into `write` (the cursor's batches, never the whole result)."""
    started = time.monotonic()
    report = ExportReport(namespace=f"{db}.{coll}")
    cursor = client.get_database(db).get_collection(coll).find(
        filter or {}, projection, sort=sort, limit=limit or None, batch_size=batch_size)
    for doc in cursor:
        write(doc)
        report.exported += 1
        if progress is not None and report.exported % batch_size == 0:
            progress(batch_size)
    if progress is not None:
        progress(report.exported % batch_size)
    report.elapsed_s = time.monotonic() - started
    return report


def count_for_progress(client: Any, db: str, coll: str, filter: Mapping[str, Any] | None) -> int | None:
    """How many documents an export will write (for the progress bar's total); None if unknown."""
    collection = client.get_database(db).get_collection(coll)
    try:
        return collection.count_documents(filter or {}) if filter else collection.estimated_document_count()
    except driver_errors.DriverError:
        return None


# -- bulk ---------------------------------------------------------------------------------------
_OPERATIONS = {
    "insertOne": (InsertOne, ("document",)),
    "updateOne": (UpdateOne, ("filter", "update")),
    "updateMany": (UpdateMany, ("filter", "update")),
    "replaceOne": (ReplaceOne, ("filter", "replacement")),
    "deleteOne": (DeleteOne, ("filter",)),
    "deleteMany": (DeleteMany, ("filter",)),
}
_OPTIONAL = {"upsert": "upsert", "arrayFilters": "array_filters", "collation": "collation", "hint": "hint"}


def bulk_request(spec: Mapping[str, Any]) -> Any:
    """{"updateOne": {"filter": ..., "update": ..., "upsert": true}} -> the driver's request (ValueError)."""
    if len(spec) != 1:
        raise ValueError(f"expected one operation ({', '.join(_OPERATIONS)}), got {len(spec)} keys")
    (name, body), = spec.items()
    if name not in _OPERATIONS:
        raise ValueError(f"unknown operation {name!r} (one of {', '.join(_OPERATIONS)})")
    if not isinstance(body, Mapping):
        raise ValueError(f"{name}: expected an object")
    cls, required = _OPERATIONS[name]
    missing = [r for r in required if r not in body]
    if missing:
        raise ValueError(f"{name}: missing {', '.join(missing)}")
    allowed = set(required) | (set(_OPTIONAL) if name != "insertOne" else set())
    if name in ("deleteOne", "deleteMany"):
        allowed -= {"upsert", "arrayFilters"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValueError(f"{name}: unknown field(s) {', '.join(unknown)}")
    kwargs = {_OPTIONAL[k]: v for k, v in body.items() if k in _OPTIONAL}
    return cls(*(body[r] for r in required), **kwargs)


@dataclass
class BulkReport:
    """A bulk file's outcome: counts, failed operations (by line), and for an ordered stop which
    lines were applied and which were not attempted."""

    operations: int = 0
    inserted: int = 0
    matched: int = 0
    modified: int = 0
    deleted: int = 0
    upserted: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    applied_lines: list[int] = field(default_factory=list)
    not_attempted_lines: list[int] = field(default_factory=list)
    ordered: bool = True

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_document(self) -> dict[str, Any]:
        return {"operations": self.operations, "inserted": self.inserted, "matched": self.matched,
                "modified": self.modified, "deleted": self.deleted, "upserted": self.upserted,
                "ordered": self.ordered, "failed": [{"line": n, "error": e} for n, e in self.failed],
                "applied_lines": self.applied_lines, "not_attempted_lines": self.not_attempted_lines}


def run_bulk(client: Any, db: str, coll: str, numbered: Sequence[tuple[int, Any]], *, ordered: bool) -> BulkReport:
    """Run the (line, request) list as one bulk write; per-operation fate by line number."""
    report = BulkReport(operations=len(numbered), ordered=ordered)
    collection = client.get_database(db).get_collection(coll)
    try:
        result = collection.bulk_write([r for _n, r in numbered], ordered=ordered)
        errors: list[Mapping[str, Any]] = []
    except driver_errors.BulkWriteError as exc:
        result, errors = exc.result, list(exc.result.write_errors)
    report.inserted, report.matched, report.modified = result.inserted_count, result.matched_count, \
        result.modified_count
    report.deleted, report.upserted = result.deleted_count, result.upserted_count
    failed = {int(e["index"]): str(e.get("errmsg", e)) for e in errors}
    report.failed = [(numbered[i][0], message) for i, message in sorted(failed.items())]
    stop = min(failed) if ordered and failed else None
    for index, (line, _request) in enumerate(numbered):
        if index in failed:
            continue
        if stop is not None and index > stop:
            report.not_attempted_lines.append(line)
        else:
            report.applied_lines.append(line)
    return report
