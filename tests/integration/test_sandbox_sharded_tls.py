"""Sharded (several mongos over one engine) and TLS sandboxes."""

from __future__ import annotations

import pytest

from tests.support.certificates import self_signed


def test_sharded_mongos_share_data(start_sandbox, mongo_client) -> None:
    sb = start_sandbox(topology="sharded", members=2)
    client = mongo_client(sb.uri)
    hello = client.admin.command("hello")
    assert hello["msg"] == "isdbgrid" and "setName" not in hello
    client.db.c.insert_one({"x": 1})
    assert client.topology_description.topology_type_name == "Sharded"
    other = mongo_client(sb.addresses[1], directConnection=True)
    assert other.db.c.find_one({}, {"_id": 0}) == {"x": 1}
    assert other.admin.command("serverStatus")["process"] == "mongos"


def test_sharded_survives_one_mongos_dying(start_sandbox, mongo_client) -> None:
    sb = start_sandbox(topology="sharded", members=2)
    client = mongo_client(sb.uri)
    client.db.c.insert_one({"x": 1})
    sb.kill(sb.addresses[0])
    client.db.c.insert_one({"x": 2})  # retried on the other mongos
    assert client.db.c.count_documents({}) == 2


@pytest.fixture
def certificate(tmp_path):
    return self_signed(tmp_path)


def test_tls(start_sandbox, mongo_client, certificate) -> None:
    cert, key = certificate
    sb = start_sandbox(topology="replset", members=2, tls_cert=cert, tls_key=key)
    assert "tls=true" in sb.uri
    client = mongo_client(sb.uri)  # tlsCAFile from the URI: the self-signed certificate
    client.db.c.insert_one({"x": 1})
    assert client.db.c.count_documents({}) == 1
    plain = mongo_client(sb.addresses[0], directConnection=True, serverSelectionTimeoutMS=300)
    with pytest.raises(Exception):
        plain.admin.command("ping")
