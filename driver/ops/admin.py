"""Build listDatabases, listCollections, create, drop, dropDatabase and renameCollection commands."""

from __future__ import annotations

from typing import Any, Mapping

from driver.errors import ConfigurationError, ProtocolError
from driver.ops._util import non_empty_concern, optional_bool, optional_int, optional_mapping, put, require_string


def list_databases_command(
    *,
    filter: Mapping[str, Any] | None = None,
    name_only: bool | None = None,
    authorized_databases: bool | None = None,
    comment: Any = None,
) -> dict[str, Any]:
    """{listDatabases: 1, ...}; runs against the admin database (enumerate-databases spec)."""
    cmd: dict[str, Any] = {"listDatabases": 1}
    put(cmd, "filter", optional_mapping(filter, "filter"))
    put(cmd, "nameOnly", optional_bool(name_only, "name_only"))
    put(cmd, "authorizedDatabases", optional_bool(authorized_databases, "authorized_databases"))
    put(cmd, "comment", comment)
    return cmd


def parse_list_databases_reply(reply: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The `databases` array of a listDatabases reply (not a cursor)."""
    dbs = reply.get("databases") if isinstance(reply, Mapping) else None
    if not isinstance(dbs, (list, tuple)):
        raise ProtocolError(f"listDatabases reply: expected a 'databases' array, got {reply!r}")
    return list(dbs)


def list_collections_command(
    *,
    filter: Mapping[str, Any] | None = None,
    name_only: bool | None = None,
    authorized_collections: bool | None = None,
    batch_size: int | None = None,
    comment: Any = None,
) -> dict[str, Any]:
    """{listCollections: 1, cursor: {...}, ...} (a cursor command; enumerate-collections spec)."""
    cursor: dict[str, Any] = {}
    put(cursor, "batchSize", optional_int(batch_size, "batch_size", minimum=0))
    cmd: dict[str, Any] = {"listCollections": 1, "cursor": cursor}
    put(cmd, "filter", optional_mapping(filter, "filter"))
    put(cmd, "nameOnly", optional_bool(name_only, "name_only"))
    put(cmd, "authorizedCollections", optional_bool(authorized_collections, "authorized_collections"))
    put(cmd, "comment", comment)
    return cmd


def create_collection_command(name: str, *, write_concern: Mapping[str, Any] | None = None, comment: Any = None, **options: Any) -> dict[str, Any]:
    """{create: name, <options under their server names>} (capped, size, viewOn, pipeline, ...).

    Python-style names are accepted too and sent camelCased (view_on -> viewOn,
    expire_after_seconds -> expireAfterSeconds), as the server knows only the latter.
    """
    cmd: dict[str, Any] = {"create": require_string(name, "collection name")}
    for option, value in options.items():
        if value is not None:
            cmd[_camel(option)] = value
    put(cmd, "writeConcern", non_empty_concern(write_concern, "write_concern"))
    put(cmd, "comment", comment)
    return cmd


def _camel(name: str) -> str:
    """snake_case -> camelCase (names without an underscore are kept as given)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def drop_collection_command(name: str, *, write_concern: Mapping[str, Any] | None = None, comment: Any = None) -> dict[str, Any]:
    """{drop: name}. A NamespaceNotFound (26) reply means "already gone" and callers ignore it."""
    cmd: dict[str, Any] = {"drop": require_string(name, "collection name")}
    put(cmd, "writeConcern", non_empty_concern(write_concern, "write_concern"))
    put(cmd, "comment", comment)
    return cmd


# Server code for "ns not found"; drop() treats it as success (CRUD/collection management).
NAMESPACE_NOT_FOUND = 26


def drop_database_command(*, write_concern: Mapping[str, Any] | None = None, comment: Any = None) -> dict[str, Any]:
    """{dropDatabase: 1} for the database it is sent to."""
    cmd: dict[str, Any] = {"dropDatabase": 1}
    put(cmd, "writeConcern", non_empty_concern(write_concern, "write_concern"))
    put(cmd, "comment", comment)
    return cmd


def rename_collection_command(
    source_namespace: str,
    target_namespace: str,
    *,
    drop_target: bool | None = None,
    write_concern: Mapping[str, Any] | None = None,
    comment: Any = None,
) -> dict[str, Any]:
    """{renameCollection: "db.a", to: "db.b", dropTarget?}; must be sent to the admin database."""
    for label, ns in (("source", source_namespace), ("target", target_namespace)):
        require_string(ns, f"{label} namespace")
        db, _, coll = ns.partition(".")
        if not db or not coll:
            raise ConfigurationError(f"{label} namespace must look like 'database.collection', not {ns!r}")
    if source_namespace == target_namespace:
        raise ConfigurationError(f"cannot rename {source_namespace!r} to itself")
    cmd: dict[str, Any] = {"renameCollection": source_namespace, "to": target_namespace}
    put(cmd, "dropTarget", optional_bool(drop_target, "drop_target"))
    put(cmd, "writeConcern", non_empty_concern(write_concern, "write_concern"))
    put(cmd, "comment", comment)
    return cmd
