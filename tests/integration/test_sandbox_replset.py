"""A replica-set sandbox: discovery, secondaries, elections, failover that PyMongo follows."""

from __future__ import annotations

import threading
import time

import pytest
from pymongo import monitoring
from pymongo.errors import NotPrimaryError


class _PrimaryWatcher(monitoring.ServerListener, monitoring.ServerHeartbeatListener):
    """Sets an event when a client sees `target` become RSPrimary; records awaited heartbeats."""

    def __init__(self) -> None:
        self.target: tuple[str, int] | None = None
        self.seen = threading.Event()
        self.awaited_heartbeats = 0

    def opened(self, event) -> None: ...
    def closed(self, event) -> None: ...
    def started(self, event) -> None: ...
    def failed(self, event) -> None: ...

    def succeeded(self, event) -> None:
        if event.awaited:
            self.awaited_heartbeats += 1

    def description_changed(self, event) -> None:
        new = event.new_description
        if self.target is not None and new.address == self.target and new.server_type_name == "RSPrimary":
            self.seen.set()


def _addr(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


def test_discovered_from_one_seed(replset, mongo_client) -> None:
    client = mongo_client(replset.addresses[2], replicaSet="rs0")
    client.admin.command("ping")
    client.db.c.insert_one({"x": 1})
    assert client.address == _addr(replset.primary)
    assert client.nodes == {_addr(a) for a in replset.addresses}
    hello = client.admin.command("hello")
    assert hello["setName"] == "rs0" and hello["primary"] == replset.primary
    assert sorted(hello["hosts"]) == sorted(replset.addresses)
    assert hello["electionId"] is not None and "lastWrite" in hello


def test_secondary_refuses_writes_and_serves_secondary_reads(replset, mongo_client, raw_connection) -> None:
    mongo_client(replset.uri).db.c.insert_one({"x": 1})
    secondary = next(a for a in replset.addresses if a != replset.primary)
    direct = mongo_client(secondary, directConnection=True)
    with pytest.raises(NotPrimaryError) as caught:
        direct.db.c.insert_one({"x": 2})
    assert caught.value.details["code"] == 10107
    assert direct.db.c.find_one({}, {"_id": 0}) == {"x": 1}  # direct connection sends primaryPreferred
    raw = raw_connection(secondary)
    refused = raw.command({"find": "c", "$db": "db"})  # no $readPreference: primary only
    assert refused["code"] == 13435 and refused["codeName"] == "NotPrimaryNoSecondaryOk"
    assert refused["topologyVersion"]["processId"] == direct.admin.command("hello")["topologyVersion"]["processId"]
    allowed = raw.command({"find": "c", "$db": "db", "$readPreference": {"mode": "secondaryPreferred"}})
    assert len(allowed["cursor"]["firstBatch"]) == 1


@pytest.mark.parametrize("stage", [{"$out": "copy"}, {"$merge": {"into": "copy"}}])
def test_secondary_runs_out_and_merge_with_a_secondary_read_preference(replset, mongo_client, raw_connection,
                                                                         stage) -> None:
    client = mongo_client(replset.uri)
    client.db.c.insert_many([{"_id": 1}, {"_id": 2}])
    secondary = next(a for a in replset.addresses if a != replset.primary)
    raw = raw_connection(secondary)
    aggregate = {"aggregate": "c", "pipeline": [{"$match": {"_id": {"$gt": 1}}}, stage], "cursor": {}, "$db": "db"}
    refused = raw.command(dict(aggregate))  # primary read preference: a secondary cannot write
    assert refused["ok"] == 0 and refused["code"] == 10107
    assert client.db.copy.count_documents({}) == 0
    # A 5.0+ secondary accepts it with a non-primary read preference and the write happens.
    reply = raw.command(dict(aggregate, **{"$readPreference": {"mode": "secondaryPreferred"}}))
    assert reply["ok"] == 1 and reply["cursor"]["firstBatch"] == []
    assert list(client.db.copy.find()) == [{"_id": 2}]


def test_step_down_pymongo_follows_new_primary(start_sandbox, mongo_client) -> None:
    sb = start_sandbox(topology="replset", members=3, election_delay_ms=150)
    watcher = _PrimaryWatcher()
    # A 60 s heartbeat: only the streaming (awaitable) hello can make the change visible quickly.
    client = mongo_client(sb.uri, event_listeners=[watcher], heartbeatFrequencyMS=60_000)
    client.db.c.insert_one({"n": 0})
    old_term = client.admin.command("replSetGetStatus")["term"]
    old = sb.step_down()
    started = time.monotonic()
    # Sent while there is no primary: refused by the old primary (NotWritablePrimary, labelled
    # RetryableWriteError), retried by PyMongo once the new primary is elected; runs once.
    client.db.c.insert_one({"n": 1})
    assert time.monotonic() - started < 3
    new = sb.wait_for_primary(5, other_than=old)
    watcher.target = _addr(new)
    assert watcher.seen.wait(5), "PyMongo did not notice the election"
    assert client.address == _addr(new)
    assert watcher.awaited_heartbeats > 0
    status = client.admin.command("replSetGetStatus")
    assert status["term"] == old_term + 1
    states = {m["name"]: m["stateStr"] for m in status["members"]}
    assert states[new] == "PRIMARY" and states[old] == "SECONDARY"
    assert client.db.c.count_documents({}) == 2


def test_kill_primary_retryable_insert_then_restart_as_secondary(replset, mongo_client) -> None:
    client = mongo_client(replset.uri)
    client.db.c.insert_one({"n": 0})
    old_election_id = client.admin.command("hello")["electionId"]
    killed = replset.kill()
    client.db.c.insert_one({"n": 1})  # retried by PyMongo on the new primary
    assert replset.primary != killed
    assert client.db.c.count_documents({}) == 2
    hello = client.admin.command("hello")
    assert hello["electionId"] > old_election_id
    status = {m["name"]: m for m in client.admin.command("replSetGetStatus")["members"]}
    assert status[killed]["health"] == 0.0 and status[killed]["stateStr"] == "(not reachable/healthy)"
    replset.restart(killed)
    status = {m["name"]: m for m in client.admin.command("replSetGetStatus")["members"]}
    assert status[killed]["stateStr"] == "SECONDARY" and status[killed]["health"] == 1.0
    direct = mongo_client(killed, directConnection=True)
    assert direct.admin.command("hello")["secondary"] is True


def test_retried_write_executes_once(replset, mongo_client) -> None:
    client = mongo_client(replset.uri)
    client.admin.command({
        "configureFailPoint": "failCommand", "mode": {"times": 1},
        "data": {"failCommands": ["insert"], "writeConcernError": {"code": 6, "errmsg": "host unreachable"}},
    })
    # The insert executes, reports a retryable writeConcernError (labelled by the server as a
    # 4.4+ server does), PyMongo retries with the same lsid/txnNumber and gets the stored reply.
    client.db.c.insert_one({"_id": "once"})
    assert client.db.c.count_documents({}) == 1
    assert replset.deployment.sessions.replays == 1


def test_election_waits_for_configured_delay(start_sandbox) -> None:
    sb = start_sandbox(topology="replset", members=3, election_delay_ms=300)
    old = sb.primary
    started = time.monotonic()
    sb.kill(old)
    new = sb.wait_for_primary(5, other_than=old)
    elapsed = time.monotonic() - started
    assert new != old and sb.term == 2
    assert 0.29 <= elapsed < 1.3


def test_no_primary_without_majority(replset) -> None:
    secondaries = [a for a in replset.addresses if a != replset.primary]
    replset.kill(secondaries[0])
    replset.kill(secondaries[1])
    old = replset.kill()
    with pytest.raises(Exception, match="no primary"):
        replset.wait_for_primary(0.4)
    replset.restart(old)
    replset.restart(secondaries[0])
    assert replset.wait_for_primary(5) in (old, secondaries[0])


def test_freeze_keeps_member_from_being_elected(replset) -> None:
    old = replset.primary
    first, second = [a for a in replset.addresses if a != old]
    replset.freeze(first, 30)
    replset.step_down()
    assert replset.wait_for_primary(5, other_than=old) == second


def test_arbiter_counts_as_member(start_sandbox, mongo_client) -> None:
    sb = start_sandbox(topology="replset", members=3, arbiter=True, election_delay_ms=50)
    arbiter = sb.addresses[-1]
    hello = mongo_client(arbiter, directConnection=True).admin.command("hello")
    assert hello["arbiterOnly"] is True and hello["arbiters"] == [arbiter]
    assert arbiter not in hello["hosts"]
    client = mongo_client(sb.uri)
    client.db.c.insert_one({"x": 1})
    old = sb.kill()
    assert sb.wait_for_primary(5, other_than=old) != arbiter  # arbiter votes, data member wins
    config = client.admin.command("replSetGetConfig")["config"]
    assert [m["arbiterOnly"] for m in config["members"]] == [False, False, True]


def test_on_primary_transactional_write_loses_reply_but_retry_returns_it(replset, mongo_client) -> None:
    client = mongo_client(replset.uri)
    client.admin.command({"configureFailPoint": "onPrimaryTransactionalWrite", "mode": {"times": 1}})
    result = client.db.c.insert_one({"_id": 1})  # committed, connection closed, retried
    assert result.inserted_id == 1
    assert client.db.c.count_documents({}) == 1
    assert replset.deployment.sessions.replays == 1


def test_on_primary_transactional_write_does_not_fire_on_a_retry_of_a_committed_write(replset, mongo_client) -> None:
    client = mongo_client(replset.uri)
    client.admin.command({"configureFailPoint": "onPrimaryTransactionalWrite", "mode": {"times": 2}})
    # Each insert commits and loses its reply (one activation); its retry is answered from the
    # session history without committing, so it neither fires nor uses up the second activation.
    client.db.c.insert_one({"_id": 1})
    assert replset.deployment.sessions.replays == 1
    client.db.c.insert_one({"_id": 2})
    assert replset.deployment.sessions.replays == 2
    client.db.c.insert_one({"_id": 3})  # the fail point is exhausted: no loss, no replay
    assert replset.deployment.sessions.replays == 2
    assert sorted(d["_id"] for d in client.db.c.find()) == [1, 2, 3]
