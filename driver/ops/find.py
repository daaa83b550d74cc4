"""Build find/getMore/killCursors commands and parse cursor replies (find/getMore/killCursors spec)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable, NamedTuple

from bson import Int64

from driver.errors import ConfigurationError, ProtocolError
from driver.wire.batch import EncodedBatch
from driver.ops._util import (
    key_document,
    non_empty_concern,
    optional_bool,
    optional_int,
    optional_mapping,
    put,
    require_mapping,
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


# find options after filter/limit/batchSize/singleBatch, in the order the command carries them:
# keyword -> (command field, check). A check takes (value, keyword) and returns what is sent
# (None: not sent).
_FIND_OPTIONS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "sort": ("sort", key_document),
    "projection": ("projection", lambda value, name: projection_document(value)),
    "hint": ("hint", lambda value, name: hint_value(value)),
    "skip": ("skip", lambda value, name: optional_int(value, name, minimum=0)),
    "comment": ("comment", lambda value, name: value),
    "max_time_ms": ("maxTimeMS", lambda value, name: optional_int(value, name, minimum=0)),
    "read_concern": ("readConcern", non_empty_concern),
    "max": ("max", optional_mapping),
    "min": ("min", optional_mapping),
    "return_key": ("returnKey", optional_bool),
    "show_record_id": ("showRecordId", optional_bool),
    "no_cursor_timeout": ("noCursorTimeout", optional_bool),
    "allow_partial_results": ("allowPartialResults", optional_bool),
    "collation": ("collation", optional_mapping),
    "allow_disk_use": ("allowDiskUse", optional_bool),
    "let": ("let", optional_mapping),
    "raw_data": ("rawData", lambda value, name: True if optional_bool(value, name) else None),  # only when true
    # Tailable cursors (CRUD spec, "cursorType"): sent only when true.
    "tailable": ("tailable", lambda value, name: optional_bool(value, name) or None),
    "await_data": ("awaitData", lambda value, name: optional_bool(value, name) or None),
}
FIND_OPTION_NAMES = frozenset(_FIND_OPTIONS)


def find_command(
    collection: str,
    filter: Mapping[str, Any] | None = None,
    *,
    limit: int | None = None,
    batch_size: int | None = None,
    single_batch: bool | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The `find` command document for the given options; unset (None) options are not sent.

    `options` are the keywords of _FIND_OPTIONS (sort, projection, hint, skip, comment,
    max_time_ms, read_concern, max, min, return_key, show_record_id, no_cursor_timeout,
    allow_partial_results, collation, allow_disk_use, let); another is a ConfigurationError.
    Only the options given are looked at, so a find by _id costs no option checks.

    Limit rules (find/getMore/killCursors spec, "Mapping OP_QUERY behavior"): a negative limit
    means "one batch of at most |limit|" (limit=|limit|, singleBatch=true); limit 0 means no limit
    and is not sent. When batchSize equals limit, batchSize is sent as limit + 1 so the server
    closes the cursor with the first batch instead of leaving one open (CRUD spec, "find":
    batchSize; crud/unified/find.json "Find with batchSize equal to limit").
    """
    if type(collection) is not str or not collection:
        require_string(collection, "collection name")
    if filter is None:
        filter = {}
    elif type(filter) is not dict:
        require_mapping(filter, "filter")
    cmd: dict[str, Any] = {"find": collection, "filter": filter}
    given = {key: value for key, value in options.items() if value is not None} if options else None
    if given:
        unknown = given.keys() - FIND_OPTION_NAMES
        if unknown:
            raise ConfigurationError(f"unknown find option(s): {', '.join(sorted(unknown))}")
        for key in ("sort", "projection", "hint", "skip"):
            if key in given:
                field_name, check = _FIND_OPTIONS[key]
                put(cmd, field_name, check(given.pop(key), key))
        if not cmd.get("skip", 1):
            del cmd["skip"]  # skip 0 is the default: not sent
    if limit is not None or batch_size is not None or single_batch is not None:
        _put_limits(cmd, limit, batch_size, single_batch)
    if given:
        for key, (field_name, check) in _FIND_OPTIONS.items():
            if key in given:
                put(cmd, field_name, check(given[key], key))
    return cmd


def _put_limits(cmd: dict[str, Any], limit: Any, batch_size: Any, single_batch: Any) -> None:
    """limit, batchSize and singleBatch as find_command's docstring says."""
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
    """The `killCursors` command for one or more non-zero cursor ids of one collection.

    The ids go out as BSON int64 (find/getMore/killCursors spec: `cursors` is an array of int64),
    even those small enough for an int32."""
    ids = list(cursor_ids)
    if not ids or any(isinstance(c, bool) or not isinstance(c, int) or c == 0 for c in ids):
        raise ConfigurationError(f"killCursors needs one or more non-zero cursor ids, not {ids!r}")
    return {"killCursors": require_string(collection, "collection name"), "cursors": [Int64(c) for c in ids]}


def next_batch_size(limit: int, batch_size: int, returned: int) -> int:
    """batchSize to send on the next getMore: never ask for more than the limit still allows.

    `limit` 0 means unlimited, `batch_size` 0 means "server default". Returns 0 for "do not send";
    a caller seeing limit reached should kill the cursor instead of calling getMore.
    """
    if limit:
        remaining = max(abs(limit) - returned, 0)
        return min(batch_size, remaining) if batch_size else remaining
    return batch_size


class CursorReply(NamedTuple):
    """One parsed cursor reply: `id` 0 means the server closed the cursor. (A NamedTuple: one is
    built per find, getMore and aggregate reply, and a frozen dataclass costs several times more.)"""

    id: int
    ns: str
    batch: list[Any] | EncodedBatch
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
    # type() checks first: isinstance against the Mapping ABC costs more than the rest of the parse.
    is_mapping = type(reply) is dict or isinstance(reply, Mapping)
    cursor = reply.get("cursor") if is_mapping else None
    if type(cursor) is not dict and not isinstance(cursor, Mapping):
        raise ProtocolError(f"cursor reply has no 'cursor' document: {dict(reply) if is_mapping else reply!r}")
    cid = cursor.get("id")
    if type(cid) is not int and (isinstance(cid, bool) or not isinstance(cid, int)):
        raise ProtocolError(f"cursor reply: 'cursor.id' must be an integer, got {cid!r}")
    ns = cursor.get("ns", "")
    if type(ns) is not str:
        raise ProtocolError(f"cursor reply: 'cursor.ns' must be a string, got {ns!r}")
    batch = cursor.get("firstBatch", _NO_BATCH)
    if batch is _NO_BATCH:
        batch = cursor.get("nextBatch", _NO_BATCH)
        if batch is _NO_BATCH:
            raise ProtocolError("cursor reply has neither 'cursor.firstBatch' nor 'cursor.nextBatch'")
    if type(batch) is not list and type(batch) is not EncodedBatch:  # EncodedBatch: a large one, kept encoded
        if not isinstance(batch, (list, tuple)):
            raise ProtocolError(f"cursor reply: the batch must be an array, got {type(batch).__name__}")
        batch = list(batch)
    # The decoder made `batch` for this reply: it is the cursor's to keep, not copied.
    return CursorReply(int(cid), ns, batch, cursor.get("postBatchResumeToken"))


_NO_BATCH = object()
