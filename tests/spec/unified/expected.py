"""Known unified spec failures (expected_failures.txt): read them for xfail marks, write them from a run."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

EXPECTED_FAILURES = Path(__file__).with_name("expected_failures.txt")
_SEPARATOR = " # "
_HEADER = """\
# Unified spec cases known to fail, one per line: <relative json path>::<test description> # <reason>
# test_unified marks each one xfail(strict=True): it must keep failing, and once fixed it fails the
# run until its line is removed. Regenerate for review with:
#   python -m tests.spec.unified.summary --write-expected-failures
"""


def parse_expected_failures(text: str) -> dict[str, str]:
    """Case id -> reason from the file's text; blank lines and lines starting with '#' are ignored.

    A line without " # <reason>" is an error: every known failure must say why it fails."""
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        case_id, sep, reason = line.partition(_SEPARATOR)
        if not sep or not reason.strip() or "::" not in case_id:
            raise ValueError(f"{EXPECTED_FAILURES.name}:{number}: expected '<json path>::<description> # <reason>', "
                             f"got {raw!r}")
        if case_id.strip() in out:
            raise ValueError(f"{EXPECTED_FAILURES.name}:{number}: {case_id.strip()!r} is listed twice")
        out[case_id.strip()] = reason.strip()
    return out


def load_expected_failures(path: Path = EXPECTED_FAILURES) -> dict[str, str]:
    """The known failures, or none when the file does not exist."""
    if not path.exists():
        return {}
    return parse_expected_failures(path.read_text(encoding="utf-8"))


def format_expected_failures(items: Iterable[tuple[str, str]]) -> str:
    """The file's text for (case id, reason) pairs, sorted by id; reasons are kept to one line."""
    lines = [_HEADER]
    for case_id, reason in sorted(items):
        one_line = " ".join(reason.split()) or "failing (no message)"
        lines.append(f"{case_id}{_SEPARATOR}{one_line}\n")
    return "".join(lines)
