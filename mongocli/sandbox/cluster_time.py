"""Cluster time: the deployment's logical clock, `$clusterTime` gossip, `operationTime` and
`afterClusterTime` (causal consistency), as a replica set or mongos without keyFile answers them."""

from __future__ import annotations

import time
from typing import Any, Mapping

from bson import Binary, Int64, Timestamp

# An unauthenticated test server signs with keyId 0 and a zero hash: drivers gossip the
# document back unchanged and the server does not verify it (sessions spec, "Gossipping the
# cluster time"; the server skips signature checks when it has no keys).
_ZERO_SIGNATURE = {"hash": Binary(bytes(20), 0), "keyId": Int64(0)}


class ClusterClock:
    """One deployment's logical clock (the sandbox's members share data, so they share one clock).

    `time` only moves forward: every write ticks it (that tick is the write's optime) and a
    client's gossiped `$clusterTime` may move it ahead, as the server's LogicalClock does."""

    def __init__(self) -> None:
        self.time = Timestamp(int(time.time()), 1)

    def tick(self) -> Timestamp:
        """Reserve the next cluster time for a write and return it."""
        now = int(time.time())
        current = self.time
        self.time = Timestamp(now, 1) if now > current.time else Timestamp(current.time, current.inc + 1)
        return self.time

    def advance(self, seen: Any) -> None:
        """Move to a gossiped time that is ahead of ours (never backwards)."""
        if isinstance(seen, Timestamp) and seen > self.time:
            self.time = seen

    def document(self) -> dict[str, Any]:
        """The `$clusterTime` a reply carries."""
        return {"clusterTime": self.time, "signature": dict(_ZERO_SIGNATURE)}


def gossips(topology: str) -> bool:
    """Replica-set members and mongos keep a cluster time; a standalone does not (sessions spec)."""
    return topology in ("replset", "sharded")


def receive(deployment: Any, cmd: Mapping[str, Any]) -> None:
    """A command's `$clusterTime` advances the clock (gossip in)."""
    if not gossips(deployment.topology):
        return
    sent = cmd.get("$clusterTime")
    if isinstance(sent, Mapping):
        deployment.clock.advance(sent.get("clusterTime"))


def stamp(deployment: Any, name: str, reply: dict[str, Any], hello: bool) -> None:
    """Add `$clusterTime` (every reply) and `operationTime` (every reply but hello) on replica sets
    and mongos. operationTime is the optime of the last write the command could see: the
    sandbox applies writes to all members at once, so that is the deployment's last optime."""
    if not gossips(deployment.topology):
        return
    if not hello:
        reply.setdefault("operationTime", deployment.optime)
    reply["$clusterTime"] = deployment.clock.document()


def check_after_cluster_time(deployment: Any, cmd: Mapping[str, Any]) -> dict[str, Any] | None:
    """readConcern.afterClusterTime: an error reply when it cannot be honoured, else None.

    A real member waits until its optime reaches afterClusterTime (a no-op write moves it
    along); the sandbox applies every write instantly, so any time up to the cluster time is
    reached already: it only refuses a time ahead of the cluster time, and a standalone."""
    concern = cmd.get("readConcern")
    if not isinstance(concern, Mapping) or "afterClusterTime" not in concern:
        return None
    after = concern["afterClusterTime"]
    if not gossips(deployment.topology):
        return {"ok": 0.0, "code": 72, "codeName": "InvalidOptions",
                "errmsg": "readConcern afterClusterTime is not supported on a standalone "
                          "(it needs a replica set or mongos)"}
    if not isinstance(after, Timestamp):
        return {"ok": 0.0, "code": 14, "codeName": "TypeMismatch",
                "errmsg": "BSON field 'readConcern.afterClusterTime' is the wrong type, expected type 'timestamp'"}
    if after > deployment.clock.time:
        return {"ok": 0.0, "code": 72, "codeName": "InvalidOptions",
                "errmsg": f"readConcern afterClusterTime value must not be greater than the current "
                          f"clusterTime. Requested clusterTime: {after}; current clusterTime: "
                          f"{deployment.clock.time}"}
    return None
