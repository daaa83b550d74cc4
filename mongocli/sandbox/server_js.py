"""Server-side JavaScript of the sandbox: `$where`, `$function` and `$accumulator`, run by the
project's QuickJS engine (mongocli.jsengine) under a time and memory limit."""

from __future__ import annotations

import json
import threading
from typing import Any, Callable

from bson import Code, json_util
from bson.json_util import RELAXED_JSON_OPTIONS

from mongocli.jsengine import JsError, JsFunction, JsTimeout
from mongocli.sandbox.engine_values import error

TIME_LIMIT_S = 5.0  # CPU seconds per call: a runaway $where fails instead of hanging the sandbox
MEMORY_LIMIT_BYTES = 64 << 20
_CACHE_SIZE = 64
_compiled = threading.local()  # QuickJS contexts are per thread


def _to_js(value: Any) -> Any:
    # Documents cross as relaxed Extended JSON: numbers, strings, booleans, arrays and
    # subdocuments are themselves; ObjectId, dates and the other BSON types arrive as their
    # {"$oid": ...}-style forms (JavaScript sees no BSON classes; inferred simplification).
    return json.loads(json_util.dumps(value, json_options=RELAXED_JSON_OPTIONS))


def _from_js(value: Any) -> Any:
    return json_util.loads(json.dumps(value))


def _source(code: Any, what: str) -> str:
    if isinstance(code, Code) and code.scope is not None:
        # Server 4.4+ refuses code with scope (BSON type CodeWScope) everywhere.
        raise error(4649200, f"{what} no longer supports the deprecated BSON type CodeWScope")
    if not isinstance(code, str):
        raise error(2, f"{what} must be a string or Code, got {type(code).__name__}")
    return str(code)


def _compile(source: str) -> JsFunction:
    cache: dict[str, JsFunction] = getattr(_compiled, "cache", None) or {}
    _compiled.cache = cache
    fn = cache.get(source)
    if fn is None:
        try:
            fn = JsFunction(source, time_limit_s=TIME_LIMIT_S, memory_limit_bytes=MEMORY_LIMIT_BYTES)
        except JsError as exc:
            raise error(139, f"SyntaxError: {exc}") from None
        if len(cache) >= _CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[source] = fn
    return fn


def _call(fn: JsFunction, args: tuple[Any, ...], this: Any) -> Any:
    try:
        return fn(*args, this=this)
    except JsTimeout:
        raise error(139, f"JavaScript execution exceeded the sandbox's limit of {TIME_LIMIT_S:g} s "
                         "of CPU time") from None
    except JsError as exc:
        raise error(139, f"JavaScript execution failed: {exc}") from None


def where_predicate(code: Any) -> Callable[[dict], bool]:
    """The matcher of a `$where`: a function (called with the document as `this`) or an
    expression such as "this.x < 3" (wrapped as a function returning it, as the server does for
    code that is not a function; inferred from its behaviour)."""
    source = _source(code, "$where").strip()
    if not source.startswith("function"):
        source = f"function() {{ return ({source}); }}"
    fn = _compile(source)
    return lambda doc: bool(_call(fn, (), _to_js(doc)))


def function_operator(parser: Any, spec: Any) -> Any:
    """`{$function: {body, args, lang: "js"}}`: the body called with the evaluated args."""
    if not isinstance(spec, dict) or set(spec) - {"body", "args", "lang"}:
        raise error(31260, "$function: only 'body', 'args' and 'lang' are allowed")
    if spec.get("lang") != "js":
        raise error(31418, "$function: currently only 'js' is supported as the language")
    args = spec.get("args", [])
    if not isinstance(args, list):
        raise error(31266, "$function: the 'args' field must be an array")
    fn = _compile(_source(spec.get("body"), "$function's body"))
    return _from_js(_call(fn, tuple(_to_js(parser.parse(a)) for a in args), None))


def accumulate(spec: Any, docs: list[dict], parser_class: Any) -> Any:
    """One group's `$accumulator` value: init(initArgs), accumulate(state, accumulateArgs) per
    document, then finalize(state). One group is folded in one place, so merge never runs."""
    if not isinstance(spec, dict):
        raise error(4544712, "$accumulator expects an object as an argument")
    for required in ("init", "accumulate", "accumulateArgs", "merge", "lang"):
        if required not in spec:
            raise error(4544711, f"$accumulator missing required argument '{required}'")
    if spec["lang"] != "js":
        raise error(4544706, "$accumulator only supports lang: 'js'")
    init = _compile(_source(spec["init"], "$accumulator's init"))
    step = _compile(_source(spec["accumulate"], "$accumulator's accumulate"))
    _compile(_source(spec["merge"], "$accumulator's merge"))  # must compile, as on a server
    first = docs[0] if docs else {}
    init_args = tuple(_to_js(parser_class(first, ignore_missing_keys=True).parse(a))
                      for a in spec.get("initArgs", []))
    state = _call(init, init_args, None)
    for doc in docs:
        parser = parser_class(doc, ignore_missing_keys=True)
        args = tuple(_to_js(parser.parse(a)) for a in spec["accumulateArgs"])
        state = _call(step, (state, *args), None)
    if spec.get("finalize") is not None:
        state = _call(_compile(_source(spec["finalize"], "$accumulator's finalize")), (state,), None)
    return _from_js(state)
