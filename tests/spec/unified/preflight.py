"""Decide before a test starts what it needs that this runner/driver lacks, so it is skipped without
creating clients (unified format, "Executing an Operation": runners MAY skip tests using operations
that are intentionally unimplemented)."""

from __future__ import annotations

import inspect
from typing import Any, Iterator

from tests.spec.unified.runner import Skip

UNSUPPORTED_CLIENT_OPTIONS = ("autoEncryptOpts", "storeEventsAsEntities")
UNSUPPORTED_ENTITIES = {
    "bucket": "GridFS bucket entities are unsupported: the driver has no GridFS API",
    "clientEncryption": "clientEncryption entities are unsupported: the driver has no CSFLE/QE support",
}
SUPPORTED_ENTITIES = ("client", "database", "collection", "session", "thread")


def entity_unsupported(kind: str, body: dict) -> str | None:
    """Why an entity of `kind` described by `body` cannot be created here, or None."""
    if kind in UNSUPPORTED_ENTITIES:
        return UNSUPPORTED_ENTITIES[kind]
    if kind not in SUPPORTED_ENTITIES:
        return f"unsupported entity type {kind!r}"
    if kind == "client":
        for option in UNSUPPORTED_CLIENT_OPTIONS:
            if option in body:
                return f"client option {option} is unsupported by this runner/driver"
    if kind in ("database", "collection"):
        options = body.get("databaseOptions") or body.get("collectionOptions") or {}
        for key in options:
            if key not in ("readConcern", "writeConcern", "readPreference", "timeoutMS"):
                return f"collection/database option {key!r} is unsupported by this runner"
    if kind == "session" and "snapshot" in body.get("sessionOptions", {}):
        from driver.client import Client

        if "snapshot" not in inspect.signature(Client.start_session).parameters:
            return "session option snapshot: the driver has no snapshot sessions"
    return None


def _operations(ops: list[dict]) -> Iterator[dict]:
    """Every operation, including those nested in runOnThread and loop."""
    for op in ops:
        yield op
        args = op.get("arguments") or {}
        if op.get("name") == "runOnThread" and isinstance(args.get("operation"), dict):
            yield from _operations([args["operation"]])
        if op.get("name") == "loop" and isinstance(args.get("operations"), list):
            yield from _operations(args["operations"])


def _entities(file_doc: dict, test: dict) -> Iterator[tuple[str, dict]]:
    for spec in file_doc.get("createEntities", []):
        yield next(iter(spec.items()))
    for op in _operations(test.get("operations", [])):
        if op.get("object") == "testRunner" and op.get("name") == "createEntities":
            for spec in (op.get("arguments") or {}).get("entities", []):
                yield next(iter(spec.items()))


def check(file_doc: dict, test: dict) -> None:
    """Raise Skip naming the first unsupported entity, operation or argument the test uses."""
    from tests.spec.unified import operations

    kinds: dict[str, str] = {}
    for kind, body in _entities(file_doc, test):
        why = entity_unsupported(kind, body)
        if why:
            raise Skip(why)
        kinds[body["id"]] = kind
    for op in _operations(test.get("operations", [])):
        name, obj = op.get("name"), op.get("object")
        if obj == "testRunner":
            fn: Any = operations.TEST_RUNNER.get(name)
            if fn is None:
                raise Skip(f"unsupported testRunner operation {name!r}")
            if getattr(fn, "skip_reason", None):
                raise Skip(fn.skip_reason)
            continue  # its arguments (e.g. waitForPrimaryChange timeoutMS) are the runner's own
        if obj in kinds:
            fn = operations.ENTITY_OPS.get(kinds[obj], {}).get(name)
            if fn is None:
                raise Skip(f"unsupported operation {name!r} on a {kinds[obj]} entity")
        else:
            continue  # a saved result (cursor, change stream): its kind is known only at run time
        if getattr(fn, "skip_reason", None):
            raise Skip(fn.skip_reason)
        for arg, label in operations.UNSUPPORTED_ARGS.items():
            if arg in (op.get("arguments") or {}):
                raise Skip(f"argument {label} is unsupported by the driver")
        if "rawData" in (op.get("arguments") or {}) and name not in operations.RAW_DATA_OPERATIONS:
            raise Skip(f"argument rawData is unsupported by the driver's {name}")
