"""Parser for mongosh-style statements: literal values folded to BSON-ready Python, method chains."""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import bson
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp

from mongocli.shell.lexer import ParseError, Token, tokenize

__all__ = ["Attr", "Index", "Call", "Chain", "parse", "parse_value", "CONSTRUCTORS", "ParseError"]

MAX_DEPTH = 100  # deeper nesting than any real query; keeps recursion far from Python's limit
_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1
_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)


@dataclass(frozen=True)
class Attr:
    """`.name` in a chain."""

    name: str
    line: int
    column: int


@dataclass(frozen=True)
class Index:
    """`[key]` in a chain (db["x-y"])."""

    key: Any
    line: int
    column: int


@dataclass(frozen=True)
class Call:
    """`(args...)` in a chain; args are already Python/BSON values."""

    args: tuple
    line: int
    column: int


@dataclass(frozen=True)
class Chain:
    """One statement: a root name (`db`, `rs`...) or a literal value, then attribute/index/call steps."""

    root: str | None
    value: Any
    steps: tuple
    line: int
    column: int
    text: str = ""

    @property
    def is_literal(self) -> bool:
        return self.root is None


class _ConstructorError(Exception):
    """A helper constructor got bad arguments; becomes a ParseError at the call's position."""


# ---- helper constructors (ObjectId(), ISODate(), ...) -------------------------------------------

def _arity(name: str, args: tuple, lo: int, hi: int) -> None:
    if not lo <= len(args) <= hi:
        want = str(lo) if lo == hi else f"{lo} to {hi}"
        raise _ConstructorError(f"{name}() takes {want} argument(s), got {len(args)}")


def _object_id(args: tuple) -> ObjectId:
    _arity("ObjectId", args, 0, 1)
    if not args:
        return ObjectId()
    if not isinstance(args[0], str) or not bson.ObjectId.is_valid(args[0]) or len(args[0]) != 24:
        raise _ConstructorError(f"ObjectId() needs a 24-character hex string, got {args[0]!r}")
    return ObjectId(args[0])


def _parse_date_string(text: str) -> _dt.datetime:
    try:
        value = _dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise _ConstructorError(f"invalid date {text!r} (expected ISO-8601 like 2024-05-01T12:00:00Z)") from None
    return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)


def _date(args: tuple, name: str = "Date") -> _dt.datetime:
    if not args:
        return _dt.datetime.now(_UTC)
    if len(args) == 1:
        arg = args[0]
        if isinstance(arg, str):
            return _parse_date_string(arg)
        if isinstance(arg, _dt.datetime):
            return arg
        if isinstance(arg, (int, float)) and not isinstance(arg, bool):
            try:
                return _EPOCH + _dt.timedelta(milliseconds=float(arg))
            except (OverflowError, ValueError):
                raise _ConstructorError(f"{name}({arg!r}) is out of range") from None
        raise _ConstructorError(f"{name}() needs a string or milliseconds since the epoch, got {arg!r}")
    _arity(name, args, 1, 7)
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        raise _ConstructorError(f"{name}(year, month, ...) needs integers")
    # JS Date(y, m, d, h, mi, s, ms): month is 0-based.
    parts = list(args) + [1 if i == 2 else 0 for i in range(len(args), 7)]
    y, m, d, h, mi, s, ms = parts
    try:
        return _dt.datetime(y, m + 1, d, h, mi, s, ms * 1000, tzinfo=_UTC)
    except (ValueError, OverflowError) as exc:
        raise _ConstructorError(f"{name}(...) is not a valid date: {exc}") from None


def _integral(name: str, args: tuple) -> int:
    _arity(name, args, 0, 1)
    if not args:
        return 0
    arg = args[0]
    if isinstance(arg, bool):
        raise _ConstructorError(f"{name}() needs a number or numeric string, got {arg!r}")
    if isinstance(arg, float) and arg.is_integer():
        return int(arg)
    if isinstance(arg, int):
        return arg
    if isinstance(arg, str) and len(arg) <= 25:
        try:
            return int(arg.strip())
        except ValueError:
            pass
    raise _ConstructorError(f"{name}() needs an integer or integer string, got {arg!r}")


