"""Run tasks on both clients against one server, alternating, and score them (benchmarking spec).

Per iteration the order of the two clients flips (A B, B A, ...), so neither always runs on a
warmer or a busier machine. Wall time (perf_counter) scores MB/s as the spec says: task size
over the median iteration time. CPU time (process_time: this process only, the server is
another one) is reported beside it: on a shared machine it is the steadier measure of the
client's own work. Every iteration's outcome is checked, so a fast wrong client cannot win.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from bench.tasks import Task

CLIENTS = ("mongocli", "pymongo")
PERCENTILES = (10, 25, 50, 75, 90, 95, 98, 99)


@dataclass
class Samples:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class TaskResult:
    """One task's figures for both clients, from one run."""

    task: Task
    ops: int
    megabytes: float  # task size: bytes per op x ops / 1e6
    samples: dict[str, Samples]

    def median_wall(self, client: str) -> float:
        return statistics.median(self.samples[client].wall)

    def median_cpu(self, client: str) -> float:
        return statistics.median(self.samples[client].cpu)

    def mb_per_s(self, client: str) -> float:
        return self.megabytes / self.median_wall(client)

    @property
    def ratio(self) -> float:
        """ours / PyMongo in MB/s (> 1: we are faster)."""
        return self.mb_per_s("mongocli") / self.mb_per_s("pymongo")

    @property
    def cpu_ratio(self) -> float:
        """PyMongo's client CPU seconds over ours (> 1: we spend less CPU)."""
        return self.median_cpu("pymongo") / self.median_cpu("mongocli")

    def as_json(self) -> dict[str, Any]:
        return {
            "mongocli": _significant(self.mb_per_s("mongocli")), "pymongo": _significant(self.mb_per_s("pymongo")),
            "ratio": round(self.ratio, 3), "unit": "MB/s",
            "mongocli_cpu_s": round(self.median_cpu("mongocli"), 5),
            "pymongo_cpu_s": round(self.median_cpu("pymongo"), 5),
            "cpu_ratio": round(self.cpu_ratio, 3),
            "ops": self.ops, "iterations": len(self.samples["mongocli"].wall),
            "wall_percentiles_s": {c: {f"p{p}": round(nearest_rank(self.samples[c].wall, p), 6) for p in PERCENTILES}
                                   for c in CLIENTS},
        }


def _significant(x: float, digits: int = 6) -> float:
    return float(f"{x:.{digits}g}")


def nearest_rank(values: list[float], p: int) -> float:
    """The spec's percentile: sort, index int(N * p / 100) - 1 (clamped to 0)."""
    ordered = sorted(values)
    return ordered[max(int(len(ordered) * p / 100) - 1, 0)]


def run_task(task: Task, dbs: dict[str, Any], *, ops: int, min_iterations: int, max_iterations: int,
             budget_s: float) -> TaskResult:
    """Set up, warm up once, then time iterations until max_iterations or the time budget is spent.

    `dbs` maps each client name to its own database handle (same server, separate databases).
    At least `min_iterations` are timed whatever the budget.
    """
    doc = task.load()
    for db in dbs.values():
        task.setup(db, doc, ops)
    for name, db in dbs.items():  # warm-up: connections, caches; checked, not timed
        task.check(db, doc, task.do(db, task.before(db, doc, ops)), ops)
    samples = {name: Samples() for name in dbs}
    started = time.perf_counter()
    order = list(dbs)
    for i in range(max_iterations):
        if i >= min_iterations and time.perf_counter() - started > budget_s:
            break
        for name in (order if i % 2 == 0 else order[::-1]):
            db = dbs[name]
            state = task.before(db, doc, ops)
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            outcome = task.do(db, state)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            del state
            task.check(db, doc, outcome, ops)
            samples[name].wall.append(wall)
            samples[name].cpu.append(cpu)
    megabytes = task.bytes_per_op() * ops / 1e6
    return TaskResult(task, ops, megabytes, samples)
