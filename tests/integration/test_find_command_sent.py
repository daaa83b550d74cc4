"""The lean find path (issue 12) sends exactly the commands it sent before: command monitoring shows them."""

from __future__ import annotations

import pytest

from driver.errors import ConfigurationError
from tests.integration.client_support import make_client  # noqa: F401 (fixture)


def _sent(recorder, name: str = "find") -> dict:
    command = dict(recorder.started(name)[-1].command)
    lsid = command.pop("lsid")
    assert set(lsid) == {"id"} and lsid["id"].subtype == 4  # an implicit session's lsid on each
    return command


def test_find_one_by_id_sends_limit_one_single_batch(standalone, make_client) -> None:
    client, recorder = make_client(standalone.uri)
    coll = client["db"]["c"]
    coll.insert_many([{"_id": i, "v": i * 10} for i in range(5)])
    assert coll.find_one({"_id": 3}) == {"_id": 3, "v": 30}
    command = _sent(recorder)
    assert list(command) == ["find", "filter", "limit", "singleBatch", "$db"]  # the same fields, in order
    assert command == {"find": "c", "filter": {"_id": 3}, "limit": 1, "singleBatch": True, "$db": "db"}
    assert coll.find_one(4) == {"_id": 4, "v": 40}  # a bare value means {_id: value}
    assert _sent(recorder)["filter"] == {"_id": 4}
    assert coll.find_one({"_id": 99}) is None
    assert len(recorder.started("killCursors")) == 0  # singleBatch: the server closed the cursor


def test_find_options_keep_their_fields_and_order(standalone, make_client) -> None:
    client, recorder = make_client(standalone.uri)
    coll = client["db"]["c"]
    coll.insert_many([{"_id": i, "v": i} for i in range(5)])
    docs = coll.find({"v": {"$gte": 1}}, {"v": 1}, sort=[("v", -1)], skip=1, limit=2, batch_size=2,
                     comment="why", max_time_ms=500, allow_disk_use=True).to_list()
    assert docs == [{"_id": 3, "v": 3}, {"_id": 2, "v": 2}]
    command = _sent(recorder)
    assert list(command) == ["find", "filter", "sort", "projection", "skip", "limit", "batchSize", "comment",
                             "maxTimeMS", "allowDiskUse", "$db"]
    assert command["batchSize"] == 3  # batchSize equal to limit goes as limit + 1 (CRUD spec)
    assert command["sort"] == {"v": -1} and command["projection"] == {"v": 1} and command["skip"] == 1


def test_find_checks_options_it_is_given(standalone, make_client) -> None:
    client, _ = make_client(standalone.uri)
    coll = client["db"]["c"]
    with pytest.raises(ConfigurationError, match="skip must be >= 0"):
        coll.find({}, skip=-1).to_list()
    with pytest.raises(ConfigurationError, match="unknown find option.*no_such_option"):
        coll.find({}, no_such_option=1).to_list()
    with pytest.raises(ConfigurationError, match="filter must be a document"):
        coll.find([("a", 1)]).to_list()


def test_a_cursor_left_open_by_find_one_is_killed_in_the_finds_session(standalone, make_client, monkeypatch) -> None:
    """A server that ignores singleBatch (here the sandbox's find, told to answer one document of an open
    cursor): find_one kills that cursor at once, on the same server and with the find's lsid (sessions
    spec: a cursor's commands use the session that opened it), and the server's cursor is gone."""
    from mongocli.sandbox import engine_cursors

    client, recorder = make_client(standalone.uri)
    coll = client["db"]["c"]
    coll.insert_many([{"_id": i} for i in range(3)])
    real_find = engine_cursors.run_find

    def ignoring_single_batch(catalog, cursors, db, cmd, max_bson_size):
        cmd = {k: v for k, v in cmd.items() if k not in ("singleBatch", "limit")}
        return real_find(catalog, cursors, db, {**cmd, "batchSize": 1}, max_bson_size)

    monkeypatch.setattr(engine_cursors, "run_find", ignoring_single_batch)
    with client.start_session() as session:  # explicit: another implicit session would have another lsid
        for given in (None, session):
            assert coll.find_one({}, sort=[("_id", 1)], session=given) == {"_id": 0}
            find, kill = recorder.started("find")[-1], recorder.started("killCursors")[-1]
            cursor_id = recorder.succeeded("find")[-1].reply["cursor"]["id"]
            assert cursor_id != 0  # the sandbox really left it open
            assert kill.command["killCursors"] == "c" and kill.command["cursors"] == [cursor_id]
            assert kill.command["lsid"] == find.command["lsid"] and kill.connection_id == find.connection_id
            assert recorder.succeeded("killCursors")[-1].reply["cursorsKilled"] == [cursor_id]
        assert find.command["lsid"] == session.session_id
    assert len(recorder.started("killCursors")) == 2
