"""Expression additions to mongomock: ``let`` variables, $$NOW, $getField/$setField, comparisons."""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import random
from typing import Any, Callable, Iterator

from mongomock import aggregate as _mm_aggregate

from mongocli.sandbox import server_js
from mongocli.sandbox.engine_values import error, order_key

# Variables a command's ``let`` defines, visible to every expression the command evaluates
# ($expr in filters, update pipelines, aggregation stages): "let" option of find/update/delete/
# findAndModify/aggregate (MongoDB 5.0+). The engine runs one command at a time under its lock,
# and a ContextVar keeps even concurrent callers apart.
_LET: contextvars.ContextVar[dict] = contextvars.ContextVar("sandbox_let_vars", default={})


def _parse_let(let: Any) -> dict:
    if let is None:
        return {}
    if not isinstance(let, dict):
        raise error(14, "BSON field 'let' is the wrong type, expected type 'object'")
    out: dict = {}
    parser = _mm_aggregate._Parser({}, dict(out), ignore_missing_keys=True)
    for name, value in let.items():
        # Server rule: user variable names start with a lowercase letter (or non-ASCII).
        if not name or not (name[0].islower() or ord(name[0]) > 127):
            raise error(2, f"'{name}' starts with an invalid character for a user variable name")
        try:
            out[name] = parser.parse(value)
        except KeyError:
            continue  # an expression that evaluates to missing leaves the variable undefined
    return out


@contextlib.contextmanager
def let_vars(let: Any) -> Iterator[None]:
    """Make a command's ``let`` variables (and $$NOW) visible to expressions run inside."""
    values = {"NOW": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)}
    values.update(_parse_let(let))
    token = _LET.set(values)
    try:
        yield
    finally:
        _LET.reset(token)


def _const_field(parser: Any, spec: dict, op: str) -> str:
    # "field" must be a string constant ($literal allows names starting with '$').
    if "field" not in spec:
        raise error(4161102, f"{op} requires 'field' to be specified")
    field = spec["field"]
    if isinstance(field, str) and field.startswith("$"):
        raise error(4161108, f"{op}: a field path reference which is not allowed in this context. "
                             "Did you mean {$literal: '" + field + "'}?")
    if isinstance(field, dict):
        field = parser.parse(field)
    if not isinstance(field, str):
        raise error(4161107, f"{op} requires 'field' to evaluate to type String")
    return field


def _input(parser: Any, spec: dict) -> Any:
    try:
        return parser.parse(spec.get("input", "$$CURRENT"))
    except KeyError:
        return None


def _get_field(parser: Any, spec: Any) -> Any:
    # {$getField: "name"} is short for {field: "name", input: "$$CURRENT"}; the name is taken
    # literally (dots and dollars are part of it), unlike a "$a.b" path.
    if not isinstance(spec, dict):
        spec = {"field": spec}
    field = _const_field(parser, spec, "$getField")
    source = _input(parser, spec)
    if source is None:
        return None
    if not isinstance(source, dict):
        raise error(3041705, "$getField requires 'input' to evaluate to type Object")
    if field not in source:
        raise KeyError(field)  # mongomock's "missing" value
    return source[field]


def _set_field(parser: Any, spec: Any, unset: bool = False) -> Any:
    op = "$unsetField" if unset else "$setField"
    if not isinstance(spec, dict):
        raise error(4161100, f"{op} only supports an object as its argument")
    allowed = {"field", "input"} | (set() if unset else {"value"})
    for key in spec:
        if key not in allowed:
            raise error(4161101, f"{op} found an unknown argument: {key}")
    if "input" not in spec:
        raise error(4161103, f"{op} requires 'input' to be specified")
    if not unset and "value" not in spec:
        raise error(4161104, f"{op} requires 'value' to be specified")
    field = _const_field(parser, spec, op)
    source = _input(parser, spec)
    if source is None:
        return None
    if not isinstance(source, dict):
        raise error(4161105, f"{op} requires 'input' to evaluate to type Object")
    out = dict(source)
    if unset:
        out.pop(field, None)
        return out
    try:
        value = parser.parse(spec["value"])
    except KeyError:  # $$REMOVE (or a missing path): the field is removed
        out.pop(field, None)
        return out
    out[field] = value
    return out


_MISSING_KEY = (0,)  # aggregation order puts a missing value below null (and everything else)


def _compare_key(parser: Any, expression: Any) -> tuple:
    try:
        return order_key(parser.parse(expression))
    except KeyError:
        return _MISSING_KEY


def _comparison(op: str) -> Callable[[Any, Any], Any]:
    # Aggregation comparisons order values across types by BSON comparison order, and a missing
    # field is less than null (mongomock raises KeyError on a missing operand instead).
    def compare(parser: Any, args: Any) -> Any:
        if not isinstance(args, list) or len(args) != 2:
            raise error(16020, f"Expression {op} takes exactly 2 arguments. "
                               f"{len(args) if isinstance(args, list) else 1} were passed in.")
        a, b = _compare_key(parser, args[0]), _compare_key(parser, args[1])
        if op == "$cmp":
            return (a > b) - (a < b)
        return {"$eq": a == b, "$ne": a != b, "$lt": a < b, "$lte": a <= b,
                "$gt": a > b, "$gte": a >= b}[op]
    return compare


def _rand(parser: Any, spec: Any) -> float:
    if spec != {}:
        raise error(3040501, "$rand does not currently accept arguments")
    return random.random()


EXTRA_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    **{op: _comparison(op) for op in ("$eq", "$ne", "$lt", "$lte", "$gt", "$gte", "$cmp")},
    "$rand": _rand,
    "$getField": _get_field,
    "$function": server_js.function_operator,
    "$setField": _set_field,
    "$unsetField": lambda parser, spec: _set_field(parser, spec, unset=True),
}


# Variables every expression may name (aggregation "Variables"); others must be defined by
# `let`, $let, $map, $filter... or the server fails with 17276.
_SYSTEM_VARIABLES = frozenset({"ROOT", "CURRENT", "NOW", "REMOVE", "DESCEND", "PRUNE", "KEEP",
                               "CLUSTER_TIME", "SEARCH_META", "USER_ROLES"})


def check_variable(name: str, defined: Any) -> None:
    """Location17276 for `$$name` when neither the system nor the expression defines it."""
    if name not in defined and name not in _SYSTEM_VARIABLES:
        raise error(17276, f"Use of undefined variable: {name}")


def let_variables() -> dict:
    """The $let / let variables of the current command (see mongomock_patches: the parser reads them)."""
    return dict(_LET.get())
