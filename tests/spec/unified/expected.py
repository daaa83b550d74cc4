"""Known unified spec failures (expected_failures.txt) and timing-sensitive cases (timing_sensitive.txt): read them for xfail and skip marks, write the failures from a run."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

EXPECTED_FAILURES = Path(__file__).with_name("expected_failures.txt")
# Cases whose verdict depends on scheduling by a few milliseconds (a fail point blocking close to a
# timeout): skipped, with their reason, unless MONGOCLI_TIMING_TESTS=1 (an idle machine) runs them.
TIMING_SENSITIVE = Path(__file__).with_name("timing_sensitive.txt")
RUN_TIMING_TESTS = "MONGOCLI_TIMING_TESTS"
_SEPARATOR = " # "
_HEADER = """\
# Unified spec cases known to fail, one per line: <relative json path>::<test description> # <reason>
# test_unified marks each one xfail(strict=True): it must keep failing, and once fixed it fails the
# run until its line is removed. Regenerate for review with:
#   python -m tests.spec.unified.summary --write-expected-failures
"""


def parse_expected_failures(text: str, name: str = EXPECTED_FAILURES.name) -> dict[str, str]:
    """Case id -> reason from the file's text; blank lines and lines starting with '#' are ignored.

    A line without " # <reason>" is an error: every listed case must say why it is listed."""
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        case_id, sep, reason = line.partition(_SEPARATOR)
        if not sep or not reason.strip() or "::" not in case_id:
            raise ValueError(f"{name}:{number}: expected '<json path>::<description> # <reason>', "
                             f"got {raw!r}")
        if case_id.strip() in out:
            raise ValueError(f"{name}:{number}: {case_id.strip()!r} is listed twice")
        out[case_id.strip()] = reason.strip()
    return out


def load_expected_failures(path: Path = EXPECTED_FAILURES) -> dict[str, str]:
    """The known failures, or none when the file does not exist."""
    if not path.exists():
        return {}
    return parse_expected_failures(path.read_text(encoding="utf-8"), path.name)


def load_timing_sensitive(path: Path = TIMING_SENSITIVE) -> dict[str, str]:
    """The timing-sensitive cases with their reasons (same format as expected_failures.txt)."""
    return load_expected_failures(path)


def format_expected_failures(items: Iterable[tuple[str, str]]) -> str:
    """The file's text for (case id, reason) pairs, sorted by id; reasons are kept to one line."""
    lines = [_HEADER]
    for case_id, reason in sorted(items):
        one_line = " ".join(reason.split()) or "failing (no message)"
        lines.append(f"{case_id}{_SEPARATOR}{one_line}\n")
    return "".join(lines)
