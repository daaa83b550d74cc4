"""Start-up figures: `mongocli --version` vs `python -c pass`, a one-shot ping vs mongosh's.

Run: python -m bench.startup [--runs 10] [--importtime]
Each command runs `--runs` times, the commands interleaved, and the median wall time is kept
(plus the children's CPU time, steadier on a busy machine). The ping goes to the benchmark
responder, so the server's own cost is negligible. mongosh is used for the measurement only:
found via $MONGOSH, PATH or /work/tools/mongosh; skipped with a note when absent.
`--importtime` adds the top cumulative imports of `mongocli --version` (python -X importtime).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.servers import serve

ROOT = Path(__file__).resolve().parents[1]
MONGOSH_CANDIDATES = ("/work/tools/mongosh/node_modules/.bin/mongosh",)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def find_mongosh() -> str | None:
    for candidate in (os.environ.get("MONGOSH"), shutil.which("mongosh"), *MONGOSH_CANDIDATES):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


# A command that is expected to fail (the fail-fast ping on a refused port exits 3, unreachable).
EXPECTED_EXIT = {"mongocli ping (refused port)": 3}


def _time(argv: list[str], expected_exit: int = 0) -> tuple[float, float]:
    """Wall and CPU (user+sys of the child) seconds for one run; the command must exit as expected."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != expected_exit:
        raise RuntimeError(f"{' '.join(argv)} failed ({out.returncode}): {out.stderr.strip()[-300:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(commands: dict[str, list[str]], runs: int) -> dict[str, tuple[float, float]]:
    """Median (wall, cpu) per command label, runs interleaved; one untimed warm-up run each."""
    for label, argv in commands.items():
        _time(argv, EXPECTED_EXIT.get(label, 0))
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
    for _ in range(runs):
        for label, argv in commands.items():
            samples[label].append(_time(argv, EXPECTED_EXIT.get(label, 0)))
    return {label: (statistics.median(s[0] for s in runs_), statistics.median(s[1] for s in runs_))
            for label, runs_ in samples.items()}


def import_profile(argv: list[str], top: int = 15) -> list[tuple[int, str]]:
    """The `top` largest cumulative import times (µs, module) of running `argv` under -X importtime."""
    out = subprocess.run([sys.executable, "-X", "importtime", *argv], cwd=ROOT, capture_output=True, text=True)
    rows = []
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)", line)
        if m and len(m.group(2)) <= 3:  # top-level and first-level imports only
            rows.append((int(m.group(1)), m.group(3)))
    return sorted(rows, reverse=True)[:top]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--importtime", action="store_true", help="also show the top imports of --version")
    args = parser.parse_args(argv)
    py = sys.executable
    with serve("responder") as uri:
        commands = {
            "python -c pass": [py, "-c", "pass"],
            "mongocli --version": [py, "-m", "mongocli", "--version"],
            "mongocli --help": [py, "-m", "mongocli", "--help"],
            "mongocli ping": [py, "-m", "mongocli", "--uri", uri, "ping"],
            # Fail fast (issue 10): a refused port must answer in well under 2 s, not 30 s later.
            "mongocli ping (refused port)": [py, "-m", "mongocli", "--uri", f"mongodb://127.0.0.1:{closed_port()}/", "ping"],
        }
        mongosh = find_mongosh()
        if mongosh:
            commands["mongosh --eval ping"] = [mongosh, uri, "--quiet", "--norc", "--eval", "db.runCommand({ping: 1})"]
        figures = measure(commands, args.runs)
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        # Seen on our workstations: every import then compiles from source, which more than
        # doubled mongocli ping (0.81 s vs 0.38 s here); an installed mongocli has its .pyc files.
        print("note: PYTHONDONTWRITEBYTECODE is set, so these figures include compiling every module",
              file=sys.stderr)
    base = figures["python -c pass"][0]
    print(f"| command | median wall ms | CPU ms | x python -c pass |\n| --- | ---: | ---: | ---: |")
    for label, (wall, cpu) in figures.items():
        print(f"| {label} | {wall * 1000:.0f} | {cpu * 1000:.0f} | {wall / base:.1f} |")
    if mongosh:
        ratio = figures["mongocli ping"][0] / figures["mongosh --eval ping"][0]
        print(f"\nmongocli ping / mongosh ping (wall): {ratio:.2f} (goal: under 0.33)")
    else:
        print("\nmongosh not found ($MONGOSH, PATH, /work/tools/mongosh): no mongosh comparison")
    if args.importtime:
        print("\ncumulative import time of `mongocli --version` (top, µs):")
        for us, module in import_profile(["-m", "mongocli", "--version"]):
            print(f"{us:>9}  {module}")


if __name__ == "__main__":
    main()
