"""Parse wire messages strictly: header checks, OP_MSG sections, legacy opcodes, OP_COMPRESSED."""

from __future__ import annotations

import dataclasses
import struct
from typing import Any, Callable

import bson

from driver.compression import COMPRESSORS_BY_ID
from driver.errors import ProtocolError
from driver.wire.batch import ENCODED_REPLY_MIN, decode_cursor_reply
from driver.wire.crc32c import crc32c
from driver.wire.messages import (
    CHECKSUM_PRESENT,
    DEFAULT_MAX_MESSAGE_SIZE,
    HEADER_SIZE,
    KNOWN_REQUIRED_FLAGS,
    MIN_MESSAGE_LENGTH,
    OP_COMPRESSED,
    OP_MSG,
    OP_QUERY,
    OP_REPLY,
    OPCODE_NAMES,
    REQUIRED_FLAG_MASK,
    MessageHeader,
    OpMsg,
    OpQuery,
    OpReply,
)

_HEADER = struct.Struct("<iiii")
_INT32 = struct.Struct("<i")
_UINT32 = struct.Struct("<I")
_QUERY_COUNTS = struct.Struct("<ii")
_REPLY_FIXED = struct.Struct("<iqii")
_COMPRESSED_FIXED = struct.Struct("<iiB")

Message = OpMsg | OpQuery | OpReply


