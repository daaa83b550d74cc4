"""Iterating a large find keeps one batch in memory: tracemalloc peak does not grow with the result size."""

from __future__ import annotations

import multiprocessing
import tracemalloc
from typing import Any

from driver.client import Client


def _serve(conn: Any) -> None:
    # The sandbox runs in another process so tracemalloc sees only the client's allocations.
    from mongocli.sandbox import Sandbox

    with Sandbox(topology="standalone", host="127.0.0.1", port=0) as sandbox:
        conn.send(sandbox.uri)
        conn.recv()  # block until the test says stop


def _find_peak(client: Client, n: int) -> int:
    coll = client.mem[f"c{n}"]
    coll.insert_many([{"i": i, "s": "x" * 32} for i in range(n)])
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        seen = sum(1 for _ in coll.find({}, batch_size=500))
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert seen == n
    return peak


def test_find_memory_is_bounded_by_the_batch_not_the_result() -> None:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child,), daemon=True)
    proc.start()
    try:
        assert parent.poll(60), "the sandbox process did not report its URI"
        with Client(parent.recv(), serverSelectionTimeoutMS=5000) as client:
            small = _find_peak(client, 4_000)
            large = _find_peak(client, 20_000)
    finally:
        parent.send("stop")
        proc.join(30)
    # 5x the documents: a client that accumulated results would need ~5x the memory.
    assert large < small * 1.5 + 256 * 1024, (small, large)
