"""Wire codec: round-trips per opcode, OP_MSG sections and flags, checksum, compression, faults."""

from __future__ import annotations

import struct
import threading
import zlib

import bson
import pytest
from bson.son import SON

from driver import compression
from driver.compression import negotiate
from driver.errors import ConfigurationError, ProtocolError
from driver.wire.encode import EncodedDocuments
from driver.wire import (
    CHECKSUM_PRESENT,
    DEFAULT_MAX_MESSAGE_SIZE,
    EXHAUST_ALLOWED,
    HEADER_SIZE,
    MORE_TO_COME,
    OP_COMPRESSED,
    OP_MSG,
    OP_QUERY,
    OP_REPLY,
    MessageHeader,
    OpMsg,
    OpQuery,
    OpReply,
    compress_message,
    crc32c,
    encode_op_msg,
    encode_op_query,
    encode_op_reply,
    next_request_id,
    parse_body,
    parse_header,
    read_message,
)
from driver.wire import messages


def parse(message: bytes, **kwargs):
    header = parse_header(message)
    return header, parse_body(header, message[HEADER_SIZE:], **kwargs)


def frame(payload: bytes, op_code: int = OP_MSG, request_id: int = 7, response_to: int = 0) -> bytes:
    return struct.pack("<iiii", HEADER_SIZE + len(payload), request_id, response_to, op_code) + payload


def kind0(doc) -> bytes:
    return b"\x00" + bson.encode(doc)


def kind1(identifier: str, docs) -> bytes:
    name = identifier.encode() + b"\x00"
    encoded = b"".join(bson.encode(d) for d in docs)
    return b"\x01" + struct.pack("<i", 4 + len(name) + len(encoded)) + name + encoded


def reader(data: bytes):
    """A recv_exactly over a buffer that raises EOFError once exhausted."""
    state = {"pos": 0}

    def recv_exactly(n: int) -> bytes:
        start = state["pos"]
        if start + n > len(data):
            raise EOFError(f"wanted {n} bytes, {len(data) - start} left")
        state["pos"] = start + n
        return data[start : start + n]

    return recv_exactly


# --- constants and request ids ------------------------------------------------------------------


def test_constants_match_the_wire_protocol() -> None:
    assert (OP_REPLY, OP_QUERY, OP_COMPRESSED, OP_MSG) == (1, 2004, 2012, 2013)
    assert (HEADER_SIZE, DEFAULT_MAX_MESSAGE_SIZE) == (16, 48_000_000)
    assert (CHECKSUM_PRESENT, MORE_TO_COME, EXHAUST_ALLOWED) == (1, 2, 65536)


