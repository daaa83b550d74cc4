"""PyMongo's watch() (a test-only peer) against the sandbox's change streams: event shapes,
scopes, resume tokens, pre/post images, invalidate, expanded events and awaitData getMores."""

from __future__ import annotations

import threading
import time

import pytest
from pymongo.errors import OperationFailure


@pytest.fixture(params=["replset", "sharded"])
def client(request, start_sandbox, mongo_client):
    if request.param == "replset":
        sandbox = start_sandbox(topology="replset", members=3, election_delay_ms=100)
    else:
        sandbox = start_sandbox(topology="sharded", members=1)
    return mongo_client(sandbox.uri)


def _next(stream, count: int = 1) -> list[dict]:
    events = []
    deadline = time.monotonic() + 10
    while len(events) < count and time.monotonic() < deadline:
        event = stream.try_next()
        if event is not None:
            events.append(event)
    return events


def test_document_events_in_order_with_their_shapes(client) -> None:
    coll = client.db.t
    coll.insert_one({"_id": 0})
    with coll.watch(max_await_time_ms=50) as stream:
        coll.insert_one({"_id": 1, "a": {"b": 1}, "arr": [1, 2, 3], "gone": True})
        coll.update_one({"_id": 1}, {"$set": {"a.b": 2, "arr.1": 9}, "$unset": {"gone": 1}})
        coll.update_one({"_id": 1}, {"$pop": {"arr": 1}})
        coll.replace_one({"_id": 1}, {"q": 1})
        coll.delete_one({"_id": 1})
        insert, update, pop, replace, delete = _next(stream, 5)
    assert insert["operationType"] == "insert" and insert["ns"] == {"db": "db", "coll": "t"}
    assert insert["documentKey"] == {"_id": 1} and insert["fullDocument"]["arr"] == [1, 2, 3]
    assert set(insert) >= {"_id", "clusterTime", "wallTime"} and set(insert["_id"]) == {"_data"}
    assert update["updateDescription"] == {"updatedFields": {"a.b": 2, "arr.1": 9}, "removedFields": ["gone"],
                                           "truncatedArrays": []}
    assert "fullDocument" not in update
    assert pop["updateDescription"]["truncatedArrays"] == [{"field": "arr", "newSize": 2}]
    assert replace["operationType"] == "replace" and replace["fullDocument"] == {"_id": 1, "q": 1}
    assert delete["operationType"] == "delete" and delete["documentKey"] == {"_id": 1}
    times = [e["clusterTime"] for e in (insert, update, pop, replace, delete)]
    assert times == sorted(times) and len(set(times)) == 5


def test_resume_after_and_start_at_operation_time(client) -> None:
    coll = client.db.t
    with coll.watch(max_await_time_ms=50) as stream:
        coll.insert_many([{"_id": i} for i in range(4)])
        first, second = _next(stream, 2)
    with coll.watch(resume_after=first["_id"], max_await_time_ms=50) as resumed:
        assert [e["documentKey"]["_id"] for e in _next(resumed, 3)] == [1, 2, 3]
    with coll.watch(start_at_operation_time=second["clusterTime"], max_await_time_ms=50) as at:
        assert [e["documentKey"]["_id"] for e in _next(at, 3)] == [1, 2, 3]
    with pytest.raises(OperationFailure) as bad:
        coll.watch(resume_after={"_data": "not-ours"})
    assert bad.value.code == 260


def test_drop_invalidates_a_collection_stream_and_start_after_resumes(client) -> None:
    coll = client.db.t
    coll.insert_one({"_id": 0})
    with coll.watch(max_await_time_ms=50) as stream:
        coll.drop()
        drop, invalidate = _next(stream, 2)
        assert drop["operationType"] == "drop" and invalidate["operationType"] == "invalidate"
        assert not stream.alive
    with pytest.raises(OperationFailure) as refused:
        coll.watch(resume_after=invalidate["_id"])
    assert refused.value.code == 260
    with coll.watch(start_after=invalidate["_id"], max_await_time_ms=50) as after:
        coll.insert_one({"_id": 5})
        assert _next(after)[0]["documentKey"] == {"_id": 5}


def test_database_and_cluster_streams_and_expanded_events(client) -> None:
    with client.db2.watch(max_await_time_ms=50) as database, \
            client.watch(max_await_time_ms=50, show_expanded_events=True) as cluster:
        client.db2.create_collection("x")
        client.db2.x.create_index("a")
        client.db2.x.insert_one({"_id": 1})
        client.other.y.insert_one({"_id": 2})
        client.db2.x.rename("y")
        client.drop_database("db2")
        seen = [e["operationType"] for e in _next(database, 5)]
        expanded = _next(cluster, 8)
    assert seen == ["insert", "rename", "drop", "dropDatabase", "invalidate"]
    assert [e["operationType"] for e in expanded] == [
        "create", "createIndexes", "insert", "create", "insert", "rename", "drop", "dropDatabase"]
    assert all("collectionUUID" in e for e in expanded if e["operationType"] != "dropDatabase")
    assert expanded[1]["operationDescription"] == {"indexes": [{"v": 2, "key": {"a": 1}, "name": "a_1"}]}
    assert expanded[5]["to"] == {"db": "db2", "coll": "y"}


