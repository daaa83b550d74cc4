"""`$where: "sleep(<ms>) || true"` delays only its own connection's reply; other $where forms run as JavaScript."""

from __future__ import annotations

import time

from driver import wire


def _send(raw, body: dict) -> int:
    request_id = wire.next_request_id()
    raw.send(wire.encode_op_msg(request_id, body))
    return request_id


def _busy_connection_ids(sandbox, command_name: str) -> set[int]:
    member = sandbox.deployment.members[0]
    return {c.id for c in list(member.server.connections)
            if c.current is not None and command_name in c.current["command"]}


def test_sleep_where_delays_its_reply_without_blocking_other_connections(standalone, raw_connection) -> None:
    setup = raw_connection(standalone.addresses[0])
    assert setup.command({"insert": "c", "documents": [{"_id": 1}, {"_id": 2}], "$db": "db"})["n"] == 2
    sleeper = raw_connection(standalone.addresses[0])
    started = time.monotonic()
    request_id = _send(sleeper, {"find": "c", "filter": {"$where": "sleep(400)||true", "_id": 2}, "$db": "db"})
    deployment = standalone.deployment
    with deployment.state_changed:
        assert deployment.state_changed.wait_for(lambda: _busy_connection_ids(standalone, "find"), 5)
    # While the sleeper's find is held, another connection is served and sees it running.
    other = raw_connection(standalone.addresses[0])
    assert other.command({"ping": 1, "$db": "admin"})["ok"] == 1.0
    running = other.command({"currentOp": 1, "$db": "admin"})["inprog"]
    assert any(op.get("command", {}).get("filter", {}).get("$where") == "sleep(400)||true" for op in running)
    assert _busy_connection_ids(standalone, "find")  # still held after the others were answered
    header, message = sleeper.receive()
    assert header.response_to == request_id
    assert time.monotonic() - started >= 0.4
    # The rest of the filter still applies; the $where itself counts as `true`.
    assert message.body["cursor"]["firstBatch"] == [{"_id": 2}]


def test_sleep_where_in_update_and_delete_filters_then_matches_as_true(standalone, raw_connection) -> None:
    raw = raw_connection(standalone.addresses[0])
    raw.command({"insert": "c", "documents": [{"_id": 1}], "$db": "db"})
    reply = raw.command({"update": "c", "updates": [{"q": {"$where": " sleep( 1 ) ||  true "},
                                                     "u": {"$set": {"a": "bar"}}}], "$db": "db"})
    assert (reply["n"], reply["nModified"]) == (1, 1)
    assert raw.command({"count": "c", "query": {"$where": "sleep(0) || true", "a": "bar"}, "$db": "db"})["n"] == 1
    assert raw.command({"delete": "c", "deletes": [{"q": {"$where": "sleep(1) || true"}, "limit": 0}],
                        "$db": "db"})["n"] == 1


def test_any_other_where_runs_as_javascript_that_cannot_sleep(standalone, raw_connection) -> None:
    raw = raw_connection(standalone.addresses[0])
    raw.command({"insert": "c", "documents": [{"_id": 1, "x": 1}, {"_id": 2}], "$db": "db"})
    matched = raw.command({"find": "c", "filter": {"$where": "this.x == 1"}, "$db": "db"})
    assert [d["_id"] for d in matched["cursor"]["firstBatch"]] == [1]
    for where in ("sleep(10) || false", "sleep(10)", "function() { sleep(10); return true; }"):
        reply = raw.command({"find": "c", "filter": {"$where": where}, "$db": "db"})
        # JavaScript has no sleep(): a ReferenceError, as JSInterpreterFailure (139).
        assert reply["ok"] == 0 and reply["code"] == 139 and "sleep" in reply["errmsg"], where
    nested = raw.command({"find": "c", "filter": {"$and": [{"$where": "sleep(1) || true"}]}, "$db": "db"})
    assert nested["code"] == 2  # only a top-level $where of a filter is recognised or run
    assert raw.command({"count": "c", "$db": "db"})["n"] == 2


def test_client_hanging_up_during_the_sleep_drops_the_operation(standalone, raw_connection) -> None:
    raw = raw_connection(standalone.addresses[0])
    raw.command({"insert": "c", "documents": [{"_id": 1}], "$db": "db"})
    sleeper = raw_connection(standalone.addresses[0])
    _send(sleeper, {"update": "c", "updates": [{"q": {"$where": "sleep(60000) || true"},
                                                "u": {"$set": {"a": 1}}}], "$db": "db"})
    deployment = standalone.deployment
    with deployment.state_changed:
        assert deployment.state_changed.wait_for(lambda: _busy_connection_ids(standalone, "update"), 5)
        sleeper.close()  # as a driver interrupting an in-use connection does
        assert deployment.state_changed.wait_for(lambda: not _busy_connection_ids(standalone, "update"), 5)
    # The connection was dropped without running the update, and the server keeps serving.
    assert raw.command({"find": "c", "$db": "db"})["cursor"]["firstBatch"] == [{"_id": 1}]
