"""new Mongo(uri) and connect(uri) in the shell: other deployments beside the shell's own, as in mongosh."""

from __future__ import annotations

import io
import socket
from typing import Iterator

import pytest

from driver import Client
from mongocli.sandbox import Sandbox
from mongocli.shell.app import Shell


@pytest.fixture(scope="module")
def first() -> Iterator[Sandbox]:
    with Sandbox(topology="standalone", host="127.0.0.1", port=0) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def second() -> Iterator[Sandbox]:
    with Sandbox(topology="replset", members=1, host="127.0.0.1", port=0) as sandbox:
        yield sandbox


@pytest.fixture
def shell(first: Sandbox) -> Iterator[tuple[Shell, io.StringIO, io.StringIO]]:
    client = Client(first.uri, serverSelectionTimeoutMS=5000)
    out, err = io.StringIO(), io.StringIO()
    sh = Shell(client, first.uri, out, err, db_name="conn_first")
    try:
        yield sh, out, err
    finally:
        sh.close()
        client.close()


def _documents(uri: str, db: str, coll: str) -> list[dict]:
    with Client(uri, serverSelectionTimeoutMS=5000) as client:
        return list(client.get_database(db).get_collection(coll).find({}, projection={"_id": 0}))


def test_new_mongo_reaches_another_deployment(shell, first: Sandbox, second: Sandbox) -> None:
    sh, out, err = shell
    assert sh.execute(f"const m = new Mongo({second.uri!r}); const other = m.getDB('conn_second');"
                      "other.c.drop(); other.c.insertOne({where: 'second'}); db.c.drop(); db.c.insertOne({where: 'first'})")
    assert sh.execute("m") and out.getvalue().splitlines()[-1] == second.uri  # mongosh shows its URI
    assert sh.execute("[other.getName(), other.getMongo() === m, m.getURI() === db.getMongo().getURI(),"
                      " other.c.countDocuments({}), m.getDBNames().includes('conn_second')]")
    assert err.getvalue() == ""
    assert out.getvalue().splitlines()[-1] == "[ 'conn_second', true, false, 1, true ]"
    assert _documents(second.uri, "conn_second", "c") == [{"where": "second"}]
    assert _documents(first.uri, "conn_first", "c") == [{"where": "first"}]
    assert _documents(first.uri, "conn_second", "c") == []


def test_sessions_cursors_and_change_streams_follow_their_connection(shell, second: Sandbox) -> None:
    sh, out, err = shell
    assert sh.execute(f"const m = new Mongo({second.uri!r}); const d = m.getDB('conn_streams'); d.s.drop();"
                      "const w = d.s.watch(); d.s.insertMany([{n: 1}, {n: 2}]);"
                      "const s = m.startSession(); s.withTransaction(() => s.getDatabase('conn_streams').s.insertOne({n: 3}));")
    assert sh.execute("let change = null; while (change === null) change = w.tryNext(); change.fullDocument.n")
    assert sh.execute("d.s.find({}, {_id: 0}).sort({n: 1}).toArray()")
    assert sh.execute("d.aggregate([{$documents: [{a: 1}]}]).toArray()")
    assert err.getvalue() == "", err.getvalue()
    assert out.getvalue().splitlines()[-3:] == ["1", "[ { n: 1 }, { n: 2 }, { n: 3 } ]", "[ { a: 1 } ]"]


def test_connect_returns_the_uris_database_and_db_can_switch_to_it(shell, second: Sandbox) -> None:
    sh, out, err = shell
    address = second.addresses[0]
    assert sh.execute(f"const other = connect('{address}/conn_switched?directConnection=true'); other.getName()")
    assert sh.execute(f"db = connect('mongodb://{address}/conn_switched?directConnection=true'); db.t.drop();"
                      "db.t.insertOne({switched: true}); db.getName()")
    assert sh.db_name == "conn_switched"
    assert err.getvalue() == ""
    assert out.getvalue().splitlines()[-2:] == ["conn_switched", "conn_switched"]
    assert _documents(second.uri, "conn_switched", "t") == [{"switched": True}]


def test_closed_and_unreachable_connections_are_errors_the_shell_survives(shell, second: Sandbox) -> None:
    sh, out, err = shell
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    assert sh.execute(f"const m = new Mongo({second.uri!r}); const d = m.getDB('x'); m.close(); d.c.findOne()")
    assert "MongoNotConnectedError: Client must be connected before running operations" in err.getvalue()
    assert sh.execute(f"new Mongo('mongodb://127.0.0.1:{closed_port}/')")
    assert "MongoServerSelectionError" in err.getvalue() and f"127.0.0.1:{closed_port}" in err.getvalue()
    assert sh.execute("connect()")
    assert "connect: a connection string is required" in err.getvalue()
    assert sh.execute("db.getName()") and out.getvalue().splitlines()[-1] == "conn_first"


def test_tab_completion_offers_the_methods_of_a_variable_holding_a_shell_object(shell, second: Sandbox) -> None:
    from mongocli.shell.completion import complete
    sh, out, err = shell
    assert sh.execute(f"const m = new Mongo({second.uri!r}); const w = m.getDB('conn_tab').c.watch();"
                      "const cur = db.c.find(); const s = m.startSession(); const plain = {field: 1}")
    assert err.getvalue() == ""
    sh.refresh_completion()
    names = sh.completion_names()

    def offered(text: str) -> list[str]:
        return [s.text for s in complete(text, names)]

    assert offered("w.tryN") == ["tryNext"] and "getResumeToken" in offered("w.")
    assert "isClosed" not in offered("cur.") and "toArray" in offered("cur.")
    assert "withTransaction" in offered("s.") and "getDB" in offered("m.")
    assert offered("plain.") == ["field"]