def _number_long(args: tuple) -> Int64:
    value = _integral("NumberLong", args)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise _ConstructorError(f"NumberLong({value}) is outside the 64-bit range")
    return Int64(value)


def _number_int(args: tuple) -> int:
    value = _integral("NumberInt", args)
    if not -(2 ** 31) <= value < 2 ** 31:
        raise _ConstructorError(f"NumberInt({value}) is outside the 32-bit range")
    return value


def _number_decimal(args: tuple) -> Decimal128:
    _arity("NumberDecimal", args, 0, 1)
    arg = args[0] if args else "0"
    if isinstance(arg, bool) or not isinstance(arg, (str, int, float)):
        raise _ConstructorError(f"NumberDecimal() needs a numeric string, got {arg!r}")
    try:
        return Decimal128(str(arg))
    except Exception:  # bson raises decimal.InvalidOperation or ValueError
        raise _ConstructorError(f"NumberDecimal() got an invalid decimal {arg!r}") from None


def _uuid(args: tuple) -> bson.Binary:
    _arity("UUID", args, 0, 1)
    if not args:
        return bson.Binary.from_uuid(uuid.uuid4())
    try:
        if not isinstance(args[0], str):
            raise ValueError
        return bson.Binary.from_uuid(uuid.UUID(args[0]))
    except ValueError:
        raise _ConstructorError(f"UUID() needs a 32-hex-digit string, got {args[0]!r}") from None


def _subtype(name: str, arg: Any) -> int:
    if isinstance(arg, bool) or not isinstance(arg, int) or not 0 <= arg <= 255:
        raise _ConstructorError(f"{name}() subtype must be an integer 0-255, got {arg!r}")
    return arg


def _bin_data(args: tuple) -> bson.Binary:
    _arity("BinData", args, 2, 2)
    subtype = _subtype("BinData", args[0])
    if not isinstance(args[1], str):
        raise _ConstructorError("BinData() needs a base64 string")
    try:
        return bson.Binary(base64.b64decode(args[1], validate=True), subtype)
    except (binascii.Error, ValueError):
        raise _ConstructorError(f"BinData() got invalid base64 {args[1]!r}") from None


def _hex_data(args: tuple) -> bson.Binary:
    _arity("HexData", args, 2, 2)
    subtype = _subtype("HexData", args[0])
    try:
        return bson.Binary(bytes.fromhex(args[1]), subtype)
    except (TypeError, ValueError):
        raise _ConstructorError(f"HexData() got invalid hex {args[1]!r}") from None


def _timestamp(args: tuple) -> Timestamp:
    if len(args) == 1 and isinstance(args[0], dict) and set(args[0]) == {"t", "i"}:
        args = (args[0]["t"], args[0]["i"])
    _arity("Timestamp", args, 0, 2)
    if not args:
        return Timestamp(0, 0)
    if len(args) != 2 or not all(isinstance(a, int) and not isinstance(a, bool) and 0 <= a < 2 ** 32
                                 for a in args):
        raise _ConstructorError("Timestamp(t, i) needs two integers in 0..2^32-1")
    return Timestamp(args[0], args[1])


def _regexp(args: tuple) -> Regex:
    _arity("RegExp", args, 1, 2)
    if not all(isinstance(a, str) for a in args):
        raise _ConstructorError("RegExp(pattern, flags) needs strings")
    return Regex(args[0], args[1] if len(args) > 1 else "")


def _double(args: tuple) -> float:
    _arity("Double", args, 1, 1)
    try:
        if isinstance(args[0], bool):
            raise ValueError
        return float(args[0])
    except (TypeError, ValueError):
        raise _ConstructorError(f"Double() needs a number, got {args[0]!r}") from None