def test_full_document_modes_and_pre_images(client) -> None:
    client.db.create_collection("img", changeStreamPreAndPostImages={"enabled": True})
    client.db.plain.insert_one({"_id": 1, "v": 0})
    client.db.img.insert_one({"_id": 1, "v": 0})
    with client.db.plain.watch(full_document="updateLookup", max_await_time_ms=50) as lookup, \
            client.db.plain.watch(full_document="whenAvailable", full_document_before_change="whenAvailable",
                                  max_await_time_ms=50) as unavailable, \
            client.db.img.watch(full_document="required", full_document_before_change="required",
                                max_await_time_ms=50) as images:
        client.db.plain.update_one({"_id": 1}, {"$inc": {"v": 1}})
        client.db.plain.update_one({"_id": 1}, {"$inc": {"v": 1}})
        client.db.img.update_one({"_id": 1}, {"$inc": {"v": 1}})
        looked_up = _next(lookup, 2)
        [missing, _] = _next(unavailable, 2)
        [imaged] = _next(images)
    # updateLookup reads the document as it is now (both events see v: 2).
    assert [e["fullDocument"] for e in looked_up] == [{"_id": 1, "v": 2}] * 2
    assert missing["fullDocument"] is None and missing["fullDocumentBeforeChange"] is None
    assert imaged["fullDocument"] == {"_id": 1, "v": 1} and imaged["fullDocumentBeforeChange"] == {"_id": 1, "v": 0}
    with client.db.plain.watch(full_document="required", max_await_time_ms=50) as required:
        client.db.plain.update_one({"_id": 1}, {"$inc": {"v": 1}})
        with pytest.raises(OperationFailure):
            _next(required)


def test_transaction_events_carry_lsid_and_txn_number(client) -> None:
    coll = client.db.t
    coll.insert_one({"_id": 0})
    with coll.watch(max_await_time_ms=50) as stream:
        with client.start_session() as session:
            with session.start_transaction():
                coll.insert_one({"_id": 1}, session=session)
                coll.update_one({"_id": 0}, {"$set": {"x": 1}}, session=session)
                assert stream.try_next() is None  # nothing is visible before the commit
            lsid = session.session_id
        insert, update = _next(stream, 2)
    assert insert["lsid"] == lsid and update["lsid"] == lsid
    assert insert["txnNumber"] == update["txnNumber"] >= 1


def test_pipeline_stages_and_a_modified_token(client) -> None:
    coll = client.db.t
    with coll.watch([{"$match": {"operationType": "delete"}}, {"$project": {"documentKey": 1}}],
                    max_await_time_ms=50) as stream:
        coll.insert_one({"_id": 1})
        coll.delete_one({"_id": 1})
        [event] = _next(stream)
        assert set(event) == {"_id", "documentKey"}
    with coll.watch([{"$project": {"_id": 0}}], max_await_time_ms=50) as broken:
        coll.insert_one({"_id": 2})
        with pytest.raises(OperationFailure) as fatal:
            _next(broken)
    assert fatal.value.code == 280 and fatal.value.has_error_label("NonResumableChangeStreamError")


def test_await_data_get_more_wakes_on_a_write(client) -> None:
    coll = client.db.t
    with coll.watch(max_await_time_ms=20_000) as stream:
        writer = threading.Timer(0.3, lambda: coll.insert_one({"_id": 1}))
        started = time.monotonic()
        writer.start()
        event = stream.next()  # one awaitData getMore: answered by the write, not by maxAwaitTimeMS
        waited = time.monotonic() - started
        writer.join()
    assert event["documentKey"] == {"_id": 1}
    assert waited < 15  # far below maxAwaitTimeMS: the write woke the waiting getMore


def test_standalone_refuses_change_streams(standalone, mongo_client) -> None:
    with pytest.raises(OperationFailure) as refused:
        mongo_client(standalone.uri).db.t.watch()
    assert refused.value.code == 40573


def test_get_more_fail_point_labels_resumable_errors(client) -> None:
    coll = client.db.t
    coll.insert_one({"_id": 0})
    opened = client.db.command({"aggregate": "t", "pipeline": [{"$changeStream": {}}], "cursor": {}})
    cursor_id = opened["cursor"]["id"]
    assert cursor_id != 0 and "postBatchResumeToken" in opened["cursor"]
    for code, labelled in ((6, True), (50, False)):
        client.admin.command({"configureFailPoint": "failGetMoreAfterCursorCheckout", "mode": {"times": 1},
                              "data": {"errorCode": code}})
        with pytest.raises(OperationFailure) as failed:
            client.db.command({"getMore": cursor_id, "collection": "t", "maxTimeMS": 10})
        assert failed.value.code == code
        assert failed.value.has_error_label("ResumableChangeStreamError") is labelled
    # The cursor survives: the next getMore answers with an empty batch and a resume token.
    reply = client.db.command({"getMore": cursor_id, "collection": "t", "maxTimeMS": 10})
    assert reply["cursor"]["nextBatch"] == [] and "postBatchResumeToken" in reply["cursor"]


def test_shard_collection_is_an_expanded_event_on_mongos(start_sandbox, mongo_client) -> None:
    client = mongo_client(start_sandbox(topology="sharded", members=1).uri)
    client.sdb.create_collection("sc")
    with client.sdb.sc.watch(show_expanded_events=True, max_await_time_ms=50) as stream:
        assert client.admin.command({"shardCollection": "sdb.sc", "key": {"_id": 1}})["collectionsharded"] == "sdb.sc"
        [event] = _next(stream)
    assert event["operationType"] == "shardCollection"
    assert event["operationDescription"]["shardKey"] == {"_id": 1}


def test_pre_and_post_images_follow_coll_mod(client) -> None:
    client.db.create_collection("later")
    client.db.later.insert_one({"_id": 1, "v": 0})
    client.db.command("collMod", "later", changeStreamPreAndPostImages={"enabled": True})
    with client.db.later.watch(full_document="whenAvailable", full_document_before_change="required",
                               max_await_time_ms=50) as stream:
        client.db.later.update_one({"_id": 1}, {"$inc": {"v": 1}})
        [event] = _next(stream)
    assert event["fullDocument"] == {"_id": 1, "v": 1} and event["fullDocumentBeforeChange"] == {"_id": 1, "v": 0}

