"""SCRAM-SHA-1 and SCRAM-SHA-256 on a sandbox started with a user."""

from __future__ import annotations

import pytest
from pymongo.errors import OperationFailure

USER, PASSWORD = "ada", "s3cret,=pw"


@pytest.fixture
def secured(start_sandbox):
    return start_sandbox(topology="standalone", auth=(USER, PASSWORD))


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_scram_login(secured, mongo_client, mechanism) -> None:
    client = mongo_client(secured.addresses[0], username=USER, password=PASSWORD,
                          authSource="admin", authMechanism=mechanism)
    client.db.c.insert_one({"x": 1})
    status = client.admin.command("connectionStatus")
    assert status["authInfo"]["authenticatedUsers"] == [{"user": USER, "db": "admin"}]


def test_default_mechanism_uses_speculative_auth(secured, mongo_client) -> None:
    client = mongo_client(secured.uri)  # credentials in the URI, mechanism negotiated
    assert client.db.c.count_documents({}) == 0


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_wrong_password_is_code_18(secured, mongo_client, mechanism) -> None:
    client = mongo_client(secured.addresses[0], username=USER, password="nope", authMechanism=mechanism)
    with pytest.raises(OperationFailure) as caught:
        client.admin.command("ping")
    assert caught.value.code == 18


def test_commands_before_auth(secured, mongo_client) -> None:
    client = mongo_client(secured.addresses[0])
    assert client.admin.command("ping")["ok"] == 1.0
    assert client.admin.command("hello")["isWritablePrimary"] is True
    with pytest.raises(OperationFailure) as caught:
        client.db.c.find_one()
    assert caught.value.code == 13
