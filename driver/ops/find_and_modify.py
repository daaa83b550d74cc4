"""Build findAndModify commands for findOneAndDelete/Replace/Update and read their replies (CRUD spec)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from driver.errors import ConfigurationError, ProtocolError
from driver.ops._util import (
    array_filters_list,
    key_document,
    non_empty_concern,
    optional_bool,
    optional_int,
    optional_mapping,
    put,
    require_mapping,
    require_string,
)
from driver.ops.find import hint_value, projection_document
from driver.ops.write import validate_replacement, validate_update


def find_and_modify_command(
    collection: str,
    filter: Mapping[str, Any],
    *,
    remove: bool = False,
    update: Any = None,
    replacement: Mapping[str, Any] | None = None,
    return_new: bool = False,
    projection: Any = None,
    sort: Any = None,
    upsert: bool | None = None,
    array_filters: Sequence[Mapping[str, Any]] | None = None,
    bypass_document_validation: bool | None = None,
    collation: Mapping[str, Any] | None = None,
    hint: Any = None,
    max_time_ms: int | None = None,
    write_concern: Mapping[str, Any] | None = None,
    let: Mapping[str, Any] | None = None,
    comment: Any = None,
) -> dict[str, Any]:
    """The `findAndModify` command: exactly one of remove=True, update=..., replacement=...

    `return_new` maps to `new` (CRUD spec: returnDocument "After"). Delete takes no upsert,
    arrayFilters or new; a replacement takes no arrayFilters.
    """
    chosen = [n for n, v in (("remove", remove or None), ("update", update), ("replacement", replacement)) if v is not None]
    if len(chosen) != 1:
        raise ConfigurationError(
            f"findAndModify needs exactly one of remove, update or replacement; got {chosen or 'none'}"
        )
    cmd: dict[str, Any] = {
        "findAndModify": require_string(collection, "collection name"),
        "query": dict(require_mapping(filter, "filter")),
    }
    if remove:
        if upsert is not None or array_filters is not None or return_new:
            raise ConfigurationError("findOneAndDelete does not accept upsert, array_filters or return_new")
        cmd["remove"] = True
    else:
        if update is not None:
            validate_update(update)
            cmd["update"] = update
        else:
            validate_replacement(replacement)
            if array_filters is not None:
                raise ConfigurationError("array_filters is not allowed with a replacement")
            cmd["update"] = replacement
        cmd["new"] = bool(return_new)
        put(cmd, "upsert", optional_bool(upsert, "upsert"))
        put(cmd, "arrayFilters", array_filters_list(array_filters))
    put(cmd, "fields", projection_document(projection))
    put(cmd, "sort", key_document(sort, "sort") if sort is not None else None)
    put(cmd, "bypassDocumentValidation", optional_bool(bypass_document_validation, "bypass_document_validation"))
    put(cmd, "collation", optional_mapping(collation, "collation"))
    put(cmd, "hint", hint_value(hint))
    put(cmd, "maxTimeMS", optional_int(max_time_ms, "max_time_ms", minimum=0))
    put(cmd, "writeConcern", non_empty_concern(write_concern, "write_concern"))
    put(cmd, "let", optional_mapping(let, "let"))
    put(cmd, "comment", comment)
    return cmd


def parse_find_and_modify_reply(reply: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The document findAndModify returned (`value`), or None when nothing matched."""
    if not isinstance(reply, Mapping) or "value" not in reply:
        raise ProtocolError(f"findAndModify reply has no 'value' field: {reply!r}")
    value = reply["value"]
    if value is not None and not isinstance(value, Mapping):
        raise ProtocolError(f"findAndModify reply 'value' must be a document or null, got {value!r}")
    return value
