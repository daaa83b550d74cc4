"""PyMongo (a test-only peer) manages users on an --auth sandbox and meets the built-in roles."""

from __future__ import annotations

import pytest
from pymongo.errors import OperationFailure


@pytest.fixture
def secured(start_sandbox):
    return start_sandbox(topology="replset", members=3, election_delay_ms=100, auth=("admin", "secret"))


def _as(secured, mongo_client, user: str, password: str, source: str):
    hosts = ",".join(secured.addresses)
    return mongo_client(f"mongodb://{user}:{password}@{hosts}/?replicaSet=rs0&authSource={source}")


def test_user_commands_and_their_errors(secured, mongo_client) -> None:
    admin = mongo_client(secured.uri)
    app = admin.app
    app.command("createUser", "ana", pwd="pw", roles=["read"], customData={"team": "ops"})
    info = app.command("usersInfo", "ana")["users"][0]
    assert info["_id"] == "app.ana" and info["roles"] == [{"role": "read", "db": "app"}]
    assert info["customData"] == {"team": "ops"} and info["mechanisms"] == ["SCRAM-SHA-1", "SCRAM-SHA-256"]
    with pytest.raises(OperationFailure) as exists:
        app.command("createUser", "ana", pwd="x", roles=[])
    assert exists.value.code == 51003
    with pytest.raises(OperationFailure) as unknown_role:
        app.command("createUser", "bo", pwd="x", roles=["readAnyDatabase"])  # admin-only role
    assert unknown_role.value.code == 31
    app.command("updateUser", "ana", roles=["readWrite"])
    app.command("grantRolesToUser", "ana", roles=["dbAdmin"])
    assert [r["role"] for r in app.command("usersInfo", {"user": "ana", "db": "app"})["users"][0]["roles"]] \
        == ["readWrite", "dbAdmin"]
    app.command("revokeRolesFromUser", "ana", roles=["dbAdmin"])
    app.command("dropUser", "ana")
    with pytest.raises(OperationFailure) as missing:
        app.command("dropUser", "ana")
    assert missing.value.code == 11
    app.command("createUser", "c1", pwd="x", roles=[])
    assert app.command("dropAllUsersFromDatabase", 1)["n"] == 1
    assert [u["user"] for u in admin.admin.command("usersInfo", {"forAllDBs": True})["users"]] == ["admin"]


def test_built_in_roles_are_enforced(secured, mongo_client) -> None:
    admin = mongo_client(secured.uri)
    admin.app.items.insert_one({"x": 1})
    admin.app.command("createUser", "reader", pwd="r", roles=["read"])
    admin.app.command("createUser", "owner", pwd="o", roles=["dbOwner"])
    reader = _as(secured, mongo_client, "reader", "r", "app")
    assert reader.app.items.find_one({}, {"_id": 0}) == {"x": 1}
    for forbidden in (lambda: reader.app.items.insert_one({}), lambda: reader.other.items.find_one(),
                      lambda: reader.app.command("createUser", "x", pwd="y", roles=[]),
                      lambda: reader.admin.command("serverStatus")):
        with pytest.raises(OperationFailure) as caught:
            forbidden()
        assert caught.value.code == 13 and caught.value.details["codeName"] == "Unauthorized"
    assert reader.app.command("usersInfo", "reader")["users"][0]["user"] == "reader"  # itself
    assert reader.admin.command("ping")["ok"] == 1
    owner = _as(secured, mongo_client, "owner", "o", "app")
    owner.app.items.insert_one({"x": 2})
    owner.app.command("collMod", "items", validator={"x": {"$exists": True}})
    owner.app.command("createUser", "late", pwd="l", roles=["readWrite"])
    admin.app.command("grantRolesToUser", "reader", roles=["readWrite"])
    reader.app.items.insert_one({"x": 3})  # the grant applies to the open session at once
    assert owner.app.items.count_documents({}) == 3
