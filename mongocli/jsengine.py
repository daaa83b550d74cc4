"""Run a JavaScript function on JSON-like arguments under time and memory limits (QuickJS); no I/O.

For server-side JavaScript the sandbox evaluates (`$where`, `$function`, `$accumulator`):
the function sees only its arguments and `this` (JSON values: dict, list, str, int, float,
bool, None), never the machine. Limits: QuickJS measures the time limit in process CPU time
(C `clock()`), per call; memory is capped per function. A JsFunction must be called from one
thread only (QuickJS runtimes are not thread safe); create one per thread if needed.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["JsFunction", "JsError", "JsTimeout", "run_function"]


class JsError(Exception):
    """The JavaScript threw, did not compile, or returned something that is not JSON."""


class JsTimeout(JsError):
    """The call ran past its time limit."""


class JsFunction:
    """A compiled function `source` (e.g. "function (a) { return this.x > a }"), callable many times."""

    def __init__(self, source: str, *, time_limit_s: float = 1.0, memory_limit_bytes: int = 64 << 20) -> None:
        import _quickjs  # the engine without the quickjs package's import-time worker thread
        self._quickjs = _quickjs
        self._ctx = _quickjs.Context()
        self._ctx.set_memory_limit(memory_limit_bytes)
        self._time_limit_s = time_limit_s
        try:
            self._ctx.eval(f"var __fn = ({source});\n"
                           "function __call(thisJson, argsJson) {\n"
                           "  const r = __fn.apply(JSON.parse(thisJson), JSON.parse(argsJson));\n"
                           "  return r === undefined ? 'null' : JSON.stringify(r);\n"
                           "}\n"
                           "if (typeof __fn !== 'function') throw new TypeError('not a function');")
        except _quickjs.JSException as exc:
            raise JsError(f"JavaScript function does not compile: {_first_line(exc)}") from None
        self._call = self._ctx.get("__call")

    def __call__(self, *args: Any, this: Any = None) -> Any:
        """The function's return value (JSON round trip); JsTimeout past the limit, JsError if it throws."""
        self._ctx.set_time_limit(self._time_limit_s)
        try:
            result = self._call(json.dumps(this), json.dumps(list(args)))
        except self._quickjs.JSException as exc:
            message = _first_line(exc)
            if "interrupted" in message:
                raise JsTimeout(f"JavaScript ran longer than {self._time_limit_s} s (CPU time)") from None
            raise JsError(message) from None
        except self._quickjs.StackOverflow as exc:
            raise JsError(_first_line(exc)) from None
        finally:
            self._ctx.set_time_limit(-1)
        return json.loads(result)


def run_function(source: str, args: tuple[Any, ...] = (), *, this: Any = None, time_limit_s: float = 1.0,
                 memory_limit_bytes: int = 64 << 20) -> Any:
    """Compile `source` and call it once (a JsFunction is cheaper for many calls)."""
    return JsFunction(source, time_limit_s=time_limit_s, memory_limit_bytes=memory_limit_bytes)(*args, this=this)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n", 1)[0]
