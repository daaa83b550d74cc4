"""The Stable API end to end: the driver declares it on every command, the sandbox enforces it as mongod does."""

from __future__ import annotations

import pytest

from driver import ServerApi
from driver.errors import OperationFailure
from pymongo.errors import OperationFailure as PyOperationFailure
from tests.integration.client_support import make_client  # noqa: F401  (fixture)


def test_every_command_carries_the_declared_version(standalone, make_client) -> None:
    client, recorder = make_client(standalone.uri, server_api=ServerApi("1", deprecation_errors=True))
    coll = client.db.api
    coll.insert_many([{"_id": i} for i in range(5)])
    assert [d["_id"] for d in coll.find({}, batch_size=2, sort={"_id": 1})] == list(range(5))
    client.db.run_command({"ping": 1})
    started = recorder.started()
    assert {e.command_name for e in started} >= {"insert", "find", "getMore", "ping"}
    for event in started:
        assert event.command["apiVersion"] == "1" and event.command["apiDeprecationErrors"] is True, event.command
        assert "apiStrict" not in event.command  # not declared, so not sent


def test_strict_mode_is_enforced_by_the_sandbox(standalone, make_client) -> None:
    client, _ = make_client(standalone.uri, server_api=ServerApi("1", strict=True))
    assert client.db.run_command("ping")["ok"] == 1
    with pytest.raises(OperationFailure) as caught:
        client.db.run_command("buildInfo")  # not in API version 1
    assert caught.value.code == 323 and "not in API Version 1" in str(caught.value)


def test_unknown_version_in_a_command_is_refused_with_322(standalone, make_client) -> None:
    client, _ = make_client(standalone.uri)  # no declared version: runCommand sends the document as is
    with pytest.raises(OperationFailure) as caught:
        client.db.run_command({"ping": 1, "apiVersion": "999"})
    assert caught.value.code == 322 and caught.value.code_name == "APIVersionError"


def test_require_api_version_parameter(standalone, make_client) -> None:
    plain, _ = make_client(standalone.uri)
    declared, _ = make_client(standalone.uri, server_api=ServerApi("1"))
    assert plain.admin.run_command({"setParameter": 1, "requireApiVersion": True})["was"] is False
    try:
        assert declared.admin.run_command({"getParameter": 1, "requireApiVersion": 1})["requireApiVersion"] is True
        with pytest.raises(OperationFailure) as caught:
            plain.db.run_command("ping")
        assert caught.value.code == 498870
        assert declared.db.items.insert_one({"x": 1}).acknowledged
    finally:
        declared.admin.run_command({"setParameter": 1, "requireApiVersion": False})
    assert plain.db.run_command("ping")["ok"] == 1


def test_pymongo_with_server_api_is_accepted(standalone, mongo_client) -> None:
    from pymongo.server_api import ServerApi as PyServerApi

    client = mongo_client(standalone.uri, server_api=PyServerApi("1", strict=True, deprecation_errors=True))
    client.db.c.insert_one({"_id": 1})
    assert list(client.db.c.find()) == [{"_id": 1}]
    assert client.db.c.count_documents({}) == 1  # an aggregate, in API version 1


def test_get_more_and_transaction_statements_must_repeat_the_api_parameters(replset, mongo_client) -> None:
    """The server holds a getMore to its cursor's API parameters and a transaction's statements to its
    first command's (versioned-api spec, "Cursors" and "Transactions"): APIMismatchError 325."""
    client = mongo_client(replset.uri)
    db = client.db
    db.c.insert_many([{"_id": i} for i in range(3)])
    opened = db.command({"find": "c", "batchSize": 1, "apiVersion": "1"})
    cursor_id = opened["cursor"]["id"]
    with pytest.raises(PyOperationFailure) as caught:
        db.command({"getMore": cursor_id, "collection": "c"})
    assert caught.value.code == 325 and "the cursor-creating command used" in str(caught.value)
    assert db.command({"getMore": cursor_id, "collection": "c", "apiVersion": "1"})["cursor"]["nextBatch"]
    with client.start_session() as session:
        db.command({"insert": "c", "documents": [{"_id": 10}], "txnNumber": 1,
                    "startTransaction": True, "autocommit": False, "apiVersion": "1"}, session=session)
        with pytest.raises(PyOperationFailure) as caught:
            client.admin.command({"commitTransaction": 1, "txnNumber": 1, "autocommit": False,
                                  "apiVersion": "1", "apiStrict": True}, session=session)
        assert caught.value.code == 325 and "the transaction's first command used" in str(caught.value)
        client.admin.command({"commitTransaction": 1, "txnNumber": 1, "autocommit": False,
                              "apiVersion": "1"}, session=session)
    assert db.c.count_documents({"_id": 10}) == 1


def test_monitoring_connections_declare_the_version(standalone) -> None:
    """The handshake records the ServerApi on the socket, so its later monitoring hellos send it too."""
    from driver.establish import open_connection

    api = ServerApi("1", strict=True)
    conn, reply, _rtt = open_connection(standalone.addresses[0], server_api=api)
    try:
        assert conn.server_api is api and reply["ok"] == 1
        from driver.sdam.monitor import Monitor

        assert conn.command("admin", Monitor._hello_command(conn))["ok"] == 1  # accepted in strict mode
    finally:
        conn.close()


def test_a_declared_client_works_where_the_server_requires_a_version(replset, make_client) -> None:
    """requireApiVersion on: every command the driver sends itself (sessions, cursors, getMore,
    killCursors, transactions, change streams, client bulk write, endSessions) declares the version."""
    from driver import ClientInsertOne

    client, recorder = make_client(replset.uri, server_api=ServerApi("1"))
    assert client.admin.run_command({"setParameter": 1, "requireApiVersion": True})["ok"] == 1
    try:
        coll = client.db.required
        coll.insert_many([{"_id": i} for i in range(6)])
        cursor = coll.find({}, batch_size=2)
        assert next(cursor) == {"_id": 0} and next(cursor) == {"_id": 1} and next(cursor) == {"_id": 2}
        cursor.close()  # getMore, then killCursors
        assert coll.count_documents({}) == 6 and coll.distinct("_id") == list(range(6))
        with client.start_session() as session:
            session.with_transaction(lambda s: coll.insert_one({"_id": 100}, session=s))
        stream = coll.watch()
        coll.insert_one({"_id": 101})
        change = stream.try_next() or stream.try_next()
        assert change is not None and change["documentKey"] == {"_id": 101}
        stream.close()
        client.bulk_write([ClientInsertOne(namespace="db.required", document={"_id": 102})])
        assert coll.count_documents({}) == 9
    finally:
        client.admin.run_command({"setParameter": 1, "requireApiVersion": False})
    client.close()  # endSessions
    missing = [e.command_name for e in recorder.started() if "apiVersion" not in e.command]
    assert not missing, f"sent without apiVersion: {missing}"
    assert {"getMore", "killCursors", "commitTransaction", "aggregate", "bulkWrite", "endSessions"} <= \
        {e.command_name for e in recorder.started()}
