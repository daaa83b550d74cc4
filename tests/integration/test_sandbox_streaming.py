"""Streaming (awaitable, exhaust) hello: answered when topologyVersion changes or on timeout."""

from __future__ import annotations

import threading
import time

from driver import wire


def _awaitable_hello(tv: dict, max_await_ms: int) -> dict:
    return {"hello": 1, "topologyVersion": tv, "maxAwaitTimeMS": max_await_ms, "$db": "admin"}


def test_awaitable_hello_times_out_without_change(standalone, raw_connection) -> None:
    conn = raw_connection(standalone.addresses[0])
    tv = conn.command({"hello": 1, "$db": "admin"})["topologyVersion"]
    started = time.monotonic()
    reply = conn.command(_awaitable_hello(tv, 150))
    assert time.monotonic() - started >= 0.14
    assert reply["topologyVersion"] == tv


def test_stale_topology_version_answers_at_once(standalone, raw_connection) -> None:
    conn = raw_connection(standalone.addresses[0])
    tv = conn.command({"hello": 1, "$db": "admin"})["topologyVersion"]
    started = time.monotonic()
    reply = conn.command(_awaitable_hello({"processId": tv["processId"], "counter": tv["counter"] - 1}, 10_000))
    assert time.monotonic() - started < 1 and reply["ok"] == 1.0


def test_exhaust_hello_streams_elections(replset, raw_connection) -> None:
    secondary = next(a for a in replset.addresses if a != replset.primary)
    conn = raw_connection(secondary)
    first = conn.command({"hello": 1, "$db": "admin"})
    request_id = wire.next_request_id()
    conn.send(wire.encode_op_msg(request_id, _awaitable_hello(first["topologyVersion"], 10_000), exhaust_allowed=True))
    stepped = threading.Event()
    threading.Thread(target=lambda: (replset.step_down(), stepped.set()), daemon=True).start()
    # Two streamed replies (step-down, then election), without sending anything more.
    replies, previous = [], request_id
    while len(replies) < 2 or "primary" not in replies[-1]:
        header, message = conn.receive()
        assert message.more_to_come and header.response_to == previous
        previous = header.request_id
        replies.append(message.body)
    assert stepped.wait(5)
    counters = [r["topologyVersion"]["counter"] for r in replies]
    assert counters == sorted(counters) and counters[0] > first["topologyVersion"]["counter"]
    assert replies[-1]["primary"] == replset.primary != first["primary"]
    assert "primary" not in replies[0]  # between step-down and election there is no primary


def test_kill_drops_awaiting_connection(replset, raw_connection) -> None:
    victim = replset.addresses[1]
    conn = raw_connection(victim)
    tv = conn.command({"hello": 1, "$db": "admin"})["topologyVersion"]
    conn.send(wire.encode_op_msg(wire.next_request_id(), _awaitable_hello(tv, 10_000), exhaust_allowed=True))
    replset.kill(victim)
    try:
        conn.receive()
        raise AssertionError("a killed member answered")
    except (ConnectionError, OSError):
        pass


def test_streaming_connection_closed_by_client_is_released(standalone, raw_connection) -> None:
    conn = raw_connection(standalone.addresses[0])
    tv = conn.command({"hello": 1, "$db": "admin"})["topologyVersion"]
    stale = {"processId": tv["processId"], "counter": tv["counter"] - 1}
    conn.send(wire.encode_op_msg(wire.next_request_id(), _awaitable_hello(stale, 60_000), exhaust_allowed=True))
    conn.receive()  # answered at once (stale view); the server now waits up to 60 s for a change
    server = standalone.deployment.members[0].server
    released = threading.Event()
    (victim,) = server.connections  # the only connection so far: the streaming one
    conn.close()

    def watch() -> None:  # round trips on another connection, no sleeping
        other = raw_connection(standalone.addresses[0])
        for _ in range(500):
            other.command({"ping": 1, "$db": "admin"})
            if victim not in server.connections:
                released.set()
                return

    watch()
    assert released.is_set()
