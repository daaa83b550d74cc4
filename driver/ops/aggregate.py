"""Build aggregate commands and detect write stages ($out/$merge) that change how they run (CRUD spec)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from driver.errors import ConfigurationError
from driver.ops._util import (
    non_empty_concern,
    optional_bool,
    optional_int,
    optional_mapping,
    put,
)
from driver.ops.find import hint_value

WRITE_STAGES = frozenset({"$out", "$merge"})


def validate_pipeline(pipeline: Any) -> list[Mapping[str, Any]]:
    """A pipeline is a list of one-key stage documents; returns it as a list."""
    if not isinstance(pipeline, (list, tuple)):
        raise ConfigurationError(f"pipeline must be a list of stage documents, not {pipeline!r}")
    for i, stage in enumerate(pipeline):
        if not isinstance(stage, Mapping) or len(stage) != 1:
            raise ConfigurationError(f"pipeline stage {i} must be a document with exactly one stage operator, not {stage!r}")
    return list(pipeline)


def has_write_stage(pipeline: Sequence[Mapping[str, Any]]) -> bool:
    """True when the pipeline ends in $out or $merge.

    Why it matters: such an aggregate is a write. It must go to a primary (or a secondary
    only on 5.0+ when explicitly asked), is not a retryable read (retryable-reads spec,
    "Supported Read Operations") and carries the write concern (CRUD spec, "aggregate").
    The server only accepts these stages last; we look at the last stage only.
    """
    if not pipeline:
        return False
    last = pipeline[-1]
    return isinstance(last, Mapping) and any(k in WRITE_STAGES for k in last)


def aggregate_command(
    collection: str | int,
    pipeline: Sequence[Mapping[str, Any]],
    *,
    batch_size: int | None = None,
    allow_disk_use: bool | None = None,
    max_time_ms: int | None = None,
    bypass_document_validation: bool | None = None,
    read_concern: Mapping[str, Any] | None = None,
    write_concern: Mapping[str, Any] | None = None,
    collation: Mapping[str, Any] | None = None,
    hint: Any = None,
    comment: Any = None,
    let: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `aggregate` command; `collection` 1 means a database-level aggregate.

    With a write stage the cursor batchSize is not sent (the stage writes everything; CRUD spec
    "aggregate": batchSize is ignored for $out/$merge) and the write concern is included;
    without one a write concern is ignored.
    """
    if collection != 1 and (not isinstance(collection, str) or not collection):
        raise ConfigurationError(f"aggregate target must be a collection name or 1 (database), not {collection!r}")
    stages = validate_pipeline(pipeline)
    writes = has_write_stage(stages)
    cursor: dict[str, Any] = {}
    batch_size = optional_int(batch_size, "batch_size", minimum=0)
    if batch_size is not None and not writes:
        cursor["batchSize"] = batch_size
    cmd: dict[str, Any] = {"aggregate": collection, "pipeline": stages, "cursor": cursor}
    put(cmd, "allowDiskUse", optional_bool(allow_disk_use, "allow_disk_use"))
    put(cmd, "maxTimeMS", optional_int(max_time_ms, "max_time_ms", minimum=0))
    put(cmd, "bypassDocumentValidation", optional_bool(bypass_document_validation, "bypass_document_validation"))
    put(cmd, "readConcern", non_empty_concern(read_concern, "read_concern"))
    if writes:
        put(cmd, "writeConcern", non_empty_concern(write_concern, "write_concern"))
    put(cmd, "collation", optional_mapping(collation, "collation"))
    put(cmd, "hint", hint_value(hint))
    put(cmd, "comment", comment)
    put(cmd, "let", optional_mapping(let, "let"))
    return cmd
