"""Sandbox deployments for the unified runner, with an internal client for set-up and checks."""

from __future__ import annotations

from mongocli.sandbox import Sandbox
from mongocli.sandbox.versions import server_version as server_version_of
from tests.spec.unified.internal_client import CommandFailed, PyMongoCommands, Unreachable, WireCommands, documents
from tests.spec.unified.runner import ServerInfo, parse_version

_MAJORITY = {"w": "majority"}
_NAMESPACE_NOT_FOUND = 26

# unified topology name -> Sandbox(...) arguments. Two mongoses let useMultipleMongoses mean something.
SANDBOX_ARGS = {
    "single": {"topology": "standalone"},
    "replicaset": {"topology": "replset", "members": 3, "election_delay_ms": 100},
    "sharded": {"topology": "sharded", "members": 2},
}


class SandboxDeployment:
    """One running sandbox and the runner's internal client for it.

    The internal client is PyMongo (a test-only peer), or a plain OP_MSG socket for a release
    PyMongo no longer speaks (internal_client.py): initialData, outcome checks and fail-point
    clean-up must not depend on the driver under test (unified format, "Internal MongoClient").
    Every internal operation is a command, so both send the same ones.
    """

    def __init__(self, topology: str, server_version: str | None = None) -> None:
        from pymongo.common import MIN_SUPPORTED_WIRE_VERSION

        self.topology = topology
        self.sandbox = Sandbox(host="127.0.0.1", port=0, server_version=server_version,
                               **SANDBOX_ARGS[topology]).start()
        wire = server_version_of(server_version).max_wire_version
        self.commands = PyMongoCommands(self.sandbox.uri) if wire >= MIN_SUPPORTED_WIRE_VERSION \
            else WireCommands(self.sandbox)
        build = self.commands.run("admin", {"buildInfo": 1})
        params = self.commands.run("admin", {"getParameter": "*"})
        self.info = ServerInfo(parse_version(build["version"]), topology, params,
                               auth=self._auth_enabled(), sharded_replicaset=self._shards_are_replica_sets())

    def _auth_enabled(self) -> bool:
        """runOnRequirement.auth: a server with auth on refuses listDatabases to an anonymous client."""
        try:
            self.commands.run("admin", {"listDatabases": 1, "nameOnly": True})
        except CommandFailed as exc:
            return exc.code in (13, 18)  # Unauthorized / AuthenticationFailed
        return False

    def _shards_are_replica_sets(self) -> bool:
        """Unified format, "Determining if a Sharded Cluster Uses Replica Sets": every config.shards
        host is "<replSetName>/host,...". No listed shard means it cannot be shown, so False."""
        if self.topology != "sharded":
            return False
        try:
            hosts = [doc.get("host", "") for doc in documents(self.commands, "config",
                                                              {"find": "shards", "projection": {"host": 1}})]
        except (CommandFailed, Unreachable):
            return False
        return bool(hosts) and all("/" in host for host in hosts)

    def stop(self) -> None:
        """Close the internal client and stop the sandbox."""
        self.commands.close()
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
                self.commands.run("admin", {"killAllSessions": []})
            except CommandFailed:
                pass  # the spec: errors (e.g. Interrupted, 11601) are ignored

    def reset_collection(self, db: str, name: str, documents: list, create_options: dict | None) -> None:
        """initialData (unified format, "Executing a Test"): drop, create when createOptions are
        given or there are no documents (an insert creates it otherwise), insert; all "majority"."""
        try:
            self.commands.run(db, {"drop": name, "writeConcern": _MAJORITY})
        except CommandFailed as exc:
            if exc.code != _NAMESPACE_NOT_FOUND:
                raise
        if create_options or not documents:
            self.commands.run(db, {"create": name, **(create_options or {}), "writeConcern": _MAJORITY})
        if documents:
            reply = self.commands.run(db, {"insert": name, "documents": documents, "writeConcern": _MAJORITY})
            if reply.get("writeErrors") or reply.get("writeConcernError"):
                raise AssertionError(f"initialData for {db}.{name} was not inserted: {reply}")

    def read_collection(self, db: str, name: str) -> list[dict]:
        """outcome: the collection's documents sorted by _id, read from the primary."""
        return list(documents(self.commands, db, {"find": name, "sort": {"_id": 1},
                                                  "readConcern": {"level": "local"}}))

    def collection_names(self, db: str) -> list[str]:
        return [c["name"] for c in documents(self.commands, db, {"listCollections": 1, "nameOnly": True})]

    def index_names(self, db: str, coll: str) -> list[str]:
        """The collection's index names; none when the collection does not exist."""
        try:
            return [ix["name"] for ix in documents(self.commands, db, {"listIndexes": coll})]
        except CommandFailed as exc:
            if exc.code == _NAMESPACE_NOT_FOUND:
                return []
            raise

    def configure_failpoint(self, command: dict, address: str) -> None:
        """configureFailPoint on one member or mongos (targetedFailPoint)."""
        self.commands.run("admin", command, address)

    def disable_failpoint(self, name: str, address: str | None = None) -> None:
        """configureFailPoint mode off on `address`, or on every live member."""
        for member in [address] if address else self.sandbox.addresses:
            try:
                self.commands.run("admin", {"configureFailPoint": name, "mode": "off"}, member)
            except Unreachable:
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
