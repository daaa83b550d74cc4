"""The 8.0 `bulkWrite` admin command: mixed inserts, updates and deletes across namespaces.

Each op is run as a one-statement insert/update/delete command of the data engine, so its
semantics (filters, update operators, upserts, collation, arrayFilters, hint, sort, let) are the
engine's; this module only validates the command, maps ops to `nsInfo` namespaces and shapes
the reply as the server does (crud spec, "Client Bulk Write", "Command Response"):
a cursor of per-op results `{ok, idx, n[, nModified][, upserted]}` (errors only with
`errorsOnly`), plus nErrors, nInserted, nMatched, nModified, nUpserted, nDeleted.
"""

from __future__ import annotations

from typing import Any, Callable

from mongocli.sandbox.engine_values import CODE_NAMES, CommandError, error

RESULT_NS = "admin.$cmd.bulkWrite"
_OP_KINDS = ("insert", "update", "delete")
# Top-level fields that every per-op sub-command inherits.
_INHERITED = ("let", "bypassDocumentValidation", "comment")

Dispatch = Callable[[str, dict], dict]


def _require_list(cmd: dict, field: str) -> list:
    value = cmd.get(field)
    if value is None:
        raise error(40414, f"BSON field 'bulkWrite.{field}' is missing but a required field")
    if not isinstance(value, list):
        raise error(14, f"BSON field 'bulkWrite.{field}' is the wrong type "
                        f"'{type(value).__name__}', expected type 'array'")
    return value


def _namespaces(ns_info: list) -> list[tuple[str, str]]:
    out = []
    for i, entry in enumerate(ns_info):
        ns = entry.get("ns") if isinstance(entry, dict) else None
        if not isinstance(ns, str) or "." not in ns:
            raise error(73, f"BSON field 'bulkWrite.nsInfo.{i}.ns' must be a full namespace "
                            f"'db.collection', got {ns!r}")
        db, _, coll = ns.partition(".")
        out.append((db, coll))
    return out


def _sub_command(op: dict, kind: str, coll: str, inherited: dict) -> dict:
    """The one-statement engine command that performs ``op``."""
    if kind == "insert":
        document = op.get("document")
        if not isinstance(document, dict):
            raise error(40414, "BSON field 'bulkWrite.ops.document' is missing but a required field")
        return {"insert": coll, "documents": [document], **inherited}
    stmt: dict[str, Any] = {"q": op.get("filter", {}), "multi": bool(op.get("multi", False))}
    for name in ("collation", "hint"):
        if name in op:
            stmt[name] = op[name]
    if kind == "delete":
        stmt["limit"] = 0 if stmt.pop("multi") else 1
        return {"delete": coll, "deletes": [stmt], **inherited}
    if "updateMods" not in op:
        raise error(40414, "BSON field 'bulkWrite.ops.updateMods' is missing but a required field")
    stmt["u"] = op["updateMods"]
    for name in ("upsert", "arrayFilters", "sort"):
        if name in op:
            stmt[name] = op[name]
    return {"update": coll, "updates": [stmt], **inherited}


def _op_error(idx: int, exc: CommandError) -> dict:
    doc = {"ok": 0.0, "idx": idx, "code": exc.code, "codeName": exc.code_name, "errmsg": exc.errmsg}
    doc.update(exc.extra)
    return doc


def _statement_error(idx: int, write_error: dict) -> dict:
    code = write_error.get("code", 1)
    doc = {"ok": 0.0, "idx": idx, "code": code, "codeName": CODE_NAMES.get(code, f"Location{code}"),
           "errmsg": write_error.get("errmsg", "")}
    for key in ("keyPattern", "keyValue", "errInfo"):
        if key in write_error:
            doc[key] = write_error[key]
    return doc


def run(db: str, cmd: dict, dispatch: Dispatch, cursor_reply: Callable[..., dict]) -> dict:
    """Execute a bulkWrite command; ``dispatch(db, command)`` runs one engine command and
    ``cursor_reply(ns, docs, batch_size)`` turns the results into a cursor reply."""
    if db != "admin":
        raise error(13, "bulkWrite may only be run against the admin database.")
    ops = _require_list(cmd, "ops")
    namespaces = _namespaces(_require_list(cmd, "nsInfo"))
    if not ops:
        raise error(2, "bulkWrite: the 'ops' array must not be empty")
    ordered = cmd.get("ordered", True)
    errors_only = bool(cmd.get("errorsOnly", False))
    inherited = {k: cmd[k] for k in _INHERITED if k in cmd}
    counts = dict.fromkeys(("nErrors", "nInserted", "nMatched", "nModified", "nUpserted", "nDeleted"), 0)
    results: list[dict] = []
    for idx, op in enumerate(ops):
        kinds = [k for k in _OP_KINDS if isinstance(op, dict) and k in op]
        if len(kinds) != 1:
            raise error(9, f"bulkWrite: ops.{idx} must name exactly one of insert, update or delete")
        kind = kinds[0]
        ns_index = op[kind]
        if not isinstance(ns_index, int) or isinstance(ns_index, bool) or not 0 <= ns_index < len(namespaces):
            raise error(2, f"BulkWrite ops entry {idx} refers to namespace index {ns_index!r}, "
                           f"which is out of range of nsInfo (size {len(namespaces)})")
        op_db, coll = namespaces[ns_index]
        try:
            reply = dispatch(op_db, _sub_command(op, kind, coll, inherited))
        except CommandError as exc:
            result = _op_error(idx, exc)
        else:
            write_errors = reply.get("writeErrors")
            if not reply.get("ok"):
                result = _op_error(idx, CommandError(reply.get("code", 1), reply.get("codeName", ""),
                                                     reply.get("errmsg", "")))
            elif write_errors:
                result = _statement_error(idx, write_errors[0])
            else:
                result = {"ok": 1.0, "idx": idx, "n": reply.get("n", 0)}
                if kind == "update":
                    result["nModified"] = reply.get("nModified", 0)
                    upserted = reply.get("upserted")
                    if upserted:
                        result["upserted"] = {"_id": upserted[0]["_id"]}
                _count(counts, kind, result)
        if not result["ok"]:
            counts["nErrors"] += 1
        if not result["ok"] or not errors_only:
            results.append(result)
        if not result["ok"] and ordered:
            break
    batch_size = (cmd.get("cursor") or {}).get("batchSize") if isinstance(cmd.get("cursor"), dict) else None
    reply = cursor_reply(RESULT_NS, results, batch_size)
    ok = reply.pop("ok")
    reply.update(counts)
    reply["ok"] = ok
    return reply


def _count(counts: dict, kind: str, result: dict) -> None:
    n = result["n"]
    if kind == "insert":
        counts["nInserted"] += n
    elif kind == "delete":
        counts["nDeleted"] += n
    elif "upserted" in result:
        counts["nUpserted"] += 1
    else:
        counts["nMatched"] += n
        counts["nModified"] += result["nModified"]
