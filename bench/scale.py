"""Scale figures: insert and find at growing document counts, docs/s and peak memory, ours vs PyMongo.

`mongocli import` / `export` (JSON lines, through the command as a user runs it; measured with
bench.import_export's probe, which reports the command's own peak RSS) run at the same sizes;
they have no PyMongo peer, so their entries carry no ratio.

Each measurement runs in a fresh worker process (`python -m bench.scale CLIENT OP N URI`), so its
peak resident memory belongs to that one operation: the figure is how far the peak rises during
the operation above the resident size just before it (see _start_peak). Inserts stream:
documents come from a generator, 10,000 per insert_many, as an importer feeds them; finds
iterate the cursor without keeping documents. Either way the peak should stay flat as N grows. Counts under 50,000 are
repeated (at most 5 times) and the median taken: one run of 10,000 lasts a tenth of a second.
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

CHUNK = 10_000
COLLECTION = "scale"


@dataclass(frozen=True)
class ScaleRow:
    op: str
    n: int
    figures: dict[str, dict[str, float]]  # client -> {docs_per_s, cpu_s, peak_mb}

    @property
    def key(self) -> str:
        return f"scale_{self.op}_{self.n}"

    @property
    def ratio(self) -> float:
        return self.figures["mongocli"]["docs_per_s"] / self.figures["pymongo"]["docs_per_s"]

    def as_json(self) -> dict[str, Any]:
        ours, theirs = self.figures["mongocli"], self.figures["pymongo"]
        return {"mongocli": round(ours["docs_per_s"]), "pymongo": round(theirs["docs_per_s"]),
                "ratio": round(self.ratio, 3), "unit": "docs/s",
                "mongocli_cpu_s": round(ours["cpu_s"], 3), "pymongo_cpu_s": round(theirs["cpu_s"], 3),
                "mongocli_peak_mb": round(ours["peak_mb"], 1), "pymongo_peak_mb": round(theirs["peak_mb"], 1)}


@dataclass(frozen=True)
class CommandRow:
    """`mongocli import`/`export` of N documents: docs/s and the command's peak RSS (no peer)."""

    op: str
    n: int
    docs_per_s: float
    peak_mb: float

    @property
    def key(self) -> str:
        return f"scale_{self.op}_{self.n}"

    def as_json(self) -> dict[str, Any]:
        return {"mongocli": round(self.docs_per_s), "pymongo": None, "ratio": None, "unit": "docs/s",
                "mongocli_peak_mb": round(self.peak_mb, 1)}


def run_import_export(uri: str, sizes: list[int]) -> list[CommandRow]:
    """Import N documents from a JSON-lines file, then export them to a file, for each N."""
    from bench.import_export import measure, write_file  # the commands' own probe (cmds, issue 10)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            print(f"bench: scale mongocli import+export {n}", file=sys.stderr)
            source, target = os.path.join(tmp, "in.jsonl"), os.path.join(tmp, "out.jsonl")
            write_file(source, n)
            for op, args in (("import", ("import", f"scale_cli.docs{n}", source, "--drop")),
                             ("export", ("export", f"scale_cli.docs{n}", "-o", target))):
                code, seconds, peak_kib, err = measure(*args, uri=uri)
                if code:
                    raise RuntimeError(f"mongocli {op} of {n} documents failed ({code}): {err.strip()[-300:]}")
                rows.append(CommandRow(op, n, n / seconds, peak_kib / 1024))
            with open(target, "rb") as exported:
                lines = sum(1 for _ in exported)
            if lines != n:
                raise RuntimeError(f"mongocli export wrote {lines} lines for {n} imported documents")
    return rows


def _documents(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {"i": i, "name": f"user{i}", "score": i * 0.5, "tags": ["a", "b"], "active": i % 2 == 0}


def _start_peak() -> Callable[[], float]:
    """Start measuring peak memory now; the returned function gives the rise of the peak since (MB).

    On Linux, "5" written to /proc/self/clear_refs resets the peak (VmHWM) to the resident size
    now, so the figure is the operation's own high-water mark, even below an earlier, higher
    peak (start-up, warm-up). Elsewhere, ru_maxrss (never reset) is the fallback: it reads 0 when
    the operation stays under an earlier peak.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        base = _status_mb("VmRSS")
        return lambda: _status_mb("VmHWM") - base
    except OSError:
        base = _maxrss_mb()
        return lambda: _maxrss_mb() - base


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise OSError(f"no {field} in /proc/self/status")


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def _repeats(n: int) -> int:
    """Small counts finish in a blink, too short to time once on a shared machine: repeat them."""
    return max(1, min(5, 50_000 // n))


def _worker(client_name: str, op: str, n: int, uri: str) -> dict[str, float]:
    if client_name == "pymongo":
        import pymongo  # the peer, for comparison only
        client = pymongo.MongoClient(uri)
    else:
        from driver.client import Client
        client = Client(uri)
    try:
        db = client[f"scale_{client_name}"]
        coll = db[COLLECTION]
        coll.find_one({})  # connect and warm up before the baseline
        if op == "insert":
            # Both clients run one small insert_many first, so the figure is the work of N
            # documents, not the first use of the insert path (our bulk module loads on first use).
            db[f"{COLLECTION}_warmup"].insert_many([{"warm": True}])
            db.drop_collection(f"{COLLECTION}_warmup")
        peak_rise = _start_peak()
        walls, cpus = [], []
        for _ in range(_repeats(n)):
            if op == "insert":
                coll.drop()
            docs = _documents(n)
            wall, cpu = time.perf_counter(), time.process_time()
            if op == "insert":
                done = 0
                while chunk := list(itertools.islice(docs, CHUNK)):
                    done += len(coll.insert_many(chunk).inserted_ids)
            else:
                done = sum(1 for _ in coll.find({}))
            cpus.append(time.process_time() - cpu)
            walls.append(time.perf_counter() - wall)
            if done != n:
                raise SystemExit(f"{client_name} {op}: {done} documents, expected {n}")
        peak = peak_rise()
        if op == "find":
            coll.drop()
        return {"docs_per_s": n / statistics.median(walls), "cpu_s": statistics.median(cpus), "peak_mb": peak}
    finally:
        client.close()


def _measure(client_name: str, op: str, n: int, uri: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "bench.scale", client_name, op, str(n), uri],
                         capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"scale worker {client_name} {op} {n} failed: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout)


def run_scale(uri: str, sizes: list[int]) -> list[ScaleRow]:
    """Insert then find N documents per client for each N, alternating which client goes first."""
    rows = []
    for k, n in enumerate(sizes):
        order = ("mongocli", "pymongo") if k % 2 == 0 else ("pymongo", "mongocli")
        figures: dict[str, dict[str, dict[str, float]]] = {"insert": {}, "find": {}}
        for client_name in order:
            print(f"bench: scale {client_name} insert+find {n}", file=sys.stderr)
            for op in ("insert", "find"):
                figures[op][client_name] = _measure(client_name, op, n, uri)
        rows += [ScaleRow(op, n, figures[op]) for op in ("insert", "find")]
    return rows


if __name__ == "__main__":
    name, operation, count, address = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    print(json.dumps(_worker(name, operation, count, address)))
