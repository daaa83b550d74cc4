"""Sandbox deployments for the unified runner, with an internal (PyMongo) client for set-up and checks."""

from __future__ import annotations

from typing import Any

from mongocli.sandbox import Sandbox
from tests.spec.unified.runner import ServerInfo, parse_version

# unified topology name -> Sandbox(...) arguments. Two mongoses let useMultipleMongoses mean something.
SANDBOX_ARGS = {
    "single": {"topology": "standalone"},
    "replicaset": {"topology": "replset", "members": 3, "election_delay_ms": 100},
    "sharded": {"topology": "sharded", "members": 2},
}


class SandboxDeployment:
    """One running sandbox and the runner's internal client for it.

    The internal client is PyMongo (a test-only peer): initialData, outcome checks and fail-point
    clean-up must not depend on the driver under test (unified format, "Internal MongoClient").
    """

    def __init__(self, topology: str, server_version: str | None = None) -> None:
        import pymongo

        self.topology = topology
        self.sandbox = Sandbox(host="127.0.0.1", port=0, server_version=server_version,
                               **SANDBOX_ARGS[topology]).start()
        self._pymongo = pymongo
        self.internal = pymongo.MongoClient(self.sandbox.uri, serverSelectionTimeoutMS=5000)
        self._direct: dict[str, Any] = {}
        build = self.internal.admin.command("buildInfo")
        params = self.internal.admin.command({"getParameter": "*"})
        self.info = ServerInfo(parse_version(build["version"]), topology, params,
                               auth=self._auth_enabled(), sharded_replicaset=self._shards_are_replica_sets())
        self._majority = pymongo.WriteConcern("majority")

    def _auth_enabled(self) -> bool:
        """runOnRequirement.auth: a server with auth on refuses listDatabases to an anonymous client."""
        try:
            self.internal.admin.command("listDatabases", nameOnly=True)
        except self._pymongo.errors.OperationFailure as exc:
            return exc.code in (13, 18)  # Unauthorized / AuthenticationFailed
        return False

    def _shards_are_replica_sets(self) -> bool:
        """Unified format, "Determining if a Sharded Cluster Uses Replica Sets": every config.shards
        host is "<replSetName>/host,...". No listed shard means it cannot be shown, so False."""
        if self.topology != "sharded":
            return False
        try:
            hosts = [doc.get("host", "") for doc in self.internal.config.shards.find({}, {"host": 1})]
        except self._pymongo.errors.PyMongoError:
            return False
        return bool(hosts) and all("/" in host for host in hosts)

    def stop(self) -> None:
        """Close internal clients and stop the sandbox."""
        for client in self._direct.values():
            client.close()
        self.internal.close()
        self.sandbox.stop()

    # -- what entity clients connect to -----------------------------------------------------------
    def client_uri(self, use_multiple_mongoses: bool | None, *, direct: bool = False) -> str:
        """The connection string for a client entity (unified format, "useMultipleMongoses";
        directConnection needs exactly one seed and no replicaSet option)."""
        if self.topology == "replicaset" and direct:
            return f"mongodb://{self.sandbox.wait_for_primary(10)}/"
        if self.topology == "sharded" and (use_multiple_mongoses is False or direct):
            return f"mongodb://{self.sandbox.addresses[0]}/"
        return self.sandbox.uri

    # -- internal operations ----------------------------------------------------------------------
    def before_test(self) -> None:
        """A replica set may have lost its primary in the previous test: wait for one. Then end
        every session's open transaction (unified format, "Executing a Test": killAllSessions
        cleans up transactions a previous test left open, e.g. after a failed commit)."""
        if self.topology == "replicaset":
            self.sandbox.wait_for_primary(10)
        if self.topology in ("replicaset", "sharded"):
            try:  # the sandbox keeps one transaction table per deployment: one command suffices
                self.internal.admin.command("killAllSessions", [])
            except self._pymongo.errors.OperationFailure:
                pass  # the spec: errors (e.g. Interrupted, 11601) are ignored

    def reset_collection(self, db: str, name: str, documents: list, create_options: dict | None) -> None:
        """initialData (unified format, "Executing a Test"): drop, create when createOptions are
        given or there are no documents (an insert creates it otherwise), insert; all "majority"."""
        database = self.internal.get_database(db, write_concern=self._majority)
        database.drop_collection(name)
        if create_options or not documents:
            database.create_collection(name, **(create_options or {}))
        if documents:
            database[name].insert_many(documents)

    def read_collection(self, db: str, name: str) -> list[dict]:
        """outcome: the collection's documents sorted by _id, read from the primary."""
        from pymongo import ReadPreference
        from pymongo.read_concern import ReadConcern

        coll = self.internal.get_database(db).get_collection(
            name, read_preference=ReadPreference.PRIMARY, read_concern=ReadConcern("local"))
        return list(coll.find({}, sort=[("_id", 1)]))

    def collection_names(self, db: str) -> list[str]:
        return self.internal.get_database(db).list_collection_names()

    def index_names(self, db: str, coll: str) -> list[str]:
        return [ix["name"] for ix in self.internal.get_database(db)[coll].list_indexes()]

    def _direct_client(self, member: str) -> Any:
        if member not in self._direct:
            self._direct[member] = self._pymongo.MongoClient(member, directConnection=True,
                                                             serverSelectionTimeoutMS=2000)
        return self._direct[member]

    def configure_failpoint(self, command: dict, address: str) -> None:
        """configureFailPoint on one member or mongos (targetedFailPoint)."""
        self._direct_client(address).admin.command(command)

    def disable_failpoint(self, name: str, address: str | None = None) -> None:
        """configureFailPoint mode off on `address`, or on every live member."""
        for member in [address] if address else self.sandbox.addresses:
            try:
                self._direct_client(member).admin.command({"configureFailPoint": name, "mode": "off"})
            except self._pymongo.errors.ConnectionFailure:
                continue  # a member a test shut down has no fail points left to disable


class DeploymentPool:
    """Sandboxes started on first use, one per (topology, server version), stopped together at the end."""

    def __init__(self) -> None:
        self._running: dict[tuple[str, str], SandboxDeployment] = {}

    def get(self, topology: str, server_version: str) -> SandboxDeployment:
        key = (topology, server_version)
        if key not in self._running:
            self._running[key] = SandboxDeployment(topology, server_version)
        return self._running[key]

    def info(self, topology: str, server_version: str) -> ServerInfo:
        return self.get(topology, server_version).info

    def stop(self) -> None:
        for deployment in self._running.values():
            deployment.stop()
        self._running.clear()
