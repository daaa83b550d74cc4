"""Replication progress of a simulated replica set (per-member applied optime, lag, stopReplProducer)
and write concern as a primary enforces it (acknowledgement counts, wtimeout, unsatisfiable w)."""

from __future__ import annotations

import asyncio
import datetime
from typing import TYPE_CHECKING, Any, Mapping

from bson import Timestamp

from mongocli.sandbox.next_change import NextChange

if TYPE_CHECKING:  # pragma: no cover
    from mongocli.sandbox.deployment import Deployment, Member

# Fail point that stops a member's oplog fetcher (the server's "stopReplProducer"): it applies
# nothing more until the fail point is switched off, then catches up.
STOP_REPL_PRODUCER = "stopReplProducer"
_MAX_W = 50  # the server refuses w above the replica-set member limit (FailedToParse)
# A primary writes a no-op this often when idle (the server's periodicNoopIntervalSecs), so that
# secondaries' lastWrite keeps moving and max staleness measures lag, not idleness.
NOOP_INTERVAL_S = 10.0


def _epoch() -> datetime.datetime:
    return datetime.datetime.fromtimestamp(0, datetime.timezone.utc)


class Replication:
    """What each data-bearing member has applied. The members share one data store (the engine),
    so "applied" is the progress a member reports (hello lastWrite, replSetGetStatus optime) and
    acknowledges to write concern; with no lag it follows the primary at once."""

    def __init__(self, deployment: "Deployment", lag_ms: int = 0) -> None:
        self.deployment = deployment
        self.lag = max(0, lag_ms) / 1000
        self._applied: dict[int, tuple[Timestamp, datetime.datetime]] = {}
        self._progress = NextChange()
        self._noop: asyncio.TimerHandle | None = None

    def start_noop_writer(self) -> None:
        """With a lag configured, the primary's periodic no-op write starts (event loop thread).
        Without one every member applies at once and the sandbox stays quiet when idle."""
        if self.lag > 0 and self.deployment.loop is not None and self._noop is None:
            self._noop = self.deployment.loop.call_later(NOOP_INTERVAL_S, self._periodic_noop)

    def stop_noop_writer(self) -> None:
        if self._noop is not None:
            self._noop.cancel()
            self._noop = None

    def _periodic_noop(self) -> None:
        self._noop = None
        self.noop_if_idle(datetime.datetime.now(datetime.timezone.utc))
        self.start_noop_writer()

    def noop_if_idle(self, now: datetime.datetime) -> bool:
        """The primary's "periodic noop" write when nothing was written for an interval (the
        optime and lastWriteDate move on; secondaries follow after the lag). True if written."""
        deployment = self.deployment
        if deployment.primary is None or (now - deployment.last_write_date).total_seconds() < NOOP_INTERVAL_S * 0.9:
            return False
        deployment.note_write()
        return True

    # ----- progress ---------------------------------------------------------------------------
    def applied(self, member: "Member") -> tuple[Timestamp, datetime.datetime]:
        """(optime, wall time) of the last write ``member`` applied."""
        return self._applied.get(member.index, (Timestamp(0, 0), _epoch()))

    def lagging_optime(self, member: "Member") -> Timestamp | None:
        """The optime a secondary's reads stand at while it trails the primary, else None."""
        if member.state != "SECONDARY" or member.arbiter:
            return None
        ts = self.applied(member)[0]
        return ts if (ts.time, ts.inc) < (self.deployment.optime.time, self.deployment.optime.inc) else None

    def majority_applied(self) -> tuple[Timestamp, datetime.datetime]:
        """The newest write a majority of voting members has applied (hello majorityOpTime)."""
        needed = len(self.deployment.members) // 2 + 1
        marks = sorted((self.applied(m) for m in self._data_members() if m.up),
                       key=lambda mark: (mark[0].time, mark[0].inc), reverse=True)
        return marks[needed - 1] if len(marks) >= needed else (Timestamp(0, 0), _epoch())

    def reset(self) -> None:
        """Every member caught up with the primary (a deployment starting)."""
        for member in self._data_members():
            self._applied[member.index] = (self.deployment.optime, self.deployment.last_write_date)

    def on_write(self, primary: "Member | None") -> None:
        """The primary applied a write at the deployment's current optime: secondaries follow,
        at once or after the configured lag (event loop thread only)."""
        mark = (self.deployment.optime, self.deployment.last_write_date)
        if primary is not None:
            self._applied[primary.index] = mark
        for member in self._data_members():
            if member is not primary:
                self._replicate(member, mark)
        self._wake()

    def resume(self, member: "Member") -> None:
        """A member may fetch again (stopReplProducer off, or restarted): it catches up."""
        self._replicate(member, (self.deployment.optime, self.deployment.last_write_date))
        self._wake()

    def _replicate(self, member: "Member", mark: tuple[Timestamp, datetime.datetime]) -> None:
        if not member.up or member.failpoints.is_on(STOP_REPL_PRODUCER):
            return
        if self.lag <= 0 or self.deployment.loop is None:
            self._apply(member, mark)
        else:
            self.deployment.loop.call_later(self.lag, self._apply, member, mark)

    def _apply(self, member: "Member", mark: tuple[Timestamp, datetime.datetime]) -> None:
        if not member.up or member.failpoints.is_on(STOP_REPL_PRODUCER):
            return
        current = self._applied.get(member.index)
        if current is None or (mark[0].time, mark[0].inc) > (current[0].time, current[0].inc):
            self._applied[member.index] = mark
            self._wake()

    def _data_members(self) -> list["Member"]:
        return [m for m in self.deployment.members if not m.arbiter]

    def _acknowledged(self, optime: Timestamp) -> int:
        key = (optime.time, optime.inc)
        return sum(1 for m in self._data_members()
                   if m.up and (self.applied(m)[0].time, self.applied(m)[0].inc) >= key)

    def _wake(self) -> None:
        self._progress.changed()

    async def wait_progress(self, timeout: float | None) -> None:
        """Wait until the next write or member progress (or the timeout)."""
        await self._progress.wait(timeout)

    # ----- write concern ----------------------------------------------------------------------
    async def wait_for_write_concern(self, write_concern: Any, still_connected: Any) -> dict[str, Any] | None:
        """The writeConcernError a primary would attach after a write (None when satisfied).

        Server reference: write_concern.cpp validateWriteConcern and
        ReplicationCoordinatorImpl::awaitReplication (codes 9, 79, 100, 64). A wait without
        wtimeout lasts until the write replicates or the client hangs up (then None: the caller
        drops the reply)."""
        if not isinstance(write_concern, Mapping):
            return None
        w = write_concern.get("w", 1)
        wtimeout = write_concern.get("wtimeout", 0)
        wtimeout = wtimeout if isinstance(wtimeout, (int, float)) and not isinstance(wtimeout, bool) else 0
        data_members = len(self._data_members())
        if isinstance(w, str):
            if w != "majority":
                return {"code": 79, "codeName": "UnknownReplWriteConcern",
                        "errmsg": f"No write concern mode named '{w}' found in replica set configuration"}
            needed = min(len(self.deployment.members) // 2 + 1, data_members)
        elif isinstance(w, (int, float)) and not isinstance(w, bool):
            needed = int(w)
            if needed > data_members:
                return {"code": 100, "codeName": "UnsatisfiableWriteConcern",
                        "errmsg": "Not enough data-bearing nodes"}
        else:
            return None
        optime = self.deployment.optime
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wtimeout / 1000 if wtimeout > 0 else None
        while self._acknowledged(optime) < needed:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return {"code": 64, "codeName": "WriteConcernFailed",
                        "errmsg": "waiting for replication timed out",
                        "errInfo": {"wtimeout": True, "writeConcern": {
                            "w": w, "wtimeout": int(wtimeout), "provenance": "clientSupplied"}}}
            # Poll the client's connection now and then: a server abandons a wait whose client left.
            await self.wait_progress(min(left, 0.25) if left is not None else 0.25)
            if not still_connected():
                return {"closed": True}
        return None


def check_write_concern_syntax(write_concern: Any, topology: str) -> dict[str, Any] | None:
    """A command error for a writeConcern a server refuses before running the command."""
    if write_concern is None:
        return None
    if not isinstance(write_concern, Mapping):
        return {"ok": 0.0, "code": 14, "codeName": "TypeMismatch",
                "errmsg": "BSON field 'writeConcern' is the wrong type, expected type 'object'"}
    w = write_concern.get("w")
    if isinstance(w, (int, float)) and not isinstance(w, bool) and not 0 <= w <= _MAX_W:
        return {"ok": 0.0, "code": 9, "codeName": "FailedToParse",
                "errmsg": f"w has to be a non-negative number and not greater than {_MAX_W}; found: {w}"}
    return None


# Reads a lagging secondary answers from the data as of its applied optime (the members share
# one store; the change journal undoes what the secondary has not applied yet).
STALE_READ_COMMANDS = frozenset({"find", "aggregate", "distinct", "count"})


def read_as_of(deployment: "Deployment", at: Timestamp, db: str, engine_cmd: dict) -> dict[str, Any] | None:
    """Run a read on the catalog as of ``at`` (None when the journal no longer reaches back)."""
    from mongocli.sandbox.engine import DataEngine
    from mongocli.sandbox.snapshot_reads import catalog_at

    view = catalog_at(deployment, at)
    if view is None:
        return None
    return DataEngine(view, deployment.engine.cursors).run(db, engine_cmd)
