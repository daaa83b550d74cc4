"""Shell history: where it lives (XDG), a private file, and lines holding credentials never written.

mongosh leaves out of its history the lines that may hold secrets (connection strings with a
password, createUser/updateUser/auth/passwordPrompt calls); so do we.
"""

from __future__ import annotations

import os
import re
from typing import Mapping

from prompt_toolkit.history import FileHistory

__all__ = ["history_path", "has_credentials", "PrivateFileHistory"]

# A connection string with user:password@, or a call whose arguments carry a password.
_SECRET = re.compile(
    r"mongodb(?:\+srv)?://[^/\s'\"`@]*:[^/\s'\"`@]*@"
    r"|\b(?:createUser|updateUser|changeUserPassword|auth|passwordPrompt|connect)\s*\("
    r"|\bnew\s+Mongo\s*\(\s*['\"`][^'\"`]*:[^'\"`]*@", re.IGNORECASE)


def history_path(environ: Mapping[str, str] | None = None) -> str:
    """$XDG_DATA_HOME/mongocli/history (XDG base directories; default ~/.local/share)."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "mongocli", "history")


def has_credentials(line: str) -> bool:
    """True when `line` may hold a password and must stay out of the history file."""
    return bool(_SECRET.search(line))


class PrivateFileHistory(FileHistory):
    """prompt_toolkit's file history, in a 0600 file whose directory is created (0700) when missing."""

    def __init__(self, filename: str) -> None:
        directory = os.path.dirname(filename)
        if directory:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        if not os.path.exists(filename):
            os.close(os.open(filename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        os.chmod(filename, 0o600)
        super().__init__(filename)

    def store_string(self, string: str) -> None:
        if has_credentials(string):
            return
        super().store_string(string)
