"""Every change the sandbox makes to the pinned mongomock (4.3.0), in one place, and why.

mongomock is the sandbox's query and update engine. Version 4.3.0 falls short of MongoDB in
four ways the sandbox needs, and offers no per-instance hook to extend it, so the sandbox
replaces module-level functions and tables. That is process-wide: it applies to every
mongomock user in the process. Only the sandbox imports mongomock (driver/ and the rest of
mongocli do not), tests that use mongomock directly see the same MongoDB-faithful behaviour,
and `install()` is idempotent, so the patches are applied once, by the DataEngine, here only:

1. comparisons with Decimal128 raise NotImplementedError; MongoDB compares all numbers by
   value, so Decimal128 is compared as decimal.Decimal (`filtering.bson_compare`);
2. the `$mul` and `$bit` update operators are missing (`collection._updaters`);
3. the aggregation expression parser knows neither `let` variables nor `$rand`, `$getField`,
   `$setField`, `$unsetField` and the comparison operators on mixed types
   (`aggregate._Parser.__init__` / `parse`; the operators live in engine_expr);
4. its own filtering ($match, $lookup) compares strings in binary order only; the sandbox
   routes it through the collation-aware matcher (`filtering.filter_applies`, engine_collation).
"""

from __future__ import annotations

from typing import Any, Callable

from bson import Decimal128, Int64, Timestamp
from mongomock import aggregate as _mm_aggregate
from mongomock import collection as _mm_collection
from mongomock import filtering as _mm_filtering

from mongocli.sandbox import engine_collation, engine_expr
from mongocli.sandbox.engine_values import error


def install() -> None:
    """Apply the four adjustments above (idempotent)."""
    if not getattr(_mm_filtering.bson_compare, "__wrapped_decimal128__", False):
        _mm_filtering.bson_compare = _decimal128_aware_compare(_mm_filtering.bson_compare)
    _mm_collection._updaters.setdefault("$mul", _field_updater(_mul))
    _mm_collection._updaters.setdefault("$bit", _field_updater(_bit))
    _patch_expression_parser()
    _mm_filtering.filter_applies = engine_collation.filter_applies



def _decimal128_aware_compare(original):
    # mongomock raises NotImplementedError when it meets Decimal128 in a comparison; MongoDB
    # compares all numeric types by value, so turn Decimal128 into decimal.Decimal first.
    # Timestamps (e.g. the oplog's ts) it cannot order at all: two of them compare as
    # (time, inc), as BSON orders them; a Timestamp never matches a range on another type.
    def compare(op, a, b, can_compare_types=True):
        if isinstance(a, Decimal128):
            a = a.to_decimal()
        if isinstance(b, Decimal128):
            b = b.to_decimal()
        if isinstance(a, Timestamp) or isinstance(b, Timestamp):
            if not (isinstance(a, Timestamp) and isinstance(b, Timestamp)):
                return False
            a, b = (a.time << 32) | a.inc, (b.time << 32) | b.inc
        return original(op, a, b, can_compare_types)

    compare.__wrapped_decimal128__ = True
    return compare


def _field_updater(compute: Callable[[Any, Any], Any]) -> Callable[[Any, str, Any], None]:
    # mongomock's updater shape: (parent document or array, field name, operand), in place.
    def update(doc: Any, field_name: str, value: Any) -> None:
        if isinstance(doc, dict):
            doc[field_name] = compute(doc.get(field_name), value)
        elif isinstance(doc, list):
            i = int(field_name)
            doc.extend([None] * (i + 1 - len(doc)))
            doc[i] = compute(doc[i], value)
    return update


def _mul(current: Any, factor: Any) -> Any:
    # "$mul": a missing field becomes 0 of the operand's type (update operators, $mul).
    if current is None:
        return type(factor)(0)
    if not isinstance(current, (int, float)) or isinstance(current, bool):
        raise error(14, "Cannot apply $mul to a value of non-numeric type")
    product = current * factor
    # Int64 stays Int64 (Python's int * int would drop the BSON type).
    return Int64(product) if isinstance(product, int) and Int64 in (type(current), type(factor)) else product


def _bit(current: Any, ops: Any) -> Any:
    result = 0 if current is None else current
    if not isinstance(result, int) or isinstance(result, bool) or not isinstance(ops, dict):
        raise error(14, "Cannot apply $bit to a value of non-integral type")
    for op, operand in ops.items():
        if op not in ("and", "or", "xor"):
            raise error(2, f"The $bit modifier only supports 'and', 'or', and 'xor', not '{op}'")
        result = {"and": result & operand, "or": result | operand, "xor": result ^ operand}[op]
    return type(current)(result) if current is not None else result


def _patch_expression_parser() -> None:
    # Adjustment 3: let variables of the current command, then the sandbox's extra operators.
    parser_cls = _mm_aggregate._Parser
    if getattr(parser_cls, "__sandbox_patched__", False):
        return
    original_init = parser_cls.__init__
    original_parse = parser_cls.parse

    def __init__(self: Any, doc_dict: Any, user_vars: dict | None = None,
                 ignore_missing_keys: bool = False) -> None:
        merged = engine_expr.let_variables()
        merged.update(user_vars or {})
        original_init(self, doc_dict, merged, ignore_missing_keys)

    def parse(self: Any, expression: Any) -> Any:
        if isinstance(expression, str) and expression.startswith("$$"):
            engine_expr.check_variable(expression[2:].split(".", 1)[0], self._user_vars)
        if isinstance(expression, dict) and len(expression) == 1:
            (name, spec), = expression.items()
            handler = engine_expr.EXTRA_OPERATORS.get(name)
            if handler is not None:
                return handler(self, spec)
        return original_parse(self, expression)

    parser_cls.__init__ = __init__
    parser_cls.parse = parse
    parser_cls.__sandbox_patched__ = True
