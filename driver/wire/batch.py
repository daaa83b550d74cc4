"""Cursor batches of a large reply left encoded in the reply's bytes, decoded one chunk at a time as they are read."""

from __future__ import annotations

import struct
from typing import Any

import bson

from driver.errors import ProtocolError
from driver.wire.messages import HEADER_SIZE

# Why chunks: decoding a 16 MiB batch at once builds ~100 MB of objects before the first one is
# read, out of the CPU caches and from memory fresh from the OS; decoding ~64 KiB at a time while
# the caller reads (and drops) documents reuses the same warm memory: half the CPU time for a
# 10,000-document batch on this machine (bench find_many), and a flat memory peak.
CHUNK_BYTES = 64 * 1024
# A reply body smaller than this is decoded at once, as any other reply: walking it would cost
# more than it saves (a find_one's reply, most first batches).
ENCODED_REPLY_MIN = CHUNK_BYTES

_INT32 = struct.Struct("<i")
# A document wrapping a run of array elements as one array value: {"": [elements]}.
_WRAPPER_HEAD = struct.Struct("<iBBi")
_WRAPPER_TAIL = b"\x00\x00"
_EMPTY_ARRAY = b"\x05\x00\x00\x00\x00"
_DOCUMENT, _ARRAY = 0x03, 0x04
_BATCH_NAMES = (b"firstBatch", b"nextBatch")

# BSON spec: the size of each element value, by type. Fixed sizes:
_FIXED_SIZE = {0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16,
               0x7F: 0, 0xFF: 0}
# Values that start with an int32: what to add to it (a string's int32 excludes itself, a
# document's includes itself, binary adds its subtype byte, a DBPointer its 12-byte ObjectId).
_LENGTH_PLUS = {0x02: 4, 0x03: 0, 0x04: 0, 0x05: 5, 0x0C: 16, 0x0D: 4, 0x0E: 4, 0x0F: 0}


def _value_size(buf: Any, kind: int, pos: int) -> int | None:
    """Bytes taken by the value of type `kind` at `pos`; None for a type not sized here (regex)."""
    size = _FIXED_SIZE.get(kind)
    if size is not None:
        return size
    plus = _LENGTH_PLUS.get(kind)
    if plus is None or pos + 4 > len(buf):
        return None
    return _INT32.unpack_from(buf, pos)[0] + plus


def _next_element(buf: Any, pos: int, end: int) -> tuple[int, int, int] | None:
    """The element at `pos` inside buf[:end]: (type, value offset, where the next element starts);
    None if its name has no NUL before `end` or its value cannot be sized (regex) or has a negative size."""
    kind = buf[pos]
    nul = buf.find(0, pos + 1, end)
    if nul < 0:
        return None
    # Documents first: a batch holds them (EncodedBatch.scan walks one per document).
    if kind == _DOCUMENT and nul + 5 <= end:
        size = _INT32.unpack_from(buf, nul + 1)[0]
    else:
        size = _value_size(buf, kind, nul + 1)
    if size is None or size < 0:
        return None
    return kind, nul + 1, nul + 1 + size


def _find_element(buf: Any, pos: int, end: int, names: tuple[bytes, ...]) -> tuple[int, int, bytes] | None:
    """The one element among buf[pos:end] named one of `names`: (type, value offset, name).

    None if there is none, if there are two (bson.decode keeps the last of duplicate names, the
    walk would take the first: the caller decodes the whole reply instead, which agrees with every
    other reply) or if the elements do not fill buf[pos:end] exactly. The whole span is walked: a
    reply and its cursor hold a few elements."""
    found = None
    while pos < end:
        element = _next_element(buf, pos, end)
        if element is None:
            return None
        kind, value, next_pos = element
        name = bytes(buf[pos + 1:value - 1])
        pos = next_pos
        if name in names:
            if found is not None:
                return None
            found = kind, value, name
    return found if pos == end else None


def _embedded(buf: Any, start: int, end: int, names: tuple[bytes, ...], kind: int) -> tuple[int, int, str] | None:
    """The document (or array, `kind`) named one of `names` in the document buf[start:end], well framed
    inside it: (its start, its end, its name); None if there is none."""
    found = _find_element(buf, start + 4, end - 1, names)
    if found is None or found[0] != kind:
        return None
    pos = found[1]
    if pos + 5 > end - 1:
        return None
    value_end = pos + _INT32.unpack_from(buf, pos)[0]
    if not pos + 5 <= value_end <= end - 1 or buf[value_end - 1] != 0:
        return None
    return pos, value_end, found[2].decode()


