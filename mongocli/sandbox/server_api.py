"""The server side of the Stable API: apiVersion/apiStrict/apiDeprecationErrors checked as mongod does, and its test commands."""

from __future__ import annotations

from typing import Any, Mapping

# Commands in API Version 1 (MongoDB manual, "Stable API Changelog"; server 8.0). With apiStrict: true
# a command outside the declared version fails with APIStrictError.
API_V1_COMMANDS = frozenset({
    "abortTransaction", "aggregate", "authenticate", "bulkWrite", "collMod", "commitTransaction", "count",
    "create", "createIndexes", "delete", "drop", "dropDatabase", "dropIndexes", "endSessions", "explain",
    "find", "findAndModify", "getMore", "hello", "insert", "killCursors", "listCollections", "listDatabases",
    "listIndexes", "ping", "refreshSessions", "saslContinue", "saslStart", "update",
})
# The server's test-only commands for the Stable API (registered with enableTestCommands), by the
# API versions each belongs to and those it is deprecated in (server: api_version_test_commands.cpp).
TEST_COMMANDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "testDeprecation": (frozenset({"1"}), frozenset({"1"})),
    "testVersions1And2": (frozenset({"1", "2"}), frozenset()),
    "testVersion2": (frozenset({"2"}), frozenset()),
    "testDeprecationInVersion2": (frozenset({"1", "2"}), frozenset({"2"})),
    "testRemoval": (frozenset({"1"}), frozenset()),
}
# Hello and its legacy names stay usable without an apiVersion when requireApiVersion is on, so
# drivers can monitor such a server (server: the requireApiVersion check exempts them).
_EXEMPT_FROM_REQUIRE = frozenset({"hello", "isMaster", "ismaster"})

# Server parameters this module reads; set at startup (mongod --setParameter) or by setParameter.
# acceptApiVersion2 is the server's test-only switch for the fake version "2" that the test
# commands above use; the sandbox, like a server started for the driver tests, turns it on.
DEFAULT_PARAMETERS: dict[str, Any] = {"requireApiVersion": False, "acceptApiVersion2": True}
SETTABLE = frozenset(DEFAULT_PARAMETERS)

API_VERSION_ERROR = 322
API_STRICT_ERROR = 323
API_DEPRECATION_ERROR = 324
_DOCS = "https://dochub.mongodb.org/core/manual-versioned-api"


def _error(code: int, code_name: str, errmsg: str) -> dict[str, Any]:
    return {"ok": 0.0, "errmsg": errmsg, "code": code, "codeName": code_name}


def api_versions(name: str) -> frozenset[str]:
    """The API versions command `name` belongs to (empty: in none)."""
    if name in TEST_COMMANDS:
        return TEST_COMMANDS[name][0]
    return frozenset({"1"}) if name in API_V1_COMMANDS else frozenset()


def check(name: str, cmd: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any] | None:
    """The error reply a server gives before running `cmd` because of its API parameters, or None."""
    version = cmd.get("apiVersion")
    for field in ("apiStrict", "apiDeprecationErrors"):
        if field in cmd and not isinstance(cmd[field], bool):
            return _error(14, "TypeMismatch", f"BSON field '{field}' is the wrong type "
                                              f"'{type(cmd[field]).__name__}', expected type 'bool'")
    if version is None:
        for field in ("apiStrict", "apiDeprecationErrors"):
            if field in cmd:
                return _error(4886600, "Location4886600", f"Provided {field} without passing apiVersion")
        if parameters.get("requireApiVersion") and name not in _EXEMPT_FROM_REQUIRE:
            return _error(498870, "Location498870", "The apiVersion parameter is required, please configure "
                                                    "your MongoClient's API version")
        return None
    if not isinstance(version, str):
        return _error(14, "TypeMismatch", f"BSON field 'apiVersion' is the wrong type "
                                          f"'{type(version).__name__}', expected type 'string'")
    accepted = ("1", "2") if parameters.get("acceptApiVersion2") else ("1",)
    if version not in accepted:
        return _error(API_VERSION_ERROR, "APIVersionError",
                      "API version must be " + " or ".join(f'"{v}"' for v in accepted))
    if cmd.get("apiStrict") and version not in api_versions(name):
        return _error(API_STRICT_ERROR, "APIStrictError",
                      f"Provided apiStrict:true, but the command {name} is not in API Version {version}. "
                      f"Information on supported commands and migrations in API Version {version} can be "
                      f"found at {_DOCS}")
    if cmd.get("apiDeprecationErrors") and name in TEST_COMMANDS and version in TEST_COMMANDS[name][1]:
        return _error(API_DEPRECATION_ERROR, "APIDeprecationError",
                      f"Provided apiDeprecationErrors:true, but the command {name} is deprecated in API "
                      f"Version {version}")
    return None