def test_request_ids_are_unique_and_positive_across_threads() -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        mine = [next_request_id() for _ in range(2000)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == len(seen) == 8000
    assert all(0 < i < 2**31 for i in seen)


def test_request_id_wraps_within_int32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(messages, "_last_id", 2**31 - 2)
    assert next_request_id() == 2**31 - 1
    assert next_request_id() == 1


# --- OP_MSG ---------------------------------------------------------------------------------------


def test_op_msg_round_trip_body_only() -> None:
    raw = encode_op_msg(42, {"ping": 1, "$db": "admin"}, response_to=9)
    header, msg = parse(raw)
    assert header == MessageHeader(len(raw), 42, 9, OP_MSG)
    assert msg == OpMsg(0, {"ping": 1, "$db": "admin"}, {})
    assert not (msg.more_to_come or msg.exhaust_allowed or msg.checksum_present)


def test_op_msg_document_sequences_and_command_shape() -> None:
    docs = [{"_id": i, "x": "y" * i} for i in range(5)]
    raw = encode_op_msg(
        1, {"update": "c", "$db": "d"}, {"documents": docs, "updates": [{"q": {}, "u": {"$set": {"a": 1}}}]}
    )
    _, msg = parse(raw)
    assert msg.sequences == {"documents": docs, "updates": [{"q": {}, "u": {"$set": {"a": 1}}}]}
    command = msg.command()
    assert list(command) == ["update", "$db", "documents", "updates"]
    assert command["documents"] == docs
    assert msg.body == {"update": "c", "$db": "d"}  # command() does not mutate the body


def test_op_msg_empty_sequence_round_trips() -> None:
    _, msg = parse(encode_op_msg(1, {"insert": "c"}, {"documents": []}))
    assert msg.sequences == {"documents": []}


def test_op_msg_wire_layout_matches_spec() -> None:
    body = {"insert": "c"}
    doc = {"a": 1}
    raw = encode_op_msg(3, body, {"documents": [doc]}, more_to_come=True)
    expected_payload = struct.pack("<I", MORE_TO_COME) + kind0(body) + kind1("documents", [doc])
    assert raw == frame(expected_payload, request_id=3)


@pytest.mark.parametrize(
    "kwargs, flags",
    [
        ({"more_to_come": True}, MORE_TO_COME),
        ({"exhaust_allowed": True}, EXHAUST_ALLOWED),
        ({"checksum": True}, CHECKSUM_PRESENT),
        ({"more_to_come": True, "exhaust_allowed": True, "checksum": True}, 0x10003),
    ],
)
def test_op_msg_flags_round_trip(kwargs, flags) -> None:
    _, msg = parse(encode_op_msg(1, {"hello": 1}, **kwargs))
    assert msg.flags == flags
    assert msg.more_to_come == bool(flags & MORE_TO_COME)
    assert msg.exhaust_allowed == bool(flags & EXHAUST_ALLOWED)
    assert msg.checksum_present == bool(flags & CHECKSUM_PRESENT)


def test_op_msg_accepts_pre_encoded_body_and_documents() -> None:
    body = bson.encode({"find": "c"})
    _, msg = parse(encode_op_msg(1, body, {"documents": [bson.encode({"a": 1})]}))
    assert msg.body == {"find": "c"} and msg.sequences["documents"] == [{"a": 1}]


def test_sequences_mix_mappings_and_encoded_documents() -> None:
    documents = iter([SON([("b", 1), ("a", 2)]), bson.encode({"c": 3}), {"d": 4}])
    _, msg = parse(encode_op_msg(1, {"insert": "c"}, {"documents": documents}))
    assert msg.sequences["documents"] == [{"b": 1, "a": 2}, {"c": 3}, {"d": 4}]
    with pytest.raises(ConfigurationError, match="document sequence 'documents' item 1"):
        encode_op_msg(1, {"insert": "c"}, {"documents": [{}, 42]})


def test_op_msg_rejects_malformed_pre_encoded_body() -> None:
    with pytest.raises(ConfigurationError, match="pre-encoded BSON"):
        encode_op_msg(1, bson.encode({"a": 1})[:-1])


def test_op_msg_rejects_nul_in_sequence_identifier() -> None:
    with pytest.raises(ConfigurationError, match="NUL"):
        encode_op_msg(1, {"a": 1}, {"bad\x00name": [{}]})


@pytest.mark.parametrize("request_id, response_to, field", [(2**31, 0, "requestID"), (1, -(2**31) - 1, "responseTo")])
def test_op_msg_header_ids_must_fit_int32(request_id, response_to, field) -> None:
    with pytest.raises(ConfigurationError, match=f"{field} {request_id if field == 'requestID' else response_to} does not fit"):
        encode_op_msg(request_id, {"a": 1}, response_to=response_to)
    assert parse(encode_op_msg(2**31 - 1, {"a": 1}, response_to=-(2**31)))[0][1:3] == (2**31 - 1, -(2**31))


def test_sequence_identifier_or_body_mapping_checks_hold_for_pre_encoded_sequences() -> None:
    encoded = EncodedDocuments([bson.encode({"x": 1})])
    with pytest.raises(ConfigurationError, match="'documents' is also a field"):
        encode_op_msg(1, SON([("insert", "c"), ("documents", [])]), {"documents": encoded})
    with pytest.raises(ConfigurationError, match="NUL"):
        encode_op_msg(1, {"a": 1}, {"bad\x00name": encoded})
    with pytest.raises(ConfigurationError, match="must be a sequence of documents"):
        encode_op_msg(1, {"a": 1}, {"documents": {"x": 1}})


def test_codec_options_choose_document_class() -> None:
    options = bson.CodecOptions(document_class=SON)
    _, msg = parse(encode_op_msg(1, {"b": 1, "a": 2}, {"documents": [{"z": 1}]}), codec_options=options)
    assert isinstance(msg.body, SON) and list(msg.body) == ["b", "a"]
    assert isinstance(msg.sequences["documents"][0], SON)


# --- checksum -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, expected",
    [
        # RFC 3720 appendix B.4 test vectors and the common "123456789" check value.
        (b"123456789", 0xE3069283),
        (bytes(32), 0x8A9136AA),
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (bytes(range(31, -1, -1)), 0x113FDB5C),
        (b"", 0),
    ],
)
def test_crc32c_known_vectors(data: bytes, expected: int) -> None:
    assert crc32c(data) == expected


