"""Snapshot reads outside transactions: `readConcern: {level: "snapshot"[, atClusterTime]}` on
find, aggregate and distinct (server 5.0+, the sessions spec's snapshot sessions).

The data as of a cluster time is rebuilt from the present: the catalog is copied (documents
shared) and the change journal's document writes after that time are undone, newest first.
Simplified: catalog changes (drop, rename) are not undone, so a collection dropped since
the snapshot time reads as missing; a time older than the journal's memory is SnapshotTooOld.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import bson
from bson import Timestamp

from mongocli.sandbox.engine import DataEngine
from mongocli.sandbox.engine_store import Catalog, observing
from mongocli.sandbox.engine_values import hkey

if TYPE_CHECKING:  # pragma: no cover
    from mongocli.sandbox.deployment import Deployment

SNAPSHOT_COMMANDS = frozenset({"find", "aggregate", "distinct"})


def _fail(code: int, code_name: str, errmsg: str) -> dict[str, Any]:
    return {"ok": 0.0, "errmsg": errmsg, "code": code, "codeName": code_name}


def wants_snapshot(cmd: Mapping[str, Any]) -> bool:
    """A command asking for snapshot read concern (outside a transaction)."""
    concern = cmd.get("readConcern")
    return isinstance(concern, Mapping) and concern.get("level") == "snapshot" and "autocommit" not in cmd


def run(deployment: "Deployment", db: str, name: str, cmd: Mapping[str, Any], engine_cmd: dict) -> dict[str, Any]:
    """Answer a snapshot read (or refuse it as the server does)."""
    if deployment.topology == "standalone":
        return _fail(72, "InvalidOptions", "readConcern level 'snapshot' needs a replica set or mongos")
    if name not in SNAPSHOT_COMMANDS:
        return _fail(72, "InvalidOptions",
                     f"Command {name} does not support {{ readConcern: {{ level: \"snapshot\" }} }} "
                     "outside a multi-document transaction")
    at = cmd["readConcern"].get("atClusterTime")
    if at is None:
        at = deployment.clock.time
    if not isinstance(at, Timestamp):
        return _fail(14, "TypeMismatch", "readConcern.atClusterTime must be a timestamp")
    if at > deployment.clock.time:
        return _fail(72, "InvalidOptions", f"readConcern atClusterTime {at} is ahead of the cluster time "
                                           f"{deployment.clock.time}")
    view = catalog_at(deployment, at)
    if view is None:
        return _fail(239, "SnapshotTooOld", f"Read timestamp {at} is older than the oldest available timestamp.")
    reply = DataEngine(view, deployment.engine.cursors).run(db, engine_cmd)
    if reply.get("ok"):
        if isinstance(reply.get("cursor"), dict):
            reply["cursor"]["atClusterTime"] = at
        else:
            reply["atClusterTime"] = at
    return reply


def catalog_at(deployment: "Deployment", at: Timestamp) -> Catalog | None:
    """The catalog as of cluster time ``at`` (None when the journal no longer reaches back)."""
    journal = deployment.journal
    entries = journal.entries
    if entries and entries[0].seq > 1 and entries[0].ts > at:
        return None  # older entries were forgotten: what changed since ``at`` is unknown
    view = Catalog()
    for db, colls in deployment.engine.catalog.dbs.items():
        view.dbs[db] = {name: coll.snapshot() for name, coll in colls.items()}
    with observing(None):
        for entry in reversed(entries):
            if entry.ts <= at:
                break
            if entry.op not in ("insert", "update", "replace", "delete"):
                continue
            coll = view.get(entry.db, entry.coll or "")
            if coll is None:
                continue  # dropped since: not undone (see the module docstring)
            doc = entry.new if entry.new is not None else entry.old
            current = coll.docs.get(hkey(doc["_id"]))
            if entry.op == "insert":
                if current is not None:
                    coll.delete(current)
            elif entry.op == "delete":
                if current is None:
                    coll.insert(entry.old, len(bson.encode(entry.old)))
            elif current is not None:
                coll.replace(current, entry.old, len(bson.encode(entry.old)))
    return view
