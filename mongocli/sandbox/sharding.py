"""mongos's sharding admin commands as far as a single-"shard" sandbox can answer them:
enableSharding and shardCollection (accepted; the data stays where it is, so the shard key is
not kept; shardCollection is reported to change streams as its expanded event) and
checkMetadataConsistency (one catalog: never an inconsistency)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mongocli.sandbox.commands import command, error

if TYPE_CHECKING:  # pragma: no cover
    from mongocli.sandbox.server import Connection


def _on_mongos(conn: "Connection", name: str) -> dict[str, Any] | None:
    if conn.member.deployment.topology != "sharded":
        return error(59, "CommandNotFound", f"no such command: '{name}' (sharding commands need mongos)")
    return None


@command("enableSharding", "enablesharding")
async def _enable_sharding(conn: "Connection", db: str, cmd: dict) -> dict:
    if (bad := _on_mongos(conn, "enableSharding")) is not None:
        return bad
    return {"ok": 1.0}


@command("shardCollection", "shardcollection")
async def _shard_collection(conn: "Connection", db: str, cmd: dict) -> dict:
    if (bad := _on_mongos(conn, "shardCollection")) is not None:
        return bad
    if db != "admin":
        return error(13, "Unauthorized", "shardCollection may only be run against the admin database.")
    ns, key = cmd.get("shardCollection", cmd.get("shardcollection")), cmd.get("key")
    if not isinstance(ns, str) or "." not in ns or not isinstance(key, dict) or not key:
        return error(2, "BadValue", "shardCollection needs a full namespace 'db.collection' and a key document")
    deployment = conn.member.deployment
    coll_db, _, coll_name = ns.partition(".")
    coll = deployment.engine.catalog.ensure(coll_db, coll_name)  # a real mongos creates it too
    deployment.journal.record_event("shardCollection", coll_db, coll_name, uuid=coll.uuid, operationDescription={
        "shardKey": dict(key), "unique": bool(cmd.get("unique", False)), "presplitHashedZones": False})
    deployment.note_write()
    return {"collectionsharded": ns, "ok": 1.0}


@command("checkMetadataConsistency")
async def _check_metadata_consistency(conn: "Connection", db: str, cmd: dict) -> dict:
    """A cursor over the inconsistencies found (server 7.0+): the sandbox keeps one catalog for its
    single shard and the config metadata, so there are never any; an empty, exhausted cursor."""
    if (bad := _on_mongos(conn, "checkMetadataConsistency")) is not None:
        return bad
    target = cmd.get("checkMetadataConsistency")
    if not (target == 1 or isinstance(target, str)):
        return error(2, "BadValue", "checkMetadataConsistency takes 1 (the database or cluster) or a collection name")
    return {"cursor": {"id": 0, "ns": f"{db}.$cmd.checkMetadataConsistency", "firstBatch": []}, "ok": 1.0}
