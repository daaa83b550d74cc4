"""Client.append_metadata against the sandbox: the next new connection's handshake carries it, open ones stay."""

from __future__ import annotations

from driver.events.pool import ConnectionCreated
from tests.integration.client_support import make_client  # noqa: F401  (fixture)


def _own_metadata(client):
    (me,) = [op for op in client.admin.run_command({"currentOp": 1})["inprog"] if op["command"].get("currentOp")]
    return me["clientMetadata"]


def test_new_connections_send_the_appended_info_open_ones_are_kept(standalone, make_client) -> None:
    client, recorder = make_client(standalone.uri, appname="tool")
    client.append_metadata("framework", "2.0", "Framework Platform")  # before any pooled connection exists
    metadata = _own_metadata(client)
    assert metadata["driver"]["name"].endswith("|framework") and metadata["driver"]["version"].endswith("|2.0")
    assert metadata["platform"].endswith("|Framework Platform") and metadata["application"] == {"name": "tool"}
    created = len(recorder.of(ConnectionCreated))
    assert created >= 1
    client.append_metadata("plugin", None, None)
    assert _own_metadata(client) == metadata  # the same pooled connection: no new handshake
    assert len(recorder.of(ConnectionCreated)) == created
