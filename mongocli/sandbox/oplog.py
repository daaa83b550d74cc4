"""local.oplog.rs of a replica set: the change journal's entries as oplog documents in a capped
collection, materialised when a command reads the local database (readable and tailable)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import Int64, ObjectId

from mongocli.sandbox.engine_store import bson_size

if TYPE_CHECKING:  # pragma: no cover
    from mongocli.sandbox.change_journal import Entry
    from mongocli.sandbox.deployment import Deployment

OPLOG_SIZE = 64 * 1024 * 1024  # bytes before the oldest entries roll off (capped)
_MAX_ENTRY = 16 * 1024 * 1024 + 16 * 1024  # an entry holds a whole document plus its envelope
# The command a catalog change becomes in an "op: c" entry (ns "<db>.$cmd").
_COMMAND_OF = {"create": "create", "drop": "drop", "createIndexes": "createIndexes",
               "dropIndexes": "dropIndexes", "modify": "collMod"}


class Oplog:
    """Copies journal entries into local.oplog.rs; `sync` runs before commands on `local` (the
    copy costs nothing until someone reads the oplog, so writes stay as fast as before)."""

    def __init__(self, deployment: "Deployment") -> None:
        self.deployment = deployment
        self._synced_seq = 0
        self._initiated = deployment.clock.time  # the set's first optime, before any write

    def sync(self) -> None:
        """Append the entries written since the last sync (replica sets and mongos only)."""
        deployment = self.deployment
        if deployment.topology == "standalone":
            return
        catalog = deployment.engine.catalog
        oplog = catalog.get("local", "oplog.rs")
        if oplog is None:
            oplog = catalog.ensure("local", "oplog.rs")
            oplog.options = {"capped": True, "size": OPLOG_SIZE}
            first = {"_id": ObjectId(), "op": "n", "ns": "", "o": {"msg": "initiating set"},
                     "ts": self._initiated, "t": Int64(max(deployment.term, 1)), "v": Int64(2),
                     "wall": deployment.last_write_date}
            oplog.insert(first, bson_size(first, _MAX_ENTRY))
        for entry in deployment.journal.since(self._synced_seq):
            doc = self._document(entry)
            if doc is not None:
                oplog.insert(doc, bson_size(doc, _MAX_ENTRY))
        self._synced_seq = deployment.journal.last_seq

    def _document(self, entry: "Entry") -> dict[str, Any] | None:
        # Field order and names of a server's oplog entry (repl/oplog_entry.idl). The store keys
        # documents by _id, so each entry carries one (a server's have none). Updates appear in
        # their replacement form (o = the new document) rather than as $v:2 diffs (simplified).
        ns = f"{entry.db}.{entry.coll}" if entry.coll else f"{entry.db}.$cmd"
        doc: dict[str, Any] = {"_id": ObjectId()}
        if entry.lsid is not None:
            doc.update(lsid=entry.lsid, txnNumber=Int64(entry.txn_number or 0))
        if entry.op == "insert":
            doc.update(op="i", ns=ns, ui=entry.uuid, o=entry.new, o2={"_id": entry.new["_id"]})
        elif entry.op in ("update", "replace"):
            doc.update(op="u", ns=ns, ui=entry.uuid, o=entry.new, o2={"_id": entry.new["_id"]})
        elif entry.op == "delete":
            doc.update(op="d", ns=ns, ui=entry.uuid, o={"_id": entry.old["_id"]})
        else:
            command = self._command(entry)
            if command is None:
                return None
            doc.update(op="c", ns=f"{entry.db}.$cmd", o=command)
            if entry.uuid is not None:
                doc["ui"] = entry.uuid
        if doc.get("ui") is None:
            doc.pop("ui", None)
        doc.update(ts=entry.ts, t=Int64(max(self.deployment.term, 1)), v=Int64(2), wall=entry.wall)
        return doc

    @staticmethod
    def _command(entry: "Entry") -> dict[str, Any] | None:
        extra = entry.extra or {}
        if entry.op == "dropDatabase":
            return {"dropDatabase": 1}
        if entry.op == "rename":
            to = extra.get("to") or {}
            return {"renameCollection": f"{entry.db}.{entry.coll}", "to": f"{to.get('db')}.{to.get('coll')}"}
        name = _COMMAND_OF.get(entry.op)
        if name is None or entry.coll is None:
            return None
        return {name: entry.coll, **dict(extra.get("operationDescription") or {})}
