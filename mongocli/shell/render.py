"""Shows shell results mongosh-style ({ _id: ObjectId('…'), a: 1 }) and errors without tracebacks."""

from __future__ import annotations

import base64
import datetime as _dt
import math
import re
import traceback
from typing import IO, Any, Mapping

from bson.binary import Binary
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp

from driver import errors as driver_errors
from mongocli.shell.evaluate import EvalError, Result
from mongocli.shell.lexer import ParseError

__all__ = ["format_value", "ShellPrinter"]

_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_INDENT = "  "


def _string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r") \
        .replace("\t", "\\t")
    return f"'{escaped}'"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))  # mongosh prints the double 1.0 as 1
    return repr(value)


def _scalar(value: Any) -> str | None:
    """The mongosh spelling of a non-container value, or None for documents and arrays."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Int64):
        return f"Long('{int(value)}')"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, ObjectId):
        return f"ObjectId('{value}')"
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc)
        return f"ISODate('{value.strftime('%Y-%m-%dT%H:%M:%S')}.{value.microsecond // 1000:03d}Z')"
    if isinstance(value, Decimal128):
        return f"Decimal128('{value}')"
    if isinstance(value, Binary):
        if value.subtype == 4 and len(value) == 16:
            return f"UUID('{value.as_uuid()}')"
        return f"Binary.createFromBase64('{base64.b64encode(bytes(value)).decode()}', {value.subtype})"
    if isinstance(value, bytes):
        return f"Binary.createFromBase64('{base64.b64encode(value).decode()}', 0)"
    if isinstance(value, Timestamp):
        return f"Timestamp({{ t: {value.time}, i: {value.inc} }})"
    if isinstance(value, Regex):
        return f"/{value.pattern}/{value.flags if isinstance(value.flags, str) else _flags(value.flags)}"
    if isinstance(value, re.Pattern):
        return f"/{value.pattern}/{_flags(value.flags)}"
    if isinstance(value, MinKey):
        return "MinKey()"
    if isinstance(value, MaxKey):
        return "MaxKey()"
    if isinstance(value, (Mapping, list, tuple)):
        return None
    return repr(value)


def _flags(flags: int) -> str:
    return "".join(ch for ch, bit in (("i", re.I), ("m", re.M), ("s", re.S), ("x", re.X)) if flags & bit)


def _key(key: Any) -> str:
    key = str(key)
    return key if _IDENT.match(key) else _string(key)


def _inline(value: Any) -> str:
    scalar = _scalar(value)
    if scalar is not None:
        return scalar
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)}: {_inline(v)}" for k, v in value.items()) + " }"
    if not value:
        return "[]"
    return "[ " + ", ".join(_inline(v) for v in value) + " ]"


def format_value(value: Any, width: int = 80, indent: int = 0) -> str:
    """mongosh-style text for a value: inline when it fits in `width`, else one field per line."""
    text = _inline(value)
    if len(text) + indent * len(_INDENT) <= width or _scalar(value) is not None:
        return text
    pad = _INDENT * (indent + 1)
    end = _INDENT * indent
    if isinstance(value, Mapping):
        items = [f"{pad}{_key(k)}: {format_value(v, width, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{end}}}"
    items = [f"{pad}{format_value(v, width, indent + 1)}" for v in value]
    return "[\n" + ",\n".join(items) + f"\n{end}]"


class ShellPrinter:
    """Writes results to `out` and errors to `err`; colour (rich, JavaScript highlighting) only on a TTY."""

    def __init__(self, out: IO[str], err: IO[str], *, color: bool = False, width: int = 80,
                 debug: bool = False) -> None:
        self.out, self.err, self.color, self.width, self.debug = out, err, color, width, debug
        self._console = None
        if color:
            from rich.console import Console
            self._console = Console(file=out, width=width, highlight=False, soft_wrap=True)

    def _emit(self, text: str, code: bool = True) -> None:
        if self._console is not None and code:
            from rich.syntax import Syntax
            self._console.print(Syntax(text, "javascript", theme="monokai", background_color="default",
                                       word_wrap=True))
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def text(self, message: str) -> None:
        """A plain line of output (help, `switched to db x`)."""
        self._emit(message, code=False)

    def result(self, result: Result) -> None:
        """Show one statement's result."""
        if result.kind == "nothing":
            return
        if result.kind == "text":
            self._emit(str(result.value), code=False)
            return
        if result.kind == "documents":
            if result.value:
                self._emit(format_value(list(result.value), self.width))
            if result.has_more:
                self._emit('Type "it" for more', code=False)
            return
        self._emit(format_value(result.value, self.width))

    def error(self, exc: BaseException) -> None:
        """An error in one clear message: syntax errors with a caret, server errors with their code."""
        if self.debug and not isinstance(exc, (ParseError, KeyboardInterrupt)):
            self.err.write("".join(traceback.format_exception(exc)))
        self.err.write(describe_error(exc) + "\n")
        self.err.flush()


def describe_error(exc: BaseException) -> str:
    """The user-facing text of an error raised while running a statement."""
    if isinstance(exc, ParseError):
        caret = exc.caret()
        return f"SyntaxError: {exc}" + (f"\n{caret}" if caret else "")
    if isinstance(exc, EvalError):
        caret = exc.caret()
        return f"Error: {exc}" + (f"\n{caret}" if caret else "")
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted (the operation was abandoned; the server may still finish it)"
    if isinstance(exc, driver_errors.OperationFailure):
        name = exc.code_name or type(exc).__name__
        message = _first_line(exc)
        code = f" (code {exc.code})" if exc.code is not None and f"code {exc.code}" not in message else ""
        return f"MongoServerError[{name}]: {message}{code}"
    if isinstance(exc, driver_errors.DriverError):
        from mongocli.errors import describe
        info = describe(exc)
        return "\n".join((f"Error: {info.headline}",) + info.details)
    return f"Error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)"


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
