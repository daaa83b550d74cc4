"""A failed check says whether the server never answered or answered and was rejected (data, not text)."""

from __future__ import annotations

from typing import Any

from driver.errors import AuthenticationFailed, ConnectionFailure
from driver.hello import server_description_from_hello
from driver.sdam.app_errors import Phase
from driver.sdam.description import CheckFailure, ServerType, TopologySettings
from driver.sdam.topology import Topology, rejected_servers, unknown_servers_hint
from driver.sdam.transitions import initial_topology, update_topology

A, B = "a:27017", "b:27017"
GOOD = {"ok": 1, "isWritablePrimary": True, "maxWireVersion": 21, "minWireVersion": 0}


def test_hello_replies_refused_by_the_client_are_rejected_not_unreachable() -> None:
    wrong_types = server_description_from_hello(A, dict(GOOD, maxWireVersion="x"), rtt_ms=1)
    failed = server_description_from_hello(A, {"ok": 0, "errmsg": "no", "code": 8000}, rtt_ms=1)
    no_reply = server_description_from_hello(A, None, rtt_ms=None, error="connection refused")
    assert (wrong_types.type, wrong_types.failure) == (ServerType.Unknown, CheckFailure.REJECTED)
    assert failed.failure is CheckFailure.REJECTED
    assert no_reply.failure is CheckFailure.UNREACHABLE
    assert server_description_from_hello(A, GOOD, rtt_ms=1).failure is None


def _explain(*descriptions: Any) -> str:
    snapshot = initial_topology([A, B], TopologySettings())
    for description in descriptions:
        snapshot = update_topology(snapshot, description)
    topology = Topology([A, B], TopologySettings(), lambda address, _t: None)
    return topology.explain("write", snapshot, 1000)


def test_explain_names_per_server_whether_it_answered() -> None:
    text = _explain(server_description_from_hello(A, dict(GOOD, maxWireVersion="x"), rtt_ms=1),
                    server_description_from_hello(B, None, rtt_ms=None, error="connection refused"))
    line_a, = [line for line in text.splitlines() if line.strip().startswith(A)]
    line_b, = [line for line in text.splitlines() if line.strip().startswith(B)]
    assert "answered but was rejected" in line_a and "maxWireVersion" in line_a
    assert "unreachable: connection refused" in line_b
    assert "no server answered" not in text
    assert f"Hint: {A} answered, but its reply was rejected" in text and "1 other server(s) did not answer" in text


def test_hint_is_no_server_answered_only_when_none_did() -> None:
    snapshot = update_topology(initial_topology([A], TopologySettings()),
                               server_description_from_hello(A, None, rtt_ms=None, error="timed out"))
    assert rejected_servers(snapshot) == []
    assert unknown_servers_hint(snapshot).startswith("no server answered")
    known = update_topology(snapshot, server_description_from_hello(A, GOOD, rtt_ms=1))
    assert unknown_servers_hint(known) is None


class _Server:
    def __init__(self, address: str) -> None:
        self.address, self.pool_generation, self.operation_count = address, 0, 0

    def open(self) -> None: ...
    def close(self) -> None: ...
    def request_check(self) -> None: ...
    def cancel_check(self, *, only_if_streaming: bool = False) -> None: ...
    def clear_pool(self) -> None: ...
    def on_description(self, description: Any) -> None: ...


def test_application_errors_mark_auth_failures_rejected_and_network_errors_unreachable() -> None:
    topology = Topology([A, B], TopologySettings(), lambda address, _t: _Server(address))
    topology.open()
    try:
        for address in (A, B):
            topology.on_server_description(server_description_from_hello(
                address, dict(GOOD, setName="rs0", hosts=[A, B], isWritablePrimary=address == A,
                              secondary=address == B), rtt_ms=1))
        topology.handle_application_error(A, AuthenticationFailed("bad password"), phase=Phase.AUTHENTICATING,
                                          generation=0)
        topology.handle_application_error(B, ConnectionFailure("reset"), phase=Phase.ESTABLISHED, generation=0)
        servers = topology.description.servers
        assert (servers[A].type, servers[A].failure) == (ServerType.Unknown, CheckFailure.REJECTED)
        assert (servers[B].type, servers[B].failure) == (ServerType.Unknown, CheckFailure.UNREACHABLE)
    finally:
        topology.close()
