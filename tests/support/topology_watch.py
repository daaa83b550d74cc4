"""Wait for a live topology to reach a state, woken by its events (no polling sleeps)."""

from __future__ import annotations

import threading
import time
from typing import Callable

from driver.sdam.description import TopologyDescription
from driver.sdam.topology import Topology


def wait_for(topology: Topology, predicate: Callable[[TopologyDescription], bool],
             timeout_s: float = 10.0, what: str = "condition") -> TopologyDescription:
    """Block until predicate(topology.description) holds; re-checked on every published event."""
    changed = threading.Event()
    unsubscribe = topology.events.subscribe(lambda _event: changed.set())
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            snapshot = topology.description
            if predicate(snapshot):
                return snapshot
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; topology: "
                                     + ", ".join(f"{a}={s.type.value}" for a, s in snapshot.servers.items()))
            changed.wait(left)
            changed.clear()
    finally:
        unsubscribe()
