"""Value helpers for the sandbox data engine: BSON ordering, index keys, copies, error replies."""

from __future__ import annotations

import datetime
import decimal
import re
import uuid
from typing import Any, Iterator

from bson import Binary, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp

_MISSING = object()


class CommandError(Exception):
    """A command failure that becomes a server error reply ``{ok: 0, errmsg, code, codeName}``."""

    def __init__(self, code: int, code_name: str, errmsg: str, **extra: Any) -> None:
        super().__init__(errmsg)
        self.code = code
        self.code_name = code_name
        self.errmsg = errmsg
        self.extra = extra

    def reply(self) -> dict:
        """The error reply document a real server sends for this failure."""
        doc = {"ok": 0.0, "errmsg": self.errmsg, "code": self.code, "codeName": self.code_name}
        doc.update(self.extra)
        return doc


# Error names of the server's error_codes.yml, for the codes this engine raises.
CODE_NAMES = {
    2: "BadValue", 9: "FailedToParse", 13: "Unauthorized", 14: "TypeMismatch",
    26: "NamespaceNotFound", 27: "IndexNotFound", 40: "ConflictingUpdateOperators",
    43: "CursorNotFound", 48: "NamespaceExists", 52: "DollarPrefixedFieldName",
    59: "CommandNotFound", 66: "ImmutableField",
    67: "CannotCreateIndex", 72: "InvalidOptions", 73: "InvalidNamespace",
    85: "IndexOptionsConflict", 121: "DocumentValidationFailure", 197: "InvalidIndexSpecificationOption", 136: "CappedPositionLost", 86: "IndexKeySpecsConflict", 166: "CommandNotSupportedOnView",
    238: "NotImplemented", 50: "MaxTimeMSExpired", 51173: "Location51173", 51174: "Location51174",
    10334: "BSONObjectTooLarge", 11000: "DuplicateKey", 31254: "Location31254", 359: "CannotConvertIndexToUnique",
    40415: "Location40415", 40324: "Location40324", 51183: "Location51183",
    # Codes fail points, sessions, transactions and change streams answer with (the server
    # names them in every error reply, failCommand's included).
    1: "InternalError", 6: "HostUnreachable", 7: "HostNotFound", 8: "UnknownError",
    11: "UserNotFound", 18: "AuthenticationFailed", 20: "IllegalOperation", 24: "LockTimeout",
    46: "LockBusy", 47: "NoMatchingDocument", 50: "MaxTimeMSExpired", 63: "StaleShardVersion",
    64: "WriteConcernFailed", 79: "UnknownReplWriteConcern", 89: "NetworkTimeout",
    91: "ShutdownInProgress", 96: "OperationFailed", 100: "UnsatisfiableWriteConcern",
    112: "WriteConflict", 117: "ConflictingOperationInProgress", 121: "DocumentValidationFailure",
    133: "FailedToSatisfyReadPreference", 150: "StaleEpoch", 189: "PrimarySteppedDown",
    225: "TransactionTooOld", 234: "RetryChangeStream", 239: "SnapshotTooOld",
    244: "TransactionAborted", 246: "SnapshotUnavailable", 251: "NoSuchTransaction",
    256: "TransactionCommitted", 260: "InvalidResumeToken", 262: "ExceededTimeLimit",
    263: "OperationNotSupportedInTransaction", 267: "PreparedTransactionInProgress",
    280: "ChangeStreamFatalError", 286: "ChangeStreamHistoryLost", 9001: "SocketException",
    10107: "NotWritablePrimary", 11600: "InterruptedAtShutdown", 11601: "Interrupted",
    11602: "InterruptedDueToReplStateChange", 13388: "StaleConfig", 13435: "NotPrimaryNoSecondaryOk",
    13436: "NotPrimaryOrSecondary", 40573: "Location40573",
}


def error(code: int, errmsg: str, **extra: Any) -> CommandError:
    """Build a CommandError whose codeName is looked up from the server's code table."""
    return CommandError(code, CODE_NAMES.get(code, f"Location{code}"), errmsg, **extra)


