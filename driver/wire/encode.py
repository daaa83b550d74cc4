"""Build OP_MSG, OP_QUERY, OP_REPLY and OP_COMPRESSED messages as bytes."""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Iterator, overload

import bson
from bson.raw_bson import RawBSONDocument

from driver.compression import get_compressor
from driver.errors import ConfigurationError, ProtocolError
from driver.wire.crc32c import crc32c
from driver.wire.messages import (
    CHECKSUM_PRESENT,
    EXHAUST_ALLOWED,
    HEADER_SIZE,
    MORE_TO_COME,
    OP_COMPRESSED,
    OP_MSG,
    OP_QUERY,
    OP_REPLY,
)

_HEADER = struct.Struct("<iiii")
_INT32 = struct.Struct("<i")
_UINT32 = struct.Struct("<I")
_SECTION1_HEAD = struct.Struct("<Bi")  # kind byte, section size
_FLAGS_AND_KIND0 = struct.Struct("<IB")  # flagBits, then the kind byte (0) of the body section
_QUERY_COUNTS = struct.Struct("<ii")  # numberToSkip, numberToReturn
_REPLY_FIXED = struct.Struct("<iqii")  # responseFlags, cursorID, startingFrom, numberReturned
_COMPRESSED_FIXED = struct.Struct("<iiB")  # originalOpcode, uncompressedSize, compressorId

Document = Mapping[str, Any] | bytes | bytearray | memoryview
Buffer = bytes | bytearray | memoryview

# A run of consecutive buffers each smaller than this is joined into one before sendmsg: copying
# small pieces is cheaper than one iovec entry each (measured: 10,000 x 275-byte documents send
# in 1.0-1.7 ms joined, 2.0 ms as 10 sendmsg calls of 1,024 buffers), while a larger buffer is
# never copied (27 MB in 10 documents: 11 ms by sendmsg, 19-21 ms joined and sent).
COALESCE_BELOW = 64 * 1024


class SplicedDocument:
    """One BSON document held as buffers sent one after the other, never joined on the send path.

    encode_insert makes one when a document without `_id` is large: the new length and `_id`
    element (`head`, 21 bytes) go in front of the encoder's own output minus its length prefix
    (`tail`, a memoryview of it), so neither the document nor its bytes are copied. `bytes()`
    joins them for readers that need one buffer (command monitoring, OP_QUERY, error reports).
    """

    __slots__ = ("buffers", "nbytes")

    def __init__(self, head: bytes, tail: memoryview) -> None:
        self.buffers: tuple[Buffer, ...] = (head, tail)
        self.nbytes = len(head) + len(tail)

    def __len__(self) -> int:
        return self.nbytes

    def __bytes__(self) -> bytes:
        return b"".join(self.buffers)

    def __repr__(self) -> str:
        return f"<SplicedDocument {self.nbytes} bytes>"


EncodedDocument = bytes | SplicedDocument


def _whole(encoded: EncodedDocument) -> bytes:
    return encoded if type(encoded) is bytes else bytes(encoded)


class EncodedDocuments(Sequence[RawBSONDocument]):
    """Documents already encoded to BSON, kept as bytes until someone reads one.

    Bulk inserts encode each document once (to measure it for batch splitting); this carries
    those bytes to op_msg_buffers, which puts them into the kind-1 section as they are (a
    SplicedDocument as its two buffers). Readers
    that need mappings (command monitoring, the legacy OP_QUERY path, write-error reports) get
    a RawBSONDocument per item, built on access. `raw` must hold well-formed BSON documents:
    the producer (driver.bulk) made them with bson.encode.
    """

    __slots__ = ("raw", "nbytes")

    def __init__(self, raw: Sequence[EncodedDocument], nbytes: int | None = None) -> None:
        self.raw: tuple[EncodedDocument, ...] = tuple(raw)
        self.nbytes: int = sum(map(len, self.raw)) if nbytes is None else nbytes

    def __len__(self) -> int:
        return len(self.raw)

    @overload
    def __getitem__(self, index: int) -> RawBSONDocument: ...

    @overload
    def __getitem__(self, index: slice) -> list[RawBSONDocument]: ...

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [RawBSONDocument(_whole(r)) for r in self.raw[index]]
        return RawBSONDocument(_whole(self.raw[index]))

    def __iter__(self) -> Iterator[RawBSONDocument]:
        return (RawBSONDocument(_whole(r)) for r in self.raw)

    def buffers(self) -> list[Buffer]:
        """The documents' bytes as buffers in order, a SplicedDocument as its two (no copy)."""
        if SplicedDocument not in map(type, self.raw):  # one C-level scan; the common case
            return list(self.raw)  # type: ignore[arg-type]
        out: list[Buffer] = []
        for r in self.raw:
            if type(r) is bytes:
                out.append(r)
            else:
                out.extend(r.buffers)  # type: ignore[union-attr]
        return out

    def __repr__(self) -> str:
        return f"<EncodedDocuments {len(self.raw)} documents, {self.nbytes} bytes>"


