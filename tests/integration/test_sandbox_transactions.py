"""PyMongo (a test-only peer) runs multi-document transactions against the sandbox: isolation,
commit/abort, write conflicts, txnNumber validation with the server's codes, error labels."""

from __future__ import annotations

import pytest
from bson import Int64
from pymongo.errors import OperationFailure


@pytest.fixture(params=["replset", "sharded"])
def txn_deployment(request, start_sandbox):
    if request.param == "replset":
        return start_sandbox(topology="replset", members=3, election_delay_ms=100)
    return start_sandbox(topology="sharded", members=1)


@pytest.fixture
def client(txn_deployment, mongo_client):
    return mongo_client(txn_deployment.uri)


def test_writes_are_invisible_outside_until_commit(client) -> None:
    coll = client.db.t
    coll.insert_one({"_id": 0, "v": 0})
    with client.start_session() as session:
        with session.start_transaction():
            coll.insert_one({"_id": 1}, session=session)
            coll.update_one({"_id": 0}, {"$set": {"v": 1}}, session=session)
            client.db.created_inside.insert_one({"x": 1}, session=session)
            assert list(coll.find({}, session=session)) == [{"_id": 0, "v": 1}, {"_id": 1}]
            assert list(coll.find({})) == [{"_id": 0, "v": 0}]
            assert "created_inside" not in client.db.list_collection_names()
    assert list(coll.find({})) == [{"_id": 0, "v": 1}, {"_id": 1}]
    assert client.db.created_inside.count_documents({}) == 1


def test_abort_discards_and_snapshot_hides_later_commits(client) -> None:
    coll = client.db.t
    with client.start_session() as session:
        session.start_transaction()
        coll.insert_one({"_id": 1}, session=session)
        assert coll.find_one({"_id": 2}, session=session) is None
        coll.insert_one({"_id": 2})  # committed outside after the transaction's snapshot
        assert coll.find_one({"_id": 2}, session=session) is None
        session.abort_transaction()
    assert list(coll.find({})) == [{"_id": 2}]


def test_write_conflict_is_transient_and_aborts_the_loser(client) -> None:
    coll = client.db.t
    coll.insert_one({"_id": 0, "v": 0})
    with client.start_session() as first, client.start_session() as second:
        first.start_transaction()
        coll.update_one({"_id": 0}, {"$set": {"v": 1}}, session=first)
        second.start_transaction()
        with pytest.raises(OperationFailure) as conflict:
            coll.update_one({"_id": 0}, {"$set": {"v": 2}}, session=second)
        assert conflict.value.code == 112 and conflict.value.has_error_label("TransientTransactionError")
        with pytest.raises(OperationFailure) as aborted:
            coll.insert_one({"_id": 9}, session=second)
        assert aborted.value.code == 251 and aborted.value.has_error_label("TransientTransactionError")
        second.abort_transaction()
        # Outside any transaction, writing a document an open transaction wrote conflicts too.
        with pytest.raises(OperationFailure) as outside:
            coll.update_one({"_id": 0}, {"$set": {"v": 3}})
        assert outside.value.code == 112
        first.commit_transaction()
    assert coll.find_one({"_id": 0}) == {"_id": 0, "v": 1}


def test_with_transaction_and_commit_retry_is_idempotent(client) -> None:
    coll = client.db.t
    with client.start_session() as session:
        session.with_transaction(lambda s: coll.insert_many([{"_id": 1}, {"_id": 2}], session=s))
    assert coll.count_documents({}) == 2
    with client.start_session() as session:
        session.start_transaction()
        coll.insert_one({"_id": 3}, session=session)
        session.commit_transaction()
        session.commit_transaction()  # a retried commit succeeds again and applies nothing twice
        with pytest.raises(Exception, match="Cannot call abortTransaction after calling commitTransaction"):
            session.abort_transaction()
    assert coll.count_documents({}) == 3


def test_server_validation_codes(client) -> None:
    """What the server answers to raw transactional commands a driver would never send."""
    admin = client.admin
    with client.start_session() as session:
        lsid = session.session_id
        db = client.db

        def run(cmd: dict, on=db) -> dict:
            try:
                return on.command(cmd, session=None)
            except OperationFailure as exc:
                return exc.details

        base = {"lsid": lsid}
        started = run({"insert": "t", "documents": [{"_id": 1}], **base, "txnNumber": Int64(5),
                       "startTransaction": True, "autocommit": False})
        assert started["ok"] == 1.0
        assert run({"find": "t", **base, "txnNumber": Int64(4), "autocommit": False})["code"] == 225
        no_such = run({"find": "t", **base, "txnNumber": Int64(6), "autocommit": False})
        assert no_such["code"] == 251 and no_such["errorLabels"] == ["TransientTransactionError"]
        assert run({"find": "t", **base, "txnNumber": Int64(5), "autocommit": True})["code"] == 72
        late = run({"find": "t", **base, "txnNumber": Int64(5), "autocommit": False,
                    "readConcern": {"level": "majority"}})
        assert late["code"] == 72 and "first command" in late["errmsg"]
        # That error aborted transaction 5: committing it is NoSuchTransaction.
        commit = run({"commitTransaction": 1, **base, "txnNumber": Int64(5), "autocommit": False}, admin)
        assert commit["code"] == 251 and commit["errorLabels"] == ["TransientTransactionError"]
        counted = run({"count": "t", **base, "txnNumber": Int64(7), "startTransaction": True, "autocommit": False})
        assert counted["code"] == 263 and counted["codeName"] == "OperationNotSupportedInTransaction"
        run({"insert": "t", "documents": [{"_id": 2}], **base, "txnNumber": Int64(8),
             "startTransaction": True, "autocommit": False})
        assert run({"commitTransaction": 1, **base, "txnNumber": Int64(8), "autocommit": False}, admin)["ok"] == 1.0
        aborted = run({"abortTransaction": 1, **base, "txnNumber": Int64(8), "autocommit": False}, admin)
        assert aborted["code"] == 256 and aborted["codeName"] == "TransactionCommitted"
    assert [d["_id"] for d in client.db.t.find()] == [2]


