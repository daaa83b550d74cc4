"""Fuzzing the wire parser: any bytes give a message or a ProtocolError, never another error or a hang."""

from __future__ import annotations

import os
import struct

import bson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driver.errors import ProtocolError
from driver.wire import (
    HEADER_SIZE,
    OP_COMPRESSED,
    OP_MSG,
    OP_QUERY,
    OP_REPLY,
    MessageHeader,
    OpMsg,
    OpQuery,
    OpReply,
    compress_message,
    encode_op_msg,
    encode_op_query,
    encode_op_reply,
    parse_body,
    parse_header,
    read_message,
)

FUZZ = settings(max_examples=int(os.environ.get("WIRE_FUZZ_EXAMPLES", "150")), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
MAX_SIZE = 1 << 16  # keeps hostile declared lengths cheap while still exercising the limit


class Exhausted(Exception):
    """The byte buffer behind recv_exactly ran out."""


def reader(data: bytes):
    pos = 0

    def recv_exactly(n: int) -> bytes:
        nonlocal pos
        if n < 0 or pos + n > len(data):
            raise Exhausted(n)
        pos += n
        return data[pos - n : pos]

    return recv_exactly


def valid_messages() -> list[bytes]:
    docs = [{"_id": i, "s": "x" * i, "n": {"d": [1, 2.5, None, True]}} for i in range(4)]
    plain = [
        encode_op_msg(1, {"insert": "c", "$db": "d"}, {"documents": docs}),
        encode_op_msg(2, {"hello": 1}, more_to_come=True, exhaust_allowed=True),
        encode_op_msg(3, {"find": "c", "filter": {"a": {"$gt": 1}}}, {"a": docs[:1], "b": []}, checksum=True),
        encode_op_query(4, "admin.$cmd", {"isMaster": 1}, fields={"x": 1}),
        encode_op_reply(5, 4, docs, cursor_id=99),
    ]
    return plain + [compress_message(m, c) for m in plain[::2] for c in ("zlib", "noop")]


VALID = valid_messages()

INTERESTING_INT32 = st.sampled_from([0, 1, 4, 5, 15, 16, 17, 25, 26, 255, 2**16, 2**31 - 1, -1, -(2**31)])


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "int32", "truncate", "insert", "delete", "fix_length"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if action == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "int32":
            data[at : at + 4] = struct.pack("<i", draw(INTERESTING_INT32))
        elif action == "truncate":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif action == "fix_length" and len(data) >= 4:
            # Keep messageLength consistent so the mutation reaches the body parser.
            data[0:4] = struct.pack("<i", len(data))
    return bytes(data)


def check(result) -> None:
    header, message = result
    assert isinstance(header, MessageHeader)
    assert isinstance(message, (OpMsg, OpQuery, OpReply))


@FUZZ
@given(st.binary(max_size=64))
def test_parse_header_on_arbitrary_bytes(data: bytes) -> None:
    try:
        header = parse_header(data, max_message_size=MAX_SIZE)
    except ProtocolError:
        return
    assert HEADER_SIZE <= header.message_length <= MAX_SIZE
    assert header.op_code in (OP_REPLY, OP_QUERY, OP_COMPRESSED, OP_MSG)


@FUZZ
@given(st.sampled_from([OP_MSG, OP_QUERY, OP_REPLY, OP_COMPRESSED]), st.binary(max_size=256))
def test_parse_body_on_arbitrary_payloads(op_code: int, payload: bytes) -> None:
    header = MessageHeader(HEADER_SIZE + len(payload), 1, 0, op_code)
    try:
        message = parse_body(header, payload, max_message_size=MAX_SIZE)
    except ProtocolError:
        return
    assert isinstance(message, (OpMsg, OpQuery, OpReply))


@FUZZ
@given(st.binary(max_size=512))
def test_read_message_on_arbitrary_streams(data: bytes) -> None:
    try:
        check(read_message(reader(data), max_message_size=MAX_SIZE))
    except (ProtocolError, Exhausted):
        pass


@FUZZ
@given(mutated())
def test_read_message_on_mutated_valid_messages(data: bytes) -> None:
    try:
        check(read_message(reader(data), max_message_size=MAX_SIZE))
    except (ProtocolError, Exhausted):
        pass


@FUZZ
@given(mutated())
def test_parse_body_on_mutated_payloads_with_consistent_length(data: bytes) -> None:
    if len(data) < HEADER_SIZE:
        return
    _, request_id, response_to, op_code = struct.unpack_from("<iiii", data)
    header = MessageHeader(len(data), request_id, response_to, op_code)
    try:
        parse_body(header, data[HEADER_SIZE:])
    except ProtocolError:
        pass


def test_every_unmutated_message_parses() -> None:
    # The mutation corpus must itself be valid, or the fuzzers above test nothing interesting.
    for raw in VALID:
        check(read_message(reader(raw)))


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8).filter(lambda k: "\x00" not in k and not k.startswith("$")), inner, max_size=4),
    max_leaves=12,
)
KEYS = st.text(min_size=1, max_size=8).filter(lambda k: "\x00" not in k)
DOCS = st.dictionaries(KEYS, JSONISH, max_size=5)


@settings(FUZZ, max_examples=50)
@given(
    DOCS,
    st.dictionaries(KEYS, st.lists(DOCS, max_size=3), max_size=3),
    st.booleans(),
    st.booleans(),
    st.sampled_from([None, "noop", "zlib"]),
)
def test_op_msg_round_trips_arbitrary_documents(body, sequences, checksum, more, compressor) -> None:
    sequences = {k: v for k, v in sequences.items() if k not in body}
    raw = encode_op_msg(7, body, sequences, checksum=checksum, more_to_come=more)
    if compressor:
        raw = compress_message(raw, compressor)
    _, message = read_message(reader(raw), expected_response_to=0)
    assert message == OpMsg(message.flags, bson.decode(bson.encode(body)), {k: [bson.decode(bson.encode(d)) for d in v] for k, v in sequences.items()})
    assert message.checksum_present == checksum and message.more_to_come == more
