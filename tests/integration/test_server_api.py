"""The Stable API end to end: the driver declares it on every command, the sandbox enforces it as mongod does."""

from __future__ import annotations

import pytest

from driver import ServerApi
from driver.errors import OperationFailure
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