def test_fail_points_apply_to_commit_and_label_it(client) -> None:
    coll = client.db.t
    client.admin.command({"configureFailPoint": "failCommand", "mode": {"times": 1},
                          "data": {"failCommands": ["commitTransaction"], "errorCode": 7}})
    with client.start_session() as session:
        session.start_transaction()
        coll.insert_one({"_id": 1}, session=session)
        session.commit_transaction()  # 7 is RetryableWriteError: PyMongo retries the commit once
    assert coll.count_documents({}) == 1
    with client.start_session() as session:
        session.start_transaction()
        coll.insert_one({"_id": 10}, session=session)  # the transaction starts on the server
        client.admin.command({"configureFailPoint": "failCommand", "mode": {"times": 1},
                              "data": {"failCommands": ["insert"], "errorCode": 7}})
        with pytest.raises(OperationFailure) as failed:
            coll.insert_one({"_id": 2}, session=session)
        assert failed.value.has_error_label("TransientTransactionError")
        # A failCommand error fails the statement only: the transaction goes on (a retry works).
        coll.insert_one({"_id": 2}, session=session)
        session.commit_transaction()
    assert coll.count_documents({}) == 3
    client.admin.command({"configureFailPoint": "failCommand", "mode": {"times": 1},
                          "data": {"failCommands": ["commitTransaction"], "errorCode": 24}})
    with client.start_session() as session:
        session.start_transaction()
        coll.insert_one({"_id": 3}, session=session)
        with pytest.raises(OperationFailure) as lock_timeout:
            session.commit_transaction()
        # LockTimeout is transient even on commit (server error_labels.cpp), and named.
        assert lock_timeout.value.has_error_label("TransientTransactionError")
        assert lock_timeout.value.details["codeName"] == "LockTimeout"


def test_standalone_refuses_transactions(standalone, mongo_client) -> None:
    client = mongo_client(standalone.uri)
    with client.start_session() as session:
        session.start_transaction()
        with pytest.raises(OperationFailure) as refused:
            client.db.t.insert_one({}, session=session)
        assert refused.value.code == 20


def test_kill_all_sessions_aborts_open_transactions(client) -> None:
    coll = client.db.t
    coll.insert_one({"_id": 0, "v": 0})
    with client.start_session() as session:
        session.start_transaction()
        coll.update_one({"_id": 0}, {"$set": {"v": 1}}, session=session)
        client.admin.command("killAllSessions", [])
        coll.update_one({"_id": 0}, {"$set": {"v": 2}})  # no longer held by the transaction
        with pytest.raises(OperationFailure) as gone:
            session.commit_transaction()
        assert gone.value.code == 251
    assert coll.find_one({"_id": 0}) == {"_id": 0, "v": 2}


def test_writing_stages_and_change_streams_are_refused_in_a_transaction(client) -> None:
    client.db.t.insert_one({"_id": 1})
    for pipeline in ([{"$out": "copy"}], [{"$changeStream": {}}]):
        with client.start_session() as session:
            session.start_transaction()
            with pytest.raises(OperationFailure) as refused:
                list(client.db.t.aggregate(pipeline, session=session))
            assert refused.value.code == 263
            session.abort_transaction()
    assert "copy" not in client.db.list_collection_names()


def test_commit_reports_an_unsatisfiable_write_concern_after_committing(start_sandbox, mongo_client) -> None:
    from pymongo.errors import WriteConcernError
    from pymongo.write_concern import WriteConcern

    client = mongo_client(start_sandbox(topology="replset", members=3, election_delay_ms=100).uri)
    with client.start_session() as session:
        session.start_transaction(write_concern=WriteConcern(w=10))
        client.db.t.insert_one({"_id": 1}, session=session)
        with pytest.raises(WriteConcernError) as wce:
            session.commit_transaction()
    assert wce.value.code == 100 and wce.value.details["codeName"] == "UnsatisfiableWriteConcern"
    assert list(client.db.t.find()) == [{"_id": 1}]
