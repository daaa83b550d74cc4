"""A sandbox started as server version X reports X and behaves as X where clients can tell (versions.py)."""

from __future__ import annotations

import subprocess
import sys

import pymongo
import pytest
from click.testing import CliRunner

from driver.client import Client
from driver.errors import OperationFailure
from mongocli.sandbox import Sandbox, SandboxError
from mongocli.sandbox.cli_command import sandbox_command
from mongocli.sandbox.versions import DEFAULT, SUPPORTED, server_version


@pytest.fixture(scope="module")
def sandboxes():
    """One standalone per presentable version, started on first use."""
    started: dict[str, Sandbox] = {}

    def get(version: str) -> Sandbox:
        if version not in started:
            started[version] = Sandbox(server_version=version).start()
        return started[version]

    yield get
    for sandbox in started.values():
        sandbox.stop()


@pytest.mark.parametrize(("version", "wire"), [("8.2", 27), ("8.0", 25), ("7.0", 21), ("6.0", 17), ("4.4", 9)])
def test_hello_and_build_info_report_the_version(sandboxes, version: str, wire: int) -> None:
    """PyMongo sees the release's maxWireVersion in hello and its number in buildInfo and the FCV."""
    full = server_version(version).text
    client = pymongo.MongoClient(sandboxes(full).uri, serverSelectionTimeoutMS=5000)
    try:
        hello = client.admin.command("hello")
        build = client.admin.command("buildInfo")
        fcv = client.admin.command({"getParameter": 1, "featureCompatibilityVersion": 1})
    finally:
        client.close()
    assert hello["maxWireVersion"] == wire
    assert build["version"] == full and build["versionArray"][:3] == [int(p) for p in full.split(".")]
    assert fcv["featureCompatibilityVersion"]["version"] == version
    assert ("topologyVersion" in hello) is (wire >= 9)  # streaming monitoring is 4.4+


def test_default_is_the_newest_supported() -> None:
    assert DEFAULT == SUPPORTED[0] == "8.2.1"
    assert [server_version(v).max_wire_version for v in SUPPORTED] == sorted(
        (server_version(v).max_wire_version for v in SUPPORTED), reverse=True)


def test_old_release_refuses_newer_fields(sandboxes) -> None:
    """7.0 has no sort on update statements and no bulkWrite command; 8.0 has no rawData; 8.2 has all."""
    old = pymongo.MongoClient(sandboxes("7.0.0").uri, serverSelectionTimeoutMS=5000)
    new = pymongo.MongoClient(sandboxes(DEFAULT).uri, serverSelectionTimeoutMS=5000)
    eight = pymongo.MongoClient(sandboxes("8.0.0").uri, serverSelectionTimeoutMS=5000)
    try:
        for client in (old, new):
            client.t.c.drop()
            client.t.c.insert_many([{"_id": 1}, {"_id": 2}])
        update = {"update": "c", "updates": [{"q": {}, "u": {"$set": {"x": 1}}, "sort": {"_id": -1}}]}
        with pytest.raises(pymongo.errors.OperationFailure) as refused:
            old.t.command(update)
        assert refused.value.code == 40415 and "update.updates.sort" in str(refused.value)
        assert new.t.command(update)["nModified"] == 1
        assert new.t.c.find_one({"x": 1})["_id"] == 2  # the sort picked the last _id
        with pytest.raises(pymongo.errors.OperationFailure) as missing:
            old.admin.command({"bulkWrite": 1, "ops": [{"insert": 0, "document": {}}], "nsInfo": [{"ns": "t.c"}]})
        assert missing.value.code == 59
        with pytest.raises(pymongo.errors.OperationFailure) as raw:
            eight.t.command({"find": "c", "rawData": True})
        assert raw.value.code == 40415 and "find.rawData" in str(raw.value)
        assert new.t.command({"find": "c", "rawData": True})["ok"] == 1.0
    finally:
        for client in (old, new, eight):
            client.close()


def test_pre_4_4_comment_and_labels() -> None:
    """4.2 takes no comment on writes and only a string elsewhere, and labels no retryable error
    itself (the driver does, from the wire version)."""
    with Sandbox(topology="replset", members=1, server_version="4.2") as sandbox:
        client = Client(sandbox.uri, serverSelectionTimeoutMS=5000, retryWrites=True)
        try:
            coll = client.get_database("t").get_collection("c")
            with pytest.raises(OperationFailure) as write:
                coll.insert_one({"x": 1}, comment="why")
            assert write.value.code == 40415
            with pytest.raises(OperationFailure) as typed:
                list(coll.find({}, comment={"a": 1}))
            assert typed.value.code == 14
            assert list(coll.find({}, comment="a string")) == []
            client.admin.command({"configureFailPoint": "failCommand", "mode": {"times": 1},
                                  "data": {"failCommands": ["insert"], "errorCode": 91}})
            coll.insert_one({"x": 2})  # ShutdownInProgress: retried once on the driver's own label
            assert coll.count_documents({}) == 1
        finally:
            client.close()


def test_unknown_version_is_refused() -> None:
    with pytest.raises(SandboxError, match="5.0"):
        Sandbox(server_version="5.0")
    result = CliRunner().invoke(sandbox_command, ["--server-version", "9.9", "--port", "0"])
    assert result.exit_code == 2 and "8.2.1" in result.output


def test_cli_presents_the_version() -> None:
    """`mongocli sandbox --server-version 6.0` serves hello with 6.0's wire version."""
    run = "from mongocli.sandbox.cli_command import sandbox_command; sandbox_command()"
    proc = subprocess.Popen([sys.executable, "-c", run, "--server-version", "6.0", "--port", "0", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        uri = proc.stdout.readline().strip()
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
        try:
            assert client.admin.command("hello")["maxWireVersion"] == 17
            assert client.server_info()["version"] == "6.0.0"
        finally:
            client.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_getnonce_is_gone_from_6_2(sandboxes) -> None:
    """MONGODB-CR's getnonce answers on 6.0 and is CommandNotFound on 8.2."""
    old = pymongo.MongoClient(sandboxes("6.0.0").uri, serverSelectionTimeoutMS=5000)
    new = pymongo.MongoClient(sandboxes(DEFAULT).uri, serverSelectionTimeoutMS=5000)
    try:
        assert len(old.admin.command("getnonce")["nonce"]) == 16
        with pytest.raises(pymongo.errors.OperationFailure) as gone:
            new.admin.command("getnonce")
        assert gone.value.code == 59
    finally:
        old.close()
        new.close()
