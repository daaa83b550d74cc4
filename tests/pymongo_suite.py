"""Run PyMongo's own test files against a fresh `mongocli sandbox` replica set; print per-file counts.

    python -m tests.pymongo_suite /path/to/pymongo-src [--files test_cursor ...] [--failures]

The PyMongo source is fetched by whoever runs this: the `test/` folder and `pyproject.toml` of
the sdist matching the installed PyMongo (`pip download pymongo==<version> --no-deps
--no-binary :all:`, then unpack those two; the pyproject carries PyMongo's warning filters).
It is never part of this repository, never collected by our pytest run (the module name does
not start with `test_`) and never run in CI. Each file gets its own sandbox (three members, on
27017-27019 when free) so that one file's leftovers cannot fail another; PyMongo's `test/__init__.py` finds
the deployment through DB_IP/DB_PORT and discovers the replica set from the seed's hello.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FILES = ("test_collection", "test_cursor", "test_database", "test_bulk", "test_client",
         "test_retryable_writes", "test_session", "test_read_preferences")

# Tests left out because they measure the machine, not the server: (file, name pattern for
# pytest -k, why, whether it applies on this machine).
IN_CONTAINER = os.path.exists("/.dockerenv") or bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
MACHINE_DEPENDENT: list[tuple[str, str, str, bool]] = [
    # PyMongo adds env.container (runtime docker, orchestrator kubernetes) to the handshake of a
    # client running in a container; these tests expect the metadata of a bare host.
    ("test_client", "test_handshake_", "client runs in a container: handshake env gains container.runtime", IN_CONTAINER),
    ("test_client", "test_metadata", "client runs in a container: handshake env gains container.runtime", IN_CONTAINER),
    ("test_client", "test_container_metadata", "client runs in a container: handshake env gains container.runtime", IN_CONTAINER),
    # SRV names: these resolve _mongodb._tcp.test*.test.build.10gen.cc in public DNS, records
    # that depend on the network the machine sits on (NXDOMAIN here, at least at times).
    ("test_client", "DNS_resolver", "SRV name test5.test.build.10gen.cc must resolve in this machine's DNS", True),
    ("test_client", "test_repr_srv_host", "SRV name test1.test.build.10gen.cc must resolve in this machine's DNS", True),
    ("test_client", "test_srv_max_hosts_kwarg", "SRV name test1.test.build.10gen.cc must resolve in this machine's DNS", True),
    ("test_client", "test_service_name_from_kwargs", "SRV name test22.test.build.10gen.cc must resolve in this machine's DNS", True),
]
FILE_TIMEOUT_S = 1200


@dataclass
class FileResult:
    """Counts of one PyMongo test file's run."""

    name: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)
    skips: dict[str, int] = field(default_factory=dict)
    note: str = ""


def _default_ports_free() -> bool:
    """Whether 27017-27019 are free: a few PyMongo tests build MongoClient() with no host and
    so reach only a deployment on the default port."""
    for port in (27017, 27018, 27019):
        with socket.socket() as probe:
            # As the sandbox binds (reuse_address): connections of the previous file's sandbox
            # in TIME_WAIT must not make the port look taken.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def start_sandbox() -> tuple[subprocess.Popen, str]:
    """Start `mongocli sandbox --topology replset` (on 27017 when free, else free ports);
    returns (process, host:port seed)."""
    port = "27017" if _default_ports_free() else "0"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mongocli", "sandbox", "--topology", "replset", "--port", port,
         "--quiet", "--election-delay-ms", "200"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    uri = proc.stdout.readline().strip()
    if not uri.startswith("mongodb://"):
        proc.kill()
        raise SystemExit(f"the sandbox did not print a URI (got {uri!r})")
    seed = uri[len("mongodb://"):].split("/")[0].split(",")[0]
    return proc, seed


def parse_junit(path: Path, result: FileResult) -> None:
    """Fill passed/failed/skipped (and failing ids, skip reasons) from a JUnit XML report."""
    for case in ET.parse(path).getroot().iter("testcase"):
        ident = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            result.failed += 1
            bad = case.find("failure") if case.find("failure") is not None else case.find("error")
            message = (bad.get("message") or "").splitlines()[0][:160] if bad is not None else ""
            result.failures.append(f"{ident}: {message}")
        elif case.find("skipped") is not None:
            result.skipped += 1
            reason = (case.find("skipped").get("message") or "").splitlines()[0][:120]
            result.skips[reason] = result.skips.get(reason, 0) + 1
        else:
            result.passed += 1


def run_file(src: Path, name: str, extra: list[str]) -> FileResult:
    """One PyMongo test file against a fresh sandbox replica set."""
    result = FileResult(name)
    proc, seed = start_sandbox()
    host, _, port = seed.rpartition(":")
    env = dict(os.environ, DB_IP=host, DB_PORT=port, PYTHONPATH=str(src))
    left_out = [pattern for file, pattern, _, applies in MACHINE_DEPENDENT if file == name and applies]
    deselect = ["-k", " and ".join(f"not {p}" for p in left_out)] if left_out else []
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        cmd = [sys.executable, "-m", "pytest", f"test/{name}.py", "-q", "-p", "no:cacheprovider",
               "-o", "addopts=",
               # PyMongo's pyproject names pytest-asyncio options; without that plugin the
               # unknown option warning would become an error under its filterwarnings=error.
               "-W", "ignore::pytest.PytestConfigWarning", f"--junitxml={report}", *deselect, *extra]
        try:
            subprocess.run(cmd, cwd=src, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=FILE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            result.note = f"timed out after {FILE_TIMEOUT_S}s"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if report.exists():
            parse_junit(report, result)
        elif not result.note:
            result.note = "no report (pytest crashed?)"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="checkout of mongodb/mongo-python-driver (holds test/)")
    parser.add_argument("--files", nargs="*", default=list(FILES), help="test files (without .py)")
    parser.add_argument("--failures", action="store_true", help="list failing tests and skip reasons")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    if not (args.src / "test" / "__init__.py").is_file():
        parser.error(f"{args.src} has no test/__init__.py: pass the PyMongo source folder")
    print("left out (machine-dependent):")
    for file, pattern, why, applies in MACHINE_DEPENDENT:
        if applies:
            print(f"  {file} -k {pattern}: {why}")
    results = []
    for name in args.files:
        res = run_file(args.src, name, args.pytest_args)
        results.append(res)
        print(f"{name:24} passed {res.passed:4}  failed {res.failed:3}  skipped {res.skipped:3}  {res.note}",
              flush=True)
        if args.failures:
            for line in res.failures:
                print(f"    FAIL {line}")
            for reason, count in sorted(res.skips.items()):
                print(f"    SKIP x{count} {reason}")
    totals = [sum(getattr(r, k) for r in results) for k in ("passed", "failed", "skipped")]
    print(f"{'total':24} passed {totals[0]:4}  failed {totals[1]:3}  skipped {totals[2]:3}")
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())
