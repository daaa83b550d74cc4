"""countDocuments as an aggregate ($match/$skip/$limit/$group) and estimatedDocumentCount via count (CRUD spec)."""

from __future__ import annotations

from typing import Any, Mapping

from driver.errors import ProtocolError
from driver.ops._util import non_empty_concern, optional_int, optional_mapping, put, require_mapping, require_string
from driver.ops.aggregate import aggregate_command
from driver.ops.find import parse_cursor_reply


def count_documents_pipeline(
    filter: Mapping[str, Any] | None = None, *, skip: int | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """[{$match: filter}, {$skip}?, {$limit}?, {$group: {_id: 1, n: {$sum: 1}}}].

    CRUD spec, "countDocuments": skip and limit become stages in that order; 0 means unset.
    """
    pipeline: list[dict[str, Any]] = [{"$match": dict(require_mapping(filter if filter is not None else {}, "filter"))}]
    skip = optional_int(skip, "skip", minimum=0)
    limit = optional_int(limit, "limit", minimum=0)
    if skip:
        pipeline.append({"$skip": skip})
    if limit:
        pipeline.append({"$limit": limit})
    pipeline.append({"$group": {"_id": 1, "n": {"$sum": 1}}})
    return pipeline


def count_documents_command(
    collection: str,
    filter: Mapping[str, Any] | None = None,
    *,
    skip: int | None = None,
    limit: int | None = None,
    hint: Any = None,
    collation: Mapping[str, Any] | None = None,
    max_time_ms: int | None = None,
    read_concern: Mapping[str, Any] | None = None,
    comment: Any = None,
) -> dict[str, Any]:
    """The aggregate command that counts documents matching `filter`."""
    return aggregate_command(
        require_string(collection, "collection name"),
        count_documents_pipeline(filter, skip=skip, limit=limit),
        hint=hint, collation=collation, max_time_ms=max_time_ms, read_concern=read_concern, comment=comment,
    )


def parse_count_documents_reply(reply: Mapping[str, Any]) -> int:
    """The count from the aggregate reply; an empty first batch means 0 documents matched."""
    batch = parse_cursor_reply(reply).batch
    if not batch:
        return 0
    n = batch[0].get("n") if isinstance(batch[0], Mapping) else None
    if isinstance(n, bool) or not isinstance(n, (int, float)):
        raise ProtocolError(f"countDocuments reply: expected {{n: <number>}}, got {batch[0]!r}")
    return int(n)


def estimated_document_count_command(
    collection: str,
    *,
    max_time_ms: int | None = None,
    read_concern: Mapping[str, Any] | None = None,
    comment: Any = None,
) -> dict[str, Any]:
    """{count: collection} without a query: the server answers from collection metadata.

    CRUD spec, "estimatedDocumentCount": drivers MUST use the count command (also on views).
    """
    cmd: dict[str, Any] = {"count": require_string(collection, "collection name")}
    put(cmd, "maxTimeMS", optional_int(max_time_ms, "max_time_ms", minimum=0))
    put(cmd, "readConcern", non_empty_concern(read_concern, "read_concern"))
    put(cmd, "comment", comment)
    return cmd


def count_command(
    collection: str,
    filter: Mapping[str, Any] | None = None,
    *,
    skip: int | None = None,
    limit: int | None = None,
    hint: Any = None,
    collation: Mapping[str, Any] | None = None,
    max_time_ms: int | None = None,
    read_concern: Mapping[str, Any] | None = None,
    comment: Any = None,
) -> dict[str, Any]:
    """The legacy `count` command with a query (for the deprecated count helper)."""
    from driver.ops.find import hint_value

    cmd = estimated_document_count_command(collection, max_time_ms=max_time_ms, read_concern=read_concern, comment=comment)
    put(cmd, "query", optional_mapping(filter, "filter"))
    skip = optional_int(skip, "skip", minimum=0)
    if skip:
        cmd["skip"] = skip
    limit = optional_int(limit, "limit")
    if limit:
        cmd["limit"] = limit
    put(cmd, "hint", hint_value(hint))
    put(cmd, "collation", optional_mapping(collation, "collation"))
    return cmd


def parse_count_reply(reply: Mapping[str, Any]) -> int:
    """`n` of a count reply as an int."""
    n = reply.get("n") if isinstance(reply, Mapping) else None
    if isinstance(n, bool) or not isinstance(n, (int, float)):
        raise ProtocolError(f"count reply: expected a numeric 'n', got {reply!r}")
    return int(n)
