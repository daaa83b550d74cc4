"""Build find/getMore/killCursors commands and parse cursor replies (find/getMore/killCursors spec)."""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Mapping, Sequence
from typing import Any

from driver.errors import ConfigurationError, ProtocolError
from driver.ops._util import (
    key_document,
    non_empty_concern,
    optional_bool,
    optional_int,
    optional_mapping,
    put,
    require_string,
)


def projection_document(projection: Any) -> Mapping[str, Any] | None:
    """A projection as a document; a list of field names means {name: 1, ...}."""
    if projection is None or isinstance(projection, Mapping):
        return projection
    if isinstance(projection, (list, tuple)) and all(isinstance(p, str) for p in projection):
        return {p: 1 for p in projection}
    raise ConfigurationError(f"projection must be a document or a list of field names, not {projection!r}")


def hint_value(hint: Any) -> str | Mapping[str, Any] | None:
    """An index hint: an index name stays a string, a key spec becomes a key document."""
    if hint is None or isinstance(hint, str):
        return hint
    return key_document(hint, "hint")


def find_command(
    collection: str,
    filter: Mapping[str, Any] | None = None,
    *,
    projection: Any = None,
    sort: Any = None,
    skip: int | None = None,
    limit: int | None = None,
    batch_size: int | None = None,
    single_batch: bool | None = None,
    hint: Any = None,
    collation: Mapping[str, Any] | None = None,
    max_time_ms: int | None = None,
    comment: Any = None,
    allow_disk_use: bool | None = None,
    let: Mapping[str, Any] | None = None,
    read_concern: Mapping[str, Any] | None = None,
    max: Mapping[str, Any] | None = None,
    min: Mapping[str, Any] | None = None,
    return_key: bool | None = None,
    show_record_id: bool | None = None,
    no_cursor_timeout: bool | None = None,
    allow_partial_results: bool | None = None,
) -> dict[str, Any]:
    """The `find` command document for the given options; unset options are not sent.

    Limit rules (find/getMore/killCursors spec, "Mapping OP_QUERY behavior"): a negative limit
    means "one batch of at most |limit|" (limit=|limit|, singleBatch=true); limit 0 means no limit
    and is not sent. When batchSize equals limit, batchSize is sent as limit + 1 so the server
    closes the cursor with the first batch instead of leaving one open (CRUD spec, "find":
    batchSize; crud/unified/find.json "Find with batchSize equal to limit").
    """
    cmd: dict[str, Any] = {"find": require_string(collection, "collection name")}
    put(cmd, "filter", optional_mapping(filter, "filter") if filter is not None else {})
    put(cmd, "sort", key_document(sort, "sort") if sort is not None else None)
    put(cmd, "projection", projection_document(projection))
    put(cmd, "hint", hint_value(hint))
    skip = optional_int(skip, "skip", minimum=0)
    if skip:
        cmd["skip"] = skip
    limit = optional_int(limit, "limit")
    batch_size = optional_int(batch_size, "batch_size", minimum=0)
    single = optional_bool(single_batch, "single_batch")
    if limit is not None and limit < 0:
        limit, single = -limit, True
    if limit:
        cmd["limit"] = limit
    if batch_size is not None:
        if limit and batch_size == limit and not single:
            batch_size = limit + 1
        cmd["batchSize"] = batch_size
    if single:
        cmd["singleBatch"] = True
    put(cmd, "comment", comment)
    put(cmd, "maxTimeMS", optional_int(max_time_ms, "max_time_ms", minimum=0))
    put(cmd, "readConcern", non_empty_concern(read_concern, "read_concern"))
    put(cmd, "max", optional_mapping(max, "max"))
    put(cmd, "min", optional_mapping(min, "min"))
    put(cmd, "returnKey", optional_bool(return_key, "return_key"))
    put(cmd, "showRecordId", optional_bool(show_record_id, "show_record_id"))
    put(cmd, "noCursorTimeout", optional_bool(no_cursor_timeout, "no_cursor_timeout"))
    put(cmd, "allowPartialResults", optional_bool(allow_partial_results, "allow_partial_results"))
    put(cmd, "collation", optional_mapping(collation, "collation"))
    put(cmd, "allowDiskUse", optional_bool(allow_disk_use, "allow_disk_use"))
    put(cmd, "let", optional_mapping(let, "let"))
    return cmd


