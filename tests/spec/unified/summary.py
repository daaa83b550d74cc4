"""Summarise the unified spec run: pass/fail/xfail/skip per spec folder, skip reasons and failure kinds tallied.

Usage: python -m tests.spec.unified.summary [--failures N] [--write-expected-failures] [pytest args...]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.spec.unified.expected import EXPECTED_FAILURES, format_expected_failures, load_expected_failures
from tests.spec.unified.runner import SANDBOX_UNIMPLEMENTED

TEST_FILE = Path(__file__).resolve().parents[1] / "test_unified.py"
OUTCOMES = ("passed", "failed", "xfailed", "xpassed", "skipped")


def _folder(case_id: str) -> str:
    """The spec folder of a case id "crud/unified/find.json::..." -> "crud/unified"."""
    if case_id.startswith("tests/"):
        return "(runner self-checks)"
    return str(Path(case_id.split("::", 1)[0]).parent) if "::" in case_id else "(other)"


def _message(report: Any) -> str:
    longrepr = report.longrepr
    if hasattr(longrepr, "reprcrash") and longrepr.reprcrash is not None:
        return str(longrepr.reprcrash.message)
    return str(longrepr)


def headline(report: Any) -> str:
    """The first line of a failure's message (the assertion or exception text)."""
    text = _message(report).strip()
    return text.splitlines()[0][:240] if text else "?"


def _tally_key(line: str) -> str:
    # Numbers and addresses differ between otherwise identical failures; tally them together.
    return re.sub(r"0x[0-9a-f]+|\d+", "#", line)[:160]


class Collector:
    """A pytest plugin keeping each case's outcome, skip reason and failure headline."""

    def __init__(self) -> None:
        self.case_ids: dict[str, str] = {}
        self.outcomes: dict[str, Counter] = defaultdict(Counter)
        self.skips: dict[str, Counter] = defaultdict(Counter)
        self.failures: dict[str, Counter] = defaultdict(Counter)
        self.failed: dict[str, str] = {}     # case id -> headline (failed, not expected)
        self.xfailed: set[str] = set()        # still failing, as expected_failures.txt says
        self.unimplemented: Counter = Counter()
        self.file_outcomes: dict[str, list[str]] = defaultdict(list)  # spec file -> its cases' outcomes

    def pytest_itemcollected(self, item: Any) -> None:
        # The case id from the spec file itself: pytest may escape non-ASCII in node ids.
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("rel") is not None:
            from tests.spec.test_unified import _doc

            description = _doc(params["rel"])["tests"][params["index"]]["description"]
            self.case_ids[item.nodeid] = f"{params['rel']}::{description}"

    def pytest_runtest_logreport(self, report: Any) -> None:
        if not (report.when == "call" or (report.when == "setup" and not report.passed)):
            return
        case_id = self.case_ids.get(report.nodeid, report.nodeid)
        folder = _folder(case_id)
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
            if outcome == "xfailed":
                self.xfailed.add(case_id)
        elif report.skipped:
            outcome = "skipped"
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            reason = reason.removeprefix("Skipped: ")
            self.skips[folder][reason] += 1
            if reason.startswith(SANDBOX_UNIMPLEMENTED):
                self.unimplemented[folder] += 1
        elif report.failed:
            outcome = "failed"
            line = headline(report)
            self.failures[folder][_tally_key(line)] += 1
            if "XPASS(strict)" not in line:  # a fixed known failure is not "currently failing"
                self.failed[case_id] = line
        else:
            outcome = "passed"
        self.outcomes[folder][outcome] += 1
        if "::" in case_id and not case_id.startswith("tests/"):
            self.file_outcomes[case_id.split("::", 1)[0]].append(outcome)

    def file_counts(self) -> dict[str, Counter]:
        """Per folder: files whose every case passed, files with a failing case, and the rest
        (a skipped case, none failing) -- the issues' "files whose every test passes" measure."""
        counts: dict[str, Counter] = defaultdict(Counter)
        for rel, outcomes in self.file_outcomes.items():
            counts[_folder(rel + "::")][file_outcome(outcomes)] += 1
        return counts


def file_outcome(outcomes: list[str]) -> str:
    """A spec file's verdict from its cases: "failed" if any case failed (or is a known failure),
    "passed" if every case passed, else "skipped" (skips count as not passing)."""
    if any(o in ("failed", "xfailed", "xpassed") for o in outcomes):
        return "failed"
    return "passed" if outcomes and all(o == "passed" for o in outcomes) else "skipped"


def print_file_table(collector: Collector) -> None:
    """One line per folder: files passed / failed / skipped and the passed share."""
    print("\n== files per folder (passed = every case passed) ==")
    for folder, counts in sorted(collector.file_counts().items()):
        total = sum(counts.values())
        share = 100.0 * counts["passed"] / total if total else 0.0
        print(f"{folder}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped "
              f"of {total} files ({share:.0f}% passed)")


def _counts(counts: Counter) -> str:
    return ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts[o] or o in ("passed", "failed", "skipped"))


def print_summary(collector: Collector, failures_shown: int) -> Counter:
    totals: Counter = Counter()
    print("\n== unified spec summary ==")
    for folder in sorted(collector.outcomes):
        counts = collector.outcomes[folder]
        totals.update(counts)
        print(f"{folder}: {_counts(counts)}")
        if collector.unimplemented[folder]:
            print(f"    skipped because the sandbox does not implement a needed command: "
                  f"{collector.unimplemented[folder]}")
        for reason, n in collector.skips[folder].most_common():
            print(f"    skip x{n}: {reason}")
        for line, n in collector.failures[folder].most_common(failures_shown):
            print(f"    FAIL x{n}: {line}")
    if collector.failed:
        print("failing cases:")
        for case_id, line in sorted(collector.failed.items()):
            print(f"    {case_id}\n        {line}")
    print(f"total: {_counts(totals)}; of the skips, {sum(collector.unimplemented.values())} "
          f"because the sandbox does not implement a needed command")
    return totals


def write_expected_failures(collector: Collector, path: Path = EXPECTED_FAILURES) -> int:
    """Write the currently failing cases: new failures with their headline as the reason, known
    ones (still xfail) with their reviewed reason. Fixed ones (strict XPASS) drop out."""
    known = load_expected_failures(path)
    items = dict(collector.failed)
    items.update({case_id: known[case_id] for case_id in collector.xfailed if case_id in known})
    path.write_text(format_expected_failures(items.items()), encoding="utf-8")
    return len(items)


def main(argv: list[str] | None = None) -> int:
    """Run the unified spec cases and print the tallies; returns pytest's exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failures", type=int, default=8, help="failure headlines shown per folder")
    parser.add_argument("--write-expected-failures", action="store_true",
                        help=f"write the failing case ids with their headline to {EXPECTED_FAILURES.name} for review")
    options, extra = parser.parse_known_args(argv)
    collector = Collector()
    code = pytest.main([str(TEST_FILE), "-q", "-p", "no:cacheprovider", "--no-header", "-rN", *extra],
                       plugins=[collector])
    print_summary(collector, options.failures)
    print_file_table(collector)
    if options.write_expected_failures:
        if any(a.startswith("-k") or "::" in a for a in extra):
            print("not writing expected failures: the run was narrowed (-k / node ids), the list would be partial")
            return 2
        n = write_expected_failures(collector)
        print(f"wrote {n} case(s) to {EXPECTED_FAILURES}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
