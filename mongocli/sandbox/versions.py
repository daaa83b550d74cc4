"""The server versions a sandbox can present: what each reports (wire version) and which features it has.

A sandbox started as version X reports X (buildInfo, serverStatus, featureCompatibilityVersion) and
X's maxWireVersion in hello, and refuses or omits what X lacks wherever a client can tell: the
features gated below are those the drivers' spec tests observe. Everything not gated here behaves as
the newest version does (the sandbox has one engine); the gates are the honest part of "behaves as X".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

# Server release -> maxWireVersion (the server's wire_version.h; "Server Wire version and Feature
# List" in the drivers' specifications). Only releases the sandbox can present are listed.
WIRE_VERSIONS = {
    (4, 2): 8,
    (4, 4): 9,
    (6, 0): 17,
    (7, 0): 21,
    (8, 0): 25,
    (8, 2): 27,
}
# The versions `--server-version` accepts, newest first; the first is the default.
SUPPORTED = ("8.2.1", "8.0.0", "7.0.0", "6.0.0", "4.4.29", "4.2.25")
DEFAULT = SUPPORTED[0]

# Feature -> the first release that has it. Each names what a client sees of it.
FEATURES = {
    # hello reports topologyVersion and answers awaitable (streaming) hellos (SDAM, "Streaming Protocol").
    "topologyVersion": (4, 4),
    # The server labels resumable change stream errors ResumableChangeStreamError (change streams spec,
    # "Resumable Error": before 4.4 the driver decides from an allowlist of codes).
    "resumableChangeStreamLabel": (4, 4),
    # The server labels retryable write errors RetryableWriteError (retryable writes spec).
    "retryableWriteLabel": (4, 4),
    # Write commands and findAndModify accept `comment`; every command accepts a comment of any BSON type.
    "anyComment": (4, 4),
    # `hint` on delete statements and findAndModify; `allowDiskUse` on find.
    "deleteHint": (4, 4),
    "findAllowDiskUse": (4, 4),
    # `let` on find, aggregate, update, delete and findAndModify.
    "let": (5, 0),
    # Stored documents may have $-prefixed field names (before: storage validation refuses them).
    "dollarFieldNames": (5, 0),
    # `sort` on update statements (updateOne/replaceOne) and in bulkWrite update ops.
    "updateSort": (8, 0),
    # The `bulkWrite` command across namespaces (the 8.0 client bulk write).
    "bulkWriteCommand": (8, 0),
    # Change events of collection and view creation carry nsType (showExpandedEvents).
    "nsType": (8, 1),
    # `rawData` on CRUD commands (timeseries buckets as stored).
    "rawData": (8, 2),
}
# getnonce (MONGODB-CR's nonce) was removed in 6.2.
_GETNONCE_REMOVED = (6, 2)
# StaleShardVersion (63) was a resumable change stream error until 6.0; 7.0 folded it into StaleConfig.
STALE_SHARD_VERSION = 63
_STALE_SHARD_VERSION_LAST = (6, 0)

# Commands whose statements may carry `sort` (update statements; bulkWrite update ops).
_STATEMENT_FIELDS = {"update": "updates", "bulkWrite": "ops"}
_LET_COMMANDS = frozenset({"find", "aggregate", "update", "delete", "findAndModify"})
# Commands that took no `comment` at all before 4.4 (the rest took a string).
_COMMENT_SINCE_4_4 = frozenset({"insert", "update", "delete", "findAndModify", "getMore"})
_RAW_DATA_COMMANDS = frozenset({"aggregate", "count", "distinct", "find", "findAndModify", "insert", "update",
                                "delete", "bulkWrite", "createIndexes", "dropIndexes", "listIndexes", "listCollections",
                                "collMod"})


class UnsupportedVersion(ValueError):
    """A server version the sandbox cannot present."""


@dataclass(frozen=True)
class ServerVersion:
    """One presentable release: its text ("8.2.1"), its parts and its maxWireVersion."""

    text: str
    parts: tuple[int, int, int]
    max_wire_version: int

    def has(self, feature: str) -> bool:
        """Whether this release has `feature` (a key of FEATURES)."""
        return self.parts[:2] >= FEATURES[feature]

    @property
    def fcv(self) -> str:
        """featureCompatibilityVersion as getParameter reports it ("8.2")."""
        return f"{self.parts[0]}.{self.parts[1]}"

    def labels_stale_shard_version_resumable(self) -> bool:
        return self.parts[:2] <= _STALE_SHARD_VERSION_LAST


def server_version(text: str | None = None) -> ServerVersion:
    """The ServerVersion for `text`: one of SUPPORTED, or its "major.minor" (default: the newest).
    UnsupportedVersion names the choices."""
    text = DEFAULT if text is None else str(text).strip()
    for known in SUPPORTED:
        if text in (known, known.rsplit(".", 1)[0]):
            parts = tuple(int(p) for p in known.split("."))
            return ServerVersion(known, parts, WIRE_VERSIONS[parts[:2]])  # type: ignore[arg-type]
    raise UnsupportedVersion(f"server version {text!r} is not one the sandbox can present: choose one of "
                             f"{', '.join(SUPPORTED)} (or its major.minor)")


def refusal(version: ServerVersion, name: str, cmd: Mapping[str, Any]) -> dict[str, Any] | None:
    """The error an older server returns for a command field newer than it, or None.

    Unknown fields fail the command's IDL parse before it runs: code 40415 "BSON field
    '<command>.<field>' is an unknown field." (a type mismatch is 14 TypeMismatch)."""
    if name == "getnonce" and version.parts[:2] >= _GETNONCE_REMOVED:
        return _error(59, "CommandNotFound", f"no such command: '{name}'")
    if name == "bulkWrite" and not version.has("bulkWriteCommand"):
        return _error(59, "CommandNotFound", f"no such command: '{name}'")
    if "rawData" in cmd and name in _RAW_DATA_COMMANDS and not version.has("rawData"):
        return _unknown_field(f"{name}.rawData")
    if "let" in cmd and name in _LET_COMMANDS and not version.has("let"):
        return _let_refusal(name)
    if "comment" in cmd and not version.has("anyComment"):
        if name in _COMMENT_SINCE_4_4:
            return _unknown_field(f"{name}.comment")
        if not isinstance(cmd["comment"], str):
            return _error(14, "TypeMismatch", f"BSON field '{name}.comment' is the wrong type "
                                              f"'{_type_name(cmd['comment'])}', expected type 'string'")
    if not version.has("deleteHint"):
        if name == "findAndModify" and "hint" in cmd:
            return _unknown_field("findAndModify.hint")
        if name == "delete" and _any_statement_has(cmd.get("deletes"), "hint"):
            return _unknown_field("delete.deletes.hint")
    if name == "find" and "allowDiskUse" in cmd and not version.has("findAllowDiskUse"):
        return _error(9, "FailedToParse", "Failed to parse: find. Unrecognized field 'allowDiskUse'.")
    field = _STATEMENT_FIELDS.get(name)
    if field and not version.has("updateSort"):
        if _any_statement_has(cmd.get(field), "sort"):
            return _unknown_field(f"{name}.{field}.sort")
    return None


def _any_statement_has(statements: Any, key: str) -> bool:
    return isinstance(statements, list) and any(isinstance(s, Mapping) and key in s for s in statements)


def _let_refusal(name: str) -> dict[str, Any]:
    """A 4.4 server's words for `let`: aggregate, find and findAndModify had hand-written parsers
    (AggregationRequest, QueryRequest, FindAndModifyRequest), update and delete the IDL's."""
    if name == "aggregate":
        return _error(9, "FailedToParse", "unrecognized field 'let'")
    if name == "find":
        return _error(9, "FailedToParse", "Failed to parse: find. Unrecognized field 'let'.")
    if name == "findAndModify":
        return _error(51177, "Location51177", "BSON field 'let' is an unknown field.")
    return _unknown_field(f"{name}.let")


def _unknown_field(path: str) -> dict[str, Any]:
    return _error(40415, "Location40415", f"BSON field '{path}' is an unknown field.")


def _error(code: int, code_name: str, errmsg: str) -> dict[str, Any]:
    return {"ok": 0.0, "errmsg": errmsg, "code": code, "codeName": code_name}


def _type_name(value: Any) -> str:
    return {bool: "bool", int: "int", float: "double", list: "array"}.get(type(value), "object")