def get_more_command(
    collection: str,
    cursor_id: int,
    *,
    batch_size: int | None = None,
    max_time_ms: int | None = None,
    comment: Any = None,
) -> dict[str, Any]:
    """The `getMore` command; batchSize 0 or None is not sent (the server's default applies).

    Why `comment`: since 4.4 getMore accepts it and the CRUD spec asks drivers to pass the
    cursor's comment on getMore too. The caller converts cursor_id to Int64 if it encodes.
    """
    if isinstance(cursor_id, bool) or not isinstance(cursor_id, int) or cursor_id == 0:
        raise ConfigurationError(f"getMore needs a live (non-zero) cursor id, not {cursor_id!r}")
    cmd: dict[str, Any] = {"getMore": cursor_id, "collection": require_string(collection, "collection name")}
    batch_size = optional_int(batch_size, "batch_size", minimum=0)
    if batch_size:
        cmd["batchSize"] = batch_size
    put(cmd, "maxTimeMS", optional_int(max_time_ms, "max_time_ms", minimum=0))
    put(cmd, "comment", comment)
    return cmd


def kill_cursors_command(collection: str, cursor_ids: Sequence[int]) -> dict[str, Any]:
    """The `killCursors` command for one or more non-zero cursor ids of one collection."""
    ids = list(cursor_ids)
    if not ids or any(isinstance(c, bool) or not isinstance(c, int) or c == 0 for c in ids):
        raise ConfigurationError(f"killCursors needs one or more non-zero cursor ids, not {ids!r}")
    return {"killCursors": require_string(collection, "collection name"), "cursors": ids}


def next_batch_size(limit: int, batch_size: int, returned: int) -> int:
    """batchSize to send on the next getMore: never ask for more than the limit still allows.

    `limit` 0 means unlimited, `batch_size` 0 means "server default". Returns 0 for "do not send";
    a caller seeing limit reached should kill the cursor instead of calling getMore.
    """
    if limit:
        remaining = max(abs(limit) - returned, 0)
        return min(batch_size, remaining) if batch_size else remaining
    return batch_size


@dataclass(frozen=True)
class CursorReply:
    """One parsed cursor reply: `id` 0 means the server closed the cursor."""

    id: int
    ns: str
    batch: list[Any] = field(default_factory=list)
    post_batch_resume_token: Mapping[str, Any] | None = None

    @property
    def database(self) -> str:
        """Database part of ns ("db.coll.with.dots" -> "db")."""
        return self.ns.partition(".")[0]

    @property
    def collection(self) -> str:
        """Collection part of ns (everything after the first dot)."""
        return self.ns.partition(".")[2]

    @property
    def exhausted(self) -> bool:
        """True when no getMore is possible (cursor id 0)."""
        return self.id == 0


def parse_cursor_reply(reply: Mapping[str, Any]) -> CursorReply:
    """Parse {cursor: {id, ns, firstBatch | nextBatch}} of find/aggregate/getMore/list* replies.

    Raises ProtocolError naming the missing or ill-typed field: a reply without a valid cursor
    is a server or proxy bug, not something to guess around.
    """
    cursor = reply.get("cursor") if isinstance(reply, Mapping) else None
    if not isinstance(cursor, Mapping):
        raise ProtocolError(f"cursor reply has no 'cursor' document: {dict(reply) if isinstance(reply, Mapping) else reply!r}")
    cid = cursor.get("id")
    if isinstance(cid, bool) or not isinstance(cid, int):
        raise ProtocolError(f"cursor reply: 'cursor.id' must be an integer, got {cid!r}")
    ns = cursor.get("ns", "")
    if not isinstance(ns, str):
        raise ProtocolError(f"cursor reply: 'cursor.ns' must be a string, got {ns!r}")
    if "firstBatch" in cursor:
        batch = cursor["firstBatch"]
    elif "nextBatch" in cursor:
        batch = cursor["nextBatch"]
    else:
        raise ProtocolError("cursor reply has neither 'cursor.firstBatch' nor 'cursor.nextBatch'")
    if not isinstance(batch, (list, tuple)):
        raise ProtocolError(f"cursor reply: the batch must be an array, got {type(batch).__name__}")
    token = cursor.get("postBatchResumeToken")
    return CursorReply(id=int(cid), ns=ns, batch=list(batch), post_batch_resume_token=token)
