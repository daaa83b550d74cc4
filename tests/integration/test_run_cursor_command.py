"""Database.run_cursor_command (run-command spec, runCursorCommand) against the sandbox."""

from __future__ import annotations

import pytest

from driver.errors import ConfigurationError, OperationFailure, ProtocolError
from tests.integration.client_support import make_client  # noqa: F401  (fixture)


def test_getmore_options_are_the_cursors_and_the_session_is_kept(standalone, make_client) -> None:
    client, recorder = make_client(standalone.uri)
    client.db.items.insert_many([{"_id": i} for i in range(7)])
    recorder.clear()
    cursor = client.db.run_cursor_command({"find": "items", "batchSize": 2, "sort": {"_id": 1}},
                                          batch_size=4, max_time_ms=900, comment="more")
    first = [e for e in recorder.started() if e.command_name == "find"][-1]  # sent before iteration
    assert first.command["batchSize"] == 2 and "comment" not in first.command
    assert [d["_id"] for d in cursor] == list(range(7))
    get_mores = recorder.started("getMore")
    assert len(get_mores) == 2  # 2 + 4 + 1 documents
    for event in get_mores:
        assert event.command["collection"] == "items" and event.command["batchSize"] == 4
        assert event.command["maxTimeMS"] == 900 and event.command["comment"] == "more"
        assert event.command["lsid"] == first.command["lsid"]
    assert not cursor.alive


def test_a_reply_without_a_cursor_is_a_client_error(standalone, make_client) -> None:
    client, _ = make_client(standalone.uri)
    with pytest.raises(ProtocolError, match="cursor"):
        client.db.run_cursor_command({"ping": 1})
    with pytest.raises(ConfigurationError, match="cursor_type"):
        client.db.run_cursor_command({"find": "items"}, cursor_type="forever")


def test_close_kills_the_server_cursor(standalone, make_client) -> None:
    client, recorder = make_client(standalone.uri)
    client.db.many.insert_many([{"_id": i} for i in range(5)])
    cursor = client.db.run_cursor_command({"find": "many", "batchSize": 1})
    assert next(cursor) == {"_id": 0}
    cursor.close()
    killed = recorder.started("killCursors")
    assert len(killed) == 1 and killed[0].command["killCursors"] == "many"


def test_check_metadata_consistency_is_a_mongos_cursor_command(start_sandbox, standalone, make_client) -> None:
    sharded = start_sandbox(topology="sharded")
    client, _ = make_client(sharded.uri)
    cursor = client.db.run_cursor_command({"checkMetadataConsistency": 1})
    assert list(cursor) == [] and cursor.cursor_id == 0  # one catalog: nothing inconsistent
    plain, _ = make_client(standalone.uri)
    with pytest.raises(OperationFailure) as caught:
        plain.db.run_cursor_command({"checkMetadataConsistency": 1})
    assert caught.value.code == 59  # a mongod does not have it
