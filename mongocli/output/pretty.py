"""The pretty renderer (rich): bordered tables, highlighted JSON, coloured event lines, for people."""

from __future__ import annotations

from typing import Any, Sequence

from rich.console import Console
from rich.json import JSON as RichJSON
from rich.table import Table
from rich.text import Text

from mongocli.output import shapes
from mongocli.output.environment import Environment
from mongocli.output.renderers import TableRenderer, hello_title
from mongocli.service.results import CommandResult, EventRecord, HelloResult, TopologyView

_EVENT_STYLE = {"heartbeat_failed": "bold red", "server_changed": "yellow", "topology_changed": "cyan",
                "heartbeat_succeeded": "green", "heartbeat_started": "dim", "note": "bold"}


_UNBROKEN_COLUMNS = {"address", "selects now", "field", "type"}


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
            # An address split over two lines cannot be copied: address columns never wrap and
            # the others fold around them (issue 10 item 7, 80-column terminals).
            keep_whole = column in _UNBROKEN_COLUMNS or ":" in column
            table.add_column(column, overflow="fold", no_wrap=keep_whole, min_width=len(column) if keep_whole else None)
        for row in rows:
            table.add_row(*row)
        return table

    def topology_renderable(self, view: TopologyView) -> Any:
        """The topology table (also what `topology --watch` redraws in place), with selection if any."""
        table = self.rich_table(*shapes.topology_table(view), title=shapes.topology_title(view))
        if not view.selection:
            return table
        from rich.console import Group
        return Group(table, self.rich_table(*shapes.selection_table(view), title="server selection now"))

    def topology(self, view: TopologyView) -> None:
        self.print(self.topology_renderable(view))

    def hello(self, result: HelloResult) -> None:
        self.print(Text(hello_title(result), style="bold"))
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
