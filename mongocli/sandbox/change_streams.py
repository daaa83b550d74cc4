"""Change streams: the `$changeStream` aggregation stage over the change journal, on a
collection, a database or the whole cluster, with tailable awaitData getMores.

Event shapes follow the server's "Change Events" reference: `_id` (the resume token
`{_data: hex}`), operationType, clusterTime, wallTime, ns, documentKey, fullDocument,
updateDescription {updatedFields, removedFields, truncatedArrays[, disambiguatedPaths]},
fullDocumentBeforeChange, lsid/txnNumber for transactional writes; with showExpandedEvents also
collectionUUID and the create/createIndexes/dropIndexes/modify events.

Simplified: a resume token encodes the journal position (cluster time, sequence number, an
invalidate flag) rather than the server's KeyString; the journal keeps the last
change_journal.MAX_ENTRIES changes; pre- and post-images are kept with every entry and shown
when the collection's current options enable changeStreamPreAndPostImages; the documentKey is
`{_id}` (the sandbox has no shard keys); events of `$out`/`$merge` are their inserts/updates.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import bson
from bson import Int64, Timestamp

from mongocli.sandbox.change_journal import Entry
from mongocli.sandbox.engine_pipeline import run_stages
from mongocli.sandbox.engine_values import CommandError, clone, error
from mongocli.sandbox.engine_write import translate
from mongocli.sandbox.sessions import RETRYABLE_ERROR_CODES
from mongocli.sandbox.versions import STALE_SHARD_VERSION, ServerVersion

if TYPE_CHECKING:  # pragma: no cover
    from mongocli.sandbox.deployment import Deployment
    from mongocli.sandbox.server import Connection

# Stages allowed after $changeStream (the server's list).
ALLOWED_STAGES = frozenset({"$match", "$project", "$addFields", "$set", "$unset", "$replaceRoot",
                            "$replaceWith", "$redact"})
EXPANDED_EVENTS = frozenset({"create", "createIndexes", "dropIndexes", "modify", "shardCollection"})
_HIDDEN_DBS = frozenset({"admin", "config", "local"})
DEFAULT_AWAIT_MS = 1000
# A server closes a cursor left idle this long (cursorTimeoutMillis, 10 minutes by default).
CURSOR_TIMEOUT_S = 600.0
_FULL_DOCUMENT = ("default", "updateLookup", "whenAvailable", "required")
_BEFORE_CHANGE = ("off", "whenAvailable", "required")


# ----- resume tokens ------------------------------------------------------------------------
def make_token(ts: Timestamp, seq: int, invalidate: bool = False) -> dict[str, str]:
    """A resume token for journal position ``seq`` (hex, sortable like the server's)."""
    return {"_data": f"82{ts.time:08X}{ts.inc:08X}{seq:016X}{1 if invalidate else 0:02X}"}


def parse_token(token: Any) -> tuple[int, bool]:
    """(journal sequence number, is an invalidate token) of a resume token we issued."""
    data = token.get("_data") if isinstance(token, Mapping) else None
    if not isinstance(data, str) or len(data) != 36 or not data.startswith("82"):
        raise error(260, f"Invalid resume token: {token!r} was not issued by this deployment")
    try:
        return int(data[18:34], 16), data[34:] == "01"
    except ValueError:
        raise error(260, f"Invalid resume token: {token!r}") from None


# ----- update descriptions ------------------------------------------------------------------
def _same(a: Any, b: Any) -> bool:
    return bson.encode({"v": a}) == bson.encode({"v": b})


def update_description(old: dict, new: dict) -> tuple[dict[str, Any], dict[str, list]]:
    """What changed from ``old`` to ``new`` as the server's v2 oplog diff reports it, and the
    disambiguatedPaths (6.1+): each reported path that has a numeric or dotted field name,
    spelled as a list with array indexes as integers."""
    updated: dict[str, Any] = {}
    removed: list[str] = []
    truncated: list[dict[str, Any]] = []
    ambiguous: dict[str, list] = {}

    def name(parts: list) -> str:
        path = ".".join(str(p) for p in parts)
        if any(isinstance(p, str) and (p.isdigit() or "." in p) for p in parts):
            ambiguous[path] = list(parts)
        return path

    def changed(was: Any, now: Any, parts: list) -> None:
        if isinstance(was, dict) and isinstance(now, dict) and now:
            walk(was, now, parts)
        elif isinstance(was, list) and isinstance(now, list) and array(was, now, parts):
            pass
        else:
            updated[name(parts)] = clone(now)

    def walk(before: dict, after: dict, parts: list) -> None:
        for key in before:
            if key not in after:
                removed.append(name(parts + [key]))
        for key, value in after.items():
            if key not in before:
                updated[name(parts + [key])] = clone(value)
            elif not _same(before[key], value):
                changed(before[key], value, parts + [key])

    def array(was: list, now: list, parts: list) -> bool:
        # Element-wise changes on arrays that kept or shrank their prefix (appends, $pop, $set a.i).
        common = min(len(was), len(now))
        differing = [i for i in range(common) if not _same(was[i], now[i])]
        if common > 1 and len(differing) > common // 2:
            return False  # mostly rewritten: report the whole array
        for i in differing:
            changed(was[i], now[i], parts + [i])
        for i in range(common, len(now)):
            updated[name(parts + [i])] = clone(now[i])
        if len(now) < len(was):
            truncated.append({"field": name(parts), "newSize": len(now)})
        return True

    walk(old, new, [])
    return {"updatedFields": updated, "removedFields": removed, "truncatedArrays": truncated}, ambiguous


# ----- streams --------------------------------------------------------------------------------
@dataclass
class Stream:
    """One open change stream cursor: scope, options and its position in the journal."""

    cursor_id: int
    ns: str
    db: str
    coll: str | None  # None: a database stream (or the cluster, with cluster=True)
    cluster: bool
    position: int  # sequence number of the last journal entry scanned
    options: dict
    pipeline: list
    invalidated: bool = False  # an invalidate event was built: the stream ends after it
    done: bool = False
    last_used: float = field(default_factory=time.monotonic)


class ChangeStreams:
    """The deployment's open change stream cursors and the commands that serve them."""

    def __init__(self, deployment: "Deployment") -> None:
        self.deployment = deployment
        self.open: dict[int, Stream] = {}

    def claims(self, name: str, cmd: Mapping[str, Any]) -> bool:
        """Whether this command is a change stream's aggregate, getMore or killCursors."""
        if name == "aggregate" and "autocommit" not in cmd:  # in a transaction: refused there
            pipeline = cmd.get("pipeline")
            return bool(pipeline) and isinstance(pipeline, list) and isinstance(pipeline[0], Mapping) \
                and "$changeStream" in pipeline[0]
        if name == "getMore":
            return isinstance(cmd.get("getMore"), int) and int(cmd["getMore"]) in self.open
        if name == "killCursors":
            ids = cmd.get("cursors")
            return isinstance(ids, list) and bool(ids) and all(int(i) in self.open for i in ids
                                                               if isinstance(i, int))
        return False

    async def run(self, conn: "Connection", db: str, name: str, cmd: dict) -> dict[str, Any] | None:
        """Answer a claimed command; errors become the server's error replies (None: close the
        connection without a reply)."""
        try:
            if name == "aggregate":
                return self._open(db, cmd)
            if name == "getMore":
                return await self._get_more(conn, db, cmd)
            return self._kill(cmd)
        except CommandError as exc:
            reply = exc.reply()
            if exc.code == 280:  # a 4.4+ server marks what no resume can get past
                reply["errorLabels"] = ["NonResumableChangeStreamError"]
            return reply
        except Exception as exc:  # noqa: BLE001 - a sandbox bug must not drop the connection
            return translate(exc).reply()

    # ----- aggregate ---------------------------------------------------------------------------
    def _open(self, db: str, cmd: dict) -> dict[str, Any]:
        if self.deployment.topology == "standalone":
            raise error(40573, "The $changeStream stage is only supported on replica sets")
        spec = cmd["pipeline"][0]["$changeStream"]
        if not isinstance(spec, Mapping):
            raise error(14, "the $changeStream stage specification must be an object")
        pipeline = list(cmd["pipeline"][1:])
        for stage in pipeline:
            stage_name = next(iter(stage), "") if isinstance(stage, Mapping) else ""
            if stage_name not in ALLOWED_STAGES:
                raise error(ChangeStreamsStageCode, f"{stage_name or 'a non-object stage'} is not permitted in a "
                                                    "$changeStream pipeline")
        target = cmd["aggregate"]
        cluster = bool(spec.get("allChangesForCluster"))
        if cluster and db != "admin":
            raise error(ChangeStreamsStageCode, "A $changeStream with 'allChangesForCluster:true' may only be "
                                                "opened on the 'admin' database")
        if target != 1 and not isinstance(target, str):
            raise error(73, "$changeStream needs a collection name or aggregate: 1")
        if target == 1 and db == "admin" and not cluster:
            raise error(73, "$changeStream may not be opened on the internal admin database")
        options = self._options(spec)
        position = self._start_position(spec)
        coll = target if isinstance(target, str) else None
        ns = f"{db}.{coll}" if coll is not None else f"{db}.$cmd.aggregate"
        now = time.monotonic()
        for idle in [cid for cid, st in self.open.items() if now - st.last_used > CURSOR_TIMEOUT_S]:
            del self.open[idle]  # abandoned by their clients: time them out, as a server does
        stream = Stream(random.randint(1, 2**62), ns, db, coll, cluster, position, options, pipeline)
        batch_size = (cmd.get("cursor") or {}).get("batchSize")
        batch = self._collect(stream, batch_size)
        return self._reply(stream, batch, "firstBatch", register=True)

    def _options(self, spec: Mapping[str, Any]) -> dict:
        full = spec.get("fullDocument", "default")
        before = spec.get("fullDocumentBeforeChange", "off")
        if full not in _FULL_DOCUMENT:
            raise error(2, f"unknown fullDocument mode {full!r}: expected one of {', '.join(_FULL_DOCUMENT)}")
        if before not in _BEFORE_CHANGE:
            raise error(2, f"unknown fullDocumentBeforeChange mode {before!r}: expected one of "
                           f"{', '.join(_BEFORE_CHANGE)}")
        return {"fullDocument": full, "fullDocumentBeforeChange": before,
                "showExpandedEvents": bool(spec.get("showExpandedEvents"))}

    def _start_position(self, spec: Mapping[str, Any]) -> int:
        journal = self.deployment.journal
        given = [k for k in ("resumeAfter", "startAfter", "startAtOperationTime") if spec.get(k) is not None]
        if len(given) > 1:
            raise error(40674, "Only one type of resume option is allowed, but multiple were found.")
        oldest = journal.entries[0].seq if journal.entries else journal.last_seq + 1
        if not given:
            return journal.last_seq
        if given[0] == "startAtOperationTime":
            at = spec["startAtOperationTime"]
            if not isinstance(at, Timestamp):
                raise error(14, "startAtOperationTime must be a timestamp")
            earlier = [e.seq for e in journal.entries if e.ts < at]
            if not earlier and journal.entries and journal.entries[0].seq > 1 and at <= journal.entries[0].ts:
                raise error(286, "Resume of change stream was not possible, as the resume point may "
                                 "no longer be in the oplog.")
            return earlier[-1] if earlier else oldest - 1
        seq, invalidate = parse_token(spec[given[0]])
        if invalidate and given[0] == "resumeAfter":
            raise error(260, "Cannot resume stream after an invalidate event: use startAfter instead")
        if seq < oldest - 1:
            raise error(286, "Resume of change stream was not possible, as the resume point may no "
                             "longer be in the oplog.")
        return seq

    # ----- getMore / killCursors ---------------------------------------------------------------
    async def _get_more(self, conn: "Connection", db: str, cmd: dict) -> dict[str, Any] | None:
        stream = self.open[int(cmd["getMore"])]
        stream.last_used = time.monotonic()
        fired = conn.member.failpoints.fail_get_more_after_cursor_checkout()
        if fired is not None:
            code, close = fired
            if close:
                return None
            reply = error(code, f"Failing getMore {stream.cursor_id} after cursor checkout "
                                "(failGetMoreAfterCursorCheckout)").reply()
            reply.pop("codeName")  # as failCommand's errors, only the code
            if _labels_resumable(conn.member.deployment.version, code):
                reply["errorLabels"] = ["ResumableChangeStreamError"]
            return reply
        if cmd.get("collection") != stream.ns.partition(".")[2] or db != stream.db:
            raise error(13, f"Requested getMore on namespace '{db}.{cmd.get('collection')}', but cursor "
                            f"{stream.cursor_id} belongs to a different namespace {stream.ns}")
        batch_size = cmd.get("batchSize")
        wait_ms = cmd.get("maxTimeMS")
        wait = (DEFAULT_AWAIT_MS if not isinstance(wait_ms, (int, float)) or wait_ms <= 0 else wait_ms) / 1000
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        batch = self._collect(stream, batch_size)
        # Tailable awaitData: wait on the journal (not the clock) for the first new event.
        while not batch and not stream.done and not conn.hung_up:
            left = deadline - loop.time()
            if left <= 0:
                break
            await self.deployment.journal.wait(left)
            if stream.cursor_id not in self.open:
                raise error(43, f"cursor id {stream.cursor_id} not found")
            batch = self._collect(stream, batch_size)
        return self._reply(stream, batch, "nextBatch")

    def _kill(self, cmd: dict) -> dict[str, Any]:
        killed = []
        for cid in cmd["cursors"]:
            if self.open.pop(int(cid), None) is not None:
                killed.append(Int64(cid))
        return {"cursorsKilled": killed, "cursorsNotFound": [], "cursorsAlive": [], "cursorsUnknown": [],
                "ok": 1.0}

    def _reply(self, stream: Stream, batch: list[dict], key: str, register: bool = False) -> dict[str, Any]:
        if stream.done:
            self.open.pop(stream.cursor_id, None)
            cursor_id = 0
        else:
            if register:
                self.open[stream.cursor_id] = stream
            cursor_id = stream.cursor_id
        # postBatchResumeToken: the last event's token when the stream stopped right after it,
        # else the high-water mark of what was scanned (events filtered out included).
        if batch and parse_token(batch[-1]["_id"])[0] == stream.position:
            token = batch[-1]["_id"]
        else:
            token = self._position_token(stream)
        return {"cursor": {key: batch, "postBatchResumeToken": token, "id": Int64(cursor_id), "ns": stream.ns},
                "ok": 1.0}

    def _position_token(self, stream: Stream) -> dict[str, str]:
        journal = self.deployment.journal
        last = journal.entries[-1] if journal.entries and journal.entries[-1].seq == stream.position else None
        return make_token(last.ts if last is not None else self.deployment.clock.time, stream.position)

    # ----- events ------------------------------------------------------------------------------
    def _collect(self, stream: Stream, batch_size: Any) -> list[dict]:
        """Events after the stream's position, whole journal entries at a time, up to batch_size
        (101 without one; an entry's drop and invalidate stay together)."""
        limit = batch_size if isinstance(batch_size, int) and batch_size >= 0 else 101
        out: list[dict] = []
        if stream.done or limit == 0:
            return out
        for entry in self.deployment.journal.since(stream.position):
            events = [e for e in (self._shape(stream, ev) for ev in self._events_for(stream, entry)) if e is not None]
            if out and len(out) + len(events) > limit:
                break
            stream.position = entry.seq
            out.extend(events)
            if stream.invalidated:
                stream.done = True
                break
            if len(out) >= limit:
                break
        return out

    def _shape(self, stream: Stream, event: dict) -> dict | None:
        """The event after the user's pipeline; the token (_id) must survive it."""
        if not stream.pipeline:
            return event
        try:
            results = run_stages([event], stream.pipeline)
        except Exception as exc:  # noqa: BLE001 - mongomock failures become server errors
            raise translate(exc) from exc
        if not results:
            return None
        shaped = results[0]
        if not _same(shaped.get("_id"), event["_id"]):
            raise error(280, "Encountered an event whose _id field, which contains the resume token, was "
                             "modified by the pipeline. Modifying the _id field of an event makes it "
                             "impossible to resume the stream from that point. Only transformations that "
                             "retain the unmodified _id field are allowed.")
        return shaped

    def _in_scope(self, stream: Stream, db: str, coll: str | None) -> bool:
        if stream.cluster:
            return db not in _HIDDEN_DBS
        if db != stream.db:
            return False
        if stream.coll is None:
            return coll is None or not coll.startswith("system.")
        return coll == stream.coll

    def _events_for(self, stream: Stream, entry: Entry) -> list[dict]:
        """The change events (0, 1 or 2 with an invalidate) one journal entry makes for a stream."""
        op = entry.op
        expanded = stream.options["showExpandedEvents"]
        if op == "rename":
            to = entry.extra["to"]
            if not (self._in_scope(stream, entry.db, entry.coll) or
                    (stream.coll is None and self._in_scope(stream, to["db"], to["coll"]))):
                return []
        elif op == "dropDatabase":
            if stream.cluster or (stream.coll is None and entry.db == stream.db):
                pass
            else:
                return []
        elif not self._in_scope(stream, entry.db, entry.coll):
            return []
        if op in EXPANDED_EVENTS and not expanded:
            return []
        event = self._base_event(entry, stream)
        if op in ("insert", "update", "replace", "delete"):
            self._document_fields(stream, entry, event)
        elif op == "rename":
            event["to"] = dict(entry.extra["to"])
            if expanded:
                event["operationDescription"] = {"to": dict(entry.extra["to"]),
                                                 "dropTarget": entry.extra.get("dropTarget", False)}
        elif op in EXPANDED_EVENTS:
            event["operationDescription"] = clone(entry.extra.get("operationDescription", {}))
            if op == "create" and self.deployment.version.has("nsType"):
                event["nsType"] = entry.extra.get("nsType", "collection")
        events = [event]
        invalidating = (op in ("drop", "rename") and stream.coll is not None) or \
            (op == "dropDatabase" and not stream.cluster)
        if invalidating:
            events.append({"_id": make_token(entry.ts, entry.seq, True), "operationType": "invalidate",
                           "clusterTime": entry.ts, "wallTime": entry.wall})
            stream.invalidated = True
        return events

    def _base_event(self, entry: Entry, stream: Stream) -> dict[str, Any]:
        event: dict[str, Any] = {"_id": make_token(entry.ts, entry.seq), "operationType": entry.op,
                                 "clusterTime": entry.ts, "wallTime": entry.wall}
        if stream.options["showExpandedEvents"] and entry.uuid is not None:
            event["collectionUUID"] = entry.uuid
        event["ns"] = {"db": entry.db} if entry.op == "dropDatabase" else {"db": entry.db, "coll": entry.coll}
        if entry.txn_number is not None:
            event["txnNumber"] = Int64(entry.txn_number)
            event["lsid"] = clone(entry.lsid)
        return event

    def _document_fields(self, stream: Stream, entry: Entry, event: dict) -> None:
        doc = entry.new if entry.new is not None else entry.old
        assert doc is not None
        event["documentKey"] = {"_id": doc["_id"]}
        images = self._images_enabled(entry)
        full_mode = stream.options["fullDocument"]
        if entry.op in ("insert", "replace"):
            event["fullDocument"] = clone(entry.new)
        elif entry.op == "update":
            description, ambiguous = update_description(entry.old, entry.new)
            if stream.options["showExpandedEvents"]:
                description["disambiguatedPaths"] = ambiguous
            event["updateDescription"] = description
            if full_mode == "updateLookup":
                current = self.deployment.engine.catalog.get(entry.db, entry.coll)
                found = current.docs.get(_key(doc["_id"])) if current is not None else None
                event["fullDocument"] = clone(found)
            elif full_mode in ("whenAvailable", "required"):
                if not images and full_mode == "required":
                    raise error(47, "Change stream was configured to require a post-image for all update, "
                                    "delete and replace events, but the post-image was not found for event: "
                                    f"{event['_id']}")
                event["fullDocument"] = clone(entry.new) if images else None
        before_mode = stream.options["fullDocumentBeforeChange"]
        if before_mode != "off" and entry.op in ("update", "replace", "delete"):
            if not images and before_mode == "required":
                raise error(47, "Change stream was configured to require a pre-image for all update, "
                                "delete and replace events, but the pre-image was not found for event: "
                                f"{event['_id']}")
            event["fullDocumentBeforeChange"] = clone(entry.old) if images else None

    def _images_enabled(self, entry: Entry) -> bool:
        coll = self.deployment.engine.catalog.get(entry.db, entry.coll or "")
        setting = coll.options.get("changeStreamPreAndPostImages") if coll is not None else None
        return isinstance(setting, Mapping) and bool(setting.get("enabled"))


def _key(value: Any) -> Any:
    from mongocli.sandbox.engine_values import hkey

    return hkey(value)


# The server rejects a stage not allowed after $changeStream with this code (IllegalOperation).
ChangeStreamsStageCode = 20


def _labels_resumable(version: ServerVersion, code: int) -> bool:
    """A 4.4+ server labels the errors a change stream may resume after (change streams spec,
    "Resumable Error"); StaleShardVersion stopped being one in 7.0 (versions.py)."""
    if not version.has("resumableChangeStreamLabel"):
        return False
    if code == STALE_SHARD_VERSION:
        return version.labels_stale_shard_version_resumable()
    return code in RETRYABLE_ERROR_CODES
