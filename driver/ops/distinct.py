"""Build the distinct command and read its values (CRUD spec, "distinct")."""

from __future__ import annotations

from typing import Any, Mapping

from driver.errors import ProtocolError
from driver.ops._util import non_empty_concern, optional_int, optional_mapping, put, require_string
from driver.ops.find import hint_value


def distinct_command(
    collection: str,
    key: str,
    filter: Mapping[str, Any] | None = None,
    *,
    collation: Mapping[str, Any] | None = None,
    hint: Any = None,
    max_time_ms: int | None = None,
    read_concern: Mapping[str, Any] | None = None,
    comment: Any = None,
) -> dict[str, Any]:
    """{distinct: collection, key: field, query: filter, ...}; unset options are not sent."""
    cmd: dict[str, Any] = {
        "distinct": require_string(collection, "collection name"),
        "key": require_string(key, "distinct field name"),
    }
    cmd["query"] = dict(optional_mapping(filter, "filter") or {})
    put(cmd, "collation", optional_mapping(collation, "collation"))
    put(cmd, "hint", hint_value(hint))
    put(cmd, "maxTimeMS", optional_int(max_time_ms, "max_time_ms", minimum=0))
    put(cmd, "readConcern", non_empty_concern(read_concern, "read_concern"))
    put(cmd, "comment", comment)
    return cmd


def parse_distinct_reply(reply: Mapping[str, Any]) -> list[Any]:
    """The `values` array of a distinct reply."""
    values = reply.get("values") if isinstance(reply, Mapping) else None
    if not isinstance(values, (list, tuple)):
        raise ProtocolError(f"distinct reply: expected a 'values' array, got {reply!r}")
    return list(values)
