"""watch() on Client, Database and Collection: one ChangeStreamOptions object, or keywords naming its fields."""

from __future__ import annotations

import time

import pytest

from driver.change_stream import ChangeStreamOptions
from tests.integration.client_support import make_client  # noqa: F401  (fixture)


def _next_change(stream) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        change = stream.try_next()
        if change is not None:
            return change
    raise AssertionError("no change within 20 s")


def test_options_object_and_keywords_send_the_same_aggregate(replset, make_client) -> None:
    client, rec = make_client(replset.uri)
    client.db.w.insert_one({"_id": 0})
    options = ChangeStreamOptions(full_document="updateLookup", batch_size=5, max_await_time_ms=50, comment="c")
    sent = []
    for target in (client, client.db, client.db.w):
        for how in ({"options": options}, {"full_document": "updateLookup", "batch_size": 5,
                                           "max_await_time_ms": 50, "comment": "c"}):
            rec.clear()
            with target.watch([{"$match": {"operationType": "update"}}], **how) as stream:
                client.db.w.update_one({"_id": 0}, {"$inc": {"n": 1}})
                change = _next_change(stream)
            assert change["operationType"] == "update" and change["fullDocument"]["_id"] == 0
            aggregate = rec.started("aggregate")[0].command
            assert aggregate["cursor"] == {"batchSize": 5} and aggregate["comment"] == "c"
            assert rec.started("getMore")[0].command["maxTimeMS"] == 50
            sent.append(aggregate["pipeline"][0]["$changeStream"])
    client_stage = {"fullDocument": "updateLookup", "allChangesForCluster": True}
    assert sent == [client_stage] * 2 + [{"fullDocument": "updateLookup"}] * 4


def test_keywords_apply_over_an_options_object_and_unknown_ones_are_named(replset, make_client) -> None:
    client, rec = make_client(replset.uri)
    client.db.w.insert_one({"_id": 0})
    with client.db.w.watch(options=ChangeStreamOptions(full_document="updateLookup", comment="a"),
                           comment="b", max_await_time_ms=50):
        pass
    aggregate = rec.started("aggregate")[-1].command
    assert aggregate["comment"] == "b" and aggregate["pipeline"][0]["$changeStream"] == {"fullDocument": "updateLookup"}
    with pytest.raises(TypeError, match="full_documnet"):
        client.db.w.watch(full_documnet="updateLookup")
