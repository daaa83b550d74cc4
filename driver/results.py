"""Result values of the CRUD helpers (CRUD spec, "Write Results"); unacknowledged writes say so."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["InsertOneResult", "InsertManyResult", "UpdateResult", "DeleteResult", "BulkWriteResult",
           "UnacknowledgedBulkWriteResult"]

# Why counts are None when unacknowledged: a w: 0 write gets no reply (OP_MSG moreToCome),
# so nothing is known; None cannot be mistaken for "zero documents matched".


@dataclass(frozen=True)
class InsertOneResult:
    """The _id of the inserted document (generated client-side when missing)."""

    inserted_id: Any
    acknowledged: bool = True


@dataclass(frozen=True)
class InsertManyResult:
    """The _ids of the inserted documents, in the order given."""

    inserted_ids: list[Any]
    acknowledged: bool = True


@dataclass(frozen=True)
class UpdateResult:
    """Counts of an update/replace; `upserted_id` is set when an upsert inserted a document."""

    matched_count: int | None
    modified_count: int | None
    upserted_id: Any = None
    upserted_count: int | None = 0
    acknowledged: bool = True
    raw_result: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class DeleteResult:
    """How many documents were deleted."""

    deleted_count: int | None
    acknowledged: bool = True
    raw_result: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)


def __getattr__(name: str) -> Any:
    """BulkWriteResult and UnacknowledgedBulkWriteResult live in driver.bulk, loaded on first use
    (its request and batch classes cost start-up time a one-shot command does not need)."""
    if name in ("BulkWriteResult", "UnacknowledgedBulkWriteResult"):
        from driver import bulk

        return getattr(bulk, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
