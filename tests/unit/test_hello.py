"""hello / legacy isMaster replies become ServerDescriptions (driver/hello.py)."""

from __future__ import annotations

import datetime

import pytest
from bson import Int64, ObjectId

from driver.hello import (load_balancer_server, normalize_address, parse_topology_version,
                          server_description_from_hello, server_type_from_hello, unknown_server)
from driver.sdam.description import ServerType, TopologyVersion


@pytest.mark.parametrize("raw, expected", [
    ("A", "a:27017"),
    ("Host.Example.COM:27018", "host.example.com:27018"),
    ("[::1]", "[::1]:27017"),
    ("[::1]:27018", "[::1]:27018"),
    ("::1", "[::1]:27017"),
    ("/tmp/mongodb-27017.sock", "/tmp/mongodb-27017.sock"),
])
def test_normalize_address(raw, expected):
    assert normalize_address(raw) == expected


@pytest.mark.parametrize("reply, expected", [
    ({"ok": 1, "isWritablePrimary": True, "msg": "isdbgrid"}, ServerType.Mongos),
    ({"ok": 1, "isWritablePrimary": True, "setName": "rs"}, ServerType.RSPrimary),
    ({"ok": 1, "ismaster": True, "setName": "rs"}, ServerType.RSPrimary),          # legacy isMaster
    ({"ok": 1, "secondary": True, "setName": "rs"}, ServerType.RSSecondary),
    ({"ok": 1, "arbiterOnly": True, "setName": "rs"}, ServerType.RSArbiter),
    ({"ok": 1, "secondary": True, "hidden": True, "setName": "rs"}, ServerType.RSOther),
    ({"ok": 1, "setName": "rs"}, ServerType.RSOther),
    ({"ok": 1, "isreplicaset": True}, ServerType.RSGhost),
    ({"ok": 1, "isWritablePrimary": True}, ServerType.Standalone),
    ({"ok": 1, "ismaster": False}, ServerType.Standalone),
])
def test_server_type(reply, expected):
    assert server_type_from_hello(reply) is expected
    assert server_description_from_hello("a", reply, rtt_ms=1.0).type is expected


def test_full_reply_is_parsed_and_lower_cased():
    pid, eid, sid = ObjectId(), ObjectId(), ObjectId()
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    reply = {
        "ok": 1.0, "helloOk": True, "isWritablePrimary": True, "setName": "rs", "setVersion": 3,
        "electionId": eid, "primary": "A:27017", "me": "A:27017",
        "hosts": ["A:27017", "B:27017"], "passives": ["C:27017"], "arbiters": ["D:27017"],
        "tags": {"dc": "east"}, "lastWrite": {"lastWriteDate": when, "opTime": {"ts": 1, "t": Int64(2)}},
        "minWireVersion": 0, "maxWireVersion": 21, "logicalSessionTimeoutMinutes": 30,
        "topologyVersion": {"processId": pid, "counter": Int64(7)}, "serviceId": sid,
        "maxBsonObjectSize": 1000, "maxMessageSizeBytes": 2000, "maxWriteBatchSize": 30,
        "compression": ["zstd", "zlib"],
    }
    sd = server_description_from_hello("A:27017", reply, rtt_ms=12.5, now_ms=99.0)
    assert sd.address == "a:27017"
    assert sd.type is ServerType.RSPrimary
    assert (sd.set_name, sd.set_version, sd.election_id) == ("rs", 3, eid)
    assert (sd.primary, sd.me) == ("a:27017", "a:27017")
    assert sd.hosts == ("a:27017", "b:27017")
    assert sd.passives == ("c:27017",) and sd.arbiters == ("d:27017",)
    assert sd.all_hosts == ("a:27017", "b:27017", "c:27017", "d:27017")
    assert sd.tags == {"dc": "east"}
    assert sd.last_write_date_ms == when.timestamp() * 1000
    assert sd.op_time == {"ts": 1, "t": 2}
    assert (sd.min_wire_version, sd.max_wire_version) == (0, 21)
    assert sd.logical_session_timeout_minutes == 30
    assert sd.topology_version == TopologyVersion(pid, 7)
    assert sd.hello_ok and sd.service_id == sid
    assert (sd.max_bson_object_size, sd.max_message_size_bytes, sd.max_write_batch_size) == (1000, 2000, 30)
    assert sd.compression == ("zstd", "zlib")
    assert sd.round_trip_time_ms == 12.5 and sd.last_update_time_ms == 99.0
    assert sd.raw_reply is reply
    assert sd.error is None


def test_missing_fields_take_spec_defaults():
    sd = server_description_from_hello("a", {"ok": 1, "isWritablePrimary": True}, rtt_ms=1.0)
    assert (sd.min_wire_version, sd.max_wire_version) == (0, 0)
    assert sd.hosts == () and sd.tags == {} and sd.set_name is None and sd.me is None
    assert sd.topology_version is None and sd.logical_session_timeout_minutes is None
    assert sd.max_bson_object_size == 16 * 1024 * 1024 and sd.max_write_batch_size == 100_000
    assert not sd.hello_ok


def test_ok_zero_reply_is_unknown_with_the_server_message():
    sd = server_description_from_hello("a", {"ok": 0, "errmsg": "not authorized", "code": 13}, rtt_ms=3.0)
    assert sd.type is ServerType.Unknown
    assert "not authorized" in sd.error and "13" in sd.error and "a:27017" in sd.error


def test_failed_check_is_unknown_with_error():
    sd = server_description_from_hello("a:1", None, rtt_ms=None, error="connection refused")
    assert sd.type is ServerType.Unknown and sd.error == "connection refused"
    assert server_description_from_hello("a:1", None, rtt_ms=None).error  # never a silent failure


def test_unknown_and_load_balancer_helpers():
    u = unknown_server("B", "gone")
    assert (u.address, u.type, u.error) == ("b:27017", ServerType.Unknown, "gone")
    lb = load_balancer_server("LB:1")
    assert (lb.address, lb.type) == ("lb:1", ServerType.LoadBalancer)


def test_malformed_topology_version_is_ignored():
    assert parse_topology_version({"processId": "nope", "counter": 1}) is None
    assert parse_topology_version(None) is None
    pid = ObjectId()
    assert parse_topology_version({"processId": pid, "counter": 2}) == TopologyVersion(pid, 2)
