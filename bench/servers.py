"""The servers a benchmark runs against, each in its own process: the minimal responder or a sandbox.

`serve(kind)` is a context manager yielding a mongodb:// URI. The child prints its address on
the first stdout line and stops when its stdin closes, so it never outlives this process.
Run as `python -m bench.servers sandbox` to get the sandbox side of that protocol.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from typing import Iterator

SERVERS = ("responder", "sandbox")


@contextlib.contextmanager
def serve(kind: str) -> Iterator[str]:
    """Start the `kind` server ("responder" or "sandbox") in a child process; yield its URI."""
    if kind not in SERVERS:
        raise ValueError(f"unknown server {kind!r}: choose one of {', '.join(SERVERS)}")
    module = "bench.responder" if kind == "responder" else "bench.servers"
    args = [sys.executable, "-m", module] + (["sandbox"] if kind == "sandbox" else [])
    child = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"the {kind} server exited before telling its address (exit code {child.wait()})")
        yield line if line.startswith("mongodb://") else f"mongodb://127.0.0.1:{int(line)}/?directConnection=true"
    finally:
        child.stdin.close()  # the child's signal to stop
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _sandbox_main() -> None:
    from mongocli.sandbox import Sandbox

    with Sandbox(topology="standalone", port=0) as sandbox:
        print(sandbox.uri, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    if sys.argv[1:] != ["sandbox"]:
        sys.exit("usage: python -m bench.servers sandbox")
    _sandbox_main()