def set_parameters(parameters: dict[str, Any], cmd: Mapping[str, Any]) -> dict[str, Any]:
    """setParameter for the parameters above: the reply ({was: old value, ok: 1}) or an error."""
    names = [k for k in cmd if k not in ("setParameter", "$db", "lsid", "$clusterTime", "$readPreference",
                                         "apiVersion", "apiStrict", "apiDeprecationErrors", "comment")]
    if not names:
        return _error(2, "BadValue", "no option found to set, use help:true to see options")
    reply: dict[str, Any] = {}
    for key in names:
        if key not in SETTABLE:
            return _error(72, "InvalidOptions", f"attempted to set unrecognized parameter [{key}], use "
                                                "help:true to see options")
        if not isinstance(cmd[key], bool):
            return _error(14, "TypeMismatch", f"parameter {key} takes a boolean, not {cmd[key]!r}")
    for key in names:
        reply.setdefault("was", parameters[key])
        parameters[key] = cmd[key]
    return {**reply, "ok": 1.0}



API_MISMATCH_ERROR = 325
MAX_TRACKED_CURSORS = 10_000  # a bound for cursors clients open and never finish
_API_FIELDS = ("apiVersion", "apiStrict", "apiDeprecationErrors")


def parameters_of(cmd: Mapping[str, Any]) -> dict[str, Any]:
    """The API parameters a command carries (what the server compares between related commands)."""
    return {k: cmd[k] for k in _API_FIELDS if k in cmd}


def _shown(params: Mapping[str, Any]) -> str:
    return "{ " + ", ".join(f"{k}: {v!r}" for k, v in params.items()) + " }" if params else "{}"


def mismatch(name: str, cmd: Mapping[str, Any], first: Mapping[str, Any], what: str) -> dict[str, Any] | None:
    """APIMismatchError when `cmd` does not repeat the API parameters of `what` (the cursor-creating
    command of a getMore, the first command of a transaction), else None (server behaviour)."""
    used = parameters_of(cmd)
    if used == dict(first):
        return None
    return _error(API_MISMATCH_ERROR, "APIMismatchError",
                  f"API parameter mismatch: {name} used params {_shown(used)}, {what} used {_shown(first)}")


class CursorParameters:
    """The API parameters each open cursor was created with, so getMore can be held to them."""

    def __init__(self) -> None:
        self._by_id: dict[int, dict[str, Any]] = {}

    def check_get_more(self, cmd: Mapping[str, Any]) -> dict[str, Any] | None:
        """The error a getMore with other API parameters than its cursor's gets, or None."""
        first = self._by_id.get(int(cmd.get("getMore") or 0))
        return None if first is None else mismatch("getMore", cmd, first, "the cursor-creating command")

    def after(self, name: str, cmd: Mapping[str, Any], reply: Mapping[str, Any]) -> None:
        """Keep track after a data command: a cursor opened, exhausted (getMore id 0) or killed."""
        if name == "killCursors":
            for cursor_id in cmd.get("cursors") or ():
                self._by_id.pop(int(cursor_id), None)
        elif name == "getMore":
            cursor = reply.get("cursor")
            if not reply.get("ok") or (isinstance(cursor, Mapping) and not cursor.get("id")):
                self._by_id.pop(int(cmd.get("getMore") or 0), None)
        else:
            cursor = reply.get("cursor") if reply.get("ok") else None
            if isinstance(cursor, Mapping) and cursor.get("id"):
                if len(self._by_id) >= MAX_TRACKED_CURSORS:  # abandoned cursors: forget the oldest
                    self._by_id.pop(next(iter(self._by_id)))
                self._by_id[int(cursor["id"])] = parameters_of(cmd)
