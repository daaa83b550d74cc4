"""Wire protocol constants, the parsed message types and the request-id counter."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# Opcodes (wire protocol reference, "Opcodes"); only these four are spoken by mongocli.
OP_REPLY = 1
OP_QUERY = 2004
OP_COMPRESSED = 2012
OP_MSG = 2013
OPCODE_NAMES = {OP_REPLY: "OP_REPLY", OP_QUERY: "OP_QUERY", OP_COMPRESSED: "OP_COMPRESSED", OP_MSG: "OP_MSG"}

HEADER_SIZE = 16
# The server's default maxMessageSizeBytes; hello may report a different value.
DEFAULT_MAX_MESSAGE_SIZE = 48_000_000

# OP_MSG flagBits (OP_MSG spec, "flagBits").
CHECKSUM_PRESENT = 1
MORE_TO_COME = 1 << 1
EXHAUST_ALLOWED = 1 << 16
# Bits 0-15 are "required": a receiver MUST error on one it does not know. Bits 16-31 are optional.
REQUIRED_FLAG_MASK = 0xFFFF
KNOWN_REQUIRED_FLAGS = CHECKSUM_PRESENT | MORE_TO_COME

# Smallest legal messageLength per opcode (header included); anything shorter cannot hold the
# opcode's fixed fields plus one minimal (5-byte) BSON document where one is mandatory.
MIN_MESSAGE_LENGTH = {
    OP_MSG: HEADER_SIZE + 4 + 1 + 5,  # flagBits, one kind-0 section with an empty document
    OP_QUERY: HEADER_SIZE + 4 + 1 + 4 + 4 + 5,  # flags, "" name, skip, return, query
    OP_REPLY: HEADER_SIZE + 4 + 8 + 4 + 4,  # flags, cursorID, startingFrom, numberReturned
    OP_COMPRESSED: HEADER_SIZE + 4 + 4 + 1,  # originalOpcode, uncompressedSize, compressorId
}

_INT32_MAX = 2**31 - 1


class MessageHeader(NamedTuple):
    """The 16-byte standard message header (MsgHeader). A NamedTuple: one is built per reply,
    and a frozen dataclass costs several times more to construct."""

    message_length: int
    request_id: int
    response_to: int
    op_code: int


@dataclass(frozen=True)
class OpMsg:
    """A parsed OP_MSG: flag bits, the kind-0 body and the kind-1 document sequences."""

    flags: int
    body: Any
    sequences: dict[str, list[Any]] = field(default_factory=dict)
    # Name of the compressor the message arrived under (None if it was not OP_COMPRESSED), so a
    # server can answer with the same one. Not part of equality: it describes the transport.
    compressor: str | None = field(default=None, compare=False)

    @property
    def more_to_come(self) -> bool:
        """True when the sender will send another message without waiting for a reply."""
        return bool(self.flags & MORE_TO_COME)

    @property
    def exhaust_allowed(self) -> bool:
        """True when the requester accepts several replies (moreToCome) to this message."""
        return bool(self.flags & EXHAUST_ALLOWED)

    @property
    def checksum_present(self) -> bool:
        """True when the message carried a (verified) CRC32C checksum."""
        return bool(self.flags & CHECKSUM_PRESENT)

    def command(self) -> dict[str, Any]:
        """The body with each document sequence added as a list field, as a server dispatches it.

        Key order of the body is kept (the first key names the command); sequences follow.
        """
        merged = dict(self.body)
        for identifier, documents in self.sequences.items():
            merged[identifier] = list(documents)
        return merged


@dataclass(frozen=True)
class OpQuery:
    """A parsed legacy OP_QUERY (only used for the initial isMaster/hello handshake)."""

    flags: int
    full_collection_name: str
    number_to_skip: int
    number_to_return: int
    query: Any
    return_fields: Any | None = None
    compressor: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class OpReply:
    """A parsed legacy OP_REPLY."""

    response_flags: int
    cursor_id: int
    starting_from: int
    documents: list[Any] = field(default_factory=list)
    compressor: str | None = field(default=None, compare=False)


_id_lock = threading.Lock()
_last_id = 0


def next_request_id() -> int:
    """Return a fresh positive requestID; thread-safe, wraps back to 1 after 2**31 - 1."""
    global _last_id
    with _id_lock:
        _last_id = _last_id + 1 if _last_id < _INT32_MAX else 1
        return _last_id
