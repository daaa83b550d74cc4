"""The database profiler: the `profile` command and the entries it writes to <db>.system.profile."""

from __future__ import annotations

import datetime
from typing import Any

from bson import Int64, ObjectId

from mongocli.sandbox.engine_store import Catalog, bson_size
from mongocli.sandbox.engine_values import error

# "op" of a profiler entry per command (server: the CurOp's logical op).
_OPS = {"find": "query", "insert": "insert", "update": "update", "delete": "remove", "getMore": "getmore"}
_PROFILE_SIZE = 1024 * 1024  # system.profile is a 1 MB capped collection by default


class Profiler:
    """Per-database profiling level (0 off, 1 slow operations, 2 all) and slowms."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.levels: dict[str, int] = {}
        self.slowms = 100
        self.sample_rate = 1.0

    def command(self, db: str, cmd: dict) -> dict:
        """profile: set the level (-1 only reads it); the reply says what it was."""
        level = cmd.get("profile")
        if isinstance(level, bool) or not isinstance(level, (int, float)) or level not in (-1, 0, 1, 2):
            raise error(2, f"Invalid profiling level: {level!r}; choose -1, 0, 1 or 2")
        was = self.levels.get(db, 0)
        reply: dict[str, Any] = {"was": was, "slowms": self.slowms, "sampleRate": self.sample_rate, "ok": 1.0}
        if "slowms" in cmd:
            self.slowms = int(cmd["slowms"])
        if "sampleRate" in cmd:
            self.sample_rate = float(cmd["sampleRate"])
        if level != -1:
            self.levels[db] = int(level)
        return reply

    def record(self, db: str, cmd: dict, reply: dict, millis: int) -> None:
        """Write one system.profile entry for a command that ran, when the level asks for it."""
        level = self.levels.get(db, 0)
        if not level or (level == 1 and millis < self.slowms):
            return
        name = next(iter(cmd))
        target = cmd.get(name) if name != "getMore" else cmd.get("collection")
        if name == "system.profile" or target == "system.profile":
            return  # reading the profile does not grow it here (a server would profile it too)
        entry: dict[str, Any] = {"op": _OPS.get(name, "command"),
                                 "ns": f"{db}.{target}" if isinstance(target, str) else f"{db}.$cmd",
                                 "command": dict(cmd, **{"$db": db})}
        cursor = reply.get("cursor")
        if isinstance(cursor, dict):
            entry["nreturned"] = len(cursor.get("firstBatch", cursor.get("nextBatch", [])))
            entry["cursorid"] = cursor.get("id", Int64(0))
        if "n" in reply:
            entry["ninserted" if name == "insert" else "nMatched" if name == "update" else "ndeleted"
                  if name == "delete" else "n"] = reply["n"]
        entry.update(ok=reply.get("ok", 0.0), millis=millis, planSummary="COLLSCAN",
                     ts=datetime.datetime.now(datetime.timezone.utc), client="127.0.0.1",
                     allUsers=[], user="")
        if not reply.get("ok"):
            entry.update(errCode=reply.get("code"), errMsg=reply.get("errmsg"))
        profile = self.catalog.get(db, "system.profile")
        if profile is None:
            profile = self.catalog.ensure(db, "system.profile")
            profile.options = {"capped": True, "size": _PROFILE_SIZE}
        # The store keys documents by _id, so entries carry one (a server's have none).
        doc = {"_id": ObjectId(), **entry}
        profile.insert(doc, bson_size(doc, 16 * 1024 * 1024))