def test_crc32c_wide_path_matches_bytewise_and_chains() -> None:
    data = bytes((i * 7919 + 13) % 256 for i in range(5003))
    bytewise = 0
    for i in range(0, len(data), 100):  # chunks under the wide-path threshold
        bytewise = crc32c(data[i : i + 100], bytewise)
    assert crc32c(data) == bytewise
    assert crc32c(data[3001:], crc32c(data[:3001])) == crc32c(data)


def test_checksum_is_crc32c_of_everything_before_it() -> None:
    raw = encode_op_msg(5, {"ping": 1}, checksum=True)
    assert struct.unpack("<I", raw[-4:])[0] == crc32c(raw[:-4])
    assert struct.unpack_from("<i", raw)[0] == len(raw)


def test_checksum_mismatch_is_rejected() -> None:
    raw = bytearray(encode_op_msg(5, {"ping": 1}, {"documents": [{"a": 1}]}, checksum=True))
    raw[30] ^= 0x01
    with pytest.raises(ProtocolError, match="checksum mismatch"):
        parse(bytes(raw))


def test_checksum_covers_the_header() -> None:
    raw = bytearray(encode_op_msg(5, {"ping": 1}, checksum=True))
    raw[4] ^= 0x01  # requestID
    with pytest.raises(ProtocolError, match="checksum"):
        parse(bytes(raw))


# --- OP_QUERY / OP_REPLY ----------------------------------------------------------------------------


def test_op_query_round_trip() -> None:
    raw = encode_op_query(11, "admin.$cmd", {"isMaster": 1}, flags=4, skip=2, n_return=-1, fields={"x": 1})
    header, msg = parse(raw)
    assert header == MessageHeader(len(raw), 11, 0, OP_QUERY)
    assert msg == OpQuery(4, "admin.$cmd", 2, -1, {"isMaster": 1}, {"x": 1})


def test_op_query_without_fields() -> None:
    _, msg = parse(encode_op_query(1, "db.$cmd", {"hello": 1}))
    assert msg.return_fields is None and msg.number_to_return == -1


def test_op_reply_round_trip() -> None:
    docs = [{"ok": 1.0, "n": i} for i in range(3)]
    raw = encode_op_reply(12, 11, docs, flags=8, cursor_id=2**40, starting_from=5)
    header, msg = parse(raw)
    assert header == MessageHeader(len(raw), 12, 11, OP_REPLY)
    assert msg == OpReply(8, 2**40, 5, docs)


def test_op_reply_with_no_documents() -> None:
    _, msg = parse(encode_op_reply(1, 2, []))
    assert msg.documents == []


# --- compression ----------------------------------------------------------------------------------


@pytest.mark.parametrize("compressor", ["noop", "zlib"])
@pytest.mark.parametrize(
    "message",
    [
        encode_op_msg(21, {"insert": "c"}, {"documents": [{"a": "x" * 200}] * 10}, response_to=4, checksum=True),
        encode_op_query(22, "admin.$cmd", {"isMaster": 1}),
        encode_op_reply(23, 22, [{"ok": 1}]),
    ],
    ids=["op_msg", "op_query", "op_reply"],
)
def test_compression_round_trip(compressor: str, message: bytes) -> None:
    packed = compress_message(message, compressor)
    outer = parse_header(packed)
    inner = parse_header(message)
    assert (outer.op_code, outer.request_id, outer.response_to) == (OP_COMPRESSED, inner.request_id, inner.response_to)
    original_opcode, size, compressor_id = struct.unpack_from("<iiB", packed, HEADER_SIZE)
    assert (original_opcode, size) == (inner.op_code, len(message) - HEADER_SIZE)
    assert compressor_id == compression.COMPRESSORS[compressor].compressor_id
    _, decoded = parse(packed)
    assert decoded == parse(message)[1]
    assert decoded.compressor == compressor


