"""mongosh-style relaxed object syntax -> strict Extended JSON text (what people paste into --filter).

    {age: {$gt: 30}, name: 'ann', _id: ObjectId("..."), at: ISODate("2024-01-02"), n: NumberLong(5),}

Unquoted keys, single-quoted strings, trailing commas, and the shell's type constructors
(ObjectId, ISODate / new Date, NumberInt, NumberLong, NumberDecimal, Timestamp, UUID) become
their canonical Extended JSON forms. Only a translation of text: the result is parsed by the
same Extended JSON parser as strict input, so both accept exactly the same values.
"""

from __future__ import annotations

import json
import re

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<dq>"(?:[^"\\]|\\.)*")
  | (?P<sq>'(?:[^'\\]|\\.)*')
  | (?P<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<ident>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<punct>[{}\[\]:,()])
""", re.VERBOSE)

_CONSTRUCTORS = {
    "ObjectId": lambda a: {"$oid": a[0]},
    "ISODate": lambda a: {"$date": a[0]},
    "Date": lambda a: {"$date": a[0]},
    "NumberInt": lambda a: {"$numberInt": str(a[0])},
    "NumberLong": lambda a: {"$numberLong": str(a[0])},
    "NumberDecimal": lambda a: {"$numberDecimal": str(a[0])},
    "Decimal128": lambda a: {"$numberDecimal": str(a[0])},
    "Timestamp": lambda a: {"$timestamp": {"t": int(a[0]), "i": int(a[1])}},
    "UUID": lambda a: {"$uuid": a[0]},
}
_LITERALS = {"true": "true", "false": "false", "null": "null", "undefined": "null"}


class RelaxedSyntaxError(ValueError):
    """The text is neither JSON nor mongosh-style relaxed syntax; says where."""


def to_json(text: str) -> str:
    """Translate relaxed syntax to strict JSON text (strict JSON passes through unchanged)."""
    tokens = _tokenize(text)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        kind, value, pos = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if kind == "sq":
            out.append(json.dumps(_unquote_single(value)))
        elif kind == "ident" and nxt is not None and nxt[1] == ":" and _in_object(out):
            out.append(json.dumps(value))
        elif kind == "ident" and value == "new" and nxt is not None and nxt[0] == "ident":
            pass  # `new Date(...)`: the constructor follows
        elif kind == "ident" and value in _LITERALS:
            out.append(_LITERALS[value])
        elif kind == "ident" and nxt is not None and nxt[1] == "(":
            i = _constructor(tokens, i, out)
            continue
        elif kind == "ident":
            raise RelaxedSyntaxError(f"unexpected name {value!r} at column {pos + 1}")
        elif value == "," and nxt is not None and nxt[1] in "}]":
            pass  # a trailing comma
        else:
            out.append(value)
        i += 1
    return "".join(out)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise RelaxedSyntaxError(f"unexpected {text[pos]!r} at column {pos + 1}")
        if match.lastgroup != "ws":
            tokens.append((match.lastgroup or "", match.group(), pos))
        pos = match.end()
    return tokens


def _in_object(out: list[str]) -> bool:
    """A name before ':' is a key when the innermost open bracket is `{`."""
    depth = 0
    for piece in reversed(out):
        if piece in ("}", "]"):
            depth += 1
        elif piece in ("{", "["):
            if depth == 0:
                return piece == "{"
            depth -= 1
    return False


def _constructor(tokens: list[tuple[str, str, int]], i: int, out: list[str]) -> int:
    """Name ( args ) -> its Extended JSON; returns the index after `)`."""
    name, pos = tokens[i][1], tokens[i][2]
    if name not in _CONSTRUCTORS:
        raise RelaxedSyntaxError(f"unknown function {name}() at column {pos + 1} "
                                 f"(known: {', '.join(sorted(_CONSTRUCTORS))})")
    args: list[object] = []
    j = i + 2
    while j < len(tokens) and tokens[j][1] != ")":
        kind, value, _ = tokens[j]
        if kind in ("dq", "sq"):
            args.append(json.loads(value) if kind == "dq" else _unquote_single(value))
        elif kind == "num":
            args.append(json.loads(value))
        elif value != ",":
            raise RelaxedSyntaxError(f"{name}() takes strings or numbers, got {value!r} at column {tokens[j][2] + 1}")
        j += 1
    if j >= len(tokens):
        raise RelaxedSyntaxError(f"{name}( at column {pos + 1} is not closed")
    if not args and name in ("Date", "ISODate"):
        raise RelaxedSyntaxError(f"{name}() needs a date string at column {pos + 1}")
    try:
        out.append(json.dumps(_CONSTRUCTORS[name](args)))
    except (IndexError, ValueError, TypeError):
        raise RelaxedSyntaxError(f"bad arguments to {name}() at column {pos + 1}") from None
    return j + 1


def _unquote_single(token: str) -> str:
    body = token[1:-1].replace("\\'", "'").replace('"', '\\"')
    return json.loads(f'"{body}"')
