"""Plain-text tables of benchmark results (Markdown, so README can show them as they are)."""

from __future__ import annotations

from typing import Sequence

from bench.runner import TaskResult
from bench.scale import CommandRow, ScaleRow


def render_tasks(results: Sequence[TaskResult]) -> str:
    lines = ["| task | size MB | mongocli MB/s | PyMongo MB/s | ratio | mongocli CPU s | PyMongo CPU s | CPU ratio |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r.task.name} ({r.ops} ops) | {r.megabytes:.4g} | {r.mb_per_s('mongocli'):.4g} | "
                     f"{r.mb_per_s('pymongo'):.4g} | {r.ratio:.2f} | {r.median_cpu('mongocli'):.4f} | "
                     f"{r.median_cpu('pymongo'):.4f} | {r.cpu_ratio:.2f} |")
    return "\n".join(lines)


def render_commands(rows: Sequence[CommandRow]) -> str:
    lines = ["| command (process, wall incl. start-up) | docs/s | peak RSS MB |", "| --- | ---: | ---: |"]
    for row in rows:
        lines.append(f"| mongocli {row.op} {row.n:,} | {row.docs_per_s:,.0f} | {row.peak_mb:.1f} |")
    return "\n".join(lines)


def render_scale(rows: Sequence[ScaleRow]) -> str:
    lines = ["| scale | mongocli docs/s | PyMongo docs/s | ratio | mongocli CPU s | PyMongo CPU s "
             "| mongocli peak MB | PyMongo peak MB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        o, p = row.figures["mongocli"], row.figures["pymongo"]
        lines.append(f"| {row.op} {row.n:,} | {o['docs_per_s']:,.0f} | {p['docs_per_s']:,.0f} | {row.ratio:.2f} | "
                     f"{o['cpu_s']:.2f} | {p['cpu_s']:.2f} | {o['peak_mb']:.1f} | {p['peak_mb']:.1f} |")
    return "\n".join(lines)