def test_zlib_actually_compresses_and_honours_level() -> None:
    message = encode_op_msg(1, {"insert": "c"}, {"documents": [{"a": "x" * 1000}] * 20})
    assert len(compress_message(message, "zlib", 9)) < len(message) // 10
    assert len(compress_message(message, "zlib", 0)) > len(message)  # stored blocks
    with pytest.raises(ConfigurationError, match="between -1 and 9"):
        compress_message(message, "zlib", 10)


@pytest.mark.parametrize("name", ["snappy", "zstd"])
def test_unavailable_compressors_raise_configuration_error(name: str) -> None:
    with pytest.raises(ConfigurationError, match="not available"):
        compress_message(encode_op_msg(1, {"ping": 1}), name)


def test_unknown_compressor_name() -> None:
    with pytest.raises(ConfigurationError, match="unknown compressor 'lz4'"):
        compress_message(encode_op_msg(1, {"ping": 1}), "lz4")


def test_compressing_a_compressed_message_is_refused() -> None:
    once = compress_message(encode_op_msg(1, {"ping": 1}), "noop")
    with pytest.raises(ProtocolError, match="again"):
        compress_message(once, "zlib")


def compressed(original_opcode: int, size: int, compressor_id: int, data: bytes) -> bytes:
    return frame(struct.pack("<iiB", original_opcode, size, compressor_id) + data, op_code=OP_COMPRESSED)


def test_nested_op_compressed_is_rejected() -> None:
    inner = compress_message(encode_op_msg(1, {"ping": 1}), "noop")[HEADER_SIZE:]
    with pytest.raises(ProtocolError, match="wraps another OP_COMPRESSED"):
        parse(compressed(OP_COMPRESSED, len(inner), 0, inner))


def test_uncompressed_size_mismatch_is_rejected() -> None:
    body = encode_op_msg(1, {"ping": 1})[HEADER_SIZE:]
    with pytest.raises(ProtocolError, match="uncompressedSize"):
        parse(compressed(OP_MSG, len(body) + 3, 2, zlib.compress(body)))
    with pytest.raises(ProtocolError, match="uncompressedSize"):
        parse(compressed(OP_MSG, len(body) - 3, 0, body))


def test_unknown_and_unavailable_compressor_ids_are_rejected() -> None:
    body = encode_op_msg(1, {"ping": 1})[HEADER_SIZE:]
    with pytest.raises(ProtocolError, match="compressorId 9"):
        parse(compressed(OP_MSG, len(body), 9, body))
    with pytest.raises(ProtocolError, match="snappy.*not available"):
        parse(compressed(OP_MSG, len(body), 1, body))


def test_corrupt_or_trailing_zlib_data_is_rejected() -> None:
    body = encode_op_msg(1, {"ping": 1})[HEADER_SIZE:]
    with pytest.raises(ProtocolError, match="zlib"):
        parse(compressed(OP_MSG, len(body), 2, b"not zlib at all"))
    with pytest.raises(ProtocolError, match="truncated"):
        parse(compressed(OP_MSG, len(body), 2, zlib.compress(body)[:-6]))
    with pytest.raises(ProtocolError, match="after its end"):
        parse(compressed(OP_MSG, len(body), 2, zlib.compress(body) + b"junk"))


def test_uncompressed_size_is_bounded_by_max_message_size() -> None:
    body = encode_op_msg(1, {"x": "y" * 5000})[HEADER_SIZE:]
    raw = compressed(OP_MSG, len(body), 2, zlib.compress(body))
    header = parse_header(raw)
    with pytest.raises(ProtocolError, match="exceeds the maximum message size 1000"):
        parse_body(header, raw[HEADER_SIZE:], max_message_size=1000)


def test_unknown_original_opcode_is_rejected() -> None:
    body = encode_op_msg(1, {"ping": 1})[HEADER_SIZE:]
    with pytest.raises(ProtocolError, match="originalOpcode 2010"):
        parse(compressed(2010, len(body), 0, body))


