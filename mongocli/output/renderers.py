"""Renderers: pretty (rich), table, JSON, JSON lines; chosen from the format and the Environment."""

from __future__ import annotations

from typing import Any, Sequence

from bson import json_util
from rich.console import Console
from rich.json import JSON as RichJSON
from rich.table import Table
from rich.text import Text

from mongocli.output import shapes
from mongocli.output.environment import Environment
from mongocli.service.results import (CommandResult, EventRecord, FindResult, HelloResult, InsertReport,
                                      TopologyView)

FORMATS = ("auto", "pretty", "table", "json", "jsonl")
EJSON_MODES = ("relaxed", "canonical")
_EVENT_STYLE = {"heartbeat_failed": "bold red", "server_changed": "yellow", "topology_changed": "cyan",
                "heartbeat_succeeded": "green", "heartbeat_started": "dim", "note": "bold"}


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
        widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
        self.write("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
        for row in rows:
            self.write("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())

    def hello(self, result: HelloResult) -> None:
        rows = [[k, shapes.cell(v)] for k, v in result.reply.items()]
        self.table(["field", "value"], rows, title=_hello_title(result))

    def topology(self, view: TopologyView) -> None:
        self.table(*shapes.topology_table(view), title=shapes.topology_title(view))

    def event(self, record: EventRecord) -> None:
        self.write(f"{shapes.clock_time(record.time)}  {shapes.event_text(record)}")

    def command(self, result: CommandResult) -> None:
        self.table(["field", "value"], [[k, shapes.cell(v)] for k, v in result.reply.items()])

    def documents(self, docs: Sequence[Any]) -> None:
        self.table(*shapes.documents_table(docs))

    def insert(self, report: InsertReport) -> None:
        for line in shapes.insert_lines(report):
            self.write(line)


class PrettyRenderer(TableRenderer):
    """rich output for people: tables with borders, highlighted JSON, coloured event lines."""

    def __init__(self, env: Environment, ejson: str = "relaxed") -> None:
        super().__init__(env, ejson)
        self.console = Console(file=env.stdout, force_terminal=env.color or None, no_color=not env.color,
                               color_system="auto" if env.color else None, width=env.width,
                               highlight=False, soft_wrap=False)

    def print(self, renderable: Any, *, soft_wrap: bool = False) -> None:
        self.console.print(renderable, soft_wrap=soft_wrap)
        self.env.stdout.flush()

    def table(self, columns: list[str], rows: list[list[str]], title: str | None = None) -> None:
        self.print(self.rich_table(columns, rows, title))

    @staticmethod
    def rich_table(columns: list[str], rows: list[list[str]], title: str | None = None) -> Table:
        table = Table(title=title, title_justify="left", header_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row)
        return table

    def topology_renderable(self, view: TopologyView) -> Table:
        """The topology table (also what `topology --watch` redraws in place)."""
        return self.rich_table(*shapes.topology_table(view), title=shapes.topology_title(view))

    def topology(self, view: TopologyView) -> None:
        self.print(self.topology_renderable(view))

    def hello(self, result: HelloResult) -> None:
        self.print(Text(_hello_title(result), style="bold"))
        self.document(dict(result.reply))

    def event(self, record: EventRecord) -> None:
        line = Text(shapes.clock_time(record.time) + "  ", style="dim")
        line.append(shapes.event_text(record), style=_EVENT_STYLE.get(record.kind, ""))
        self.print(line, soft_wrap=True)  # one event, one line: easy to grep

    def command(self, result: CommandResult) -> None:
        self.document(dict(result.reply))
        self.print(Text(f"from {result.address} in {result.duration_ms:.1f} ms", style="dim"))

    def document(self, doc: Any) -> None:
        self.print(RichJSON(self.dumps(doc), highlight=self.env.color))

    def documents(self, docs: Sequence[Any]) -> None:
        for doc in docs:
            self.document(doc)
        self.print(Text(f"{len(docs)} document(s)", style="dim"))


def _hello_title(result: HelloResult) -> str:
    return f"{result.command} reply from {result.address} via {result.opcode}, rtt {result.rtt_ms:.2f} ms"


def make_renderer(fmt: str, env: Environment, ejson: str = "relaxed", *, streaming: bool = False) -> Renderer:
    """The renderer for --format. "auto" is pretty on a terminal; on a pipe it is JSON for one
    result, and plain timestamped lines for a live log (`streaming`), which people tail."""
    if fmt == "auto":
        fmt = "pretty" if env.is_tty else ("table" if streaming else "json")
    classes = {"pretty": PrettyRenderer, "table": TableRenderer, "json": JsonRenderer, "jsonl": JsonLinesRenderer}
    return classes[fmt](env, ejson)
