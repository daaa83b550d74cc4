"""Tokenizer for the mongosh-style expression language, with positions for caret errors."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ShellError", "ParseError", "Token", "tokenize", "is_complete", "PUNCTUATION"]

PUNCTUATION = frozenset("{}[](),:.;")
_OPENERS = {"{": "}", "[": "]", "(": ")"}
_CLOSERS = {v: k for k, v in _OPENERS.items()}
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
# Regex flags the server accepts ($regex "options"), plus JS-only g/y/u which mongosh ignores.
REGEX_FLAGS = frozenset("imsxlugy")


class ShellError(Exception):
    """Base of errors the shell reports to the user without a traceback."""


class ParseError(ShellError):
    """Input that is not valid shell syntax; knows where (1-based line/column) and shows a caret."""

    def __init__(self, message: str, line: int, column: int, source: str = "",
                 found: str | None = None) -> None:
        self.reason = message
        self.line = line
        self.column = column
        self.source = source
        self.found = found
        suffix = f" (found {found})" if found else ""
        super().__init__(f"{message} at {line}:{column}{suffix}")

    def caret(self) -> str:
        """The offending source line and a `^` under the column (empty when no source is known)."""
        lines = self.source.split("\n")
        if not self.source or not 1 <= self.line <= len(lines):
            return ""
        text = lines[self.line - 1]
        return f"{text}\n{' ' * (self.column - 1)}^"


@dataclass(frozen=True)
class Token:
    """One token: kind is ident, number, string, regex, punct or eof; value is already decoded."""

    kind: str
    value: object
    text: str
    line: int
    column: int
    offset: int


def _isdigit(ch: str) -> bool:
    return ch != "" and ch in "0123456789"  # str.isdigit() also accepts '²' and other digits


def _is_ident_start(ch: str) -> bool:
    return ch.isalpha() or ch in "_$"


def _is_ident_part(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


class _Scanner:
    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.line = 1
        self.col = 1

    def peek(self, ahead: int = 0) -> str:
        i = self.pos + ahead
        return self.src[i] if i < len(self.src) else ""

    def advance(self) -> str:
        ch = self.src[self.pos]
        self.pos += 1
        if ch == "\n":
            self.line += 1
            self.col = 1
        else:
            self.col += 1
        return ch

    def error(self, message: str, line: int | None = None, col: int | None = None) -> ParseError:
        return ParseError(message, line or self.line, col or self.col, self.src)


def tokenize(source: str) -> list[Token]:
    """Split `source` into tokens ending with an eof token; raises ParseError on bad input."""
    sc = _Scanner(source)
    tokens: list[Token] = []
    while True:
        _skip_space_and_comments(sc)
        line, col, start = sc.line, sc.col, sc.pos
        ch = sc.peek()
        if not ch:
            tokens.append(Token("eof", None, "", line, col, start))
            return tokens
        if ch in "\"'":
            value = _read_string(sc)
            kind = "string"
        elif _isdigit(ch) or (ch == "." and _isdigit(sc.peek(1))):
            value = _read_number(sc)
            kind = "number"
        elif _is_ident_start(ch):
            while sc.peek() and _is_ident_part(sc.peek()):
                sc.advance()
            value = source[start:sc.pos]
            kind = "ident"
        elif ch == "/":
            # No division in this language, so '/' (that is not a comment) always opens a regex.
            value = _read_regex(sc)
            kind = "regex"
        elif ch in PUNCTUATION or ch == "-" or ch == "+":
            sc.advance()
            value = ch
            kind = "punct"
        else:
            raise sc.error(f"unexpected character {ch!r}")
        tokens.append(Token(kind, value, source[start:sc.pos], line, col, start))


def _skip_space_and_comments(sc: _Scanner) -> None:
    while True:
        ch = sc.peek()
        if ch and ch.isspace():
            sc.advance()
        elif ch == "/" and sc.peek(1) == "/":
            while sc.peek() and sc.peek() != "\n":
                sc.advance()
        elif ch == "/" and sc.peek(1) == "*":
            line, col = sc.line, sc.col
            sc.advance(), sc.advance()
            while not (sc.peek() == "*" and sc.peek(1) == "/"):
                if not sc.peek():
                    raise sc.error("unterminated comment (missing '*/')", line, col)
                sc.advance()
            sc.advance(), sc.advance()
        else:
            return


def _read_string(sc: _Scanner) -> str:
    line, col = sc.line, sc.col
    quote = sc.advance()
    out: list[str] = []
    while True:
        ch = sc.peek()
        if not ch or ch == "\n":
            raise sc.error(f"unterminated string (missing closing {quote})", line, col)
        sc.advance()
        if ch == quote:
            break
        if ch != "\\":
            out.append(ch)
            continue
        esc_line, esc_col = sc.line, sc.col - 1
        esc = sc.peek()
        if not esc:
            raise sc.error(f"unterminated string (missing closing {quote})", line, col)
        sc.advance()
        if esc in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[esc])
        elif esc == "\n":
            continue  # line continuation
        elif esc == "x":
            out.append(chr(_read_hex(sc, 2, esc_line, esc_col)))
        elif esc == "u":
            if sc.peek() == "{":
                sc.advance()
                digits = ""
                while sc.peek() and sc.peek() != "}":
                    digits += sc.advance()
                if sc.peek() != "}" or not digits or len(digits) > 6 or \
                        any(c not in "0123456789abcdefABCDEF" for c in digits) or int(digits, 16) > 0x10FFFF:
                    raise sc.error("invalid \\u{...} escape", esc_line, esc_col)
                sc.advance()
                out.append(chr(int(digits, 16)))
            else:
                out.append(chr(_read_hex(sc, 4, esc_line, esc_col)))
        else:
            out.append(esc)  # JS: an unknown escape is the character itself
    return _join_surrogates("".join(out), sc, line, col)


def _read_hex(sc: _Scanner, count: int, line: int, col: int) -> int:
    digits = ""
    for _ in range(count):
        ch = sc.peek()
        if not ch or ch not in "0123456789abcdefABCDEF":
            raise sc.error(f"invalid escape: expected {count} hex digits", line, col)
        digits += sc.advance()
    return int(digits, 16)


def _join_surrogates(text: str, sc: _Scanner, line: int, col: int) -> str:
    """JS strings are UTF-16: pair \\uD83D\\uDE00 into one character; a lone half cannot be BSON."""
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return text
    try:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        raise sc.error("string contains a lone UTF-16 surrogate escape", line, col) from None


def _read_number(sc: _Scanner) -> int | float:
    line, col, start = sc.line, sc.col, sc.pos
    src = sc.src
    if sc.peek() == "0" and sc.peek(1) in ("x", "X"):
        sc.advance(), sc.advance()
        while sc.peek() and _is_ident_part(sc.peek()):
            sc.advance()
        digits = src[start + 2:sc.pos]
        try:
            return int(digits, 16)
        except ValueError:
            raise sc.error(f"invalid hex number {src[start:sc.pos]!r}", line, col) from None
    while _isdigit(sc.peek()):
        sc.advance()
    is_float = False
    if sc.peek() == "." and _isdigit(sc.peek(1)):
        is_float = True
        sc.advance()
        while _isdigit(sc.peek()):
            sc.advance()
    if sc.peek() in ("e", "E") and (_isdigit(sc.peek(1)) or (sc.peek(1) in "+-" and _isdigit(sc.peek(2)))):
        is_float = True
        sc.advance()
        if sc.peek() in "+-":
            sc.advance()
        while _isdigit(sc.peek()):
            sc.advance()
    if sc.peek() and _is_ident_part(sc.peek()):
        raise sc.error(f"invalid number {src[start:sc.pos + 1]!r}", line, col)
    text = src[start:sc.pos]
    if is_float:
        return float(text)
    if len(text) > 30:  # beyond int64 anyway; avoids Python's int-from-str digit limit
        return float(text)
    return int(text)


def _read_regex(sc: _Scanner) -> tuple[str, str]:
    line, col = sc.line, sc.col
    sc.advance()
    body: list[str] = []
    in_class = False
    while True:
        ch = sc.peek()
        if not ch or ch == "\n":
            raise sc.error("unterminated regular expression (missing closing /)", line, col)
        sc.advance()
        if ch == "\\":
            nxt = sc.peek()
            if not nxt or nxt == "\n":
                raise sc.error("unterminated regular expression (missing closing /)", line, col)
            body.append(ch + sc.advance())
            continue
        if ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch == "/" and not in_class:
            break
        body.append(ch)
    flags = ""
    while sc.peek() and _is_ident_part(sc.peek()):
        flag_col = sc.col
        flag = sc.advance()
        if flag not in REGEX_FLAGS or flag in flags:
            raise sc.error(f"invalid regular expression flag {flag!r}", sc.line, flag_col)
        flags += flag
    return "".join(body), flags


def is_complete(source: str) -> bool:
    """True when `source` can be run as is: brackets balanced and no string/comment left open.

    The REPL keeps reading lines while this is False (multi-line input). Input with a real
    syntax error counts as complete so that the error is shown instead of waiting forever.
    """
    try:
        tokens = tokenize(source)
    except ParseError as exc:
        reason = exc.reason
        at_end = exc.line == source.count("\n") + 1
        return not (reason.startswith("unterminated comment") or
                    (reason.startswith("unterminated string") and source.rstrip(" \t").endswith("\\")
                     and at_end))
    depth: list[str] = []
    for tok in tokens:
        if tok.kind != "punct":
            continue
        if tok.value in _OPENERS:
            depth.append(tok.value)
        elif tok.value in _CLOSERS:
            if not depth or depth[-1] != _CLOSERS[tok.value]:
                return True  # a mismatched closer is an error to report now
            depth.pop()
    return not depth