def clone(value: Any) -> Any:
    """Copy dicts and lists recursively; BSON leaf values are immutable and are shared."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def id_first(doc: dict) -> dict:
    """Return ``doc`` with ``_id`` as its first field (MongoDB always stores it first)."""
    if "_id" not in doc or next(iter(doc)) == "_id":
        return doc
    out = {"_id": doc["_id"]}
    for k, v in doc.items():
        if k != "_id":
            out[k] = v
    return out


def hkey(value: Any) -> Any:
    """A hashable key equal for values MongoDB indexes as equal (1 == 1.0 == Int64(1))."""
    kind = _FAST_KINDS.get(type(value))
    if kind is not None:
        return (kind, value)
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("num", value)
    if isinstance(value, Decimal128):
        d = value.to_decimal()
        return ("num", d if d.is_nan() else (int(d) if d == d.to_integral_value() else d))
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, dict):
        return ("doc", tuple((k, hkey(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("arr", tuple(hkey(v) for v in value))
    if isinstance(value, Binary):
        return ("bin", value.subtype, bytes(value))
    if isinstance(value, bytes):
        return ("bin", 0, value)
    if isinstance(value, uuid.UUID):
        return ("bin", 4, value.bytes)
    if isinstance(value, (Regex, re.Pattern)):
        return ("re", value.pattern, getattr(value, "flags", 0))
    return (type(value).__name__, value)


# Exact types whose key is just (kind, value): the common case, checked before isinstance chains.
_FAST_KINDS = {int: "num", float: "num", Int64: "num", str: "str", ObjectId: "ObjectId",
               datetime.datetime: "datetime"}


def get_path(doc: Any, path: str) -> Any:
    """Value at a dotted path (no array traversal), or _MISSING."""
    cur = doc
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return _MISSING
    return cur


def path_values(doc: Any, path: str) -> list:
    """All values reached by a dotted path, traversing arrays as MongoDB's multikey indexes do."""
    head, _, rest = path.partition(".")
    if isinstance(doc, list):
        out = []
        if head.isdigit() and int(head) < len(doc):
            out.extend(path_values(doc[int(head)], rest) if rest else [doc[int(head)]])
        for item in doc:
            if isinstance(item, dict):
                out.extend(path_values(item, path))
        return out
    if not isinstance(doc, dict) or head not in doc:
        return []
    value = doc[head]
    if not rest:
        return [value]
    return path_values(value, rest)


def index_entries(doc: dict, keys: list[tuple[str, Any]], sparse: bool) -> Iterator[tuple]:
    """Index key tuples of ``doc`` for a key pattern; array values give one entry per element."""
    if len(keys) == 1 and "." not in keys[0][0]:
        # Fast path: one top-level field holding a scalar (what most indexes see).
        value = doc.get(keys[0][0], _MISSING)
        if value is _MISSING:
            if not sparse:
                yield (("null",),), (None,)
            return
        if not isinstance(value, list):
            yield (hkey(value),), (value,)
            return
    per_field = []
    present = False
    for field, _ in keys:
        values = path_values(doc, field)
        if values:
            present = True
        expanded: list = []
        for v in values or [None]:
            if isinstance(v, list):
                expanded.extend(v if v else [None])
            else:
                expanded.append(v)
        per_field.append(expanded)
    if sparse and not present:
        return
    combos: list[tuple] = [()]
    for values in per_field:
        combos = [c + (v,) for c in combos for v in values]
    seen = set()
    for combo in combos:
        key = tuple(hkey(v) for v in combo)
        if key not in seen:
            seen.add(key)
            yield key, combo


