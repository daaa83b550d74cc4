"""Renderers: table, JSON, JSON lines here, pretty (rich) in pretty.py; chosen from --format and the Environment."""

from __future__ import annotations

from typing import Any, Sequence

from bson import json_util
from mongocli.output import shapes
from mongocli.output.environment import Environment
from mongocli.service.results import (CommandResult, EventRecord, FindResult, HelloAllResult, HelloResult,
                                      InsertReport, TopologyView)

from mongocli.output.environment import EJSON_MODES, FORMATS  # noqa: F401 - re-exported


class Renderer:
    """Draws every kind of result; subclasses decide how. Output goes to env.stdout."""

    def __init__(self, env: Environment, ejson: str = "relaxed") -> None:
        self.env = env
        self.json_options = (json_util.CANONICAL_JSON_OPTIONS if ejson == "canonical"
                             else json_util.RELAXED_JSON_OPTIONS)

    def dumps(self, value: Any, *, indent: int | None = None) -> str:
        return json_util.dumps(value, json_options=self.json_options, indent=indent)

    def write(self, text: str) -> None:
        self.env.stdout.write(text + "\n")
        self.env.stdout.flush()

    # One method per result kind; the default is the JSON document of each.
    def hello(self, result: HelloResult) -> None:
        self.document(shapes.hello_document(result))

    def topology(self, view: TopologyView) -> None:
        self.document(shapes.topology_document(view))

    def hello_all(self, result: HelloAllResult) -> None:
        self.document(shapes.hello_all_document(result))

    def event(self, record: EventRecord) -> None:
        self.document(shapes.event_document(record))

    def command(self, result: CommandResult) -> None:
        self.document(shapes.command_document(result))

    def find(self, result: FindResult) -> None:
        self.documents(shapes.find_documents(result))

    def insert(self, report: InsertReport) -> None:
        self.document(shapes.insert_document(report))

    def document(self, doc: Any) -> None:
        self.write(self.dumps(doc, indent=2))

    def documents(self, docs: Sequence[Any]) -> None:
        self.write(self.dumps(list(docs), indent=2))


class JsonRenderer(Renderer):
    """Indented (relaxed or canonical) Extended JSON: one document per result."""


class JsonLinesRenderer(Renderer):
    """One compact Extended JSON document per line: per event, per found document."""

    def document(self, doc: Any) -> None:
        self.write(self.dumps(doc))

    def documents(self, docs: Sequence[Any]) -> None:
        for doc in docs:
            self.write(self.dumps(doc))


class TableRenderer(Renderer):
    """Plain-text aligned columns without colour: easy to read and to grep."""

    def table(self, columns: list[str], rows: list[list[str]], title: str | None = None) -> None:
        if title:
            self.write(title)
        rows = [[v.replace("\n", ", ") for v in row] for row in rows]
        widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
        self.write("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
        for row in rows:
            self.write("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())

    def hello(self, result: HelloResult) -> None:
        rows = [[k, shapes.cell(v)] for k, v in result.reply.items()]
        self.table(["field", "value"], rows, title=hello_title(result))

    def topology(self, view: TopologyView) -> None:
        self.table(*shapes.topology_table(view), title=shapes.topology_title(view))
        if view.selection:
            self.table(*shapes.selection_table(view), title="server selection now")

    def doctor_step(self, step: Any) -> None:
        """One doctor step as it completes: verdict, timing, name, detail, and the hint if not ok."""
        self.write(f"[{step.verdict.upper():4}] {step.ms:8.1f} ms  {step.name}: {step.detail}")
        if step.hint:
            self.write(f"{'':23}try: {step.hint}")

    def hello_all(self, result: HelloAllResult) -> None:
        self.table(*shapes.hello_all_table(result), title="hello of every member"
                   + (f"; views differ on: {', '.join(result.differences)}" if result.differences else
                      "; all members agree"))
        for address, error in sorted(result.errors.items()):
            self.write(f"{address}: no answer: {error}")

    def event(self, record: EventRecord) -> None:
        self.write(f"{shapes.clock_time(record.time)}  {shapes.event_text(record)}")

    def command(self, result: CommandResult) -> None:
        self.table(["field", "value"], [[k, shapes.cell(v)] for k, v in result.reply.items()])

    def documents(self, docs: Sequence[Any]) -> None:
        self.table(*shapes.documents_table(docs))

    def insert(self, report: InsertReport) -> None:
        for line in shapes.insert_lines(report):
            self.write(line)


def hello_title(result: HelloResult) -> str:
    return f"{result.command} reply from {result.address} via {result.opcode}, rtt {result.rtt_ms:.2f} ms"


def make_renderer(fmt: str, env: Environment, ejson: str = "relaxed", *, streaming: bool = False) -> Renderer:
    """The renderer for --format. "auto" is pretty on a terminal; on a pipe it is JSON for one
    result, and plain timestamped lines for a live log (`streaming`), which people tail."""
    if fmt == "auto":
        fmt = "pretty" if env.is_tty else ("table" if streaming else "json")
    if fmt == "pretty":
        from mongocli.output.pretty import PrettyRenderer  # rich only when drawing for people
        return PrettyRenderer(env, ejson)
    classes = {"table": TableRenderer, "json": JsonRenderer, "jsonl": JsonLinesRenderer}
    return classes[fmt](env, ejson)
