"""The injected environment: streams, whether stdout is a terminal, colour and width."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from typing import IO, Mapping

FORMATS = ("auto", "pretty", "table", "json", "jsonl")
EJSON_MODES = ("relaxed", "canonical")


@dataclass(frozen=True)
class Environment:
    """Where output goes and how it may look; built once in main(), passed everywhere else.

    `color` follows the NO_COLOR convention (https://no-color.org) and is off on pipes.
    """

    stdout: IO[str]
    stderr: IO[str]
    stdin: IO[str]
    is_tty: bool
    stdin_is_tty: bool
    color: bool
    width: int

    @classmethod
    def from_system(cls, stdout: IO[str] | None = None, stderr: IO[str] | None = None,
                    stdin: IO[str] | None = None, environ: Mapping[str, str] | None = None) -> "Environment":
        """Read the real process state (or the given streams, as click's test runner swaps them)."""
        stdout = stdout or sys.stdout
        stderr = stderr or sys.stderr
        stdin = stdin or sys.stdin
        environ = os.environ if environ is None else environ
        is_tty = _isatty(stdout)
        color = is_tty and "NO_COLOR" not in environ and environ.get("TERM") != "dumb"
        width = shutil.get_terminal_size((100, 24)).columns if is_tty else int(environ.get("COLUMNS", 120))
        return cls(stdout=stdout, stderr=stderr, stdin=stdin, is_tty=is_tty, stdin_is_tty=_isatty(stdin),
                   color=color, width=max(40, width))


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