CONSTRUCTORS: dict[str, Callable[[tuple], Any]] = {
    "ObjectId": _object_id,
    "ISODate": lambda args: _date(args, "ISODate"),
    "Date": _date,
    "NumberLong": _number_long,
    "Long": _number_long,
    "NumberInt": _number_int,
    "Int32": _number_int,
    "NumberDecimal": _number_decimal,
    "Decimal128": _number_decimal,
    "Double": _double,
    "UUID": _uuid,
    "BinData": _bin_data,
    "HexData": _hex_data,
    "Timestamp": _timestamp,
    "RegExp": _regexp,
    "MinKey": lambda args: (_arity("MinKey", args, 0, 0), MinKey())[1],
    "MaxKey": lambda args: (_arity("MaxKey", args, 0, 0), MaxKey())[1],
}
_KEYWORD_VALUES = {"true": True, "false": False, "null": None, "undefined": None,
                   "NaN": float("nan"), "Infinity": float("inf")}
_BARE_VALUES = {"MinKey": MinKey, "MaxKey": MaxKey}


# ---- the parser -----------------------------------------------------------------------------------

class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def error(self, message: str, tok: Token | None = None, found: Token | None = None) -> ParseError:
        tok = tok or found or self.tok
        return ParseError(message, tok.line, tok.column, self.source,
                          found=_describe(found) if found is not None else None)

    def is_punct(self, ch: str) -> bool:
        return self.tok.kind == "punct" and self.tok.value == ch

    def expect(self, ch: str, context: str) -> Token:
        if not self.is_punct(ch):
            raise self.error(f"expected '{ch}' {context}", found=self.tok)
        return self.next()

    # statements
    def statements(self) -> list[Chain]:
        out: list[Chain] = []
        while True:
            while self.is_punct(";"):
                self.next()
            if self.tok.kind == "eof":
                return out
            start = self.tok
            chain = self.chain()
            end = self.tokens[self.i - 1]
            text = self.source[start.offset:end.offset + len(end.text)]
            out.append(Chain(chain.root, chain.value, chain.steps, chain.line, chain.column, text))
            if self.is_punct(";") or self.tok.kind == "eof":
                continue
            if self.tok.line > end.line:  # a new line starts a new statement (JS semicolon insertion)
                continue
            raise self.error("expected end of statement", found=self.tok)

    def chain(self) -> Chain:
        start = self.tok
        root: str | None = None
        value: Any = None
        if start.kind == "ident" and start.value not in _KEYWORD_VALUES and start.value not in CONSTRUCTORS \
                and start.value != "new":
            root = self.next().value
        else:
            value = self.value()
        steps: list[Any] = []
        while True:
            tok = self.tok
            if self.is_punct("."):
                self.next()
                name = self.tok
                if name.kind != "ident":
                    raise self.error("expected a name after '.'", found=name)
                self.next()
                steps.append(Attr(name.value, name.line, name.column))
            elif self.is_punct("["):
                self.next()
                key = self.value()
                if not isinstance(key, (str, int)) or isinstance(key, bool):
                    raise self.error("expected a string or number inside [...]", tok)
                self.expect("]", "to close '['")
                steps.append(Index(key, tok.line, tok.column))
            elif self.is_punct("("):
                if root is None and not steps:
                    raise self.error("a literal value cannot be called", tok)
                steps.append(Call(tuple(self.arguments("call")), tok.line, tok.column))
            else:
                return Chain(root, value, tuple(steps), start.line, start.column)

    def arguments(self, what: str) -> list[Any]:
        self.expect("(", f"to start the {what} arguments")
        args: list[Any] = []
        while not self.is_punct(")"):
            if self.tok.kind == "eof":
                raise self.error("expected ')' to close the argument list", found=self.tok)
            args.append(self.value())
            if self.is_punct(","):
                self.next()
            elif not self.is_punct(")"):
                raise self.error("expected ',' or ')' in the argument list", found=self.tok)
        self.next()
        return args

    # values
    def value(self) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nesting deeper than {MAX_DEPTH} levels")
        try:
            return self._value()
        finally:
            self.depth -= 1

    def _value(self) -> Any:
        tok = self.tok
        if tok.kind == "string":
            self.next()
            return tok.value
        if tok.kind == "number":
            self.next()
            return _number(tok.value)
        if tok.kind == "regex":
            self.next()
            pattern, flags = tok.value
            return Regex(pattern, flags)
        if tok.kind == "punct":
            if tok.value == "{":
                return self.object()
            if tok.value == "[":
                return self.array()
            if tok.value in "-+":
                self.next()
                operand = self.tok
                if operand.kind == "number" or (operand.kind == "ident" and operand.value == "Infinity"):
                    self.next()
                    number = float("inf") if operand.kind == "ident" else _number(operand.value)
                    return -number if tok.value == "-" else number
                raise self.error(f"expected a number after '{tok.value}'", found=operand)
        if tok.kind == "ident":
            return self.identifier_value()
        raise self.error("expected a value", found=tok)

    def identifier_value(self) -> Any:
        tok = self.next()
        name = tok.value
        if name in _KEYWORD_VALUES:
            return _KEYWORD_VALUES[name]
        if name == "new":
            ctor = self.tok
            if ctor.kind != "ident" or ctor.value not in CONSTRUCTORS:
                raise self.error(f"expected a constructor after 'new' (one of {_ctor_names()})", found=ctor)
            self.next()
            return self.construct(ctor)
        if name in CONSTRUCTORS:
            if name in _BARE_VALUES and not self.is_punct("("):
                return _BARE_VALUES[name]()
            return self.construct(tok)
        raise self.error(f"unknown name '{name}': values may be literals or {_ctor_names()}", tok)

    def construct(self, ctor: Token) -> Any:
        if not self.is_punct("("):
            raise self.error(f"expected '(' after {ctor.value}", found=self.tok)
        args = tuple(self.arguments(f"{ctor.value}()"))
        try:
            return CONSTRUCTORS[ctor.value](args)
        except _ConstructorError as exc:
            raise self.error(str(exc), ctor) from None

    def object(self) -> dict:
        open_tok = self.next()
        out: dict[str, Any] = {}
        while not self.is_punct("}"):
            key_tok = self.tok
            if key_tok.kind in ("ident", "string"):
                key = key_tok.value
            elif key_tok.kind == "number":
                key = _js_number_key(key_tok.value)
            elif key_tok.kind == "eof":
                raise self.error(f"expected '}}' to close the '{{' from {open_tok.line}:{open_tok.column}",
                                 found=self.tok)
            else:
                raise self.error(f"expected a key or '}}'", found=key_tok)
            self.next()
            self.expect(":", f"after key '{key}'")
            out[key] = self.value()
            if self.is_punct(","):
                self.next()
            elif not self.is_punct("}"):
                if self.tok.kind == "eof":
                    raise self.error(f"expected '}}' to close the '{{' from "
                                     f"{open_tok.line}:{open_tok.column}", found=self.tok)
                raise self.error(f"expected ',' or '}}' after the value of '{key}'", found=self.tok)
        self.next()
        return out

    def array(self) -> list:
        open_tok = self.next()
        out: list[Any] = []
        while not self.is_punct("]"):
            if self.tok.kind == "eof":
                raise self.error(f"expected ']' to close the '[' from {open_tok.line}:{open_tok.column}",
                                 found=self.tok)
            out.append(self.value())
            if self.is_punct(","):
                self.next()
            elif not self.is_punct("]"):
                raise self.error("expected ',' or ']' in the array", found=self.tok)
        self.next()
        return out


def _number(value: int | float) -> int | float:
    # JS numbers beyond int64 can only be doubles; BSON cannot hold a bigger integer.
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        return float(value)
    return value


def _js_number_key(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _describe(tok: Token) -> str:
    if tok.kind == "eof":
        return "end of input"
    if tok.kind == "string":
        return f"string {tok.text}"
    text = tok.text if len(tok.text) <= 20 else tok.text[:17] + "..."
    return f"'{text}'"


def _ctor_names() -> str:
    return "ObjectId(), ISODate(), new Date(), NumberLong(), NumberInt(), NumberDecimal(), UUID(), " \
           "BinData(), Timestamp(), MinKey, MaxKey"


def parse(source: str) -> list[Chain]:
    """Parse one or more statements (separated by ';' or new lines); raises ParseError."""
    return _Parser(source).statements()


def parse_value(source: str) -> Any:
    """Parse exactly one literal value (object, array, string, ...) into its Python/BSON form."""
    parser = _Parser(source)
    value = parser.value()
    if parser.tok.kind != "eof":
        raise parser.error(f"expected end of input after the value", found=parser.tok)
    return value
