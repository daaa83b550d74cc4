"""Progress for long transfers: a rich bar on a terminal's stderr (documents, rate, ETA), else nothing."""

from __future__ import annotations

from contextlib import contextmanager
from typing import IO, Callable, Iterator

from mongocli.output.environment import Environment


@contextmanager
def progress_bar(env: Environment, description: str, *, total: float | None = None,
                 position: Callable[[], float] | None = None) -> Iterator[Callable[[int], None] | None]:
    """Yield `advance(n_documents)` drawing a bar on stderr when it is a terminal, else None.

    With `position` (bytes read so far) and `total` (the file size) the bar and its ETA follow
    the file; otherwise they follow documents against `total` documents (or just count).
    """
    if not _isatty(env.stderr):
        yield None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                               TimeRemainingColumn)
    console = Console(file=env.stderr, no_color=not env.color)
    columns = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[docs]:,} docs, {task.fields[rate]:,.0f}/s"), TimeRemainingColumn()]
    if position is None and total is not None:
        columns.insert(3, MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total, docs=0, rate=0.0)
        docs = 0

        def advance(n: int) -> None:
            nonlocal docs
            docs += n
            elapsed = bar.tasks[0].elapsed or 0.0
            completed = position() if position is not None else docs
            bar.update(task, completed=completed, docs=docs, rate=docs / elapsed if elapsed > 0 else 0.0)
        yield advance


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
