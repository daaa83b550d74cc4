"""Index specs, generated index names and the createIndexes/dropIndexes/listIndexes commands (index-management spec)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from driver.errors import ConfigurationError
from driver.ops._util import key_document, non_empty_concern, optional_int, put, require_string

# Directions the server understands besides numbers (index-management spec, "Index Types").
INDEX_TYPES = frozenset({"2d", "2dsphere", "geoHaystack", "hashed", "text", "columnstore"})


def index_keys(spec: Any) -> dict[str, Any]:
    """Normalise [("a", 1)], {"a": 1} or "a" into an ordered key document, checking directions.

    A direction is a non-zero number (1 / -1) or an index type such as "text" or "2dsphere".
    """
    keys = key_document(spec, "index keys")
    for field, direction in keys.items():
        if isinstance(direction, bool):
            raise ConfigurationError(f"index key {field!r}: direction must be 1, -1 or an index type, not {direction!r}")
        if isinstance(direction, (int, float)):
            if direction == 0:
                raise ConfigurationError(f"index key {field!r}: direction 0 is not allowed; use 1 or -1")
        elif not (isinstance(direction, str) and direction):
            raise ConfigurationError(
                f"index key {field!r}: direction must be 1, -1 or an index type like 'text', not {direction!r}"
            )
    return keys


def index_name(keys: Any) -> str:
    """The server-style default name: "a_1_b_-1" for {a: 1, b: -1} (index-management spec)."""
    return "_".join(f"{field}_{direction}" for field, direction in index_keys(keys).items())


def index_document(keys: Any, *, name: str | None = None, **options: Any) -> dict[str, Any]:
    """One element of createIndexes `indexes`: {key, name, <options as given>}.

    Options are passed through under their server names (unique, sparse, expireAfterSeconds,
    partialFilterExpression, collation, ...): the server validates them, we do not guess.
    """
    key = index_keys(keys)
    doc: dict[str, Any] = {"key": key, "name": require_string(name, "index name") if name is not None else index_name(key)}
    for option, value in options.items():
        if option in ("key", "name"):
            raise ConfigurationError(f"index option {option!r} is given by the keys and name arguments")
        if value is not None:
            doc[option] = value
    return doc


def create_indexes_command(
    collection: str,
    indexes: Sequence[Mapping[str, Any]],
    *,
    commit_quorum: Any = None,
    max_time_ms: int | None = None,
    write_concern: Mapping[str, Any] | None = None,
    comment: Any = None,
) -> dict[str, Any]:
    """The `createIndexes` command from index_document() elements."""
    if not indexes:
        raise ConfigurationError("createIndexes needs at least one index")
    for i, ix in enumerate(indexes):
        if not isinstance(ix, Mapping) or "key" not in ix or "name" not in ix:
            raise ConfigurationError(f"index {i} must be a document with 'key' and 'name' (use index_document())")
    cmd: dict[str, Any] = {"createIndexes": require_string(collection, "collection name"), "indexes": list(indexes)}
    put(cmd, "commitQuorum", commit_quorum)
    put(cmd, "maxTimeMS", optional_int(max_time_ms, "max_time_ms", minimum=0))
    put(cmd, "writeConcern", non_empty_concern(write_concern, "write_concern"))
    put(cmd, "comment", comment)
    return cmd


def drop_indexes_command(
    collection: str,
    index: Any = "*",
    *,
    max_time_ms: int | None = None,
    write_concern: Mapping[str, Any] | None = None,
    comment: Any = None,
) -> dict[str, Any]:
    """The `dropIndexes` command: index "*" drops all but _id; a key spec is turned into its name."""
    name = index if isinstance(index, str) else index_name(index)
    cmd: dict[str, Any] = {"dropIndexes": require_string(collection, "collection name"), "index": name}
    put(cmd, "maxTimeMS", optional_int(max_time_ms, "max_time_ms", minimum=0))
    put(cmd, "writeConcern", non_empty_concern(write_concern, "write_concern"))
    put(cmd, "comment", comment)
    return cmd


def list_indexes_command(collection: str, *, batch_size: int | None = None, comment: Any = None) -> dict[str, Any]:
    """The `listIndexes` command (a cursor command: read the reply with parse_cursor_reply)."""
    cursor: dict[str, Any] = {}
    put(cursor, "batchSize", optional_int(batch_size, "batch_size", minimum=0))
    cmd: dict[str, Any] = {"listIndexes": require_string(collection, "collection name"), "cursor": cursor}
    put(cmd, "comment", comment)
    return cmd
