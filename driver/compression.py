"""Wire compressors (OP_COMPRESSED spec): the id table, compress/decompress, negotiation."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable, Iterable

from driver.errors import ConfigurationError, ProtocolError

# Commands whose messages MUST NOT be compressed (OP_COMPRESSED spec, "Messages not allowed to
# be compressed"): handshake and authentication traffic, to limit compression side channels.
UNCOMPRESSIBLE_COMMANDS = frozenset(
    {
        "hello",
        "ismaster",
        "saslstart",
        "saslcontinue",
        "getnonce",
        "authenticate",
        "createuser",
        "updateuser",
        "copydbsaslstart",
        "copydbgetnonce",
        "copydb",
    }
)


@dataclass(frozen=True)
class Compressor:
    """One entry of the compressor table; `compress` is None when mongocli cannot use it."""

    name: str
    compressor_id: int
    compress: Callable[[bytes, int], bytes] | None
    decompress: Callable[[bytes, int], bytes] | None

    @property
    def available(self) -> bool:
        return self.compress is not None and self.decompress is not None


def _noop_compress(data: bytes, level: int) -> bytes:
    return bytes(data)


def _noop_decompress(data: bytes, expected_size: int) -> bytes:
    return bytes(data)


def _zlib_compress(data: bytes, level: int) -> bytes:
    if not -1 <= level <= 9:
        raise ConfigurationError(f"zlibCompressionLevel must be between -1 and 9, got {level}")
    return zlib.compress(data, level)


def _zlib_decompress(data: bytes, expected_size: int) -> bytes:
    # Bound the output at expected_size + 1: a hostile peer cannot make us inflate a "zip bomb"
    # past the size it declared, and one extra byte is enough to detect the overrun.
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, expected_size + 1)
    except zlib.error as exc:
        raise ProtocolError(f"OP_COMPRESSED zlib payload is corrupt: {exc}") from None
    if not inflater.eof and len(out) <= expected_size:
        raise ProtocolError("OP_COMPRESSED zlib payload is truncated (stream does not end)")
    if inflater.unused_data:
        raise ProtocolError(f"OP_COMPRESSED zlib payload has {len(inflater.unused_data)} bytes after its end")
    return out


# compressorId values are fixed by the spec ("Compressor IDs"); snappy and zstd need third-party
# packages that mongocli does not depend on, so they are listed but unavailable.
COMPRESSORS: dict[str, Compressor] = {
    "noop": Compressor("noop", 0, _noop_compress, _noop_decompress),
    "snappy": Compressor("snappy", 1, None, None),
    "zlib": Compressor("zlib", 2, _zlib_compress, _zlib_decompress),
    "zstd": Compressor("zstd", 3, None, None),
}
COMPRESSORS_BY_ID: dict[int, Compressor] = {c.compressor_id: c for c in COMPRESSORS.values()}

# Names a client may put in the handshake's `compression` array ("noop" is for tests only).
SUPPORTED_COMPRESSORS = tuple(name for name, c in COMPRESSORS.items() if c.available and name != "noop")


def get_compressor(name: str) -> Compressor:
    """Return the usable compressor called `name`, or raise ConfigurationError saying why not."""
    compressor = COMPRESSORS.get(name)
    if compressor is None:
        known = ", ".join(COMPRESSORS)
        raise ConfigurationError(f"unknown compressor {name!r}; known compressors: {known}")
    if not compressor.available:
        usable = ", ".join(SUPPORTED_COMPRESSORS)
        raise ConfigurationError(
            f"compressor {name!r} is not available in mongocli (no {name} library); use one of: {usable}"
        )
    return compressor


def negotiate(client_list: Iterable[str], server_list: Iterable[str] | None) -> str | None:
    """Pick the compressor to use after the handshake, or None for no compression.

    OP_COMPRESSED spec, "MongoDB Handshake Amendment": clients MUST use the first compressor
    in the client's configured list that is also in the server's list. Names mongocli cannot
    use are skipped rather than chosen.
    """
    server = set(server_list or ())
    for name in client_list:
        compressor = COMPRESSORS.get(name)
        if name in server and compressor is not None and compressor.available:
            return name
    return None


def may_compress(command_name: str) -> bool:
    """False for the handshake and authentication commands that MUST NOT be compressed."""
    return command_name.lower() not in UNCOMPRESSIBLE_COMMANDS