@pytest.mark.parametrize(
    "client, server, chosen",
    [
        (["zlib"], ["zlib"], "zlib"),
        (["snappy", "zlib"], ["zlib", "snappy"], "zlib"),  # snappy unavailable here: skipped
        (["zstd", "zlib", "noop"], ["noop", "zlib"], "zlib"),  # the client's order decides
        (["noop", "zlib"], ["zlib", "noop"], "noop"),
        (["zlib"], [], None),
        (["zlib"], None, None),
        ([], ["zlib"], None),
        (["lz4"], ["lz4"], None),
    ],
)
def test_negotiate_uses_first_client_compressor_the_server_has(client, server, chosen) -> None:
    assert negotiate(client, server) == chosen


def test_handshake_and_auth_commands_are_never_compressed() -> None:
    for name in ("hello", "isMaster", "ismaster", "saslStart", "saslContinue", "createUser", "copydb"):
        assert not compression.may_compress(name), name
    assert compression.may_compress("find") and compression.may_compress("insert")


# --- header faults --------------------------------------------------------------------------------


def header_bytes(length: int, op_code: int = OP_MSG) -> bytes:
    return struct.pack("<iiii", length, 1, 0, op_code)


def test_header_needs_sixteen_bytes() -> None:
    with pytest.raises(ProtocolError, match="needs 16 bytes, got 15"):
        parse_header(b"\x00" * 15)


@pytest.mark.parametrize("length", [0, 15, -1, -(2**31)])
def test_header_length_below_header_size(length: int) -> None:
    with pytest.raises(ProtocolError, match=f"messageLength {length} is smaller than the 16-byte header"):
        parse_header(header_bytes(length))


def test_header_length_above_maximum_names_value_and_limit() -> None:
    with pytest.raises(ProtocolError, match="messageLength 48000001 exceeds the maximum message size 48000000"):
        parse_header(header_bytes(48_000_001))
    with pytest.raises(ProtocolError, match="messageLength 101 exceeds the maximum message size 100"):
        parse_header(header_bytes(101), max_message_size=100)
    assert parse_header(header_bytes(100), max_message_size=100).message_length == 100


@pytest.mark.parametrize("op_code", [0, 2, 2001, 2002, 2005, 2014, -1])
def test_unknown_opcode(op_code: int) -> None:
    with pytest.raises(ProtocolError, match=f"unknown opCode {op_code}"):
        parse_header(header_bytes(100, op_code))


@pytest.mark.parametrize("op_code, minimum", [(OP_MSG, 26), (OP_QUERY, 34), (OP_REPLY, 36), (OP_COMPRESSED, 25)])
def test_length_below_opcode_minimum(op_code: int, minimum: int) -> None:
    assert parse_header(header_bytes(minimum, op_code)).message_length == minimum
    with pytest.raises(ProtocolError, match=f"messageLength {minimum - 1} is smaller than the minimum {minimum}"):
        parse_header(header_bytes(minimum - 1, op_code))


# --- OP_MSG body faults ---------------------------------------------------------------------------


def test_payload_length_must_match_header() -> None:
    raw = encode_op_msg(1, {"ping": 1})
    with pytest.raises(ProtocolError, match="payload is"):
        parse_body(parse_header(raw), raw[HEADER_SIZE:-1])


@pytest.mark.parametrize("bit", [2, 3, 8, 15])
def test_unknown_required_flag_bits_are_rejected(bit: int) -> None:
    raw = frame(struct.pack("<I", 1 << bit) + kind0({"ping": 1}))
    with pytest.raises(ProtocolError, match="unknown required bit"):
        parse(raw)


@pytest.mark.parametrize("bit", [17, 24, 31])
def test_unknown_optional_flag_bits_are_ignored(bit: int) -> None:
    _, msg = parse(frame(struct.pack("<I", 1 << bit) + kind0({"ping": 1})))
    assert msg.body == {"ping": 1} and msg.flags == 1 << bit


def test_op_msg_without_body_section() -> None:
    with pytest.raises(ProtocolError, match="no kind-0"):
        parse(frame(b"\x00\x00\x00\x00" + kind1("documents", [{"a": 1}, {"b": 2}])))


