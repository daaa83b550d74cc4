"""The sleeping $where forms the sandbox recognises (`sleep(<ms>) || true`, PyMongo's delay()): a reply delay."""

from __future__ import annotations

import re
from typing import Any

# Driver test suites (SDAM "interruptInUse-pool-clear") hold a pooled connection busy with
# `{$where: "sleep(2000) || true"}`. A JavaScript sleep would hold the sandbox's one event loop,
# so this text (whitespace-tolerant, at most 9 digits) is recognised by pattern: the reply is
# delayed by that many ms (other connections go on) and the $where matches as `true`. Any other
# $where stays in the filter and runs as JavaScript (server_js.py).
_SLEEP_TRUE = re.compile(r"\s*sleep\s*\(\s*(\d{1,9})\s*\)\s*\|\|\s*true\s*")
# PyMongo's test helper `delay(sec)`: "function() { sleep(<sec> * 1000); return true; }".
# QuickJS has no sleep, and a sleep inside JavaScript would stall the whole sandbox, so this
# form too is a reply delay recognised by pattern.
_DELAY_FUNCTION = re.compile(r"\s*function\s*\(\s*\)\s*\{\s*sleep\s*\(\s*(\d{1,6}(?:\.\d{1,6})?)\s*\*\s*1000\s*\)"
                             r"\s*;\s*return\s+true\s*;?\s*\}\s*")

# Where each command carries its query filters: (field, key inside each entry or None).
_FILTER_FIELDS: dict[str, tuple[str, str | None]] = {
    "find": ("filter", None),
    "count": ("query", None),
    "distinct": ("query", None),
    "findAndModify": ("query", None),
    "update": ("updates", "q"),
    "delete": ("deletes", "q"),
}


def sleep_ms(where: Any) -> int | None:
    """The delay of a recognised `sleep(<ms>) || true` $where value, else None."""
    if not isinstance(where, str):
        return None
    found = _SLEEP_TRUE.fullmatch(where)
    if found:
        return int(found.group(1))
    found = _DELAY_FUNCTION.fullmatch(where)
    return round(float(found.group(1)) * 1000) if found else None


def _strip(filt: Any) -> tuple[Any, int]:
    """A filter without its recognised top-level $where (same meaning: it is `true`), and the delay."""
    if not isinstance(filt, dict) or "$where" not in filt:
        return filt, 0
    delay = sleep_ms(filt["$where"])
    if delay is None:
        return filt, 0
    return {k: v for k, v in filt.items() if k != "$where"}, delay


def extract_sleeps(name: str, cmd: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The command with each recognised sleep-$where removed from its filters, and the total
    delay in ms (0, and the command itself, when there is none)."""
    where = _FILTER_FIELDS.get(name)
    if where is None:
        return cmd, 0
    field, inner = where
    value = cmd.get(field)
    if inner is None:
        stripped, delay = _strip(value)
        return (dict(cmd, **{field: stripped}), delay) if delay or stripped is not value else (cmd, 0)
    if not isinstance(value, list):
        return cmd, 0
    total = 0
    entries = []
    for entry in value:
        if isinstance(entry, dict):
            stripped, delay = _strip(entry.get(inner))
            if stripped is not entry.get(inner):
                entry = dict(entry, **{inner: stripped})
            total += delay
        entries.append(entry)
    return (dict(cmd, **{field: entries}), total) if total or entries != value else (cmd, 0)
