"""Bulk insert N small documents and a full find over them: ours vs PyMongo on one sandbox, one run.

Run: python -m bench.bulk_and_find [N ...]   (default 20000 100000)
The sandbox runs in a child process so tracemalloc and RSS count only the clients. The
tracemalloc peak during the find shows whether memory grows with the result (it must not).
"cpu" is this process's CPU time (time.process_time): the client's own work, without the
sandbox's, so it is much less noisy than the wall-clock ratio on a busy machine.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import resource
import sys
import time
import tracemalloc

from driver.client import Client
from mongocli.sandbox import Sandbox


def _docs(n: int) -> list[dict]:
    return [{"i": i, "s": "x" * 16, "f": i * 0.5} for i in range(n)]


def _run(label: str, coll, n: int) -> tuple[float, float, float]:
    data = _docs(n)
    started, cpu = time.perf_counter(), time.process_time()
    coll.insert_many(data, ordered=True)
    insert_s = time.perf_counter() - started
    insert_cpu = time.process_time() - cpu
    del data
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    started, cpu = time.perf_counter(), time.process_time()
    count = sum(1 for _ in coll.find({}, batch_size=1000))
    find_s = time.perf_counter() - started
    find_cpu = time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    assert count == n, (count, n)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{label:8s} n={n:6d} insert {insert_s:6.2f}s ({n / insert_s:8.0f} docs/s, cpu {insert_cpu:5.2f}s)  "
          f"find {find_s:6.2f}s ({n / find_s:8.0f} docs/s, cpu {find_cpu:5.2f}s)  "
          f"find peak {peak / 1e6:6.2f} MB  maxrss {rss_mb:.0f} MB")
    return insert_s, find_s, peak, insert_cpu, find_cpu


def _serve(conn) -> None:
    with Sandbox(topology="standalone", port=0) as sandbox:
        conn.send(sandbox.uri)
        conn.recv()


def main() -> None:
    import pymongo  # the peer, for comparison only
    parent, child = mp.Pipe()
    server = mp.Process(target=_serve, args=(child,))
    server.start()
    uri = parent.recv()
    ours, theirs = Client(uri), pymongo.MongoClient(uri)
    try:
        for n in [int(a) for a in sys.argv[1:]] or [20_000, 100_000]:
            o = _run("ours", ours[f"bench_ours_{n}"].c, n)
            p = _run("pymongo", theirs[f"bench_pymongo_{n}"].c, n)
            print(f"  ratio ours/pymongo (time): insert {o[0] / p[0]:.2f}x, find {o[1] / p[1]:.2f}x;"
                  f" client cpu: insert {o[3] / p[3]:.2f}x, find {o[4] / p[4]:.2f}x")
    finally:
        ours.close()
        theirs.close()
        parent.send("stop")
        server.join()


if __name__ == "__main__":
    main()
