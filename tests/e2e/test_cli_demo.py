"""`mongocli demo` end to end, as a user runs it: a real subprocess, piped (non-interactive)."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADDRESS = r"127\.0\.0\.1:\d+"


def test_demo_tours_failover_and_exits_0() -> None:
    started = time.monotonic()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run([sys.executable, "-m", "mongocli", "demo"], cwd=ROOT, capture_output=True, text=True,
                            timeout=90, stdin=subprocess.DEVNULL)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed = time.monotonic() - started
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Traceback" not in result.stderr
    # Wall time follows the machine's load (9.5 s alone, 20-22 s beside two busy processes), so
    # the demo's cost is bounded by its CPU time (~1.5 s), which load does not inflate; each
    # of its waits is already bounded inside the demo (a step that times out exits non-zero).
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    assert cpu < 10, f"the demo used {cpu:.1f} s of CPU"
    assert elapsed < 80, f"the demo took {elapsed:.1f} s"

    killed = re.search(rf"killing the primary ({ADDRESS})", out)
    assert killed, out
    old = killed.group(1)
    new = re.search(rf"new primary ({ADDRESS}): seen by the client (\d+) ms after the kill", out)
    assert new and new.group(1) != old, out
    # In time order: discovery table, kill, failure seen, Unknown, blocked write, election, rejoin.
    expected = [
        "discovery complete",
        "topology ReplicaSetWithPrimary, replica set 'rs0', 3 server(s)",
        f"killing the primary {old}",
        f"heartbeat FAILED    {old}",
        f"{old}: RSPrimary -> Unknown",
        "a write now waits in server selection",
        f"{new.group(1)}: RSSecondary -> RSPrimary",
        f"the blocked write proceeded on {new.group(1)}",
        f"{old}: Unknown -> RSSecondary",
        f"{old} rejoined as a secondary",
        "demo.tour holds 4 documents",
        f"measured: kill -> new primary {new.group(2)} ms",
        "stopping the sandbox; done",
    ]
    positions = [out.find(text) for text in expected]
    assert all(p >= 0 for p in positions), [t for t, p in zip(expected, positions) if p < 0]
    assert positions == sorted(positions), out
    # Every log line carries a timestamp.
    assert all(re.match(r"\d\d:\d\d:\d\d\.\d{3}  ", line) for line in out.splitlines()
               if "heartbeat" in line or "server changed" in line)


def test_demo_piped_into_head_returns() -> None:
    """`mongocli demo | head -3`: the reader leaves after three lines; the demo must end, not hang."""
    demo = subprocess.Popen([sys.executable, "-m", "mongocli", "demo", "--no-pause"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert demo.stdout is not None
    head = [demo.stdout.readline() for _ in range(3)]
    demo.stdout.close()  # what head does after its third line
    _out, err = demo.communicate(timeout=60)
    assert all(head) and demo.returncode == 0, err.decode()
    assert b"Traceback" not in err


def test_demo_holds_event_lines_while_its_prompt_waits() -> None:
    """The interactive demo's prompt is not scrolled away: lines arriving meanwhile wait for Enter."""
    import io
    import threading
    from mongocli.demo import _pause, _Printer
    printed: list[str] = []
    ran = threading.Event()
    printer = _Printer(renderer=None)  # type: ignore[arg-type] - the jobs below print by themselves

    class Stdin:
        def readline(self) -> str:
            printer.show(lambda: (printed.append("heartbeat line"), ran.set()))  # arrives meanwhile
            # Without the hold the printer thread runs the job at once; give it that chance.
            assert not ran.wait(1.0), "a line was printed under the prompt"
            return "\n"

    env = type("Env", (), {"stdout": io.StringIO(), "stdin": Stdin()})()
    _pause(printer, env, True, "Press Enter")  # type: ignore[arg-type]
    printer.flush()
    printer.close()
    assert printed == ["heartbeat line"] and env.stdout.getvalue() == "Press Enter "
