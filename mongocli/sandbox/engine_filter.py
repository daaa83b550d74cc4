"""Query-filter validation: a real server parses the whole filter before it looks at any document."""

from __future__ import annotations

from typing import Any

from mongocli.sandbox.engine_values import error

# Query and projection operators (MongoDB 8.0 "Query Predicates"); anything else starting with
# '$' in an operator object is "unknown operator" (BadValue, code 2).
FIELD_OPERATORS = frozenset({
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$type", "$mod",
    "$regex", "$options", "$all", "$elemMatch", "$size", "$not", "$bitsAllSet", "$bitsAnySet",
    "$bitsAllClear", "$bitsAnyClear", "$geoWithin", "$geoIntersects", "$near", "$nearSphere",
    "$within", "$box", "$center", "$centerSphere", "$polygon", "$geometry", "$maxDistance",
    "$minDistance", "$uniqueDocs",
})
TOP_LEVEL_OPERATORS = frozenset({
    "$and", "$or", "$nor", "$expr", "$where", "$text", "$comment", "$jsonSchema",
    "$alwaysTrue", "$alwaysFalse", "$sampleRate",
})
# A document whose first key is one of these is a DBRef value, compared by equality.
_DBREF_KEYS = frozenset({"$ref", "$id", "$db"})


def validate_filter(filt: Any, *, top: bool = True) -> None:
    """Raise BadValue (2) for an unknown operator, as the server's parser does; $where only at the
    top level of a filter (the engine runs it there, see server_js.py)."""
    if filt is None:
        return
    if not isinstance(filt, dict):
        raise error(2, "the match filter must be an expression in an object")
    for key, value in filt.items():
        if key.startswith("$"):
            _top_level(key, value, top)
        elif _is_operator_object(value):
            _operators(value)


def _top_level(key: str, value: Any, top: bool) -> None:
    if key not in TOP_LEVEL_OPERATORS:
        raise error(2, f"unknown top level operator: {key}. If you have a field name that starts "
                       "with a '$' symbol, consider using $getField or $setField.")
    if key in ("$and", "$or", "$nor"):
        if not isinstance(value, list) or not value:
            raise error(2, f"{key} must be a nonempty array")
        for clause in value:
            if not isinstance(clause, dict):
                raise error(2, f"{key} argument's entries must be objects")
            validate_filter(clause, top=False)
    elif key == "$where" and top:
        if not isinstance(value, str):  # bson.Code is a str; anything else is not JavaScript
            raise error(2, "$where got bad type: expected a string or JavaScript code")
    elif key == "$where":
        # The server accepts $where inside $and/$or/$nor; the sandbox runs it only at the top.
        raise error(2, "$where is supported by the mongocli sandbox only at the top level of a "
                       "filter, not inside $and/$or/$nor")


def _is_operator_object(value: Any) -> bool:
    if not isinstance(value, dict) or not value:
        return False
    first = next(iter(value))
    return first.startswith("$") and first not in _DBREF_KEYS


def _operators(spec: dict) -> None:
    for op, arg in spec.items():
        if op not in FIELD_OPERATORS:
            raise error(2, f"unknown operator: {op}")
        if op == "$not" and _is_operator_object(arg):
            _operators(arg)
        elif op == "$elemMatch" and isinstance(arg, dict):
            if _is_operator_object(arg) and next(iter(arg)) not in TOP_LEVEL_OPERATORS:
                _operators(arg)
            else:
                validate_filter(arg)
