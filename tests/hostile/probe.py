"""A client run in its own process against a hostile server: fault, then recovery, as JSON lines.

`python -m tests.hostile.probe URI` (from the repository root). Address space is capped
(RLIMIT_AS) so a client that trusts a hostile length fails fast here instead of taking the
machine's memory; peak resident memory and the thread count are reported for the test to bound.

Output, one JSON object per line on stdout:
  {"phase": "fault", "error_type", "error", "elapsed_s", "threads_peak"}
  (then it waits for a line on stdin: the test has switched the server to "good")
  {"phase": "recovered", "ok", "attempts", "elapsed_s", "error"}
  {"phase": "closed", "close_s", "threads_after_close", "maxrss_mb", "threads_peak"}
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time

ADDRESS_SPACE_LIMIT = 3 << 30  # 3 GiB of virtual memory: ample for a client, not for a 2 GB buffer
RECOVERY_DEADLINE_S = 30.0


class ThreadPeak:
    """Samples threading.active_count() every 10 ms (a cheap bound on monitor creation)."""

    def __init__(self) -> None:
        self.peak = threading.active_count()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, threading.active_count())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def peak_rss_mb() -> float:
    """This process's own peak resident memory since exec.

    Not getrusage(RUSAGE_SELF).ru_maxrss: Linux carries the forking parent's peak across
    fork/exec into it, so a probe started from a 300 MB pytest process would report 300 MB.
    VmHWM belongs to the address space exec created.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def describe(exc: BaseException | None) -> tuple[str | None, str | None]:
    return (None, None) if exc is None else (type(exc).__name__, str(exc))


def main(uri: str) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    from driver.client import Client

    peak = ThreadPeak()
    client = Client(uri)
    started = time.monotonic()
    error: BaseException | None = None
    try:
        client.admin.command("ping")
    except BaseException as exc:  # MemoryError and RecursionError included: the test reports them
        error = exc
    elapsed = time.monotonic() - started
    error_type, text = describe(error)
    emit(phase="fault", error_type=error_type, error=text, elapsed_s=round(elapsed, 3), threads_peak=peak.peak)

    sys.stdin.readline()  # the server now behaves
    started = time.monotonic()
    attempts, error = 0, None
    while True:
        attempts += 1
        try:
            client.admin.command("ping")
            error = None
            break
        except BaseException as exc:
            error = exc
            if time.monotonic() - started > RECOVERY_DEADLINE_S:
                break
    error_type, text = describe(error)
    emit(phase="recovered", ok=error is None, attempts=attempts, elapsed_s=round(time.monotonic() - started, 3),
         error_type=error_type, error=text)

    started = time.monotonic()
    client.close()
    close_s = time.monotonic() - started
    peak.stop()
    emit(phase="closed", close_s=round(close_s, 3), threads_after_close=threading.active_count(),
         maxrss_mb=peak_rss_mb(), threads_peak=peak.peak)


if __name__ == "__main__":
    main(sys.argv[1])
