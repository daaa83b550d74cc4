"""JavaScript source scanning: tokens, "is this input complete?", and loop-guard instrumentation.

Why instrument: QuickJS cannot be interrupted from outside a running `eval` (a time limit set
from another thread or a SIGINT is not seen until the eval returns), so every loop the user
writes calls a guard at its head; the guard calls back into Python every few thousand turns,
which is where a pending Ctrl-C is noticed. `catch` blocks re-throw the interrupt so a
`try {} catch {}` inside a loop cannot swallow it. Only insertions are made, all on the line
where they occur, so line numbers stay the user's; columns are mapped back with `Instrumented`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

__all__ = ["Token", "tokens", "is_complete", "instrument", "Instrumented", "GUARD", "RETHROW"]

GUARD = "__mc_guard()"        # true, or throws the interrupt (prelude: interrupt.js)
RETHROW = "__mc_rethrow"      # re-throws its argument when it is the interrupt

_PUNCT3 = (">>>=", "...", "===", "!==", "**=", "<<=", ">>=", ">>>", "&&=", "||=", "??=")
_PUNCT2 = ("=>", "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "++", "--", "+=", "-=", "*=", "/=", "%=",
           "&=", "|=", "^=", "**", "<<", ">>")
# After these tokens a `/` starts a regular expression, not a division.
_REGEX_AFTER_WORDS = {"return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case",
                      "do", "else", "yield", "await"}


@dataclass(frozen=True)
class Token:
    """One token: kind is name, number, string, template, regex, punct or error; start/end are offsets."""

    kind: str
    text: str
    start: int
    end: int


class _Scanner:
    def __init__(self, src: str) -> None:
        self.src = src
        self.pos = 0
        self.brace_stack: list[str] = []   # "{" or "${" (a template substitution)
        self.prev: Token | None = None

    def _regex_allowed(self) -> bool:
        prev = self.prev
        if prev is None:
            return True
        if prev.kind in ("number", "string", "template", "regex"):
            return False
        if prev.kind == "name":
            return prev.text in _REGEX_AFTER_WORDS
        return prev.text not in (")", "]", "}")

    def _skip_space(self) -> None:
        src, n = self.src, len(self.src)
        while self.pos < n:
            c = src[self.pos]
            if c in " \t\r\n\f\v\u00a0\ufeff":
                self.pos += 1
            elif src.startswith("//", self.pos):
                end = src.find("\n", self.pos)
                self.pos = n if end < 0 else end
            elif src.startswith("/*", self.pos):
                end = src.find("*/", self.pos + 2)
                if end < 0:
                    self.pos = n
                    self.unterminated = "comment"
                    return
                self.pos = end + 2
            else:
                return

    unterminated: str | None = None

    def _quoted(self, quote: str) -> int:
        """End offset of a string starting at self.pos, or -1 when unterminated."""
        src, i, n = self.src, self.pos + 1, len(self.src)
        while i < n:
            c = src[i]
            if c == "\\":
                i += 2
                continue
            if c == quote:
                return i + 1
            if c == "\n" and quote != "`":
                return -1
            if quote == "`" and src.startswith("${", i):
                return i  # a substitution starts; the caller pushes it
            i += 1
        return -1

    def _template_part(self, start: int) -> Token:
        """Scan template text from `start` (just after ` or }) to its closing ` or next ${."""
        src, i, n = self.src, start, len(self.src)
        while i < n:
            c = src[i]
            if c == "\\":
                i += 2
                continue
            if c == "`":
                self.pos = i + 1
                return Token("template", src[start:i + 1], start, i + 1)
            if src.startswith("${", i):
                self.brace_stack.append("${")
                self.pos = i + 2
                return Token("template", src[start:i + 2], start, i + 2)
            i += 1
        self.pos = n
        self.unterminated = "template"
        return Token("error", src[start:], start, n)

    def _regex(self) -> Token:
        src, i, n = self.src, self.pos + 1, len(self.src)
        in_class = False
        while i < n:
            c = src[i]
            if c == "\\":
                i += 2
                continue
            if c == "\n":
                break
            if c == "[":
                in_class = True
            elif c == "]":
                in_class = False
            elif c == "/" and not in_class:
                i += 1
                while i < n and (src[i].isalnum() or src[i] in "_$"):
                    i += 1
                return Token("regex", src[self.pos:i], self.pos, i)
            i += 1
        return Token("error", src[self.pos:i], self.pos, i)

    def next(self) -> Token | None:
        self._skip_space()
        src, n = self.src, len(self.src)
        if self.pos >= n:
            return None
        start, c = self.pos, src[self.pos]
        if c.isalpha() or c in "_$\\" or ord(c) > 127:
            i = start + 1
            while i < n and (src[i].isalnum() or src[i] in "_$\\" or ord(src[i]) > 127):
                i += 1
            tok = Token("name", src[start:i], start, i)
        elif c.isdigit() or (c == "." and start + 1 < n and src[start + 1].isdigit()):
            i = start + 1
            while i < n and (src[i].isalnum() or src[i] in "._" or (src[i] in "+-" and src[i - 1] in "eE"
                                                                   and not src[start:i].startswith(("0x", "0X")))):
                i += 1
            tok = Token("number", src[start:i], start, i)
        elif c in "'\"":
            end = self._quoted(c)
            if end < 0:
                self.unterminated = "string"
                end = src.find("\n", start)
                end = n if end < 0 else end
                tok = Token("error", src[start:end], start, end)
            else:
                tok = Token("string", src[start:end], start, end)
        elif c == "`":
            tok = self._template_part(start + 1)
            tok = Token(tok.kind, src[start:tok.end], start, tok.end)
            self.prev = tok
            return tok
        elif c == "/" and self._regex_allowed():
            tok = self._regex()
        elif c == "}" and self.brace_stack and self.brace_stack[-1] == "${":
            self.brace_stack.pop()
            tok = self._template_part(start + 1)
            tok = Token(tok.kind, src[start:tok.end], start, tok.end)
            self.prev = tok
            return tok
        else:
            for p in _PUNCT3 + _PUNCT2:
                if src.startswith(p, start):
                    text = p
                    break
            else:
                text = c
            if text == "{":
                self.brace_stack.append("{")
            elif text == "}" and self.brace_stack:
                self.brace_stack.pop()
            tok = Token("punct", text, start, start + len(text))
        self.pos = tok.end
        self.prev = tok
        return tok


def tokens(src: str) -> Iterator[Token]:
    """The tokens of `src` (comments and white space skipped; bad input gives "error" tokens)."""
    scanner = _Scanner(src)
    while (tok := scanner.next()) is not None:
        yield tok


def is_complete(src: str) -> bool:
    """False while brackets, a string, a template or a comment are open, or the input ends in an operator.

    Why: multi-line input continues on the next line in these cases (as in mongosh).
    """
    scanner = _Scanner(src)
    depth = 0
    last: Token | None = None
    while (tok := scanner.next()) is not None:
        if tok.kind == "punct" and tok.text in "([{":
            depth += 1
        elif tok.kind == "punct" and tok.text in ")]}":
            depth -= 1
        last = tok
    if scanner.unterminated in ("comment", "template") or scanner.brace_stack:
        return False
    if depth > 0:
        return False
    if last is not None and last.kind == "punct" and last.text in (
            "=", "+", "-", "*", "/", "%", "&&", "||", "??", ".", ",", "=>", "?", ":", "(", "[", "{", "**", "|",
            "&", "^", "<", ">", "<=", ">=", "==", "===", "!=", "!=="):
        return False
    return True


@dataclass
class Instrumented:
    """Instrumented source, the user's original and where text was inserted (original offset, length)."""

    source: str
    original: str
    insertions: list[tuple[int, int]] = field(default_factory=list)

    def original_column(self, line: int, column: int) -> int:
        """Map a 1-based (line, column) in the instrumented source to the column the user typed."""
        offset = _line_start(self.source, line) + column - 1
        shift = 0
        for at, length in self.insertions:
            begin = at + shift
            if offset < begin:
                break
            if offset < begin + length:
                offset = begin  # inside inserted text: point at where it was inserted
                break
            shift += length
        return offset - shift - _line_start(self.original, line) + 1


def _line_start(text: str, line: int) -> int:
    pos = 0
    for _ in range(line - 1):
        pos = text.find("\n", pos) + 1
        if pos == 0:
            return len(text)
    return pos


def _matching(toks: list[Token], i: int) -> int:
    """Index of the bracket closing toks[i] (or len(toks) when unbalanced)."""
    depth = 0
    for j in range(i, len(toks)):
        text = toks[j].text if toks[j].kind == "punct" else ""
        if text in ("(", "[", "{"):
            depth += 1
        elif text in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return j
    return len(toks)


def instrument(src: str) -> Instrumented:
    """Insert loop guards (while/for/do-while heads) and interrupt re-throws (catch blocks), and make
    top-level let/const/class declarations global `var`s.

    Why the declarations: each input runs in an indirect eval (so the shell can tell `undefined`
    from `null`), where a top-level let/const/class would vanish when the input ends; mongosh
    users expect `let x = 1` on one line and `x` on the next. Same-length replacements keep columns.
    """
    original = src
    toks = list(tokens(src))
    inserts: list[tuple[int, str]] = []
    replaces: list[tuple[int, int, str]] = []
    depth = 0
    for i, tok in enumerate(toks):
        if tok.kind == "punct" and tok.text in ("(", "[", "{"):
            depth += 1
        elif tok.kind == "punct" and tok.text in (")", "]", "}"):
            depth -= 1
        if tok.kind != "name" or (i > 0 and toks[i - 1].text in (".", "?.")):
            continue
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if depth == 0 and tok.text in ("let", "const") and nxt is not None and (
                nxt.kind == "name" or nxt.text in ("[", "{")):
            replaces.append((tok.start, tok.end, "var".ljust(len(tok.text))))
            continue
        if depth == 0 and tok.text == "class" and nxt is not None and nxt.kind == "name" and (
                i == 0 or toks[i - 1].text in (";", "}")):
            inserts.append((tok.start, f"var {nxt.text} = "))
            continue
        if tok.text in ("while", "for") and nxt is not None and nxt.text == "(":
            close = _matching(toks, i + 1)
            if tok.text == "while":
                inserts.append((nxt.end, GUARD + ", "))
                continue
            semi = next((j for j in range(i + 2, close) if toks[j].text == ";" and
                         _depth_between(toks, i + 2, j) == 0), None)
            if semi is None:
                continue  # for-in / for-of: finite unless a generator, whose own loops are guarded
            after = toks[semi + 1] if semi + 1 < len(toks) else None
            inserts.append((toks[semi].end, " " + GUARD + ("," if after is not None and after.text != ";" else "")))
        elif tok.text == "catch" and nxt is not None:
            if nxt.text == "{":
                inserts.append((tok.end, " (__mc_e)"))
                inserts.append((nxt.end, f" {RETHROW}(__mc_e);"))
            elif nxt.text == "(" and i + 3 < len(toks) and toks[i + 2].kind == "name" and toks[i + 3].text == ")":
                body = toks[i + 4] if i + 4 < len(toks) else None
                if body is not None and body.text == "{":
                    inserts.append((body.end, f" {RETHROW}({toks[i + 2].text});"))
    for start, end, text in replaces:
        src = src[:start] + text + src[end:]
    inserts.sort(key=lambda item: item[0])
    out, pos = [], 0
    for at, text in inserts:
        out.append(src[pos:at])
        out.append(text)
        pos = at
    out.append(src[pos:])
    return Instrumented("".join(out), original, [(at, len(text)) for at, text in inserts])


def _depth_between(toks: list[Token], start: int, end: int) -> int:
    depth = 0
    for j in range(start, end):
        if toks[j].kind == "punct":
            if toks[j].text in "([{":
                depth += 1
            elif toks[j].text in ")]}":
                depth -= 1
    return depth
