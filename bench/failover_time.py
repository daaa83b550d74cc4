"""Time from killing a sandbox primary to a new primary being selectable: ours (stream, poll) vs PyMongo.

Run: python -m bench.failover_time [--runs 5] [--election-delay-ms 200] [--heartbeat-ms 500]
Each run starts a fresh 3-member sandbox replica set, waits until the client knows the whole
set, kills the primary and times until a write selection returns a different server.
"""

from __future__ import annotations

import argparse
import statistics
import time

from driver.events.listeners import EventBus
from driver.settings import client_settings
from driver.topology_builder import build_topology
from mongocli.sandbox import Sandbox


def ours(uri: str, mode: str, heartbeat_ms: int) -> float:
    topology = build_topology(client_settings(uri, heartbeatFrequencyMS=heartbeat_ms,
                                              serverMonitoringMode=mode), EventBus())
    try:
        old = topology.select_server("write", timeout_ms=10_000).address
        while len(topology.description.known_servers) < 3:
            time.sleep(0.01)
        return _time_failover(lambda: topology.select_server("write", timeout_ms=20_000).address, old)
    finally:
        topology.close()


def pymongo_peer(uri: str, heartbeat_ms: int) -> float:
    import pymongo  # a peer for comparison only; never imported by driver/ or mongocli/
    client = pymongo.MongoClient(uri, heartbeatFrequencyMS=heartbeat_ms, serverSelectionTimeoutMS=20_000)
    try:
        client.admin.command("ping")
        old = "%s:%d" % client.primary
        while len(client.nodes) < 3:
            time.sleep(0.01)

        def select() -> str:
            # A write selection through PyMongo's public API: the primary once it is known.
            client.admin.command("ping", read_preference=pymongo.ReadPreference.PRIMARY)
            return "%s:%d" % client.primary
        return _time_failover(select, old)
    finally:
        client.close()


_SANDBOX: list[Sandbox] = []


def _time_failover(select, old: str) -> float:
    sandbox = _SANDBOX[-1]
    started = time.perf_counter()
    sandbox.kill(old)
    while True:
        try:
            if select() != old:
                return (time.perf_counter() - started) * 1000.0
        except Exception:  # noqa: BLE001 - selection of the dead primary may fail; try again
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--election-delay-ms", type=int, default=200)
    parser.add_argument("--heartbeat-ms", type=int, default=500)
    args = parser.parse_args()
    results: dict[str, list[float]] = {"ours/stream": [], "ours/poll": [], "pymongo": []}
    for _ in range(args.runs):
        for name in results:  # interleaved, so machine noise hits every contender alike
            with Sandbox(topology="replset", members=3, election_delay_ms=args.election_delay_ms) as sb:
                _SANDBOX.append(sb)
                if name == "pymongo":
                    results[name].append(pymongo_peer(sb.uri, args.heartbeat_ms))
                else:
                    results[name].append(ours(sb.uri, name.split("/")[1], args.heartbeat_ms))
                _SANDBOX.pop()
    print(f"kill -> new primary selectable, election delay {args.election_delay_ms} ms, "
          f"heartbeatFrequencyMS {args.heartbeat_ms}, {args.runs} runs each (ms)")
    base = statistics.median(results["pymongo"])
    for name, values in results.items():
        med = statistics.median(values)
        print(f"  {name:12s} median {med:7.1f}  min {min(values):7.1f}  max {max(values):7.1f}  "
              f"ratio to pymongo {med / base:4.2f}")


if __name__ == "__main__":
    main()
