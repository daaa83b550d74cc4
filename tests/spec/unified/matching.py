"""The unified test format's "Evaluating Matches" rules, pure: match(expected, actual) or AssertionError."""

from __future__ import annotations

import binascii
import datetime
import math
import re
import uuid
from typing import Any, Mapping

from bson import Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp, DBRef, json_util

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


class InvalidExpectation(ValueError):
    """The test file itself is malformed (unknown $$ operator, bad hex, undefined entity)."""


# --------------------------------------------------------------------------- type names

def bson_type_name(value: Any) -> str:
    """The $type alias of a decoded BSON value ("int", "long", "double", "object", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Int64):
        return "long"
    if isinstance(value, int):
        return "int" if _INT32_MIN <= value <= _INT32_MAX else "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, Decimal128):
        return "decimal"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (Binary, bytes, bytearray, uuid.UUID)):
        return "binData"
    if isinstance(value, ObjectId):
        return "objectId"
    if isinstance(value, datetime.datetime) or type(value).__name__ == "DatetimeMS":
        return "date"
    if isinstance(value, Timestamp):
        return "timestamp"
    if isinstance(value, (Regex, re.Pattern)):
        return "regex"
    if isinstance(value, Code):
        return "javascriptWithScope" if value.scope is not None else "javascript"
    if isinstance(value, MinKey):
        return "minKey"
    if isinstance(value, MaxKey):
        return "maxKey"
    if isinstance(value, DBRef):
        return "object"  # a DBRef is a document on the wire
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


_ALIASES = {"number": {"int", "long", "double", "decimal"}}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------------------- scalars

def _normalise(value: Any) -> Any:
    """Bring equal BSON values to one Python form (bytes vs Binary(0), UUID vs Binary(4))."""
    if isinstance(value, uuid.UUID):
        return Binary.from_uuid(value)
    if isinstance(value, (bytes, bytearray)) and not isinstance(value, Binary):
        return Binary(bytes(value), 0)
    if isinstance(value, re.Pattern):
        return Regex.from_native(value)
    return value


def _scalar_equal(expected: Any, actual: Any) -> bool:
    if _is_number(expected) and _is_number(actual):
        # Flexible numeric comparisons: int32/int64/double equal by value (not Decimal128).
        if isinstance(expected, float) and isinstance(actual, float) and math.isnan(expected):
            return math.isnan(actual)
        return expected == actual
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    e, a = _normalise(expected), _normalise(actual)
    if bson_type_name(e) != bson_type_name(a):
        return False
    if isinstance(e, Regex):
        return e.pattern == a.pattern and e.flags == a.flags
    return bool(e == a)


# --------------------------------------------------------------------------- matcher

def _operator(value: Any) -> str | None:
    """The $$ operator name when value is a document whose first and only key starts with $$."""
    if isinstance(value, Mapping) and len(value) == 1:
        key = next(iter(value))
        if isinstance(key, str) and key.startswith("$$"):
            return key
    return None


def _fail(path: str, message: str) -> None:
    raise AssertionError(f"{path}: {message}")


def _entity(entities: Mapping[str, Any] | None, name: Any, op: str, path: str) -> Any:
    if not isinstance(name, str):
        raise InvalidExpectation(f"{path}: {op} needs an entity name, got {name!r}")
    if entities is None or name not in entities:
        raise InvalidExpectation(f"{path}: {op} refers to undefined entity {name!r}")
    return entities[name]


def _session_lsid(session: Any, path: str) -> Any:
    """An lsid from a session entity: a mapping lsid itself, or an object with session_id / lsid."""
    for attr in ("session_id", "lsid"):
        if hasattr(session, attr):
            return getattr(session, attr)
    if isinstance(session, Mapping) and "id" in session:
        return session
    raise InvalidExpectation(f"{path}: $$sessionLsid entity is not a session: {session!r}")


def _hex_bytes(spec: Any, path: str) -> bytes:
    if not isinstance(spec, str) or len(spec) % 2 or not re.fullmatch(r"[0-9A-Fa-f]*", spec):
        raise InvalidExpectation(f"{path}: $$matchesHexBytes needs an even-length hex string, got {spec!r}")
    return binascii.unhexlify(spec)


def _match_operator(op: str, arg: Any, actual: Any, path: str, root: bool, entities: Mapping[str, Any] | None) -> None:
    if op == "$$exists":
        if not isinstance(arg, bool):
            raise InvalidExpectation(f"{path}: $$exists takes true or false, got {arg!r}")
        if arg and actual is MISSING:
            _fail(path, "expected the field to exist")
        if not arg and actual is not MISSING:
            _fail(path, f"expected no such field, found {actual!r}")
        return
    if op == "$$unsetOrMatches":
        # A top-level None is "no result" (a driver returning nothing); keys use MISSING.
        if actual is MISSING or actual is None:
            return
        _match(arg, actual, path, root, entities)
        return
    if actual is MISSING:
        _fail(path, f"expected a value matching {{{op}: {arg!r}}}, the field is missing")
    if op == "$$type":
        wanted = [arg] if isinstance(arg, str) else arg
        if not isinstance(wanted, (list, tuple)) or not all(isinstance(t, str) for t in wanted):
            raise InvalidExpectation(f"{path}: $$type takes a type name or a list of them, got {arg!r}")
        names = set()
        for t in wanted:
            names |= _ALIASES.get(t, {t})
        got = bson_type_name(actual)
        if got not in names:
            _fail(path, f"expected type {' or '.join(wanted)}, got {got} ({actual!r})")
        return
    if op == "$$matchesEntity":
        _match(_entity(entities, arg, op, path), actual, path, root, entities)
        return
    if op == "$$sessionLsid":
        lsid = _session_lsid(_entity(entities, arg, op, path), path)
        if not _exact_equal(lsid, actual):
            _fail(path, f"expected the lsid of session {arg!r} ({lsid!r}), got {actual!r}")
        return
    if op == "$$matchesHexBytes":
        want = _hex_bytes(arg, path)
        if not isinstance(actual, (bytes, bytearray)):
            _fail(path, f"expected bytes matching hex {arg!r}, got {bson_type_name(actual)}")
        if bytes(actual) != want:
            _fail(path, f"expected bytes {arg!r}, got {bytes(actual).hex()!r}")
        return
    if op == "$$lte":
        if not _is_number(arg):
            raise InvalidExpectation(f"{path}: $$lte takes a number, got {arg!r}")
        if not _is_number(actual) or not actual <= arg:
            _fail(path, f"expected a number <= {arg!r}, got {actual!r}")
        return
    if op == "$$matchAsDocument":
        if not isinstance(actual, str):
            _fail(path, f"$$matchAsDocument expects an Extended JSON string, got {bson_type_name(actual)}")
        try:
            parsed = json_util.loads(actual)
        except ValueError as exc:
            _fail(path, f"$$matchAsDocument: actual is not valid Extended JSON: {exc}")
        if not isinstance(parsed, Mapping):
            _fail(path, f"$$matchAsDocument: actual JSON is not a document: {actual!r}")
        _match(arg, parsed, path, False, entities)
        return
    if op == "$$matchAsRoot":
        if not isinstance(arg, Mapping) or not isinstance(actual, Mapping):
            _fail(path, "$$matchAsRoot needs documents on both sides")
        _match(arg, actual, path, True, entities)
        return
    raise InvalidExpectation(f"{path}: unknown special operator {op!r}")


def _exact_equal(expected: Any, actual: Any) -> bool:
    """Exact structural equality allowing key-order differences (used for lsids)."""
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        return set(expected) == set(actual) and all(_exact_equal(expected[k], actual[k]) for k in expected)
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        return len(expected) == len(actual) and all(_exact_equal(e, a) for e, a in zip(expected, actual))
    return _scalar_equal(expected, actual)


def _match(expected: Any, actual: Any, path: str, root: bool, entities: Mapping[str, Any] | None) -> None:
    op = _operator(expected)
    if op is not None:
        _match_operator(op, expected[op], actual, path, root, entities)
        return
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            _fail(path, f"expected a document, got {bson_type_name(actual)} ({actual!r})")
        for key, value in expected.items():
            child = f"{path}.{key}"
            present = key in actual
            key_op = _operator(value)
            if key_op == "$$exists":
                _match_operator(key_op, value[key_op], actual[key] if present else MISSING, child, False, entities)
                continue
            if key_op == "$$unsetOrMatches":
                if present:  # a present null must match too; only absence is "unset"
                    _match(value[key_op], actual[key], child, False, entities)
                continue
            if not present:
                _fail(child, f"expected field {key!r} is missing (expected {value!r})")
            _match(value, actual[key], child, False, entities)
        if not root:
            extra = [k for k in actual if k not in expected]
            if extra:
                _fail(path, f"unexpected extra field(s) {extra} in a nested document")
        return
    if isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)):
            _fail(path, f"expected an array, got {bson_type_name(actual)} ({actual!r})")
        if len(expected) != len(actual):
            _fail(path, f"expected {len(expected)} element(s), got {len(actual)}: {list(actual)!r}")
        for i, (e, a) in enumerate(zip(expected, actual)):
            _match(e, a, f"{path}[{i}]", False, entities)
        return
    if actual is MISSING:
        _fail(path, f"expected {expected!r}, the value is missing")
    if not _scalar_equal(expected, actual):
        _fail(path, f"expected {expected!r} ({bson_type_name(expected)}), got {actual!r} ({bson_type_name(actual)})")


def match(expected: Any, actual: Any, *, root: bool = True, entities: Mapping[str, Any] | None = None, path: str = "$") -> None:
    """Assert `actual` matches `expected` per the unified format's "Evaluating Matches".

    `root=True` lets a top-level document have extra fields (command, reply, a returned
    document); nested documents must not. Special $$ operators are honoured; $$matchesEntity
    and $$sessionLsid look names up in `entities`. Raises AssertionError naming the JSON path
    of the first mismatch ("$.command.updates[0].u"), InvalidExpectation for a malformed test.
    """
    _match(expected, actual, path, root, entities)


def match_each_root(expected: Any, actual: Any, *, entities: Mapping[str, Any] | None = None, path: str = "$") -> None:
    """Match an iterable result (find, aggregate, list*): same length, each element a root document."""
    if not isinstance(expected, (list, tuple)):
        match(expected, actual, root=True, entities=entities, path=path)
        return
    if not isinstance(actual, (list, tuple)):
        _fail(path, f"expected an array of documents, got {bson_type_name(actual)}")
    if len(expected) != len(actual):
        _fail(path, f"expected {len(expected)} document(s), got {len(actual)}: {list(actual)!r}")
    for i, (e, a) in enumerate(zip(expected, actual)):
        _match(e, a, f"{path}[{i}]", True, entities)