def parse_header(data: bytes, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> MessageHeader:
    """Parse and check the 16-byte MsgHeader at the start of `data`.

    Raises ProtocolError when messageLength is below the header size or the opcode's minimum,
    above `max_message_size`, or the opcode is not one mongocli speaks.
    """
    if len(data) < HEADER_SIZE:
        raise ProtocolError(f"message header needs {HEADER_SIZE} bytes, got {len(data)}")
    length, request_id, response_to, op_code = _HEADER.unpack_from(data)
    if length < HEADER_SIZE:
        raise ProtocolError(f"messageLength {length} is smaller than the {HEADER_SIZE}-byte header")
    if length > max_message_size:
        raise ProtocolError(f"messageLength {length} exceeds the maximum message size {max_message_size}")
    if op_code not in OPCODE_NAMES:
        raise ProtocolError(f"unknown opCode {op_code} (expected one of {sorted(OPCODE_NAMES)})")
    minimum = MIN_MESSAGE_LENGTH[op_code]
    if length < minimum:
        raise ProtocolError(
            f"messageLength {length} is smaller than the minimum {minimum} for {OPCODE_NAMES[op_code]}"
        )
    return MessageHeader(length, request_id, response_to, op_code)


def parse_body(
    header: MessageHeader,
    payload: bytes,
    *,
    codec_options: Any = None,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    encoded_batch: bool = False,
) -> Message:
    """Parse the bytes after `header` into an OpMsg, OpQuery or OpReply.

    OP_COMPRESSED is decompressed and the original opcode parsed (the result's `compressor`
    names the compressor). Every malformation raises ProtocolError naming the field and offset.
    `encoded_batch`: a large OP_MSG cursor reply keeps its batch encoded (wire/batch.py).
    """
    if not isinstance(payload, (bytes, bytearray)):
        payload = bytes(payload)  # a received bytearray is parsed in place: no copy of large replies
    if len(payload) != header.message_length - HEADER_SIZE:
        raise ProtocolError(
            f"payload is {len(payload)} bytes but messageLength {header.message_length} "
            f"requires {header.message_length - HEADER_SIZE}"
        )
    # Headers may be built by callers rather than parse_header: re-check what the parsers rely on.
    minimum = MIN_MESSAGE_LENGTH.get(header.op_code)
    if minimum is None:
        raise ProtocolError(f"unknown opCode {header.op_code} (expected one of {sorted(OPCODE_NAMES)})")
    if header.message_length < minimum:
        raise ProtocolError(
            f"messageLength {header.message_length} is smaller than the minimum {minimum} "
            f"for {OPCODE_NAMES[header.op_code]}"
        )
    options = codec_options if codec_options is not None else bson.DEFAULT_CODEC_OPTIONS
    return _parse_checked(header, payload, options, max_message_size, encoded_batch)


def read_message(
    recv_exactly: Callable[[int], bytes],
    *,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    expected_response_to: int | None = None,
    codec_options: Any = None,
    encoded_batch: bool = False,
) -> tuple[MessageHeader, Message]:
    """Read one message through `recv_exactly(n)` (exactly n bytes, or it raises) and parse it.

    The returned header is the one on the wire (op_code OP_COMPRESSED for a compressed message).
    With `expected_response_to`, a reply to another request raises ProtocolError.
    `encoded_batch`: see parse_body.
    """
    raw_header = recv_exactly(HEADER_SIZE)
    if len(raw_header) != HEADER_SIZE:
        raise ProtocolError(f"reading the header returned {len(raw_header)} bytes, expected {HEADER_SIZE}")
    header = parse_header(raw_header, max_message_size=max_message_size)
    wanted = header.message_length - HEADER_SIZE
    payload = recv_exactly(wanted)
    if len(payload) != wanted:
        raise ProtocolError(f"reading the message body returned {len(payload)} bytes, expected {wanted}")
    if expected_response_to is not None and header.response_to != expected_response_to:
        raise ProtocolError(f"reply to request {header.response_to}, expected {expected_response_to}")
    # parse_header checked the header and the length was just checked: parse_body's checks of a
    # header a caller built are not repeated (a reply is read per operation).
    options = codec_options if codec_options is not None else bson.DEFAULT_CODEC_OPTIONS
    return header, _parse_checked(header, payload, options, max_message_size, encoded_batch)


# --- internals --------------------------------------------------------------------------------


def _parse_checked(header: MessageHeader, payload: bytes, options: Any, max_message_size: int,
                   encoded_batch: bool = False) -> Message:
    """parse_body once the header and the payload's length are known to be valid: OP_COMPRESSED
    unwrapped first, then the one dispatch by opcode."""
    compressor = None
    if header.op_code == OP_COMPRESSED:
        header, payload, compressor = _decompress(header, payload, max_message_size)
    op_code = header.op_code
    if op_code == OP_MSG:
        message: Message = _parse_op_msg(header, payload, options, encoded_batch)
    elif op_code == OP_QUERY:
        message = _parse_op_query(payload, options)
    elif op_code == OP_REPLY:
        message = _parse_op_reply(payload, options)
    else:
        raise ProtocolError(f"cannot parse opCode {op_code} here")
    return message if compressor is None else dataclasses.replace(message, compressor=compressor)


def _decompress(header: MessageHeader, payload: bytes, max_message_size: int) -> tuple[MessageHeader, bytes, str]:
    """OP_COMPRESSED spec: unwrap to the original opcode's header + payload."""
    original, size, compressor_id = _COMPRESSED_FIXED.unpack_from(payload)
    if original == OP_COMPRESSED:
        raise ProtocolError("OP_COMPRESSED wraps another OP_COMPRESSED (originalOpcode 2012)")
    if original not in OPCODE_NAMES:
        raise ProtocolError(f"OP_COMPRESSED originalOpcode {original} is not a known opCode")
    minimum = MIN_MESSAGE_LENGTH[original] - HEADER_SIZE
    if size < minimum:
        raise ProtocolError(
            f"OP_COMPRESSED uncompressedSize {size} is smaller than the minimum {minimum} "
            f"for {OPCODE_NAMES[original]}"
        )
    if size + HEADER_SIZE > max_message_size:
        raise ProtocolError(
            f"OP_COMPRESSED uncompressedSize {size} (+{HEADER_SIZE} header) exceeds the maximum "
            f"message size {max_message_size}"
        )
    compressor = COMPRESSORS_BY_ID.get(compressor_id)
    if compressor is None:
        raise ProtocolError(f"OP_COMPRESSED compressorId {compressor_id} is not a known compressor")
    if compressor.decompress is None:
        raise ProtocolError(
            f"OP_COMPRESSED uses compressor {compressor.name!r} (id {compressor_id}), which is not available"
        )
    inner = compressor.decompress(payload[_COMPRESSED_FIXED.size :], size)
    if len(inner) != size:
        raise ProtocolError(
            f"OP_COMPRESSED decompressed to {len(inner)} bytes but uncompressedSize says {size}"
        )
    # The original header is rebuilt as the server does: same ids, original opcode and length.
    inner_header = MessageHeader(size + HEADER_SIZE, header.request_id, header.response_to, original)
    return inner_header, inner, compressor.name


def _read_document(buf: bytes, view: memoryview, pos: int, end: int, where: str, options: Any) -> tuple[Any, int]:
    """Decode one BSON document starting at `pos` that must lie within `end`; return it and its end."""
    at = pos + HEADER_SIZE  # offsets in messages count from the first header byte
    if pos + 4 > end:
        raise ProtocolError(f"{where}: truncated BSON document length at offset {at} ({end - pos} bytes left)")
    size = _INT32.unpack_from(buf, pos)[0]
    if size < 5 or pos + size > end:
        raise ProtocolError(
            f"{where}: BSON document at offset {at} declares {size} bytes but {end - pos} remain"
        )
    try:
        document = bson.decode(view[pos : pos + size], codec_options=options)
    except Exception as exc:  # any decoder failure on peer bytes is a protocol fault, not a crash
        raise ProtocolError(f"{where}: invalid BSON document at offset {at}: {exc}") from None
    return document, pos + size


def _read_documents(
    buf: bytes, view: memoryview, pos: int, end: int, where: str, options: Any
) -> list[Any]:
    """Decode the documents that exactly fill buf[pos:end].

    bson.decode_all (one C call) does the common case and already rejects a document that
    overruns the region or bytes left over; only on failure do we walk document by document to
    report which one, and at what offset, is wrong.
    """
    if pos == end:
        return []
    try:
        return bson.decode_all(view[pos:end], options)
    except Exception as exc:  # any decoder failure on peer bytes is a protocol fault, not a crash
        first_error = exc
    start = pos
    while pos < end:
        _, pos = _read_document(buf, view, pos, end, where, options)
    raise ProtocolError(
        f"{where}: invalid BSON in offsets {start + HEADER_SIZE}-{end + HEADER_SIZE}: {first_error}"
    )


def _read_cstring(buf: bytes, pos: int, end: int, where: str) -> tuple[str, int]:
    nul = buf.find(b"\x00", pos, end)
    if nul < 0:
        raise ProtocolError(f"{where} at offset {pos + HEADER_SIZE} is not NUL-terminated")
    try:
        return buf[pos:nul].decode("utf-8"), nul + 1
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{where} at offset {pos + HEADER_SIZE} is not valid UTF-8: {exc.reason}") from None


def _parse_op_msg(header: MessageHeader, buf: bytes, options: Any, encoded_batch: bool = False) -> OpMsg:
    """OP_MSG spec: flagBits, exactly one kind-0 section, any kind-1 sections, optional CRC32C."""
    flags = _UINT32.unpack_from(buf)[0]
    unknown = flags & REQUIRED_FLAG_MASK & ~KNOWN_REQUIRED_FLAGS
    if unknown:
        # "flagBits": bits 0-15 are required; a parser MUST error on one it does not know.
        raise ProtocolError(f"OP_MSG flagBits 0x{flags:08x} set unknown required bit(s) 0x{unknown:04x}")
    end = len(buf)
    if flags & CHECKSUM_PRESENT:
        if end < 4 + 6 + 4:
            raise ProtocolError(f"OP_MSG with checksumPresent is too short ({end} bytes after the header)")
        end -= 4
        expected = _UINT32.unpack_from(buf, end)[0]
        head = _HEADER.pack(header.message_length, header.request_id, header.response_to, header.op_code)
        actual = crc32c(memoryview(buf)[:end], crc32c(head))
        if actual != expected:
            raise ProtocolError(f"OP_MSG checksum mismatch: message says 0x{expected:08x}, computed 0x{actual:08x}")
    view = memoryview(buf)
    if end >= 10 and buf[4] == 0 and _INT32.unpack_from(buf, 5)[0] == end - 5:
        # The common reply: one body section filling the message. A failure falls through to the
        # section walk below, which names what is wrong and where.
        if encoded_batch and end >= ENCODED_REPLY_MIN:
            body = decode_cursor_reply(buf, 5, end, options)
            if body is not None:
                return OpMsg(flags, body)
        try:
            return OpMsg(flags, bson.decode(view[5:end], codec_options=options))
        except Exception:  # noqa: BLE001 - peer bytes: reported by the walk
            pass
    body: Any = None
    sequences: dict[str, list[Any]] = {}
    pos = 4
    while pos < end:
        kind = buf[pos]
        at = pos + HEADER_SIZE
        pos += 1
        if kind == 0:
            if body is not None:
                raise ProtocolError(f"OP_MSG has a second kind-0 (body) section at offset {at}")
            body, pos = _read_document(buf, view, pos, end, "OP_MSG body section", options)
        elif kind == 1:
            pos = _read_sequence(buf, view, pos, end, at, sequences, options)
        else:
            raise ProtocolError(f"OP_MSG section at offset {at} has unknown kind {kind}")
    if body is None:
        raise ProtocolError("OP_MSG has no kind-0 (body) section")
    for identifier in sequences:
        if identifier in body:
            raise ProtocolError(f"OP_MSG document sequence {identifier!r} duplicates a field of the body")
    return OpMsg(flags, body, sequences)


def _read_sequence(
    buf: bytes, view: memoryview, pos: int, end: int, at: int, sequences: dict[str, list[Any]], options: Any
) -> int:
    """Parse one kind-1 section (size, identifier, documents filling the size exactly)."""
    if pos + 4 > end:
        raise ProtocolError(f"OP_MSG kind-1 section at offset {at} is truncated before its size")
    size = _INT32.unpack_from(buf, pos)[0]
    if size < 5 or pos + size > end:
        raise ProtocolError(
            f"OP_MSG kind-1 section at offset {at} declares size {size}; "
            f"it must be between 5 and the {end - pos} bytes remaining"
        )
    section_end = pos + size
    identifier, pos = _read_cstring(buf, pos + 4, section_end, f"OP_MSG kind-1 section identifier (section at offset {at})")
    if identifier in sequences:
        raise ProtocolError(f"OP_MSG has two document sequences named {identifier!r} (second at offset {at})")
    where = f"OP_MSG document sequence {identifier!r}"
    sequences[identifier] = _read_documents(buf, view, pos, section_end, where, options)
    return section_end


def _parse_op_query(buf: bytes, options: Any) -> OpQuery:
    """Legacy OP_QUERY: flags, fullCollectionName, skip, return, query [, returnFieldsSelector]."""
    end = len(buf)
    view = memoryview(buf)
    flags = _INT32.unpack_from(buf)[0]
    name, pos = _read_cstring(buf, 4, end, "OP_QUERY fullCollectionName")
    if pos + 8 > end:
        raise ProtocolError(f"OP_QUERY is truncated at numberToSkip (offset {pos + HEADER_SIZE})")
    skip, n_return = _QUERY_COUNTS.unpack_from(buf, pos)
    query, pos = _read_document(buf, view, pos + 8, end, "OP_QUERY query", options)
    fields = None
    if pos < end:
        fields, pos = _read_document(buf, view, pos, end, "OP_QUERY returnFieldsSelector", options)
    if pos != end:
        raise ProtocolError(f"OP_QUERY has {end - pos} unexpected bytes at offset {pos + HEADER_SIZE}")
    return OpQuery(flags, name, skip, n_return, query, fields)


def _parse_op_reply(buf: bytes, options: Any) -> OpReply:
    """Legacy OP_REPLY: fixed fields then exactly numberReturned documents filling the message."""
    flags, cursor_id, starting_from, number_returned = _REPLY_FIXED.unpack_from(buf)
    if number_returned < 0:
        raise ProtocolError(f"OP_REPLY numberReturned {number_returned} is negative")
    documents = _read_documents(buf, memoryview(buf), _REPLY_FIXED.size, len(buf), "OP_REPLY documents", options)
    if len(documents) != number_returned:
        raise ProtocolError(f"OP_REPLY numberReturned {number_returned} but {len(documents)} documents present")
    return OpReply(flags, cursor_id, starting_from, documents)