# bson.encode's C encoder without its Python wrapper (which only re-checks the options type):
# one call frame less per command and per document of a bulk insert. PyMongo calls it so too.
encode_bson: Callable[[Any, bool, Any], bytes] = getattr(bson, "_dict_to_bson", None) or bson.encode


def _encode_document(doc: Document, where: str, codec_options: Any) -> bytes:
    """BSON bytes for a mapping, or validated pre-encoded bytes."""
    if type(doc) is dict:  # every command the driver builds: no ABC isinstance
        return encode_bson(doc, False, bson.DEFAULT_CODEC_OPTIONS if codec_options is None else codec_options)
    if isinstance(doc, (bytes, bytearray, memoryview)):
        raw = bytes(doc)
        if len(raw) < 5 or _INT32.unpack_from(raw)[0] != len(raw) or raw[-1] != 0:
            raise ConfigurationError(f"{where}: pre-encoded BSON is malformed ({len(raw)} bytes given)")
        return raw
    if not isinstance(doc, Mapping):
        raise ConfigurationError(f"{where}: expected a mapping or BSON bytes, got {type(doc).__name__}")
    if codec_options is None:
        return bson.encode(doc)
    return bson.encode(doc, codec_options=codec_options)


def _encode_documents(documents: Sequence[Document], where: str, codec_options: Any) -> list[bytes]:
    """Encode many documents; mappings take a fast path (no per-item message built)."""
    options = codec_options if codec_options is not None else bson.DEFAULT_CODEC_OPTIONS
    encode = encode_bson
    if not isinstance(documents, (list, tuple)):
        documents = list(documents)
    if all(type(doc) is dict for doc in documents):
        return [encode(doc, False, options) for doc in documents]
    if all(type(doc) is RawBSONDocument for doc in documents):
        # bson.encode would copy each one's bytes verbatim anyway; skip the per-item checks.
        return [bytes(doc.raw) for doc in documents]
    return [_encode_document(doc, f"{where} item {i}", codec_options) for i, doc in enumerate(documents)]


def _int32(value: int, name: str) -> int:
    if not -(2**31) <= value < 2**31:
        raise ConfigurationError(f"{name} {value} does not fit in a signed 32-bit integer")
    return value


def _cstring(text: str, name: str) -> bytes:
    raw = text.encode("utf-8")
    if b"\x00" in raw:
        raise ConfigurationError(f"{name} {text!r} must not contain a NUL character")
    return raw + b"\x00"


@functools.lru_cache(maxsize=16)
def _sequence_name(identifier: str) -> bytes:
    """A document sequence's identifier as a C string; the few names (documents, updates, ...)
    are encoded and checked once, not per message."""
    return _cstring(identifier, "document sequence identifier")


def _framed(request_id: int, response_to: int, op_code: int, parts: list[Buffer]) -> list[Buffer]:
    """`parts` with the message header in front (in place): the buffers of one whole message."""
    if not (-(2**31) <= request_id < 2**31 and -(2**31) <= response_to < 2**31):  # one test per message
        _int32(request_id, "requestID"), _int32(response_to, "responseTo")  # raises, naming the field
    parts.insert(0, _HEADER.pack(HEADER_SIZE + sum(map(len, parts)), request_id, response_to, op_code))
    return parts


def _frame(request_id: int, response_to: int, op_code: int, parts: list[Buffer]) -> bytes:
    return b"".join(_framed(request_id, response_to, op_code, parts))  # one join: the message is copied once


def coalesce(buffers: Sequence[Buffer], small: int = COALESCE_BELOW) -> list[Buffer]:
    """The same bytes as fewer buffers: each run of consecutive buffers shorter than `small` is
    joined (see COALESCE_BELOW); a buffer of `small` bytes or more is kept as it is, uncopied."""
    out: list[Buffer] = []
    run: list[Buffer] = []
    for buf in buffers:
        if len(buf) < small:
            run.append(buf)
            continue
        if run:
            out.append(b"".join(run) if len(run) > 1 else run[0])
            run = []
        out.append(buf)
    if run:
        out.append(b"".join(run) if len(run) > 1 else run[0])
    return out


def encode_op_msg(request_id: int, body: Document, sequences: Mapping[str, Sequence[Document]] | None = None,
                  **options: Any) -> bytes:
    """Encode an OP_MSG as one bytes object: op_msg_buffers (same arguments), joined.

    With `checksum=True`, the CHECKSUM_PRESENT bit is set and a CRC32C of the whole message
    (header included) is appended (OP_MSG spec, "Checksum").
    """
    framed = b"".join(op_msg_buffers(request_id, body, sequences, **options))
    if not options.get("checksum"):
        return framed
    # The checksum covers every byte before it, header included, whose messageLength already
    # counts the 4 checksum bytes: framed with a placeholder, replaced here.
    return framed[:-4] + _UINT32.pack(crc32c(memoryview(framed)[:-4]))


