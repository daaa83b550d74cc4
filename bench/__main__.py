"""`python -m bench`: the driver benchmark, driver/ vs PyMongo side by side in one run.

    python -m bench [--quick] [--json] [--server responder|sandbox] [--tasks a,b] [--scale 10000,100000]

Default: every task at the spec's scale, then the scale figures (find and insert at 10k, 100k and
1M documents; 10k and 100k on the sandbox) and `mongocli import`/`export` at 100k and 1M. `--quick`: a tenth of the single-op scale, three
iterations, no scale figures; under a minute. `--json` prints one JSON object
{task: {"mongocli": MB/s, "pymongo": MB/s, "ratio": r, ...}} on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

from bench.report import render_commands, render_scale, render_tasks
from bench.runner import run_task
from bench.servers import SERVERS, serve
from bench.tasks import TASKS

DB_PREFIX = "perftest_"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small scale, 3 iterations, no scale figures")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--server", choices=SERVERS, default="responder",
                        help="responder: minimal server (client figures); sandbox: end to end")
    parser.add_argument("--tasks", default=",".join(TASKS),
                        help=f"comma-separated subset of: {', '.join(TASKS)} ('' for none)")
    parser.add_argument("--ops", type=int, help="operations per iteration (overrides the task's scale)")
    parser.add_argument("--iterations", type=int, help="most iterations per client and task")
    parser.add_argument("--scale", help="document counts for the scale figures, e.g. 10000,100000 ('' for none)")
    parser.add_argument("--import-export", dest="import_export",
                        help="document counts for mongocli import/export (default 100000,1000000 on the "
                             "responder without --quick; '' for none)")
    args = parser.parse_args(argv)
    unknown = [t for t in args.tasks.split(",") if t and t not in TASKS]
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}: choose from {', '.join(TASKS)}")
    try:
        args.scale_sizes = _scale_sizes(args)
        args.command_sizes = _command_sizes(args)
    except ValueError:
        parser.error(f"--scale and --import-export take comma-separated document counts, got "
                     f"{args.scale!r} / {args.import_export!r}")
    return args


def _scale_sizes(args: argparse.Namespace) -> list[int]:
    if args.scale is not None:
        return [int(n) for n in args.scale.split(",") if n.strip()]
    if args.quick:
        return []
    return [10_000, 100_000, 1_000_000] if args.server == "responder" else [10_000, 100_000]


def _command_sizes(args: argparse.Namespace) -> list[int]:
    if args.import_export is not None:
        return [int(n) for n in args.import_export.split(",") if n.strip()]
    return [100_000, 1_000_000] if args.server == "responder" and not args.quick else []


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    import pymongo  # the peer, for comparison only; never imported by driver/ or mongocli/

    from driver.client import Client
    from bench.scale import run_import_export, run_scale

    results, scale_rows, command_rows = [], [], []
    with serve(args.server) as uri:
        clients = {"mongocli": Client(uri), "pymongo": pymongo.MongoClient(uri)}
        try:
            dbs = {name: c[DB_PREFIX + name] for name, c in clients.items()}
            for name in [t for t in args.tasks.split(",") if t]:
                task = TASKS[name]
                ops = args.ops or (task.quick_ops if args.quick else task.ops)
                most = args.iterations or (3 if args.quick else 10)
                print(f"bench: {name} ({ops} ops x up to {most} iterations per client)", file=sys.stderr)
                results.append(run_task(task, dbs, ops=ops, min_iterations=min(3, most), max_iterations=most,
                                        budget_s=2.0 if args.quick else 20.0))
            for name, c in clients.items():
                c.drop_database(DB_PREFIX + name)
        finally:
            for c in clients.values():
                c.close()
        if args.scale_sizes:
            scale_rows = run_scale(uri, args.scale_sizes)
        if args.command_sizes:
            command_rows = run_import_export(uri, args.command_sizes)
    if args.json:
        out = {r.task.name: r.as_json() for r in results}
        out.update({row.key: row.as_json() for row in [*scale_rows, *command_rows]})
        print(json.dumps(out, indent=1))
    else:
        print(f"server: {args.server}")
        print(render_tasks(results))
        if scale_rows:
            print()
            print(render_scale(scale_rows))
        if command_rows:
            print()
            print(render_commands(command_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
