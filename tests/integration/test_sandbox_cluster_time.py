"""PyMongo (a test-only peer) sees the sandbox's cluster time: $clusterTime gossip, operationTime,
afterClusterTime (causal consistency) and a collation applied to distinct."""

from __future__ import annotations

import pytest
from bson import Int64, Timestamp
from pymongo.errors import OperationFailure


@pytest.fixture(params=["replset", "sharded"])
def gossiping(request, start_sandbox):
    if request.param == "replset":
        return start_sandbox(topology="replset", members=3, election_delay_ms=100)
    return start_sandbox(topology="sharded", members=1)


def test_replies_carry_cluster_time_and_operation_time(gossiping, mongo_client) -> None:
    client = mongo_client(gossiping.uri)
    reply = client.test.command("ping")
    assert isinstance(reply["operationTime"], Timestamp)
    signature = reply["$clusterTime"]["signature"]
    assert signature["keyId"] == Int64(0) and signature["hash"] == bytes(20)
    before = reply["$clusterTime"]["clusterTime"]
    insert = client.test.command("insert", "c", documents=[{"a": 1}])
    # The write's optime is a new tick of the clock, and the reply's cluster time includes it.
    assert insert["operationTime"] > reply["operationTime"]
    assert insert["$clusterTime"]["clusterTime"] >= insert["operationTime"] > before
    hello = client.admin.command("hello")
    assert "$clusterTime" in hello and "operationTime" not in hello


def test_gossip_advances_the_clock(gossiping, raw_connection) -> None:
    # A raw connection: PyMongo would send its own $clusterTime instead of ours.
    conn = raw_connection(gossiping.addresses[0])
    now = conn.command({"ping": 1, "$db": "admin"})["$clusterTime"]["clusterTime"]
    ahead = Timestamp(now.time + 1000, 7)
    gossip = {"clusterTime": ahead, "signature": {"hash": bytes(20), "keyId": Int64(0)}}
    reply = conn.command({"ping": 1, "$db": "admin", "$clusterTime": gossip})
    assert reply["$clusterTime"]["clusterTime"] == ahead
    # The next write ticks from the gossiped time, never backwards.
    assert conn.command({"insert": "c", "documents": [{}], "$db": "test"})["operationTime"] > ahead


def test_causally_consistent_session_reads_its_writes(gossiping, mongo_client) -> None:
    from tests.support.pymongo_commands import StartedCommands

    reads = StartedCommands()
    client = mongo_client(gossiping.uri, event_listeners=[reads])
    with client.start_session(causal_consistency=True) as session:
        client.test.c.insert_one({"_id": 1}, session=session)
        written_at = session.operation_time
        assert client.test.c.find_one({"_id": 1}, session=session) == {"_id": 1}
    assert [body.get("readConcern") for body in reads.of("find")] == [{"afterClusterTime": written_at}]


def test_after_cluster_time_ahead_of_the_cluster_is_refused(gossiping, mongo_client) -> None:
    client = mongo_client(gossiping.uri)
    now = client.test.command("ping")["$clusterTime"]["clusterTime"]
    reached = client.test.command("find", "c", readConcern={"afterClusterTime": now})
    assert reached["ok"] == 1.0
    with pytest.raises(OperationFailure) as failed:
        client.test.command("find", "c", readConcern={"afterClusterTime": Timestamp(now.time + 3600, 1)})
    assert failed.value.code == 72 and "greater than the current clusterTime" in str(failed.value)


def test_standalone_has_no_cluster_time(standalone, mongo_client) -> None:
    client = mongo_client(standalone.uri)
    reply = client.test.command("insert", "c", documents=[{}])
    assert "$clusterTime" not in reply and "operationTime" not in reply


def test_distinct_applies_the_collation(standalone, mongo_client) -> None:
    coll = mongo_client(standalone.uri).test.words
    coll.insert_many([{"w": "string"}, {"w": "String"}, {"w": "strïng"}, {"w": ["STRING", 1]}])
    assert coll.distinct("w") == [1, "STRING", "String", "string", "strïng"]
    # Strength 2 ignores case, strength 1 also accents; the first value seen stands for the rest.
    assert coll.distinct("w", collation={"locale": "en", "strength": 2}) == [1, "string", "strïng"]
    assert coll.distinct("w", collation={"locale": "en", "strength": 1}) == [1, "string"]
    assert coll.distinct("w", {"w": "STRING"}, collation={"locale": "en", "strength": 2}) == [1, "string"]


def test_snapshot_reads_see_the_data_as_of_their_cluster_time(gossiping, mongo_client) -> None:
    client = mongo_client(gossiping.uri)
    coll = client.test.snap
    coll.insert_many([{"_id": 1, "x": 11}, {"_id": 2, "x": 11}])
    before = client.test.command("find", "snap", readConcern={"level": "snapshot"})["cursor"]
    at = before["atClusterTime"]
    with client.start_session(snapshot=True) as session:
        assert list(coll.find({}, session=session)) == [{"_id": 1, "x": 11}, {"_id": 2, "x": 11}]
        coll.insert_one({"_id": 3, "x": 33})
        coll.update_one({"_id": 1}, {"$inc": {"x": 1}})
        coll.delete_one({"_id": 2})
        # The session's later reads use the first read's atClusterTime: none of the writes shows.
        assert list(coll.find({}, session=session)) == [{"_id": 1, "x": 11}, {"_id": 2, "x": 11}]
        assert coll.distinct("x", session=session) == [11]
        assert coll.count_documents({}, session=session) == 2
    assert list(coll.find({})) == [{"_id": 1, "x": 12}, {"_id": 3, "x": 33}]
    reply = client.test.command("find", "snap", readConcern={"level": "snapshot", "atClusterTime": at})
    assert reply["cursor"]["atClusterTime"] == at and len(reply["cursor"]["firstBatch"]) == 2
    with pytest.raises(OperationFailure) as refused:
        client.test.command("count", "snap", readConcern={"level": "snapshot"})
    assert refused.value.code == 72
