"""configureFailPoint failCommand behaves as on a real test server."""

from __future__ import annotations

import time

import pytest
from pymongo.errors import AutoReconnect, OperationFailure


def _fail(client, mode, **data) -> None:
    client.admin.command({"configureFailPoint": "failCommand", "mode": mode, "data": data})


def test_error_code_times(standalone, mongo_client) -> None:
    client = mongo_client(standalone.uri, retryReads=False)
    _fail(client, {"times": 2}, failCommands=["find"], errorCode=2, errmsg="boom")
    for _ in range(2):
        with pytest.raises(OperationFailure) as caught:
            client.db.c.find_one()
        assert caught.value.code == 2 and "boom" in str(caught.value)
    assert client.db.c.find_one() is None  # the third find passes


def test_close_connection(standalone, mongo_client) -> None:
    client = mongo_client(standalone.uri, retryReads=False)
    client.admin.command("ping")
    _fail(client, {"times": 1}, failCommands=["find"], closeConnection=True)
    with pytest.raises(AutoReconnect):
        client.db.c.find_one()
    assert client.db.c.find_one() is None


def test_close_connection_is_retried_for_reads(standalone, mongo_client) -> None:
    client = mongo_client(standalone.uri)
    client.db.c.insert_one({"x": 1})
    _fail(client, {"times": 1}, failCommands=["find"], closeConnection=True)
    assert client.db.c.find_one({}, {"_id": 0}) == {"x": 1}


def test_skip_then_always_on_then_off(standalone, mongo_client) -> None:
    client = mongo_client(standalone.uri, retryReads=False)
    _fail(client, {"skip": 1}, failCommands=["count"], errorCode=11)
    assert client.db.command("count", "c")["n"] == 0
    with pytest.raises(OperationFailure):
        client.db.command("count", "c")
    client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    assert client.db.command("count", "c")["ok"] == 1.0


def test_app_name_filter(standalone, mongo_client) -> None:
    admin = mongo_client(standalone.uri)
    _fail(admin, "alwaysOn", failCommands=["ping"], errorCode=8, appName="victim")
    assert admin.admin.command("ping")["ok"] == 1.0
    victim = mongo_client(standalone.uri, appname="victim")
    with pytest.raises(OperationFailure) as caught:
        victim.admin.command("ping")
    assert caught.value.code == 8


def test_error_labels_and_retryable_label(start_sandbox, mongo_client) -> None:
    sb = start_sandbox(topology="replset", members=3, election_delay_ms=50)
    client = mongo_client(sb.uri, retryWrites=False)
    _fail(client, {"times": 1}, failCommands=["insert"], errorCode=112, errorLabels=["TransientTransactionError"])
    with pytest.raises(OperationFailure) as caught:
        client.db.c.insert_one({"x": 1})
    assert caught.value.details["errorLabels"] == ["TransientTransactionError"]
    # A retryable write failing with a retryable code is labelled by the server itself.
    retrying = mongo_client(sb.uri)
    _fail(client, {"times": 1}, failCommands=["insert"], errorCode=189)
    retrying.db.c.insert_one({"x": 2})  # PyMongo retries on the RetryableWriteError label
    assert retrying.db.c.count_documents({"x": 2}) == 1


def test_block_connection(standalone, mongo_client) -> None:
    client = mongo_client(standalone.uri)
    _fail(client, {"times": 1}, failCommands=["ping"], blockConnection=True, blockTimeMS=200)
    started = time.monotonic()
    assert client.admin.command("ping")["ok"] == 1.0
    assert time.monotonic() - started >= 0.19


def test_bad_mode_is_rejected(standalone, mongo_client) -> None:
    client = mongo_client(standalone.uri)
    with pytest.raises(OperationFailure, match="mode"):
        client.admin.command({"configureFailPoint": "failCommand", "mode": "sometimes", "data": {"failCommands": ["x"]}})
