"""Sessions against the sandbox: lsid on every command, pooled server sessions, endSessions at close, $clusterTime."""

from __future__ import annotations

from bson import Binary

from driver.client import Client
from tests.integration.client_support import Recorder, make_client  # noqa: F401  (fixture)


def test_implicit_sessions_are_attached_and_reused(standalone, make_client) -> None:
    client, rec = make_client(standalone.uri)
    coll = client.db.s
    coll.insert_one({"x": 1})
    coll.find_one({})
    coll.count_documents({})
    lsids = [e.command["lsid"] for e in rec.started() if e.command_name in ("insert", "find", "aggregate")]
    assert len(lsids) == 3
    assert all(isinstance(l["id"], Binary) and l["id"].subtype == 4 for l in lsids)
    # sequential operations reuse the one pooled server session (sessions spec, LIFO pool)
    assert lsids[0] == lsids[1] == lsids[2]


def test_explicit_session_lsid_and_context_manager(standalone, make_client) -> None:
    client, rec = make_client(standalone.uri)
    with client.start_session() as session:
        lsid = session.session_id
        client.db.s.insert_one({"y": 1}, session=session)
        list(client.db.s.find({}, session=session))
    assert session.has_ended
    assert [e.command["lsid"] for e in rec.started() if e.command_name in ("insert", "find")] == [lsid, lsid]


def test_standalone_writes_carry_no_txn_number(standalone, make_client) -> None:
    client, rec = make_client(standalone.uri)
    client.db.s.insert_one({"z": 1})
    assert "txnNumber" not in rec.started("insert")[0].command  # standalone: no retryable writes


def test_end_sessions_on_close(standalone) -> None:
    rec = Recorder()
    client = Client(standalone.uri, event_listeners=[rec], serverSelectionTimeoutMS=5000)
    s1, s2 = client.start_session(), client.start_session()
    ids = [s1.session_id, s2.session_id]
    s1.end_session()
    s2.end_session()
    client.close()
    ended = rec.started("endSessions")
    assert len(ended) == 1 and sorted(bytes(l["id"]) for l in ended[0].command["endSessions"]) == \
        sorted(bytes(l["id"]) for l in ids)
    assert "lsid" not in ended[0].command


def test_replica_set_retryable_write_txn_numbers_increase(replset, make_client) -> None:
    client, rec = make_client(replset.uri)
    client.db.t.insert_one({"a": 1})
    client.db.t.insert_one({"a": 2})
    client.db.t.update_many({}, {"$set": {"b": 1}})  # multi: not retryable, no txnNumber
    inserts = rec.started("insert")
    assert [int(e.command["txnNumber"]) for e in inserts] == [1, 2]
    assert "txnNumber" not in rec.started("update")[0].command