def test_op_msg_with_two_body_sections() -> None:
    with pytest.raises(ProtocolError, match="second kind-0 .* at offset 33"):
        parse(frame(b"\x00\x00\x00\x00" + kind0({"a": 1}) + kind0({"b": 1})))


def test_op_msg_sequence_before_body_is_accepted() -> None:
    _, msg = parse(frame(b"\x00\x00\x00\x00" + kind1("documents", [{"a": 1}]) + kind0({"insert": "c"})))
    assert msg.command() == {"insert": "c", "documents": [{"a": 1}]}


@pytest.mark.parametrize("kind", [2, 3, 255])
def test_unknown_section_kind(kind: int) -> None:
    raw = frame(b"\x00\x00\x00\x00" + kind0({"a": 1}) + bytes([kind]) + bson.encode({}))
    with pytest.raises(ProtocolError, match=f"section at offset 33 has unknown kind {kind}"):
        parse(raw)


@pytest.mark.parametrize("size", [-1, 0, 4, 1000])
def test_kind1_section_size_out_of_bounds(size: int) -> None:
    raw = frame(b"\x00\x00\x00\x00" + kind0({"a": 1}) + b"\x01" + struct.pack("<i", size) + b"docs\x00")
    with pytest.raises(ProtocolError, match=f"declares size {size}"):
        parse(raw)


def test_kind1_identifier_must_be_terminated_inside_section() -> None:
    section = b"\x01" + struct.pack("<i", 8) + b"docsXYZ\x00"  # size excludes the NUL
    with pytest.raises(ProtocolError, match="not NUL-terminated"):
        parse(frame(b"\x00\x00\x00\x00" + kind0({"a": 1}) + section))


def test_document_overrunning_its_section() -> None:
    doc = bson.encode({"a": 1})
    name = b"documents\x00"
    section = b"\x01" + struct.pack("<i", 4 + len(name) + len(doc) - 2) + name + doc
    with pytest.raises(ProtocolError, match="declares 12 bytes but 10 remain"):
        parse(frame(b"\x00\x00\x00\x00" + section + kind0({"insert": "c"})))


def test_duplicate_sequence_identifiers() -> None:
    raw = frame(b"\x00\x00\x00\x00" + kind0({"a": 1}) + kind1("docs", [{}]) + kind1("docs", [{}]))
    with pytest.raises(ProtocolError, match="two document sequences named 'docs'"):
        parse(raw)


def test_encoder_refuses_sequence_identifier_that_is_a_body_field() -> None:
    with pytest.raises(ConfigurationError, match="'documents' is also a field"):
        encode_op_msg(1, {"insert": "c", "documents": []}, {"documents": [{}]})


def test_malformed_document_in_a_sequence_names_it_and_its_offset() -> None:
    docs = [bson.encode({"a": 1}), bytearray(bson.encode({"b": "x"}))]
    docs[1][4] = 0x60  # not a BSON element type
    name = b"documents\x00"
    section = b"\x01" + struct.pack("<i", 4 + len(name) + len(docs[0]) + len(docs[1])) + name + docs[0] + bytes(docs[1])
    head = b"\x00\x00\x00\x00" + kind0({"insert": "c"})
    raw = frame(head + section)
    offset = HEADER_SIZE + len(head) + 5 + len(name) + len(docs[0])  # where the second document starts
    with pytest.raises(ProtocolError, match=f"document sequence 'documents': invalid BSON document at offset {offset}"):
        parse(raw)


def test_sequence_identifier_colliding_with_body_field() -> None:
    raw = frame(b"\x00\x00\x00\x00" + kind0({"documents": 1}) + kind1("documents", [{}]))
    with pytest.raises(ProtocolError, match="duplicates a field of the body"):
        parse(raw)


def test_body_document_length_lies() -> None:
    doc = bytearray(bson.encode({"a": 1}))
    doc[0:4] = struct.pack("<i", 100)
    with pytest.raises(ProtocolError, match="body section: BSON document at offset 21 declares 100 bytes"):
        parse(frame(b"\x00\x00\x00\x00" + b"\x00" + bytes(doc)))


