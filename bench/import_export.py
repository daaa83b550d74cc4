"""`mongocli import`/`export` at scale: peak memory flat from 100k to 1M documents, and an import that
survives three primary step-downs with every document present exactly once.

    python -m bench.import_export                 # failover at 100k, memory at 100k and 1M
    python -m bench.import_export --sizes 100000 --json

The command runs as a subprocess (as a user runs it) and reports its own peak RSS (VmHWM). The
sandbox runs in this process (its own threads), so its memory is not counted against mongocli.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from mongocli.sandbox import Sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_file(path: str, count: int) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for n in range(count):
            out.write(f'{{"n": {n}, "name": "user{n}", "age": {n % 90}, "tags": ["a", "b"]}}\n')


# The child reports its own VmHWM (peak RSS of its address space since exec) on exit. wait4's
# ru_maxrss would not do: Linux carries the forking parent's RSS into it across exec, and this
# parent holds the sandbox's data.
_PROBE = ("import atexit, sys\n"
          "def peak():\n"
          "    for line in open('/proc/self/status'):\n"
          "        if line.startswith('VmHWM:'):\n"
          "            sys.stderr.write('PEAK_RSS_KIB ' + line.split()[1] + '\\n')\n"
          "atexit.register(peak)\n"
          "sys.argv = ['mongocli', *sys.argv[1:]]\n"
          "from mongocli.cli import main\n"
          "main()\n")


def measure(*args: str, uri: str) -> tuple[int, float, int, str]:
    """(exit code, seconds, peak RSS KiB, stderr without the probe line) of one mongocli run."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _PROBE, "--uri", uri, *args], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.monotonic() - started
    lines = proc.stderr.splitlines()
    peak = next((int(line.split()[1]) for line in lines if line.startswith("PEAK_RSS_KIB ")), 0)
    return proc.returncode, seconds, peak, "\n".join(l for l in lines if not l.startswith("PEAK_RSS_KIB "))


def step_down_at_writes(sandbox: Sandbox, marks: list[int]) -> list[str]:
    """Make the primary step down right after the sandbox applies write command number m, for each m.

    Runs inside the sandbox's event loop (note_write is called there, once per applied write
    command), so the step-downs land at exactly those points of any run, busy machine or not.
    Returns the list that fills with the addresses of the members that stepped down.
    """
    deployment = sandbox.deployment
    note_write = deployment.note_write
    pending, writes, stepped = sorted(marks), [0], []

    def counting_note_write() -> None:
        note_write()
        writes[0] += 1
        primary = deployment.primary
        if pending and writes[0] >= pending[0] and primary is not None:
            pending.pop(0)
            if deployment.step_down(primary, 1.0).get("ok"):
                stepped.append(primary.address)

    deployment.note_write = counting_note_write  # instrumentation for this sandbox's life only
    return stepped


def failover_import(count: int, stepdowns: int = 3, batch_size: int = 1000) -> dict[str, Any]:
    """Import `count` documents while the primary steps down `stepdowns` times, spread over the run."""
    with tempfile.TemporaryDirectory() as tmp, \
            Sandbox(topology="replset", members=3, host="127.0.0.1", port=0, election_delay_ms=300) as sandbox:
        path = os.path.join(tmp, "docs.jsonl")
        write_file(path, count)
        batches = -(-count // batch_size)
        stepped = step_down_at_writes(sandbox, [batches * (i + 1) // (stepdowns + 1) for i in range(stepdowns)])
        code, seconds, rss, err = measure("import", "bench.failover", path, "--batch-size", str(batch_size),
                                          "--format", "json", uri=sandbox.uri)
        from driver.client import Client
        with Client(sandbox.uri) as client:
            coll = client.get_database("bench").get_collection("failover")
            present = coll.count_documents({})
            distinct = len(coll.distinct("n"))
        return {"documents": count, "exit_code": code, "seconds": round(seconds, 2), "stepdowns": len(stepped),
                "present": present, "distinct_n": distinct, "exactly_once": present == distinct == count,
                "docs_per_s": round(count / seconds), "peak_rss_mib": round(rss / 1024, 1),
                "summary": err.strip().splitlines()[-1] if err.strip() else ""}


def memory(sizes: list[int]) -> list[dict[str, Any]]:
    """Peak RSS of import and of export (to a file) per size, on one standalone sandbox."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp, \
            Sandbox(topology="standalone", host="127.0.0.1", port=0) as sandbox:
        # The sandbox's query engine (mongomock) scans a million documents in its event loop for one
        # find, past the default 10 s heartbeat connect timeout: generous timeouts keep the server
        # "up" meanwhile, so what is measured is mongocli's memory, not the sandbox's pause.
        uri = sandbox.uri.rstrip("/") + "/?connectTimeoutMS=300000&serverSelectionTimeoutMS=300000"
        for count in sizes:
            path = os.path.join(tmp, f"in-{count}.jsonl")
            write_file(path, count)
            ns = f"bench.mem{count}"
            code_i, sec_i, rss_i, err_i = measure("import", ns, path, "--drop", "--format", "json", uri=uri)
            out = os.path.join(tmp, f"out-{count}.jsonl")
            code_e, sec_e, rss_e, err_e = measure("export", ns, "-o", out, uri=uri)
            with open(out, "rb") as exported:
                lines = sum(1 for _ in exported)
            os.remove(path)
            os.remove(out)
            from driver.client import Client  # drop: the sandbox's own memory stays bounded
            with Client(uri) as client:
                client.get_database("bench").get_collection(f"mem{count}").drop()
            rows.append({"documents": count, "import_exit": code_i, "import_s": round(sec_i, 1),
                         "import_peak_rss_mib": round(rss_i / 1024, 1), "export_exit": code_e,
                         "export_s": round(sec_e, 1), "export_peak_rss_mib": round(rss_e / 1024, 1),
                         "exported_lines": lines,
                         "errors": [e.strip().splitlines()[-1] for e in (err_i, err_e) if e.strip()]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated document counts for memory")
    parser.add_argument("--failover", type=int, default=100_000, help="documents for the failover import (0: skip)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    args = parser.parse_args()
    result: dict[str, Any] = {}
    if args.failover:
        result["failover"] = failover_import(args.failover)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if sizes:
        result["memory"] = memory(sizes)
    if args.json:
        print(json.dumps(result))
        return
    if "failover" in result:
        f = result["failover"]
        print(f"failover import: {f['documents']:,} docs, {f['stepdowns']} step-downs, exit {f['exit_code']}, "
              f"{f['seconds']} s ({f['docs_per_s']:,} docs/s), present {f['present']:,}, distinct {f['distinct_n']:,}, "
              f"exactly once: {f['exactly_once']}, peak RSS {f['peak_rss_mib']} MiB")
        print(f"  {f['summary']}")
    for row in result.get("memory", []):
        print(f"{row['documents']:>9,} docs: import {row['import_s']} s peak {row['import_peak_rss_mib']} MiB "
              f"(exit {row['import_exit']}); export {row['export_s']} s peak {row['export_peak_rss_mib']} MiB "
              f"(exit {row['export_exit']}, {row['exported_lines']:,} lines)")
        for error in row["errors"]:
            print(f"    {error}")


if __name__ == "__main__":
    main()
