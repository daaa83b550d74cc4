"""PyMongo (a test-only peer) meets the sandbox where a real server's behaviour is exact: write
concern, validators, collMod/validate/profile, fail points, cursors, hint/min/max, stage names."""

from __future__ import annotations

import threading

import pytest
from pymongo import ASCENDING, DESCENDING, CursorType, monitoring
from pymongo.errors import (
    BulkWriteError, ExecutionTimeout, OperationFailure, WriteConcernError, WriteError, WTimeoutError,
)
from pymongo.write_concern import WriteConcern


class GetMoreLog(monitoring.CommandListener):
    """Names of the commands PyMongo starts (exhaust replies count as getMores)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        with self._lock:
            self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def client(replset, mongo_client):
    return mongo_client(replset.uri)


def _secondary(replset, mongo_client):
    address = next(a for a in replset.addresses if a != replset.primary)
    return mongo_client(address, directConnection=True)


# ----- write concern ------------------------------------------------------------------------
def test_w_above_data_bearing_members_is_unsatisfiable_after_the_write(client) -> None:
    coll = client.wc.get_collection("c", write_concern=WriteConcern(w=4))
    with pytest.raises(WriteConcernError) as caught:
        coll.insert_one({"_id": 1})
    assert caught.value.details["code"] == 100
    assert caught.value.details["codeName"] == "UnsatisfiableWriteConcern"
    assert client.wc.c.find_one({"_id": 1}) == {"_id": 1}  # the write itself happened
    with pytest.raises(WriteConcernError):
        client.wc.get_collection("c", write_concern=WriteConcern(w=4)).drop()
    with pytest.raises(WriteConcernError) as unknown:
        client.wc.get_collection("c", write_concern=WriteConcern(w="nyc")).insert_one({})
    assert unknown.value.details["code"] == 79


def test_stopped_replication_times_out_with_wtimeout_then_catches_up(replset, client, mongo_client) -> None:
    secondary = _secondary(replset, mongo_client)
    secondary.admin.command("configureFailPoint", "stopReplProducer", mode="alwaysOn")
    try:
        with pytest.raises(WTimeoutError) as caught:
            client.wc.get_collection("c", write_concern=WriteConcern(w=3, wtimeout=50)).insert_one({"a": 1})
        assert caught.value.details["code"] == 64
        assert caught.value.details["errInfo"]["wtimeout"] is True
        # majority (2 of 3) is still reachable.
        client.wc.get_collection("c", write_concern=WriteConcern(w="majority", wtimeout=2000)).insert_one({})
    finally:
        secondary.admin.command("configureFailPoint", "stopReplProducer", mode="off")
    client.wc.get_collection("c", write_concern=WriteConcern(w=3, wtimeout=5000)).insert_one({"a": 2})


def test_bulk_write_concern_timeout_is_a_soft_error(replset, client, mongo_client) -> None:
    secondary = _secondary(replset, mongo_client)
    secondary.admin.command("configureFailPoint", "stopReplProducer", mode="alwaysOn")
    try:
        coll = client.wc.get_collection("b", write_concern=WriteConcern(w=3, wtimeout=1))
        with pytest.raises(BulkWriteError) as caught:
            coll.insert_many([{"a": 1}, {"a": 2}])
    finally:
        secondary.admin.command("configureFailPoint", "stopReplProducer", mode="off")
    assert caught.value.details["nInserted"] == 2
    assert caught.value.details["writeConcernErrors"][0]["code"] == 64


# ----- validators ---------------------------------------------------------------------------
def test_validator_levels_actions_and_bypass(client) -> None:
    db = client.val
    db.create_collection("c", validator={"a": {"$exists": True}})
    with pytest.raises(WriteError) as caught:
        db.c.insert_one({"b": 1})
    assert caught.value.code == 121
    assert caught.value.details["errInfo"]["details"]["clausesNotSatisfied"][0]["details"]["operatorName"] == "$exists"
    with pytest.raises(BulkWriteError):
        db.c.insert_many([{"a": 1}, {"b": 2}])
    db.c.insert_one({"b": 3}, bypass_document_validation=True)
    with pytest.raises(WriteError):
        db.c.update_one({"a": 1}, {"$unset": {"a": ""}})
    with pytest.raises(OperationFailure) as fam:
        db.c.find_one_and_replace({"a": 1}, {"x": 1})
    assert fam.value.code == 121
    db.command("collMod", "c", validationLevel="moderate")
    assert db.c.update_one({"b": 3}, {"$set": {"c": 1}}).modified_count == 1  # was already invalid
    db.command("collMod", "c", validationAction="warn")
    db.c.insert_one({"z": 1})
    assert db.validate_collection("c")["nNonCompliantDocuments"] == 2
    db.command("collMod", "c", validationLevel="off", validationAction="error")
    db.c.insert_one({"y": 1})
    with pytest.raises(OperationFailure) as bad:
        db.command("collMod", "c", validationLevel="sometimes")
    assert bad.value.code == 2
    with pytest.raises(OperationFailure) as missing:
        db.command("collMod", "nope", validator={})
    assert missing.value.code == 26


def test_validate_and_profile(client) -> None:
    db = client.adm
    db.c.insert_one({"x": 1})
    result = db.validate_collection("c", full=True)
    assert result["valid"] is True and result["nrecords"] == 1 and result["keysPerIndex"] == {"_id_": 1}
    with pytest.raises(OperationFailure):
        db.validate_collection("missing")
    with pytest.raises(OperationFailure):
        db.validate_collection("c", full=True, background=True)
    assert db.command("profile", 2)["was"] == 0
    db.c.find().comment("traced").to_list()
    db.c.distinct("x", comment="traced")
    entries = list(db.system.profile.find({"command.comment": "traced"}))
    assert sorted(e["op"] for e in entries) == ["command", "query"]
    assert db.command("profile", 0)["was"] == 2
    db.c.find().comment("after").to_list()
    assert db.system.profile.count_documents({"command.comment": "after"}) == 0


# ----- fail points --------------------------------------------------------------------------
def test_max_time_always_times_out_only_with_a_time_limit(client) -> None:
    coll = client.fp.c
    coll.insert_many([{} for _ in range(5)])
    cursor = coll.find().batch_size(2).max_time_ms(1000)
    next(cursor)
    client.admin.command("configureFailPoint", "maxTimeAlwaysTimeOut", mode="alwaysOn")
    try:
        with pytest.raises(ExecutionTimeout):
            coll.create_index("foo", maxTimeMS=1)
        with pytest.raises(ExecutionTimeout):
            cursor.to_list()  # the getMore inherits the find's maxTimeMS
        assert coll.count_documents({}) == 5  # no limit: runs
    finally:
        client.admin.command("configureFailPoint", "maxTimeAlwaysTimeOut", mode="off")


# ----- cursors ------------------------------------------------------------------------------
def test_tailable_cursor_follows_a_capped_collection_until_rollover(client) -> None:
    db = client.cur
    db.create_collection("cap", capped=True, size=1000, max=3)
    cursor = db.cap.find(cursor_type=CursorType.TAILABLE)
    db.cap.insert_one({"x": 1})
    assert [d["x"] for d in cursor] == [1] and cursor.alive
    db.cap.insert_one({"x": 2})
    assert [d["x"] for d in cursor] == [2] and cursor.alive
    db.cap.insert_many([{"x": i} for i in range(3, 7)])
    assert cursor.to_list() == [] and not cursor.alive  # its position rolled out
    assert [d["x"] for d in db.cap.find()] == [4, 5, 6]
    with pytest.raises(OperationFailure):
        db.plain.insert_one({})
        next(db.plain.find(cursor_type=CursorType.TAILABLE))


def test_await_data_cursor_wakes_on_insert(client) -> None:
    db = client.cur
    db.create_collection("log", capped=True, size=4096)
    db.log.insert_one({"n": 0})
    cursor = db.log.find(cursor_type=CursorType.TAILABLE_AWAIT).max_await_time_ms(5000)
    assert next(cursor)["n"] == 0
    threading.Timer(0.05, lambda: db.log.insert_one({"n": 1})).start()
    assert next(cursor)["n"] == 1  # answered by the insert, not by the 5 s wait


def test_exhaust_cursor_streams_batches_and_a_final_empty_one(replset, mongo_client) -> None:
    log = GetMoreLog()
    client = mongo_client(replset.uri, event_listeners=[log])
    coll = client.cur.ex
    coll.insert_many([{"_id": i} for i in range(3)])
    log.names.clear()
    assert [d["_id"] for d in coll.find(cursor_type=CursorType.EXHAUST, batch_size=1)] == [0, 1, 2]
    assert log.names == ["find", "getMore", "getMore", "getMore"]
    log.names.clear()
    assert len(coll.find(batch_size=3).to_list()) == 3  # full first batch: one empty getMore follows
    assert log.names == ["find", "getMore"]


# ----- query behaviour ----------------------------------------------------------------------
def test_hint_orders_by_index_and_min_max_bound_it(client) -> None:
    coll = client.q.c
    coll.insert_many([{"num": i, "k": i % 3} for i in range(10)])
    coll.create_index([("num", DESCENDING)])
    assert next(coll.find())["num"] == 0
    assert next(coll.find().hint([("num", DESCENDING)]))["num"] == 9
    coll.create_index([("num", ASCENDING)])
    assert len(coll.find().min([("num", 3)]).hint([("num", ASCENDING)]).to_list()) == 7
    assert len(coll.find().max([("num", 3)]).hint([("num", ASCENDING)]).to_list()) == 3
    with pytest.raises(OperationFailure):
        coll.find().min([("k", 3)]).hint([("num", ASCENDING)]).to_list()
    with pytest.raises(OperationFailure):
        coll.find().hint([("nope", ASCENDING)]).to_list()


def test_sort_must_be_a_document_and_unknown_stage_is_40324(client) -> None:
    db = client.q
    for name in ("missing", "present"):
        if name == "present":
            db.present.insert_one({})
        with pytest.raises(OperationFailure) as caught:
            db.command("find", name, sort=True)
        assert caught.value.code == 14
    with pytest.raises(OperationFailure) as stage:
        db.present.aggregate([{"$frobnicate": {}}])
    assert stage.value.code == 40324


# ----- small fidelity -----------------------------------------------------------------------
def test_upsert_of_a_null_id_reports_it(client) -> None:
    result = client.fid.c.update_one({"_id": None, "x": 0}, {"$inc": {"x": 1}}, upsert=True)
    assert result.did_upsert is True and result.upserted_id is None
    assert client.fid.c.update_one({"_id": None}, {"$inc": {"x": 1}}).did_upsert is False


def test_index_options_kept_and_text_index_shape(client) -> None:
    coll = client.fid.idx
    coll.create_index("a", background=True)
    assert coll.index_information()["a_1"]["background"] is True
    coll.create_index([("t", "text")])
    text = coll.index_information()["t_text"]
    assert text["key"] == [("_fts", "text"), ("_ftsx", 1)]
    assert text["weights"] == {"t": 1} and text["default_language"] == "english"
    assert text["textIndexVersion"] == 3
    for bad in (5, {"x": {"$asdasd": 3}}, {"$and": 5}):
        with pytest.raises(OperationFailure):
            coll.create_index("x", partialFilterExpression=bad)
    with pytest.raises(OperationFailure) as unknown:
        coll.create_index("y", colour="blue")
    assert unknown.value.code == 197


def test_on_primary_transactional_write_counts_documents(client) -> None:
    coll = client.fid.otw
    client.admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode={"skip": 3},
                         data={"failBeforeCommitExceptionCode": 1, "closeConnection": False})
    try:
        coll.insert_many([{"_id": i} for i in range(3)])  # three statements: all skipped
        with pytest.raises(OperationFailure):
            coll.insert_one({"_id": 3})  # the fourth statement fires
    finally:
        client.admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode="off")
    assert coll.count_documents({}) == 3


# ----- JavaScript -----------------------------------------------------------------------------
def test_where_and_function_run_javascript(client, monkeypatch) -> None:
    from bson import Code

    from mongocli.sandbox import server_js

    coll = client.js.c
    coll.insert_many([{"x": i} for i in range(10)])
    assert len(coll.find().where("this.x < 3").to_list()) == 3
    assert [d["x"] for d in coll.find({"x": {"$gt": 3}}).where(Code("function() { return this.x % 4 == 0; }"))] \
        == [4, 8]
    assert client.js.command("count", "c", query={"$where": "this.x >= 8"})["n"] == 2
    with pytest.raises(OperationFailure) as scoped:
        coll.find().where(Code("this.x < i", {"i": 3})).to_list()
    assert scoped.value.code == 4649200
    with pytest.raises(OperationFailure) as thrown:
        coll.find().where("this.a.b.c").to_list()
    assert thrown.value.code == 139
    with pytest.raises(OperationFailure) as in_match:
        coll.count_documents({"$where": "true"})
    assert in_match.value.code == 2
    projected = coll.aggregate([{"$match": {"x": {"$lt": 3}}}, {"$project": {"_id": 0, "y": {
        "$function": {"body": "function(a, b) { return a * b + 1; }", "args": ["$x", 10], "lang": "js"}}}}])
    assert [d["y"] for d in projected] == [1, 11, 21]
    averaged = coll.aggregate([{"$group": {"_id": {"$mod": ["$x", 2]}, "n": {"$sum": 1}, "avg": {"$accumulator": {
        "init": "function() { return {count: 0, sum: 0}; }",
        "accumulate": "function(s, v) { return {count: s.count + 1, sum: s.sum + v}; }", "accumulateArgs": ["$x"],
        "merge": "function(a, b) { return {count: a.count + b.count, sum: a.sum + b.sum}; }",
        "finalize": "function(s) { return s.sum / s.count; }", "lang": "js"}}}}, {"$sort": {"_id": 1}}])
    assert [(d["_id"], d["n"], d["avg"]) for d in averaged] == [(0, 5, 4), (1, 5, 5)]
    monkeypatch.setattr(server_js, "TIME_LIMIT_S", 0.05)
    with pytest.raises(OperationFailure) as runaway:
        coll.find().where("function() { while (true) {} }").to_list()
    assert runaway.value.code == 139 and "limit" in runaway.value.details["errmsg"]


# ----- the oplog ----------------------------------------------------------------------------
def test_oplog_is_readable_and_tailable(client) -> None:
    client.app.items.insert_one({"_id": 1, "x": 1})
    client.app.items.update_one({"_id": 1}, {"$set": {"x": 2}})
    client.app.items.delete_one({"_id": 1})
    client.app.drop_collection("items")
    oplog = client.local["oplog.rs"]
    entries = list(oplog.find({"ns": {"$in": ["app.items", "app.$cmd"]}}))
    assert [e["op"] for e in entries] == ["c", "i", "u", "d", "c"]
    assert entries[0]["o"]["create"] == "items" and entries[-1]["o"] == {"drop": "items"}
    assert entries[1]["o"] == {"_id": 1, "x": 1} and entries[3]["o"] == {"_id": 1}
    stamps = [(e["ts"].time, e["ts"].inc) for e in oplog.find()]
    assert stamps == sorted(stamps) and next(oplog.find())["op"] == "n"
    newest = oplog.find().sort("$natural", -1).limit(-1).next()["ts"]
    assert [e["ts"] for e in oplog.find({"ts": {"$gte": newest}})] == [newest]  # Timestamps compare
    tail = oplog.find({"ns": "app.log"}, cursor_type=CursorType.TAILABLE_AWAIT).max_await_time_ms(5000)
    assert tail.to_list() == [] and tail.alive
    threading.Timer(0.05, lambda: client.app.log.insert_one({"n": 7})).start()
    assert next(tail)["o"]["n"] == 7


# ----- replication lag ----------------------------------------------------------------------
def test_replication_lag_delays_secondaries_acks_and_reads(start_sandbox, mongo_client) -> None:
    from pymongo.read_preferences import Secondary

    from driver.sdam.description import ServerDescription, ServerType
    from mongocli.service.diagnostics import server_row

    lagging = start_sandbox(topology="replset", members=3, election_delay_ms=100, replication_lag_ms=400)
    client = mongo_client(lagging.uri)
    secondary = _secondary(lagging, mongo_client)
    client.app.c.insert_one({"_id": 1})
    primary_hello = client.admin.command("hello")["lastWrite"]
    secondary_hello = secondary.admin.command("hello")["lastWrite"]
    assert secondary_hello["opTime"]["ts"] < primary_hello["opTime"]["ts"]
    assert secondary_hello["lastWriteDate"] < primary_hello["lastWriteDate"]
    reader = client.app.get_collection("c", read_preference=Secondary())
    assert secondary.app.c.find_one({"_id": 1}) is None  # not applied there yet
    with pytest.raises(WTimeoutError):
        client.app.get_collection("c", write_concern=WriteConcern(w=3, wtimeout=50)).insert_one({"_id": 2})
    client.app.get_collection("c", write_concern=WriteConcern(w="majority", wtimeout=10_000)).insert_one({"_id": 3})
    # w: 3 returns once every secondary has applied everything (the server waits on the event).
    client.app.get_collection("c", write_concern=WriteConcern(w=3, wtimeout=10_000)).insert_one({"_id": 4})
    assert reader.count_documents({}) == 4
    primary = ServerDescription(address="p", type=ServerType.RSPrimary, last_write_date_ms=5000.0,
                                last_update_time_ms=100.0)
    rows = [server_row(primary),
            server_row(ServerDescription(address="s", type=ServerType.RSSecondary, last_write_date_ms=3500.0,
                                         last_update_time_ms=100.0), primary),
            # Checked 600 ms after the primary, it reports a write the primary's check has not:
            # still not ahead of the primary (was -500 ms when lastWriteDates were compared).
            server_row(ServerDescription(address="s2", type=ServerType.RSSecondary, last_write_date_ms=5500.0,
                                         last_update_time_ms=700.0), primary)]
    assert [r.behind_ms for r in rows] == [None, 1500.0, 100.0]


def test_text_search_scores_and_sorts(client) -> None:
    coll = client.txt.c
    coll.create_index([("t", "text")])
    coll.insert_many([{"t": "spam eggs and spam"}, {"t": "Spam"}, {"t": "egg sausage and bacon"}])
    found = coll.find({"$text": {"$search": "spam"}}, {"score": {"$meta": "textScore"}, "_id": 0}) \
        .sort([("score", {"$meta": "textScore"})]).to_list()
    assert [d["t"] for d in found] == ["spam eggs and spam", "Spam"]
    assert found[0]["score"] > found[1]["score"] > 0
    assert client.txt.command("count", "c", query={"$text": {"$search": "bacon -spam"}})["n"] == 1
    with pytest.raises(OperationFailure) as no_index:
        client.txt.other.insert_one({"t": "x"})
        client.txt.other.find_one({"$text": {"$search": "x"}})
    assert no_index.value.code == 27


def test_sleeping_where_respects_max_time_ms(client) -> None:
    client.js.s.insert_one({})
    with pytest.raises(ExecutionTimeout):
        client.js.s.find({"$where": "sleep(5000) || true"}).max_time_ms(50).to_list()


def test_partial_index_used_only_when_the_query_implies_its_filter(client) -> None:
    coll = client.q.partial
    coll.create_index("x", partialFilterExpression={"a": {"$lte": 1.5}})

    def plan(filt):
        return coll.find(filt).explain()["queryPlanner"]["winningPlan"]

    for implied in ({"x": 6, "a": 1}, {"x": {"$gt": 1}, "a": 1}, {"x": 6, "a": {"$lte": 1}}):
        stage = plan(implied)["inputStage"]
        assert stage["indexName"] == "x_1" and stage["isPartial"] is True, implied
    for not_implied in ({"x": 6, "a": {"$lte": 1.6}}, {"x": 6}):
        assert plan(not_implied)["stage"] == "COLLSCAN", not_implied


def test_snapshot_raw_batches_continue_with_get_more(client) -> None:
    from bson import decode_all

    docs = [{"_id": i, "x": 3.0 * i} for i in range(10)]
    client.snap.c.insert_many(docs)
    with client.start_session(snapshot=True) as session:
        client.snap.c.distinct("x", {}, session=session)
        # PyMongo repeats readConcern on the getMore of a raw-batch cursor: a server accepts it.
        batches = client.snap.c.aggregate_raw_batches([{"$sort": {"_id": 1}}], session=session).to_list()
    assert [d for b in batches for d in decode_all(b)] == docs


def test_lagging_secondary_stays_stale_while_the_primary_writes_noops(start_sandbox, mongo_client) -> None:
    import datetime

    from mongocli.sandbox.replication import NOOP_INTERVAL_S

    lagging = start_sandbox(topology="replset", members=3, election_delay_ms=100, replication_lag_ms=120_000)
    client = mongo_client(lagging.uri)
    replication = lagging.deployment.replication
    before = client.admin.command("hello")["lastWrite"]
    now = datetime.datetime.now(datetime.timezone.utc)
    assert lagging._call_sync(lambda: replication.noop_if_idle(now)) is False  # just started: not idle
    later = now + datetime.timedelta(seconds=NOOP_INTERVAL_S)
    assert lagging._call_sync(lambda: replication.noop_if_idle(later)) is True
    primary = client.admin.command("hello")["lastWrite"]
    secondary = _secondary(lagging, mongo_client).admin.command("hello")["lastWrite"]
    assert primary["opTime"]["ts"] > before["opTime"]["ts"]
    assert secondary["opTime"]["ts"] == before["opTime"]["ts"]  # 120 s until it applies the no-op