def test_malformed_bson_inside_a_well_sized_document() -> None:
    doc = bytearray(bson.encode({"a": "hello"}))
    doc[4] = 0x60  # not a BSON element type
    with pytest.raises(ProtocolError, match="invalid BSON document at offset 21"):
        parse(frame(b"\x00\x00\x00\x00" + b"\x00" + bytes(doc)))


def test_trailing_byte_after_sections_is_a_truncated_section() -> None:
    with pytest.raises(ProtocolError, match="kind-1 section at offset 33 is truncated before its size"):
        parse(frame(b"\x00\x00\x00\x00" + kind0({"a": 1}) + b"\x01"))


# --- legacy body faults ---------------------------------------------------------------------------


def test_op_query_trailing_bytes() -> None:
    raw = encode_op_query(1, "a.b", {"q": 1}, fields={"f": 1}) + b""
    payload = raw[HEADER_SIZE:] + bson.encode({})
    with pytest.raises(ProtocolError, match="OP_QUERY has 5 unexpected bytes"):
        parse(frame(payload, op_code=OP_QUERY))


def test_op_query_name_must_be_terminated_utf8() -> None:
    payload = b"\x00\x00\x00\x00" + b"\xff\xfe\x00" + bytes(8) + bson.encode({})
    with pytest.raises(ProtocolError, match="fullCollectionName .* not valid UTF-8"):
        parse(frame(payload, op_code=OP_QUERY))
    payload = b"\x00\x00\x00\x00" + b"a" * 30
    with pytest.raises(ProtocolError, match="not NUL-terminated"):
        parse(frame(payload, op_code=OP_QUERY))


def test_op_reply_count_must_match_documents() -> None:
    doc = bson.encode({"ok": 1})
    too_many = struct.pack("<iqii", 0, 0, 0, 2) + doc
    with pytest.raises(ProtocolError, match="numberReturned 2 but 1 documents"):
        parse(frame(too_many, op_code=OP_REPLY))
    too_few = struct.pack("<iqii", 0, 0, 0, 1) + doc + doc
    with pytest.raises(ProtocolError, match="numberReturned 1 but 2 documents"):
        parse(frame(too_few, op_code=OP_REPLY))
    negative = struct.pack("<iqii", 0, 0, 0, -1)
    with pytest.raises(ProtocolError, match="numberReturned -1 is negative"):
        parse(frame(negative, op_code=OP_REPLY))


# --- read_message ---------------------------------------------------------------------------------


def test_read_message_reads_exactly_one_message() -> None:
    first = encode_op_msg(1, {"a": 1}, response_to=77)
    second = encode_op_reply(2, 78, [{"b": 2}])
    recv = reader(first + second)
    header, msg = read_message(recv, expected_response_to=77)
    assert header.response_to == 77 and msg.body == {"a": 1}
    header, msg = read_message(recv)
    assert isinstance(msg, OpReply) and msg.documents == [{"b": 2}]
    with pytest.raises(EOFError):
        read_message(recv)


def test_read_message_rejects_reply_to_another_request() -> None:
    recv = reader(encode_op_msg(1, {"ok": 1}, response_to=5))
    with pytest.raises(ProtocolError, match="reply to request 5, expected 6"):
        read_message(recv, expected_response_to=6)


def test_read_message_enforces_max_size_before_reading_payload() -> None:
    raw = encode_op_msg(1, {"x": "y" * 500})
    calls: list[int] = []

    def recv(n: int) -> bytes:
        calls.append(n)
        return raw[:n]

    with pytest.raises(ProtocolError, match="exceeds the maximum message size 100"):
        read_message(recv, max_message_size=100)
    assert calls == [16]


def test_read_message_returns_wire_header_for_compressed_message() -> None:
    raw = compress_message(encode_op_msg(9, {"ping": 1}, response_to=8), "zlib")
    header, msg = read_message(reader(raw), expected_response_to=8)
    assert header.op_code == OP_COMPRESSED and header.message_length == len(raw)
    assert msg.body == {"ping": 1} and msg.compressor == "zlib"


def test_read_message_rejects_short_reads_from_a_misbehaving_reader() -> None:
    with pytest.raises(ProtocolError, match="returned 3 bytes, expected 16"):
        read_message(lambda n: b"abc")