def format_value(value: Any) -> str:
    """Render a value the way the server's E11000 message does (BSON 'toString')."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, Int64):
        return str(int(value))
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value)) + ".0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal128):
        return f'NumberDecimal("{value}")'
    if isinstance(value, ObjectId):
        return f"ObjectId('{value}')"
    if isinstance(value, datetime.datetime):
        return f"new Date({date_millis(value)})"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[ " + ", ".join(format_value(v) for v in value) + " ]"
    if isinstance(value, Binary):
        return f"BinData({value.subtype}, {bytes(value).hex().upper()})"
    return str(value)


def date_millis(value: datetime.datetime) -> int:
    """Milliseconds since the epoch, as BSON stores a datetime."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    delta = value - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def dup_key_text(keys: list[tuple[str, Any]], values: tuple) -> str:
    """The ``dup key: { a: 1 }`` part of an E11000 message."""
    return "{ " + ", ".join(f"{f}: {format_value(v)}" for (f, _), v in zip(keys, values)) + " }"


def _type_rank(value: Any) -> int:
    # BSON comparison order: https://www.mongodb.com/docs/manual/reference/bson-type-comparison-order/
    if value is _MISSING or value is None:
        return 5
    if isinstance(value, MinKey):
        return 1
    if isinstance(value, MaxKey):
        return 100
    if isinstance(value, bool):
        return 40
    if isinstance(value, (int, float, Decimal128, decimal.Decimal)):
        return 10
    if isinstance(value, str):
        return 15
    if isinstance(value, dict):
        return 20
    if isinstance(value, list):
        return 25
    if isinstance(value, (bytes, uuid.UUID)):
        return 30
    if isinstance(value, ObjectId):
        return 35
    if isinstance(value, datetime.datetime):
        return 45
    if isinstance(value, Timestamp):
        return 47
    if isinstance(value, (Regex, re.Pattern)):
        return 50
    return 60


def order_key(value: Any) -> tuple:
    """A Python-sortable key following BSON comparison order for a single value."""
    rank = _type_rank(value)
    if rank == 10:
        if isinstance(value, Decimal128):
            value = value.to_decimal()
        if value != value:  # NaN sorts below every other number
            return (rank, 0, 0)
        return (rank, 1, value)
    if rank in (15, 40):
        return (rank, value)
    if rank == 20:
        return (rank, tuple((_type_rank(v), k, order_key(v)) for k, v in value.items()))
    if rank == 25:
        return (rank, tuple(order_key(v) for v in value))
    if rank == 30:
        raw = value.bytes if isinstance(value, uuid.UUID) else bytes(value)
        sub = getattr(value, "subtype", 4 if isinstance(value, uuid.UUID) else 0)
        return (rank, len(raw), sub, raw)
    if rank == 35:
        return (rank, value.binary)
    if rank == 45:
        return (rank, date_millis(value))
    if rank == 47:
        return (rank, value.time, value.inc)
    if rank == 50:
        return (rank, value.pattern, str(getattr(value, "flags", "")))
    return (rank,)


def sort_value_key(doc: dict, path: str, descending: bool) -> tuple:
    """Sort key of one field: arrays sort by their smallest (ascending) or largest element."""
    values = path_values(doc, path)
    flat: list = []
    for v in values:
        if isinstance(v, list):
            flat.extend(v)
            if not v:
                flat.append(_MISSING)
        else:
            flat.append(v)
    if not flat:
        return order_key(None)
    keys = [order_key(v) for v in flat]
    return max(keys) if descending else min(keys)


def sort_docs(docs: list[dict], sort_spec: dict) -> list[dict]:
    """Sort documents by a ``{field: 1|-1}`` spec with stable, per-key sorts (last key first)."""
    for field, direction in reversed(list(sort_spec.items())):
        if isinstance(direction, dict):  # {$meta: ...}: no text scores here, keep the order
            continue
        if direction not in (1, -1, 1.0, -1.0):
            raise error(15975, "$sort key ordering must be 1 (for ascending) or -1 (for descending)")
        desc = direction < 0
        if field == "$natural":
            if desc:
                docs = list(reversed(docs))
            continue
        docs = sorted(docs, key=lambda d: sort_value_key(d, field, desc), reverse=desc)
    return docs
