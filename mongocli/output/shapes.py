"""Results as plain documents and table rows: the shapes every renderer draws from."""

from __future__ import annotations

import datetime
from typing import Any, Mapping, Sequence

from bson import json_util

from mongocli.service.results import (CommandResult, EventRecord, FindResult, HelloAllResult, HelloResult,
                                      InsertReport, TopologyView)

COMPACT = json_util.RELAXED_JSON_OPTIONS


def hello_document(result: HelloResult) -> dict[str, Any]:
    return {"address": result.address, "command": result.command, "opcode": result.opcode,
            "rtt_ms": round(result.rtt_ms, 3), "reply": dict(result.reply)}


def topology_document(view: TopologyView) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": view.type, "set_name": view.set_name, "servers": [
        {"address": s.address, "type": s.type,
         "rtt_ms": round(s.rtt_ms, 3) if s.rtt_ms is not None else None,
         "set_version": s.set_version, "election_id": s.election_id, "tags": dict(s.tags), "error": s.error,
         "behind_ms": s.behind_ms}
        for s in view.servers]}
    if not view.compatible:
        doc["compatibility_error"] = view.compatibility_error
    if view.selection:
        doc["selection"] = [
            {"read_preference": dict(row.read_preference), "selected": list(row.selected),
             "latency_window_ms": [round(b, 3) for b in row.window_ms] if row.window_ms else None,
             "servers": [{"address": s.address, "selected": s.address in row.selected,
                          "reason": row.reasons.get(s.address)} for s in view.servers]}
            for row in view.selection]
    return doc


def selection_table(view: TopologyView) -> tuple[list[str], list[list[str]]]:
    """One row per read preference: the servers it selects now, the window, why not the others."""
    rows = []
    for row in view.selection:
        rp = row.read_preference
        label = rp["mode"] + "".join(f" {k}={cell(v)}" for k, v in rp.items() if k != "mode")
        window = f"{row.window_ms[0]:.1f}-{row.window_ms[1]:.1f} ms" if row.window_ms else "-"
        why = "; ".join(f"{a}: {r}" for a, r in sorted(row.reasons.items()))
        rows.append([label, "\n".join(row.selected) or "none", window, why])
    return ["read preference", "selects now", "window", "not selected because"], rows


def hello_all_document(result: HelloAllResult) -> dict[str, Any]:
    return {"members": [hello_document(r) for r in result.results],
            "unreachable": [{"address": a, "error": e} for a, e in sorted(result.errors.items())],
            "differences": list(result.differences)}


def hello_all_table(result: HelloAllResult) -> tuple[list[str], list[list[str]]]:
    """Fields as rows, members as columns; a row whose values differ is marked with "!"."""
    fields: list[str] = ["rtt"]
    for r in result.results:
        fields.extend(k for k in r.reply if k not in fields)
    rows = []
    for name in fields:
        values = [f"{r.rtt_ms:.2f} ms" if name == "rtt" else (cell(r.reply[name]) if name in r.reply else "")
                  for r in result.results]
        rows.append([("! " if name in result.differences else "  ") + name, *values])
    return ["field", *(r.address for r in result.results)], rows


def topology_table(view: TopologyView) -> tuple[list[str], list[list[str]]]:
    columns = ["address", "type", "rtt", "setVersion", "electionId", "behind", "tags", "error"]
    rows = [[s.address, s.type, f"{s.rtt_ms:.1f} ms" if s.rtt_ms is not None else "-",
             str(s.set_version) if s.set_version is not None else "",
             s.election_id or "", f"{s.behind_ms:.0f} ms" if s.behind_ms is not None else "",
             ",".join(f"{k}:{v}" for k, v in sorted(s.tags.items())),
             s.error or ""] for s in view.servers]
    return columns, rows


def topology_title(view: TopologyView) -> str:
    title = f"topology {view.type}"
    if view.set_name:
        title += f", replica set {view.set_name!r}"
    return title + f", {len(view.servers)} server(s)"


def event_document(record: EventRecord) -> dict[str, Any]:
    return {"time": iso_time(record.time), "kind": record.kind, "address": record.address, **record.facts}


def iso_time(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).isoformat(timespec="milliseconds")


def clock_time(seconds: float) -> str:
    """Local HH:MM:SS.mmm for log lines."""
    return datetime.datetime.fromtimestamp(seconds).strftime("%H:%M:%S.%f")[:-3]


def event_text(record: EventRecord) -> str:
    """The human sentence of one event (without its timestamp)."""
    f = record.facts
    awaited = " (awaited)" if f.get("awaited") else ""
    if record.kind == "heartbeat_started":
        return f"heartbeat started   {record.address}{awaited}"
    if record.kind == "heartbeat_succeeded":
        return f"heartbeat ok        {record.address}{awaited} {f['duration_ms']:.1f} ms"
    if record.kind == "heartbeat_failed":
        return f"heartbeat FAILED    {record.address}{awaited} after {f['duration_ms']:.1f} ms: {f['error']}"
    if record.kind == "server_changed":
        return f"server changed      {record.address}: {f['from']} -> {f['to']} ({f['why']})"
    if record.kind == "topology_changed":
        primary = f", primary {f['primary']}" if f.get("primary") else ", no primary"
        return f"topology changed    {f['from']} -> {f['to']}{primary}"
    if record.kind == "server_opening":
        return f"server added        {record.address}"
    if record.kind == "server_closed":
        return f"server removed      {record.address}"
    extra = " ".join(f"{k}={v}" for k, v in f.items() if k != "text")
    return f"{f.get('text', record.kind)}" + (f"  [{extra}]" if extra else "")


def command_document(result: CommandResult) -> dict[str, Any]:
    return dict(result.reply)


def find_documents(result: FindResult) -> list[Mapping[str, Any]]:
    return [dict(d) for d in result.documents]


def documents_table(documents: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Columns: the union of top-level keys in first-seen order; nested values as compact JSON."""
    columns: list[str] = []
    for doc in documents:
        columns.extend(k for k in doc if k not in columns)
    rows = [[cell(doc[c]) if c in doc else "" for c in columns] for doc in documents]
    return columns, rows


def cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json_util.dumps(value, json_options=COMPACT)


def insert_document(report: InsertReport) -> dict[str, Any]:
    return {"namespace": report.namespace, "inserted": len(report.inserted_lines),
            "inserted_lines": list(report.inserted_lines), "inserted_ids": list(report.inserted_ids),
            "bad_lines": [{"line": n, "error": e} for n, e in report.bad_lines],
            "failed_lines": [{"line": n, "error": e} for n, e in report.failed_lines]}


def insert_lines(report: InsertReport) -> list[str]:
    """The insert report in sentences: counts, then every bad or refused line with its reason."""
    lines = [f"inserted {len(report.inserted_lines)} document(s) into {report.namespace}"
             + (f" (lines {compress_ranges(report.inserted_lines)})" if report.inserted_lines else "")]
    lines += [f"line {n}: not inserted, {e}" for n, e in report.bad_lines]
    lines += [f"line {n}: refused by the server, {e}" for n, e in report.failed_lines]
    return lines


def compress_ranges(numbers: Sequence[int]) -> str:
    """[1,2,3,5,7,8] -> "1-3,5,7-8"."""
    parts: list[str] = []
    ordered = sorted(numbers)
    start = prev = None
    for n in ordered:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            parts.append(f"{start}-{prev}" if start != prev else str(start))
            start = prev = n
    if start is not None:
        parts.append(f"{start}-{prev}" if start != prev else str(start))
    return ",".join(parts)
