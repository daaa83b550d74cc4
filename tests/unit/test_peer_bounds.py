"""Peer-driven values are typed and bounded where they are parsed: hello fields, SCRAM payloads and counts."""

from __future__ import annotations

import base64

import pytest
from bson import Int64
from bson.binary import Binary

from driver.auth import _payload
from driver.auth.scram import MAX_ITERATIONS, ScramConversation
from driver.errors import AuthenticationFailed, ProtocolError
from driver.hello import MAX_HOSTS, MAX_MESSAGE_SIZE_BYTES, check_hello, server_description_from_hello
from driver.sdam.description import ServerType

ADDR = "db.example:27017"


@pytest.mark.parametrize("field, value, says", [
    ("maxWireVersion", "x", "'maxWireVersion' must be an integer, got str 'x'"),
    ("maxBsonObjectSize", 1.5, "'maxBsonObjectSize' must be an integer"),
    ("setVersion", True, "'setVersion' must be an integer, got bool"),
    ("setName", 7, "'setName' must be a string, got int"),
    ("hosts", 5, "'hosts' must be a list of strings"),
    ("compression", ["zlib", 1], "'compression' must be a list of strings"),
    ("maxMessageSizeBytes", 0, "'maxMessageSizeBytes' must be positive, got 0"),
    ("maxWriteBatchSize", -1, "'maxWriteBatchSize' must be positive, got -1"),
])
def test_wrong_hello_fields_are_a_protocol_error_naming_the_field(field, value, says) -> None:
    reply = {"ok": 1, "isWritablePrimary": True, field: value}
    with pytest.raises(ProtocolError, match="hello reply from db.example:27017") as caught:
        check_hello(ADDR, reply)
    assert says in str(caught.value)
    # A monitor's check turns it into an Unknown server carrying the message, never an exception.
    sd = server_description_from_hello(ADDR, reply, rtt_ms=1.0)
    assert sd.type == ServerType.Unknown and says in sd.error


def test_hello_limits_are_clamped_and_defaulted() -> None:
    limits = check_hello(ADDR, {"ok": 1, "maxMessageSizeBytes": Int64(2**31 - 1), "maxBsonObjectSize": 2**40,
                                "maxWriteBatchSize": 10**9, "maxWireVersion": 21.0})
    assert (limits.max_message_size_bytes, limits.max_bson_object_size, limits.max_write_batch_size) == (
        MAX_MESSAGE_SIZE_BYTES, 16 * 1024 * 1024, 100_000)
    assert limits.max_wire_version == 21
    smaller = check_hello(ADDR, {"ok": 1, "maxMessageSizeBytes": 1_000_000})
    assert smaller.max_message_size_bytes == 1_000_000 and smaller.max_write_batch_size == 100_000


def test_a_hello_listing_too_many_hosts_is_refused() -> None:
    hosts = [f"h{i}:27017" for i in range(MAX_HOSTS - 1)]
    assert check_hello(ADDR, {"ok": 1, "setName": "rs", "hosts": hosts, "arbiters": ["a:1"]})
    with pytest.raises(ProtocolError, match=f"lists {MAX_HOSTS + 1} hosts"):
        check_hello(ADDR, {"ok": 1, "setName": "rs", "hosts": hosts, "passives": ["p:1", "q:1"]})


@pytest.mark.parametrize("payload, says", [
    (Int64(10**10), "payload is a Int64"),
    (10**10, "payload is a int"),
    ({"a": 1}, "payload is a dict"),
    (Binary(b"x" * (64 * 1024 + 1)), "payload is 65537 bytes"),
    ("not base64!", "not valid base64"),
])
def test_sasl_payloads_of_the_wrong_type_or_size_are_refused(payload, says) -> None:
    with pytest.raises(AuthenticationFailed, match=says):
        _payload({"payload": payload})


def test_sasl_payload_accepts_binary_and_base64_text() -> None:
    assert _payload({"payload": Binary(b"r=abc")}) == b"r=abc"
    assert _payload({"payload": base64.b64encode(b"r=abc").decode()}) == b"r=abc"


def test_absurd_scram_iteration_counts_are_refused_before_hashing() -> None:
    conv = ScramConversation("SCRAM-SHA-256", "u", b"pw", nonce="abc")
    conv.client_first()
    salt = base64.b64encode(b"salt").decode()
    with pytest.raises(AuthenticationFailed, match=f"2000000000 iterations; mongocli refuses more than {MAX_ITERATIONS}"):
        conv.process_server_first(f"r=abcdef,s={salt},i=2000000000".encode())
