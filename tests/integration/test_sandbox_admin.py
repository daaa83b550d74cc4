"""Operational commands: shutdown, getLog, currentOp, replSetFreeze/StepDown errors, restart."""

from __future__ import annotations

import pytest
from pymongo.errors import NotPrimaryError, OperationFailure

from mongocli.sandbox import SandboxError


def test_shutdown_closes_connection_and_triggers_election(replset, raw_connection) -> None:
    old = replset.primary
    conn = raw_connection(old)
    from driver import wire

    conn.send(wire.encode_op_msg(wire.next_request_id(), {"shutdown": 1, "$db": "admin"}))
    with pytest.raises((ConnectionError, OSError)):
        conn.receive()
    assert replset.wait_for_primary(5, other_than=old) != old
    assert replset.deployment.member(old).state == "DOWN"


def test_standalone_kill_and_restart(standalone, mongo_client) -> None:
    client = mongo_client(standalone.uri)
    client.db.c.insert_one({"x": 1})
    before = client.admin.command("hello")["topologyVersion"]["processId"]
    standalone.kill(standalone.addresses[0])
    standalone.restart(standalone.addresses[0])
    assert client.db.c.count_documents({}) == 1  # data lives in the engine, not the process
    assert client.admin.command("hello")["topologyVersion"]["processId"] != before


def test_get_log_records_elections(replset, mongo_client) -> None:
    client = mongo_client(replset.uri)
    replset.step_down()
    new = replset.wait_for_primary(5)
    log = client.admin.command("getLog", "global")["log"]
    assert any(f"member {new} elected primary" in line for line in log)
    assert client.admin.command("getLog", "*")["names"] == ["global", "startupWarnings"]


def test_current_op_shows_blocked_command(standalone, mongo_client, raw_connection) -> None:
    import time

    from driver import wire

    client = mongo_client(standalone.uri)
    # Blocked far longer than a busy machine could need to see it: the test never races the
    # block's end. Nobody waits for the count's reply; stopping the sandbox cancels it.
    client.admin.command({"configureFailPoint": "failCommand", "mode": {"times": 1},
                          "data": {"failCommands": ["count"], "blockConnection": True, "blockTimeMS": 120_000}})
    slow = raw_connection(standalone.addresses[0])
    slow.command({"hello": 1, "client": {"application": {"name": "slowpoke"}}, "$db": "admin"})
    slow.send(wire.encode_op_msg(wire.next_request_id(), {"count": "c", "$db": "db"}))
    blocked: list[dict] = []
    deadline = time.monotonic() + 60
    while not blocked and time.monotonic() < deadline:  # each pass is a round trip to the server
        blocked = [op for op in client.admin.command("currentOp")["inprog"]
                   if op.get("appName") == "slowpoke" and "count" in op["command"]]
    assert blocked and blocked[0]["ns"] == "db.$cmd" and blocked[0]["active"]


def test_replset_command_errors(replset, mongo_client) -> None:
    client = mongo_client(replset.uri)
    with pytest.raises(OperationFailure) as caught:
        client.admin.command("replSetFreeze", 10)  # sent to the primary
    assert caught.value.code == 95
    secondary = next(a for a in replset.addresses if a != replset.primary)
    direct = mongo_client(secondary, directConnection=True)
    with pytest.raises(NotPrimaryError) as caught:
        direct.admin.command("replSetStepDown", 10)
    assert caught.value.details["code"] == 10107
    with pytest.raises(SandboxError, match="no member"):
        replset.kill("127.0.0.1:1")
