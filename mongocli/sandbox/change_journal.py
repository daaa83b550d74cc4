"""The deployment's change journal: every committed write in order, each at its own cluster
time, as the oplog would hold it; change streams read it and waiters are woken by it."""

from __future__ import annotations

import asyncio
import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from bson import Timestamp

from mongocli.sandbox.cluster_time import ClusterClock
from mongocli.sandbox.engine_values import clone

if TYPE_CHECKING:  # pragma: no cover
    from mongocli.sandbox.deployment import Deployment

# Entries kept for resuming and startAtOperationTime (older ones are forgotten, as a capped
# oplog forgets: a resume from before them fails with ChangeStreamHistoryLost).
MAX_ENTRIES = 100_000


@dataclass(slots=True)
class Entry:
    """One change: a document write (op insert/update/replace/delete) or a catalog event
    (drop, rename, dropDatabase, create, createIndexes, dropIndexes, modify)."""

    seq: int
    ts: Timestamp
    wall: datetime.datetime
    op: str
    db: str
    coll: str | None
    old: dict | None = None
    new: dict | None = None
    lsid: Any = None
    txn_number: int | None = None
    uuid: Any = None  # the collection's UUID (collectionUUID in expanded events)
    extra: dict | None = None  # catalog events: {to: {db, coll}}, {indexes: [...]}, ...


class ChangeJournal:
    """Append-only log of changes; `wait` lets an awaitData getMore sleep until the next one."""

    def __init__(self, clock: ClusterClock) -> None:
        self.clock = clock
        self.entries: list[Entry] = []
        self._next_seq = 1
        self._waiters: list[asyncio.Future[None]] = []
        self._created: set[Any] = set()  # UUIDs of collections whose creation is recorded

    def record_write(self, db: str, coll: str, old: dict | None, new: dict | None, replacement: bool,
                     *, uuid: Any = None, lsid: Any = None, txn_number: int | None = None) -> Entry:
        """Record one document write (old None: insert; new None: delete); the first write to
        a collection nobody created explicitly records its implicit creation first."""
        if uuid is not None and uuid not in self._created:
            self.record_event("create", db, coll, uuid=uuid, nsType="collection",
                              operationDescription={"idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"}})
        if old is None:
            op = "insert"
        elif new is None:
            op = "delete"
        else:
            op = "replace" if replacement else "update"
        return self._append(op, db, coll, old=old, new=new, uuid=uuid, lsid=lsid, txn_number=txn_number)

    def record_event(self, op: str, db: str, coll: str | None, *, uuid: Any = None, **extra: Any) -> Entry:
        """Record a catalog change (drop, rename, dropDatabase, create, createIndexes, ...)."""
        if op == "create" and uuid is not None:
            self._created.add(uuid)
        return self._append(op, db, coll, uuid=uuid, extra=extra or None)

    def _append(self, op: str, db: str, coll: str | None, **fields: Any) -> Entry:
        entry = Entry(self._next_seq, self.clock.tick(), datetime.datetime.now(datetime.timezone.utc),
                      op, db, coll, **fields)
        self._next_seq += 1
        self.entries.append(entry)
        if len(self.entries) > MAX_ENTRIES + MAX_ENTRIES // 10:
            # Forget in chunks (a tenth at a time), so appending stays cheap when full.
            del self.entries[: len(self.entries) - MAX_ENTRIES]
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
        return entry

    def since(self, seq: int) -> list[Entry]:
        """Entries after sequence number ``seq`` (0: all kept)."""
        if not self.entries or seq >= self.entries[-1].seq:
            return []
        first = self.entries[0].seq
        return self.entries[max(0, seq + 1 - first):]

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    async def wait(self, timeout: float) -> None:
        """Return when the next entry is appended or after ``timeout`` seconds (event loop only)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            pass


# ----- catalog events -------------------------------------------------------------------------
def catalog_change(deployment: "Deployment", db: str, name: str, cmd: Mapping[str, Any]
                   ) -> Callable[[Mapping[str, Any]], None] | None:
    """For a catalog command, what to record in the journal once it succeeds (None: nothing).
    Called before the command runs, to see what it is about to drop."""
    catalog = deployment.engine.catalog
    journal = deployment.journal
    target = cmd.get(name)
    def uuid_of(coll_name: Any) -> Any:
        coll = catalog.get(db, coll_name) if isinstance(coll_name, str) else None
        return coll.uuid if coll is not None else None

    if name == "drop" and isinstance(target, str):
        if catalog.get(db, target) is None:
            return None
        uuid = uuid_of(target)
        return lambda reply: journal.record_event("drop", db, target, uuid=uuid)
    if name == "dropDatabase":
        names = {coll: uuid_of(coll) for coll in sorted(catalog.dbs.get(db, {}))}

        def dropped(reply: Mapping[str, Any]) -> None:
            for coll, uuid in names.items():
                journal.record_event("drop", db, coll, uuid=uuid)
            journal.record_event("dropDatabase", db, None)
        return dropped
    if name == "renameCollection" and isinstance(target, str) and isinstance(cmd.get("to"), str):
        sdb, _, scoll = target.partition(".")
        tdb, _, tcoll = cmd["to"].partition(".")
        source = catalog.get(sdb, scoll)
        return lambda reply: journal.record_event("rename", sdb, scoll, to={"db": tdb, "coll": tcoll},
                                                  dropTarget=bool(cmd.get("dropTarget")),
                                                  uuid=source.uuid if source is not None else None)
    if name == "create" and isinstance(target, str):
        view = cmd.get("viewOn") is not None
        description = {k: clone(v) for k, v in cmd.items() if k in ("viewOn", "pipeline", "capped", "size",
                                                                    "max", "collation", "validator")}
        if not view:
            description["idIndex"] = {"v": 2, "key": {"_id": 1}, "name": "_id_"}
        return lambda reply: journal.record_event("create", db, target, operationDescription=description,
                                                  nsType="view" if view else "collection", uuid=uuid_of(target))
    if name == "createIndexes" and isinstance(target, str) and isinstance(cmd.get("indexes"), list):
        before = set(catalog.get(db, target).indexes) if catalog.get(db, target) is not None else set()

        def created(reply: Mapping[str, Any]) -> None:
            coll = catalog.get(db, target)
            if not before and coll is not None:  # created implicitly by createIndexes
                journal.record_event("create", db, target, uuid=coll.uuid, nsType="collection",
                                     operationDescription={"idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"}})
            new = [dict(ix.spec) for n, ix in (coll.indexes.items() if coll else ()) if n not in before]
            if new:
                journal.record_event("createIndexes", db, target, operationDescription={"indexes": new},
                                     uuid=uuid_of(target))
        return created
    if name in ("dropIndexes", "deleteIndexes") and isinstance(target, str):
        coll = catalog.get(db, target)
        specs = {n: dict(ix.spec) for n, ix in coll.indexes.items()} if coll is not None else {}

        def dropped_indexes(reply: Mapping[str, Any]) -> None:
            after = catalog.get(db, target)
            gone = [spec for n, spec in specs.items() if after is None or n not in after.indexes]
            if gone:
                journal.record_event("dropIndexes", db, target, operationDescription={"indexes": gone},
                                     uuid=uuid_of(target))
        return dropped_indexes
    if name == "collMod" and isinstance(target, str):
        description = {k: clone(v) for k, v in cmd.items() if k not in ("collMod", "$db", "lsid", "$clusterTime",
                                                                        "writeConcern", "comment")}
        return lambda reply: journal.record_event("modify", db, target, operationDescription=description,
                                                  uuid=uuid_of(target))
    return None