def op_msg_buffers(
    request_id: int,
    body: Document,
    sequences: Mapping[str, Sequence[Document]] | None = None,
    *,
    response_to: int = 0,
    more_to_come: bool = False,
    exhaust_allowed: bool = False,
    checksum: bool = False,
    codec_options: Any = None,
) -> list[Buffer]:
    """An OP_MSG as the list of buffers that make it, in order, header first: `body` as the
    kind-0 section, each `sequences` entry as a kind-1 section.

    Pre-encoded documents (EncodedDocuments) are among the buffers as they are, so a caller
    with sendmsg sends them without copying (Connection); encode_op_msg joins them. With
    `checksum`, the last buffer is a placeholder for the CRC32C that encode_op_msg fills in.
    """
    flags = (
        (CHECKSUM_PRESENT if checksum else 0)
        | (MORE_TO_COME if more_to_come else 0)
        | (EXHAUST_ALLOWED if exhaust_allowed else 0)
    )
    parts: list[Buffer] = [_FLAGS_AND_KIND0.pack(flags, 0), _encode_document(body, "OP_MSG body", codec_options)]
    if sequences:
        for identifier, documents in sequences.items():
            if identifier in body if type(body) is dict else isinstance(body, Mapping) and identifier in body:
                # OP_MSG spec: a sequence identifier must not also be a body field; receivers reject it.
                raise ConfigurationError(f"document sequence {identifier!r} is also a field of the OP_MSG body")
            if type(documents) is EncodedDocuments:
                # Already encoded once by the bulk planner: its bytes go in as they are.
                encoded, nbytes = documents.buffers(), documents.nbytes
            elif isinstance(documents, (Mapping, bytes, bytearray, memoryview, str)):
                raise ConfigurationError(f"document sequence {identifier!r} must be a sequence of documents")
            else:
                encoded = _encode_documents(documents, f"document sequence {identifier!r}", codec_options)
                nbytes = sum(map(len, encoded))
            name = _sequence_name(identifier)
            parts.append(_SECTION1_HEAD.pack(1, 4 + len(name) + nbytes))
            parts.append(name)
            parts.extend(encoded)
    if checksum:
        parts.append(b"\x00\x00\x00\x00")
    return _framed(request_id, response_to, OP_MSG, parts)


def encode_op_query(
    request_id: int,
    full_collection_name: str,
    query: Document,
    *,
    flags: int = 0,
    skip: int = 0,
    n_return: int = -1,
    fields: Document | None = None,
    codec_options: Any = None,
) -> bytes:
    """Encode a legacy OP_QUERY (used for the first handshake when the server may be old)."""
    parts = [
        _INT32.pack(_int32(flags, "OP_QUERY flags")),
        _cstring(full_collection_name, "fullCollectionName"),
        _QUERY_COUNTS.pack(_int32(skip, "numberToSkip"), _int32(n_return, "numberToReturn")),
        _encode_document(query, "OP_QUERY query", codec_options),
    ]
    if fields is not None:
        parts.append(_encode_document(fields, "OP_QUERY returnFieldsSelector", codec_options))
    return _frame(request_id, 0, OP_QUERY, parts)


def encode_op_reply(
    request_id: int,
    response_to: int,
    documents: Sequence[Document],
    *,
    flags: int = 0,
    cursor_id: int = 0,
    starting_from: int = 0,
    codec_options: Any = None,
) -> bytes:
    """Encode a legacy OP_REPLY (what a server answers to OP_QUERY)."""
    encoded = _encode_documents(documents, "OP_REPLY documents", codec_options)
    if not -(2**63) <= cursor_id < 2**63:
        raise ConfigurationError(f"cursorID {cursor_id} does not fit in a signed 64-bit integer")
    fixed = _REPLY_FIXED.pack(
        _int32(flags, "responseFlags"), cursor_id, _int32(starting_from, "startingFrom"), len(encoded)
    )
    return _frame(request_id, response_to, OP_REPLY, [fixed, *encoded])


def compress_message(message: bytes, compressor: str, level: int = -1) -> bytes:
    """Wrap an encoded message in OP_COMPRESSED, keeping its requestID and responseTo.

    OP_COMPRESSED spec: the original header is replaced by originalOpcode + uncompressedSize
    (the size of the message WITHOUT its header) + compressorId.
    """
    chosen = get_compressor(compressor)
    if len(message) < HEADER_SIZE:
        raise ProtocolError(f"cannot compress a {len(message)}-byte message: shorter than the 16-byte header")
    length, request_id, response_to, op_code = _HEADER.unpack_from(message)
    if length != len(message):
        raise ProtocolError(f"cannot compress: header messageLength {length} but {len(message)} bytes given")
    if op_code == OP_COMPRESSED:
        raise ProtocolError("cannot compress an OP_COMPRESSED message again")
    body = memoryview(message)[HEADER_SIZE:]
    assert chosen.compress is not None  # get_compressor only returns available compressors
    packed = chosen.compress(bytes(body), level)
    fixed = _COMPRESSED_FIXED.pack(op_code, len(body), chosen.compressor_id)
    return _frame(request_id, response_to, OP_COMPRESSED, [fixed, packed])
