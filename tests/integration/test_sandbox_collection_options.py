"""Collection management in the sandbox: clustered collections and collMod's prepareUnique -> unique steps."""

from __future__ import annotations

import pytest
from pymongo.errors import DuplicateKeyError, OperationFailure

from tests.integration.client_support import make_client  # noqa: F401  (fixture)


def test_clustered_collection_is_listed_as_the_server_lists_it(standalone, mongo_client) -> None:
    db = mongo_client(standalone.uri).ci
    db.create_collection("c", clusteredIndex={"key": {"_id": 1}, "unique": True, "name": "by id"})
    (info,) = list(db.list_collections(filter={"name": "c"}))
    assert info["options"]["clusteredIndex"] == {"v": 2, "key": {"_id": 1}, "name": "by id", "unique": True}
    assert "idIndex" not in info  # no separate _id index
    assert list(db.c.list_indexes()) == [{"v": 2, "key": {"_id": 1}, "name": "by id", "unique": True,
                                          "clustered": True}]
    db.c.insert_one({"_id": 1})
    with pytest.raises(DuplicateKeyError):
        db.c.insert_one({"_id": 1})
    with pytest.raises(OperationFailure) as caught:
        db.create_collection("bad", clusteredIndex={"key": {"a": 1}, "unique": True})
    assert caught.value.code == 72 and "{_id: 1}" in str(caught.value)


def test_prepare_unique_then_unique_reports_violations(standalone, mongo_client) -> None:
    client = mongo_client(standalone.uri)
    coll = client.cm.c
    coll.insert_many([{"_id": 1, "x": 1}, {"_id": 2, "x": 1}, {"_id": 3, "x": 2}])
    coll.create_index("x")
    with pytest.raises(OperationFailure) as early:
        client.cm.command({"collMod": "c", "index": {"keyPattern": {"x": 1}, "unique": True}})
    assert early.value.code == 72  # prepareUnique must come first
    reply = client.cm.command({"collMod": "c", "index": {"keyPattern": {"x": 1}, "prepareUnique": True}})
    assert reply["prepareUnique_new"] is True
    with pytest.raises(DuplicateKeyError):
        coll.insert_one({"_id": 4, "x": 2})  # new duplicates are refused...
    with pytest.raises(OperationFailure) as caught:
        client.cm.command({"collMod": "c", "index": {"keyPattern": {"x": 1}, "unique": True}})
    assert caught.value.code == 359 and caught.value.details["violations"] == [{"ids": [1, 2]}]  # ...old ones stay
    coll.delete_one({"_id": 2})
    assert client.cm.command({"collMod": "c", "index": {"keyPattern": {"x": 1}, "unique": True}})["unique_new"]
    index = next(ix for ix in coll.list_indexes() if ix["name"] == "x_1")
    assert index["unique"] is True and "prepareUnique" not in index


@pytest.mark.parametrize(("version", "sent"), [("8.0.0", False), ("8.2.1", True)])
def test_raw_data_reaches_only_8_2_servers(start_sandbox, make_client, version, sent) -> None:
    server = start_sandbox(topology="standalone", server_version=version)
    client, recorder = make_client(server.uri)
    client.db.create_collection("c")
    assert [c["name"] for c in client.db.list_collections(raw_data=True)] == ["c"]
    (started,) = recorder.started("listCollections")
    assert ("rawData" in started.command) is sent  # CRUD spec "rawData": an older server would refuse it
