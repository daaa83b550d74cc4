"""MongoDB wire protocol codec (OP_MSG, OP_QUERY/OP_REPLY, OP_COMPRESSED); pure, no sockets."""

from driver.wire.decode import parse_body, parse_header, read_message
from driver.wire.encode import compress_message, encode_op_msg, encode_op_query, encode_op_reply
from driver.wire.crc32c import crc32c
from driver.wire.messages import (
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
    next_request_id,
)

__all__ = [
    "CHECKSUM_PRESENT",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "EXHAUST_ALLOWED",
    "HEADER_SIZE",
    "MORE_TO_COME",
    "OP_COMPRESSED",
    "OP_MSG",
    "OP_QUERY",
    "OP_REPLY",
    "MessageHeader",
    "OpMsg",
    "OpQuery",
    "OpReply",
    "compress_message",
    "crc32c",
    "encode_op_msg",
    "encode_op_query",
    "encode_op_reply",
    "next_request_id",
    "parse_body",
    "parse_header",
    "read_message",
]
