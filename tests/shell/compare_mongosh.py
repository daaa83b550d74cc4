"""Run the corpus through mongosh and through mongocli's shell side by side; count equal outputs.

    python -m tests.shell.compare_mongosh URI MONGOSH [--jobs N] [--out DIR]

URI is a running deployment both can reach (e.g. a sandbox replica set); MONGOSH the mongosh
executable (installed from npm for comparison only, never a dependency). Each case runs in its
own freshly dropped database; stdout and stderr's first line are compared after collapsing
whitespace. Prints one line per difference and the totals.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from driver import Client
from mongocli.shell.app import Shell
from tests.shell.corpus import Case, collapse, load_cases


def with_db(uri: str, db: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, "/" + db, parts.query, parts.fragment))


def run_mongosh(mongosh: str, uri: str, case: Case) -> tuple[str, str]:
    proc = subprocess.run([mongosh, with_db(uri, case.db), "--quiet", "--norc", "--eval", case.code],
                          capture_output=True, text=True, timeout=300, env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin",
                                                                              "HOME": "/tmp"})
    return proc.stdout, proc.stderr


def run_ours(client: Client, uri: str, case: Case) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    shell = Shell(client, uri, out, err, db_name=case.db)
    try:
        shell.run_program(case.code, filename="<eval>", show=True)
    finally:
        shell.close()
    return out.getvalue(), err.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("uri")
    parser.add_argument("mongosh")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=None, help="write mongosh's outputs here as JSON")
    args = parser.parse_args()
    cases = load_cases()
    client = Client(args.uri, serverSelectionTimeoutMS=20000)
    try:
        for case in cases:
            client.drop_database(case.db)
        with ThreadPoolExecutor(args.jobs) as pool:
            theirs = list(pool.map(lambda c: run_mongosh(args.mongosh, args.uri, c), cases))
        for case in cases:
            client.drop_database(case.db)
        ours = [run_ours(client, args.uri, c) for c in cases]
    finally:
        client.close()
    same = 0
    for case, (t_out, t_err), (o_out, o_err) in zip(cases, theirs, ours):
        t_first = t_err.strip().split("\n")[0] if t_err.strip() else ""
        o_first = o_err.strip().split("\n")[0] if o_err.strip() else ""
        if collapse(t_out) == collapse(o_out) and collapse(t_first) == collapse(o_first):
            same += 1
        else:
            print(f"--- case {case.number} {case.name}\n mongosh: {t_out!r} {t_first!r}\n ours:    {o_out!r} {o_first!r}")
    if args.out:
        Path(args.out).write_text(json.dumps([{"number": c.number, "out": t[0], "err": t[1]}
                                              for c, t in zip(cases, theirs)], indent=1))
    print(f"{same} of {len(cases)} cases print the same as mongosh (whitespace collapsed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
