"""Summarise the unified spec run: pass/fail/skip per spec folder, skip reasons and failure kinds tallied.

Usage: python -m tests.spec.unified.summary [-k EXPR] [--failures N] [extra pytest args...]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

TEST_FILE = Path(__file__).resolve().parents[1] / "test_unified.py"


def _folder(nodeid: str) -> str:
    """The spec folder of a case id "test_unified[crud/unified/find.json::...]" -> "crud/unified"."""
    match = re.search(r"\[(.+?)::", nodeid)
    return str(Path(match.group(1)).parent) if match else "(other)"


def _first_line(report: Any) -> str:
    text = str(report.longrepr.reprcrash.message) if hasattr(report.longrepr, "reprcrash") else str(report.longrepr)
    line = text.strip().splitlines()[0] if text.strip() else "?"
    return re.sub(r"0x[0-9a-f]+|\d+", "#", line)[:160]


class Collector:
    """A pytest plugin keeping each case's outcome, skip reason and failure headline."""

    def __init__(self) -> None:
        self.outcomes: dict[str, Counter] = defaultdict(Counter)
        self.skips: dict[str, Counter] = defaultdict(Counter)
        self.failures: dict[str, Counter] = defaultdict(Counter)

    def pytest_runtest_logreport(self, report: Any) -> None:
        folder = _folder(report.nodeid)
        if report.when == "call" or (report.when == "setup" and not report.passed):
            if report.skipped:
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                self.outcomes[folder]["skipped"] += 1
                self.skips[folder][reason.removeprefix("Skipped: ")] += 1
            elif report.failed:
                self.outcomes[folder]["failed"] += 1
                self.failures[folder][_first_line(report)] += 1
            else:
                self.outcomes[folder]["passed"] += 1


def main(argv: list[str] | None = None) -> int:
    """Run the unified spec cases and print the tallies; returns pytest's exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failures", type=int, default=8, help="failure headlines shown per folder")
    options, extra = parser.parse_known_args(argv)
    collector = Collector()
    code = pytest.main([str(TEST_FILE), "-q", "-p", "no:cacheprovider", "--no-header", "-rN", *extra],
                       plugins=[collector])
    totals: Counter = Counter()
    print("\n== unified spec summary ==")
    for folder in sorted(collector.outcomes):
        counts = collector.outcomes[folder]
        totals.update(counts)
        print(f"{folder}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
        for reason, n in collector.skips[folder].most_common():
            print(f"    skip x{n}: {reason}")
        for line, n in collector.failures[folder].most_common(options.failures):
            print(f"    FAIL x{n}: {line}")
    print(f"total: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
