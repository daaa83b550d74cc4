"""Index-scan plans of the sandbox engine: a hinted index gives the order and membership of the
results, and min/max bound the scan over that index's keys (find's hint/min/max)."""

from __future__ import annotations

from typing import Any

from mongocli.sandbox.engine_values import error, order_key, path_values, sort_docs


def _first_key_value(doc: dict, field: str) -> Any:
    values = path_values(doc, field)
    value = values[0] if values else None
    if isinstance(value, list):
        value = min(value, key=order_key) if value else None
    return value


def _compare_to_bound(doc: dict, keys: list[tuple[str, Any]], bound: dict) -> int:
    """-1/0/1: ``doc``'s index key against a min/max bound, in the index's own order."""
    for (field, direction), bound_value in zip(keys, bound.values()):
        mine, theirs = order_key(_first_key_value(doc, field)), order_key(bound_value)
        if mine != theirs:
            result = -1 if mine < theirs else 1
            return -result if isinstance(direction, (int, float)) and direction < 0 else result
    return 0


def _check_bound(keys: list[tuple[str, Any]], bound: Any, which: str) -> dict:
    if not isinstance(bound, dict):
        raise error(14, f"BSON field 'find.{which}' is the wrong type, expected type 'object'")
    if [f for f, _ in keys] != list(bound):
        # Server: query_planner.cpp refuses min/max whose fields are not the hinted key pattern.
        raise error(51174, "The index chosen is not valid for min/max")
    return bound


def hinted_scan(coll: Any, docs: list[dict], filt: dict, cmd: dict) -> list[dict]:
    """Apply ``hint``/``min``/``max`` of a find to the matched ``docs`` (natural order).

    A hinted index scan returns documents in index-key order (ties in RecordId order) and only
    the documents the index holds (a sparse or partial index skips the others); ``min`` is an
    inclusive and ``max`` an exclusive bound on the index key. min/max need a hint (server 4.2+)."""
    hint, low, high = cmd.get("hint"), cmd.get("min"), cmd.get("max")
    if (low or high) and not hint:
        raise error(51173, "When using min()/max() a hint of which index to use must be provided")
    if not hint:
        return docs
    if isinstance(hint, dict) and list(hint) == ["$natural"]:
        return list(reversed(docs)) if hint["$natural"] in (-1, -1.0) else docs
    index = coll.usable_index(filt, hint)  # BadValue (2) for a hint naming no index
    if index.sparse or index.partial is not None:
        docs = [d for d in docs if next(iter(index.entries_of(d)), None) is not None]
    numeric = {f: (1 if d > 0 else -1) for f, d in index.keys
               if isinstance(d, (int, float)) and not isinstance(d, bool)}
    if len(numeric) == len(index.keys):
        docs = sort_docs(docs, numeric)
    if low:
        bound = _check_bound(index.keys, low, "min")
        docs = [d for d in docs if _compare_to_bound(d, index.keys, bound) >= 0]
    if high:
        bound = _check_bound(index.keys, high, "max")
        docs = [d for d in docs if _compare_to_bound(d, index.keys, bound) < 0]
    return docs


_BOUNDS = {"$lt": (-1, False), "$lte": (-1, True), "$gt": (1, False), "$gte": (1, True)}


def _as_conditions(value: Any) -> dict:
    if isinstance(value, dict) and value and all(k.startswith("$") for k in value):
        return value
    return {"$eq": value}


def _implies_one(query: dict, wanted_op: str, wanted: Any) -> bool:
    # Does some condition of the query on a field guarantee `field <wanted_op> wanted`?
    if wanted_op == "$exists":
        return bool(wanted) and any((op == "$eq" and v is not None) or op in _BOUNDS or (op == "$exists" and v)
                                    for op, v in query.items())
    if wanted_op == "$eq":
        return "$eq" in query and order_key(query["$eq"]) == order_key(wanted)
    if wanted_op not in _BOUNDS:
        return False
    side, inclusive = _BOUNDS[wanted_op]
    target = order_key(wanted)
    for op, value in query.items():
        mine = order_key(value)
        if mine[0] != target[0]:
            continue  # different BSON types never satisfy a range on another type
        if op == "$eq":
            if (mine < target if side < 0 else mine > target) or (inclusive and mine == target):
                return True
        elif op in _BOUNDS and _BOUNDS[op][0] == side:
            strict_enough = _BOUNDS[op][1] is False or inclusive
            if (mine < target if side < 0 else mine > target) or (mine == target and strict_enough):
                return True
    return False


def filter_implies(query: dict, partial: dict) -> bool:
    """Whether every document matching ``query`` matches a partial index's filter (the planner
    may use a partial index only then). Field comparisons, $exists and $and; else False."""
    for field, condition in partial.items():
        if field == "$and" and isinstance(condition, list):
            if not all(filter_implies(query, c) for c in condition if isinstance(c, dict)):
                return False
            continue
        if field.startswith("$") or field not in query:
            return False
        have = _as_conditions(query[field])
        if not all(_implies_one(have, op, value) for op, value in _as_conditions(condition).items()):
            return False
    return True
