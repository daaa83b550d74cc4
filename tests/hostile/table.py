"""`python -m tests.hostile.table`: run `mongocli ping` against every hostile mode; print a Markdown table.

Columns: the mode, the exit code, the error line mongocli printed, the elapsed wall time and
the peak resident memory of the mongocli process (its own VmHWM, written at exit: ru_maxrss
would carry the forking parent's peak across exec). The child runs with
its address space capped (3 GiB) and a 120 s wall limit, so a regression cannot take the machine.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

from tests.hostile.server import AUTH_MODES, MODES, HostileServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPTIONS = ("socketTimeoutMS=2000", "serverSelectionTimeoutMS=5000")
WALL_LIMIT_S = 120
# `python -m mongocli ...` that also writes its own peak RSS to stderr as it exits.
RUN_MONGOCLI = (
    "import atexit, runpy, sys\n"
    "def hwm():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'): sys.stderr.write('\\n' + line)\n"
    "atexit.register(hwm)\n"
    "sys.argv = ['mongocli'] + sys.argv[1:]\n"
    "runpy.run_module('mongocli', run_name='__main__', alter_sys=True)\n"
)


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def ping(mode: str) -> tuple[int | str, str, float, float]:
    with HostileServer(mode, set_name="rs0" if mode == "many_hosts" else None) as server:
        uri = server.uri(*OPTIONS, auth=mode in AUTH_MODES)
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-c", RUN_MONGOCLI, "--uri", uri, "ping"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_limit)
        try:
            out, err = proc.communicate(timeout=WALL_LIMIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            code: int | str = f"killed after {WALL_LIMIT_S} s"
        else:
            code = proc.returncode
        elapsed = time.monotonic() - started
        lines = err.strip().splitlines()
        hwm = [int(line.split()[1]) / 1024 for line in lines if line.startswith("VmHWM:")]
        text = [line for line in lines if line.strip() and not line.startswith("VmHWM:")] or out.strip().splitlines()
        return code, text[-1] if text else "", elapsed, hwm[0] if hwm else float("nan")


def main() -> None:
    print("| mode | exit | message (last stderr line) | elapsed s | peak RSS MB |")
    print("| --- | --- | --- | --- | --- |")
    for mode in MODES:
        # Each mode in a fresh process: one server, one client, nothing left from the mode before.
        result = subprocess.run([sys.executable, "-m", "tests.hostile.table", mode], cwd=ROOT,
                                capture_output=True, text=True)
        print(result.stdout.strip() or f"| {mode} | table error | {result.stderr.strip()[-200:]} | | |", flush=True)


def one(mode: str) -> None:
    code, message, elapsed, rss = ping(mode)
    message = message.replace("|", "\\|")
    print(f"| {mode} | {code} | {message} | {elapsed:.2f} | {rss:.0f} |")


if __name__ == "__main__":
    one(sys.argv[1]) if len(sys.argv) > 1 else main()