def decode_cursor_reply(buf: Any, pos: int, end: int, options: Any) -> dict[str, Any] | None:
    """The reply document buf[pos:end], its cursor.firstBatch (or nextBatch) an EncodedBatch.

    None when the document is not such a reply, is malformed or names its cursor or batch twice:
    the caller decodes it whole, which reports what is wrong (a hostile reply gets the one
    ProtocolError every reply gets, never other data). The reply's and the cursor's few elements
    are walked; the batch's documents once, by EncodedBatch.scan."""
    if options.document_class is not dict or end - pos < 5 or _INT32.unpack_from(buf, pos)[0] != end - pos:
        return None
    cursor = _embedded(buf, pos, end, (b"cursor",), _DOCUMENT)
    if cursor is None:
        return None
    start, cursor_end, _ = cursor
    array = _embedded(buf, start, cursor_end, _BATCH_NAMES, _ARRAY)
    if array is None:
        return None
    array_start, array_end, name = array
    batch = EncodedBatch.scan(buf, array_start + 4, array_end - 1, options)
    if batch is None:
        return None
    # The reply without its batch: the same bytes with an empty array in its place (and the two
    # enclosing lengths fixed), decoded as any reply.
    removed = array_end - array_start - len(_EMPTY_ARRAY)
    head = b"".join((_INT32.pack(end - pos - removed), buf[pos + 4:start],
                     _INT32.pack(cursor_end - start - removed), buf[start + 4:array_start],
                     _EMPTY_ARRAY, buf[array_end:end]))
    try:
        document = bson.decode(head, codec_options=options)
    except Exception:  # noqa: BLE001 - the caller's whole decode reports it
        return None
    # The walk found one cursor and one batch: the decoder must agree it placed the empty array there.
    cursor_document = document.get("cursor")
    if type(cursor_document) is not dict or cursor_document.get(name) != []:
        return None
    cursor_document[name] = batch
    return document


class EncodedBatch:
    """A cursor batch still in the reply's bytes: its documents decoded a chunk (~CHUNK_BYTES) at a time.

    Consumed as it is read: `take_chunk()` decodes the next chunk (one C call), `take_all()`
    the rest; `len()` counts the documents not taken yet. Invalid BSON in a document raises
    ProtocolError when its chunk is decoded.
    """

    __slots__ = ("_view", "_options", "_ends", "_counts", "_next", "_pos", "_left")

    def __init__(self, view: memoryview, start: int, ends: list[int], counts: list[int], options: Any) -> None:
        self._view = view
        self._options = options
        self._ends = ends  # where each chunk's elements end
        self._counts = counts  # how many documents each chunk holds
        self._next = 0  # the next chunk to decode
        self._pos = start  # where it starts
        self._left = sum(counts)

    @classmethod
    def scan(cls, buf: Any, start: int, end: int, options: Any) -> "EncodedBatch | None":
        """The batch whose array elements fill buf[start:end], cut into chunks; None if they do not fit."""
        ends: list[int] = []
        counts: list[int] = []
        # One _next_element call per document: ~0.3 us more than the walk written inline here,
        # 2-5 ms per 10,000 documents against find_many's ~180 ms CPU for them (under 3%).
        next_element = _next_element
        pos, count, chunk_end = start, 0, start + CHUNK_BYTES
        while pos < end:
            element = next_element(buf, pos, end)
            if element is None:
                return None
            pos = element[2]
            count += 1
            if pos >= chunk_end:
                ends.append(pos)
                counts.append(count)
                count, chunk_end = 0, pos + CHUNK_BYTES
        if pos != end:
            return None
        if count:
            ends.append(pos)
            counts.append(count)
        return cls(memoryview(buf), start, ends, counts, options)

    def __len__(self) -> int:
        return self._left

    def take_chunk(self) -> list[Any]:
        """The next chunk's documents (empty when all were taken)."""
        i = self._next
        if i == len(self._ends):
            return []
        documents = self._decode(self._pos, self._ends[i])
        self._next, self._pos = i + 1, self._ends[i]
        self._left -= self._counts[i]
        return documents

    def take_all(self) -> list[Any]:
        """The documents not taken yet, all at once."""
        if self._next == len(self._ends):
            return []
        documents = self._decode(self._pos, self._ends[-1])
        self._next, self._pos, self._left = len(self._ends), self._ends[-1], 0
        return documents

    def _decode(self, start: int, end: int) -> list[Any]:
        """The elements in [start, end) decoded as one array: {"": [elements]} (one C call)."""
        size = end - start
        wrapper = b"".join((_WRAPPER_HEAD.pack(size + 12, _ARRAY, 0, size + 5), self._view[start:end], _WRAPPER_TAIL))
        try:
            return bson.decode(wrapper, codec_options=self._options)[""]
        except Exception as exc:  # any decoder failure on peer bytes is a protocol fault, not a crash
            # Offsets count from the message's first header byte, as the other parse errors say.
            raise ProtocolError(f"cursor batch: invalid BSON in the documents at offsets {start + HEADER_SIZE}-"
                                f"{end + HEADER_SIZE}: {exc}") from None

    def __repr__(self) -> str:
        return f"<EncodedBatch {self._left} documents not decoded>"
