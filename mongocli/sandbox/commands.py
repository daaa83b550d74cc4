"""Server-level commands (hello, ping, replSet*, auth, failpoints) and delegation to the DataEngine."""

from __future__ import annotations

import asyncio
import datetime
import os
import platform
import socket
import ssl
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping

from bson import Binary, Int64, Timestamp

from mongocli.sandbox import change_journal, cluster_time, scram, server_api, snapshot_reads, transactions, versions
from mongocli.sandbox.engine_values import CODE_NAMES
from mongocli.sandbox import users as users_module
from mongocli.sandbox.failpoints import FailPointError
from mongocli.sandbox.replication import (
    STALE_READ_COMMANDS, STOP_REPL_PRODUCER, check_write_concern_syntax, read_as_of,
)
from mongocli.sandbox.sessions import add_retryable_label, is_retryable_write
from mongocli.sandbox.where_sleep import extract_sleeps

if TYPE_CHECKING:  # pragma: no cover
    from mongocli.sandbox.deployment import Member
    from mongocli.sandbox.server import Connection

MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE_BYTES = 48_000_000
MAX_WRITE_BATCH_SIZE = 100_000
HELLO_NAMES = frozenset({"hello", "isMaster", "ismaster"})
# Compressors the sandbox negotiates (OP_COMPRESSED spec); noop works on the wire but, as on a
# real server, is never advertised.
SERVER_COMPRESSORS = ("zlib",)

# Commands a client may run before authenticating (a real server's requiresAuth() == false).
NO_AUTH_COMMANDS = HELLO_NAMES | {"ping", "buildInfo", "buildinfo", "saslStart", "saslContinue",
                                  "authenticate", "logout", "getnonce"}
ADMIN_ONLY = frozenset({"shutdown", "replSetStepDown", "replSetFreeze", "replSetGetStatus", "replSetGetConfig",
                        "configureFailPoint", "getLog", "getCmdLineOpts", "getParameter", "currentOp",
                        "killOp", "hostInfo", "fsync", "setParameter"})
# Data commands that write (refused on a secondary with NotWritablePrimary).
WRITE_COMMANDS = frozenset({"insert", "update", "delete", "findAndModify", "create", "drop", "dropDatabase",
                            "createIndexes", "dropIndexes", "renameCollection", "collMod", "bulkWrite"})
# Commands that take a writeConcern besides the data writes (server: supportsWriteConcern()).
WRITE_CONCERN_COMMANDS = frozenset({"createUser", "updateUser", "dropUser", "grantRolesToUser",
                                    "revokeRolesFromUser", "dropAllUsersFromDatabase",
                                    "commitTransaction", "abortTransaction"})
# Data commands a secondary serves without secondaryOk (the cursor already exists, or no data).
NO_SECONDARY_OK_NEEDED = frozenset({"getMore", "killCursors"})
# Generic arguments the sandbox handles itself and does not pass to the engine.
# rawData (8.2+, versions.py refuses it before) reads timeseries buckets as stored: the sandbox has no
# timeseries collections, so it changes nothing here.
_STRIPPED = frozenset({"$db", "lsid", "txnNumber", "$clusterTime", "$readPreference", "autocommit",
                       "startTransaction", "apiVersion", "apiStrict", "apiDeprecationErrors", "rawData"})
# The server's NotPrimaryError category: a replica-set member attaches its topologyVersion to
# these so that drivers can tell a stale error from news (SDAM spec, "topologyVersion").
NOT_PRIMARY_CODES = frozenset({10107, 13435, 13436, 11602, 189})
_OPCOUNTER = {"insert": "insert", "find": "query", "update": "update", "delete": "delete", "getMore": "getmore"}

Handler = Callable[["Connection", str, dict], Awaitable[dict | None]]
_HANDLERS: dict[str, Handler] = {}


def command(*names: str) -> Callable[[Handler], Handler]:
    """Register a server-level command handler under one or more names."""
    def register(fn: Handler) -> Handler:
        for name in names:
            _HANDLERS[name] = fn
        return fn
    return register


def error(code: int, code_name: str, errmsg: str) -> dict[str, Any]:
    """A command failure reply as the server shapes it."""
    return {"ok": 0.0, "errmsg": errmsg, "code": code, "codeName": code_name}


def is_awaitable_hello(cmd: Mapping[str, Any]) -> bool:
    """A streaming hello: hello/isMaster carrying topologyVersion and maxAwaitTimeMS."""
    return next(iter(cmd), "") in HELLO_NAMES and "topologyVersion" in cmd and "maxAwaitTimeMS" in cmd


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


async def run_command(conn: "Connection", cmd: dict[str, Any], *, legacy: bool = False) -> dict[str, Any] | None:
    """Run one command for one connection; None means close the connection without a reply."""
    if not cmd:
        return error(2, "BadValue", "empty command document")
    name = next(iter(cmd))
    db = cmd.get("$db")
    if not isinstance(db, str) or not db:
        return error(40571, "Location40571", "OP_MSG requests require a $db argument")
    member = conn.member
    member.opcounters["command" if name not in _OPCOUNTER else _OPCOUNTER[name]] += 1
    if not conn.authenticated and name not in NO_AUTH_COMMANDS:
        return error(13, "Unauthorized", f"Command {name} requires authentication")
    if member.deployment.auth and not member.deployment.users.authorized(conn.users, db, name, cmd):
        return error(13, "Unauthorized", users_module.denial(db, name, cmd))
    if name in ADMIN_ONLY and db != "admin":
        return error(13, "Unauthorized", f"{name} may only be run against the admin database.")
    cluster_time.receive(member.deployment, cmd)
    if name in HELLO_NAMES and isinstance(cmd.get("client"), Mapping):
        # The handshake hello's own appName counts for failCommand's appName filter (a real
        # server reads the client metadata before the failpoint fires; SDAM tests fail it).
        app = cmd["client"].get("application")
        conn.app_name = app.get("name") if isinstance(app, Mapping) else None
    if name in _HANDLERS or member.deployment.engine.handles(name):  # an unknown command: CommandNotFound
        refused = server_api.check(name, cmd, member.deployment.parameters)
        if refused is not None:
            return _finish(conn, cmd, refused, None)
    action = member.failpoints.fail_command(name, conn.app_name) if name != "configureFailPoint" else None
    conn.current = {"command": cmd, "started": time.monotonic()}
    try:
        if action is not None:
            if action.block_ms and not await conn.pause(action.block_ms / 1000):
                # blockConnection: a client that gave up (e.g. its timeoutMS ran out) and closed the
                # connection meanwhile gets nothing run, as a server kills an operation whose client
                # is gone; the command must not land later, in another test's data.
                member.deployment.transactions.connection_dropped(cmd)
                return None
            if action.close_connection:
                member.deployment.transactions.connection_dropped(cmd)
                return None
            if action.error_code is not None:
                reply = error(action.error_code, CODE_NAMES.get(action.error_code, ""),
                              action.error_message or f"Failing command {name} via 'failCommand' failpoint")
                if not reply["codeName"]:
                    reply.pop("codeName")
                return _finish(conn, cmd, reply, action.error_labels)
        refused = _refused_before_running(conn, name, cmd)
        if refused is not None:
            return _finish(conn, cmd, refused, None)
        handler = _HANDLERS.get(name)
        if member.deployment.change_streams.claims(name, cmd):
            reply = await member.deployment.change_streams.run(conn, db, name, cmd)
        elif handler is not None:
            reply = await handler(conn, db, cmd)
        elif member.deployment.engine.handles(name):
            cmd, delay_ms = extract_sleeps(name, cmd)
            limit_ms = cmd.get("maxTimeMS")
            timed_out = isinstance(limit_ms, (int, float)) and 0 < limit_ms < delay_ms
            if delay_ms and not await conn.pause((limit_ms if timed_out else delay_ms) / 1000):
                # The client closed the connection while the operation "slept" (e.g. a driver
                # interrupting in-use connections): drop it, nothing executes, nothing is sent.
                return None
            if timed_out:  # the operation's maxTimeMS ran out during the sleep
                return _finish(conn, cmd, error(50, "MaxTimeMSExpired", "operation exceeded time limit"), None)
            # onPrimaryTransactionalWrite fires where a statement commits; a retry of a statement
            # that already committed is answered from the session's history and commits nothing,
            # so it neither fires nor consumes an activation (server: checkStatementExecuted).
            fired = member.failpoints.on_primary_transactional_write(_statement_count(name, cmd)) if (
                is_retryable_write(cmd) and member.state in ("PRIMARY", "MONGOS")
                and not member.deployment.sessions.already_executed(cmd)) else None
            if fired is not None and fired[1] is not None:
                # failBeforeCommitExceptionCode: the write is never committed.
                return None if fired[0] else error(fired[1], "", "Failing write for test before commit")
            refused_get_more = member.deployment.cursor_api.check_get_more(cmd) if name == "getMore" else None
            reply = refused_get_more or _data_command(conn, db, name, cmd)
            if name == "getMore" and refused_get_more is None:
                reply = await _await_data(conn, db, cmd, reply)
            member.deployment.cursor_api.after(name, cmd, reply)
            if fired is not None and fired[0]:
                return None  # committed (and recorded for retries), but the reply is lost
        else:
            reply = error(59, "CommandNotFound", f"no such command: '{name}'")
        if reply is None:
            return None
        if reply.get("ok") and "writeConcern" in cmd and member.deployment.topology == "replset" \
                and (name in WRITE_CONCERN_COMMANDS or _is_write(name, cmd)):
            wce = await member.deployment.replication.wait_for_write_concern(
                cmd["writeConcern"], lambda: not conn.hung_up)
            if wce is not None and wce.pop("closed", False):
                return None
            if wce is not None:
                reply["writeConcernError"] = wce
        if action is not None and action.write_concern_error is not None and reply.get("ok"):
            # failCommand's writeConcernError: the command ran, then reports the wce (fail_point docs).
            reply["writeConcernError"] = wce = dict(action.write_concern_error)
            if wce.get("code") in CODE_NAMES:  # the server re-serialises it with its codeName
                wce.setdefault("codeName", CODE_NAMES[wce["code"]])
        return _finish(conn, cmd, reply, action.error_labels if action is not None else None)
    finally:
        conn.current = None


async def _await_data(conn: "Connection", db: str, cmd: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
    """A getMore on a tailable awaitData cursor that found nothing waits up to its maxTimeMS
    (server default 1 s) for a write before answering the empty batch (find command docs,
    "awaitData")."""
    deployment = conn.member.deployment
    cursor = reply.get("cursor") or {}
    if not reply.get("ok") or cursor.get("nextBatch") or not deployment.engine.cursor_awaits_data(cmd.get("getMore")):
        return reply
    wait_ms = cmd.get("maxTimeMS")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (wait_ms if isinstance(wait_ms, (int, float)) and wait_ms > 0 else 1000) / 1000
    while (left := deadline - loop.time()) > 0 and not conn.hung_up:
        await deployment.replication.wait_progress(min(left, 0.25))
        reply = _data_command(conn, db, "getMore", cmd)
        if not reply.get("ok") or reply["cursor"]["nextBatch"] or not reply["cursor"]["id"]:
            break
    return reply


def _statement_count(name: str, cmd: Mapping[str, Any]) -> int:
    """Statements (documents written) of a retryable write: the server evaluates
    onPrimaryTransactionalWrite once per statement, not once per command."""
    field = {"insert": "documents", "update": "updates", "delete": "deletes"}.get(name)
    statements = cmd.get(field) if field else None
    return len(statements) if isinstance(statements, list) and statements else 1


def _refused_before_running(conn: "Connection", name: str, cmd: Mapping[str, Any]) -> dict[str, Any] | None:
    """Errors a server raises before a command runs: a field or command newer than this release,
    a malformed writeConcern, and maxTimeAlwaysTimeOut failing every operation that has a time limit
    (a getMore inherits its cursor's maxTimeMS, as the server keeps it on the cursor)."""
    too_new = versions.refusal(conn.member.deployment.version, name, cmd)
    if too_new is not None:
        return too_new
    bad = check_write_concern_syntax(cmd.get("writeConcern"), conn.member.deployment.topology)
    if bad is not None:
        return bad
    if conn.member.failpoints.is_on("maxTimeAlwaysTimeOut"):
        limited = cmd.get("maxTimeMS") or (name == "getMore" and conn.member.deployment.engine.cursor_max_time_ms(
            cmd.get("getMore")))
        if limited:
            return error(50, "MaxTimeMSExpired", "operation exceeded time limit")
    return None


def _finish(conn: "Connection", cmd: Mapping[str, Any], reply: dict[str, Any], labels: list[str] | None) -> dict[str, Any]:
    """Error labels, $clusterTime/operationTime and, for not-primary errors on a replica-set
    member, its topologyVersion."""
    _label(cmd, reply, labels, server_labels=conn.member.deployment.version.has("retryableWriteLabel"))
    name = next(iter(cmd), "")
    cluster_time.stamp(conn.member.deployment, name, reply, hello=name in HELLO_NAMES)
    wce_code = (reply.get("writeConcernError") or {}).get("code")
    if conn.member.deployment.topology == "replset" and conn.member.deployment.version.has("topologyVersion") and (
        (not reply.get("ok") and reply.get("code") in NOT_PRIMARY_CODES) or wce_code in NOT_PRIMARY_CODES
    ):
        reply["topologyVersion"] = {"processId": conn.member.process_id, "counter": Int64(conn.member.counter)}
    return reply


def _label(cmd: Mapping[str, Any], reply: dict[str, Any], labels: list[str] | None, *,
           server_labels: bool = True) -> dict[str, Any]:
    if labels is not None and (not reply.get("ok") or "writeConcernError" in reply):
        reply["errorLabels"] = labels
    elif transactions.in_transaction(cmd):
        transactions.add_labels(cmd, reply)
    elif server_labels:  # before 4.4 the driver labels retryable write errors itself
        add_retryable_label(cmd, reply)
    return reply


# ----- data commands: replica-set state checks, retryable writes, the engine --------------------
def _secondary_ok(cmd: Mapping[str, Any]) -> bool:
    pref = cmd.get("$readPreference")
    return isinstance(pref, Mapping) and pref.get("mode", "primary") != "primary"


def _is_write(name: str, cmd: Mapping[str, Any]) -> bool:
    if name in WRITE_COMMANDS:
        return True
    if name == "aggregate":
        pipeline = cmd.get("pipeline") or []
        return any(isinstance(s, Mapping) and ("$out" in s or "$merge" in s) for s in pipeline)
    return False


def _data_command(conn: "Connection", db: str, name: str, cmd: dict[str, Any]) -> dict[str, Any]:
    member = conn.member
    deployment = member.deployment
    write = _is_write(name, cmd)
    if deployment.topology == "replset" and member.state != "PRIMARY":
        if member.state == "ARBITER":
            return error(13436, "NotPrimaryOrSecondary", "node is not in primary or recovering state")
        if write and not (name == "aggregate" and _secondary_ok(cmd)):
            return error(10107, "NotWritablePrimary", "not primary")
        # An aggregate with $out/$merge that a 5.0+ secondary accepts (it carries a non-primary
        # $readPreference) reads here and writes through the primary (server 5.0+; the CRUD spec
        # lets drivers send such aggregates to secondaries); the sandbox's members share their
        # data, so running it here is that write.
        if name not in NO_SECONDARY_OK_NEEDED and not _secondary_ok(cmd):
            return error(13435, "NotPrimaryNoSecondaryOk", "not primary and secondaryOk=false")
    if deployment.topology == "standalone" and ("txnNumber" in cmd or "autocommit" in cmd):
        return error(20, "IllegalOperation",
                     "Transaction numbers are only allowed on a replica set member or mongos")
    engine_cmd = {k: v for k, v in cmd.items() if k not in _STRIPPED}
    if db == "local":
        deployment.oplog.sync()  # local.oplog.rs shows every write up to now
    if transactions.in_transaction(cmd):
        return deployment.transactions.run_statement(db, name, cmd, engine_cmd)
    if (bad := cluster_time.check_after_cluster_time(deployment, cmd)) is not None:
        return bad
    # getMore/killCursors continue a cursor opened at its snapshot: a server accepts the
    # readConcern some drivers repeat on them (PyMongo's raw-batch cursors in snapshot sessions).
    if snapshot_reads.wants_snapshot(cmd) and name not in ("getMore", "killCursors"):
        return snapshot_reads.run(deployment, db, name, cmd, engine_cmd)
    deployment.sessions.touch(cmd.get("lsid"))
    stored = deployment.sessions.before(cmd)
    if stored is not None:
        return stored
    recorded = change_journal.catalog_change(deployment, db, name, cmd) if write else None
    stale_at = deployment.replication.lagging_optime(member) if name in STALE_READ_COMMANDS and not write else None
    try:
        reply = read_as_of(deployment, stale_at, db, engine_cmd) if stale_at is not None else None
        if reply is None:
            reply = deployment.engine.run(db, engine_cmd, local_sessions=deployment.sessions.local_sessions)
    except Exception as exc:  # an engine bug must not kill the connection; report it like a server
        reply = error(1, "InternalError", f"sandbox engine failed on {name}: {type(exc).__name__}: {exc}")
    if recorded is not None and reply.get("ok"):
        recorded(reply)  # drop/rename/create/... as change stream events
    deployment.sessions.after(cmd, reply)
    if name == "explain" and isinstance(reply.get("serverInfo"), dict):
        # The engine does not know which member ran it: name this one, as a server does.
        reply["serverInfo"] = {"host": member.host, "port": member.port, "version": deployment.version.text,
                               "gitVersion": "mongocli-sandbox"}
    if write and reply.get("ok"):
        deployment.note_write()
    return reply


# ----- hello ------------------------------------------------------------------------------------
def hello_reply(conn: "Connection", name: str, cmd: Mapping[str, Any]) -> dict[str, Any]:
    """The hello/isMaster answer for this member now (fields per the SDAM and handshake specs)."""
    member = conn.member
    deployment = member.deployment
    reply: dict[str, Any] = {}
    if cmd.get("helloOk"):
        reply["helloOk"] = True
    reply["isWritablePrimary" if name == "hello" else "ismaster"] = member.is_primary
    if deployment.version.has("topologyVersion"):
        reply["topologyVersion"] = {"processId": member.process_id, "counter": Int64(member.counter)}
    if deployment.topology == "sharded":
        reply["msg"] = "isdbgrid"
    if deployment.topology == "replset":
        reply["hosts"] = [m.address for m in deployment.members if not m.arbiter]
        arbiters = [m.address for m in deployment.members if m.arbiter]
        if arbiters:
            reply["arbiters"] = arbiters
        reply["setName"] = deployment.replset_name
        reply["setVersion"] = deployment.config_version
        reply["secondary"] = member.state == "SECONDARY"
        if member.arbiter:
            reply["arbiterOnly"] = True
        primary = deployment.primary
        if primary is not None:
            reply["primary"] = primary.address
        reply["me"] = member.address
        if member.state == "PRIMARY":
            reply["electionId"] = deployment.election_id()
        # lastWrite: what this member applied (it trails the primary under replication lag).
        ts, wall = deployment.replication.applied(member)
        majority_ts, majority_wall = deployment.replication.majority_applied()
        reply["lastWrite"] = {"opTime": {"ts": ts, "t": Int64(deployment.term)}, "lastWriteDate": wall,
                              "majorityOpTime": {"ts": majority_ts, "t": Int64(deployment.term)},
                              "majorityWriteDate": majority_wall}
    reply.update(
        maxBsonObjectSize=MAX_BSON_OBJECT_SIZE, maxMessageSizeBytes=MAX_MESSAGE_SIZE_BYTES,
        maxWriteBatchSize=MAX_WRITE_BATCH_SIZE, localTime=_now(), logicalSessionTimeoutMinutes=30,
        connectionId=conn.id, minWireVersion=0, maxWireVersion=deployment.version.max_wire_version, readOnly=False,
    )
    return reply


@command("hello", "isMaster", "ismaster")
async def _hello(conn: "Connection", db: str, cmd: dict) -> dict | None:
    member = conn.member
    name = next(iter(cmd))
    client = cmd.get("client")
    if isinstance(client, Mapping):
        # Handshake metadata (handshake spec); appName is what failCommand's appName matches.
        conn.client_metadata = dict(client)
        app = client.get("application")
        conn.app_name = app.get("name") if isinstance(app, Mapping) else None
    tv, max_await = cmd.get("topologyVersion"), cmd.get("maxAwaitTimeMS")
    if isinstance(tv, Mapping) and max_await is not None:
        # Awaitable hello (SDAM "Server Monitoring"): answer at once if the client's view is stale,
        # else when this member's topologyVersion changes or maxAwaitTimeMS passes.
        if tv.get("processId") == member.process_id and int(tv.get("counter", -1)) == member.counter:
            await member.wait_changed(max(0, int(max_await)) / 1000)
        if not member.up:
            return None
    reply = hello_reply(conn, name, cmd)
    offered = cmd.get("compression")
    if isinstance(offered, list):
        # "MongoDB Handshake Amendment": answer with the client's compressors we support.
        reply["compression"] = [c for c in offered if c in SERVER_COMPRESSORS]
    mechs = cmd.get("saslSupportedMechs")
    if isinstance(mechs, str) and "." in mechs and member.deployment.users.exists(*mechs.split(".", 1)):
        reply["saslSupportedMechs"] = list(scram.MECHANISMS)
    spec = cmd.get("speculativeAuthenticate")
    if isinstance(spec, Mapping) and spec.get("mechanism") in scram.MECHANISMS:
        started = _sasl_start(conn, spec.get("db", db), spec)
        if started.get("ok"):
            started.pop("ok")
            reply["speculativeAuthenticate"] = started
    reply["ok"] = 1.0
    return reply


# ----- authentication ---------------------------------------------------------------------------
def _sasl_start(conn: "Connection", db: str, cmd: Mapping[str, Any]) -> dict[str, Any]:
    users = conn.member.deployment.users
    mechanism = cmd.get("mechanism")
    if mechanism not in scram.MECHANISMS:
        return error(334, "MechanismUnavailable",
                     f"Received authentication for mechanism {mechanism} which is not enabled")
    conn.conversation = scram.ScramConversation(users, mechanism, db)
    return conn.conversation.start(cmd.get("payload", b""), cmd.get("options"))


@command("saslStart")
async def _sasl_start_cmd(conn: "Connection", db: str, cmd: dict) -> dict:
    return _sasl_start(conn, db, cmd)


@command("saslContinue")
async def _sasl_continue(conn: "Connection", db: str, cmd: dict) -> dict:
    conversation = conn.conversation
    if conversation is None or cmd.get("conversationId", 1) != 1:
        return error(17, "ProtocolError", "No SASL session state found")
    reply = conversation.next(cmd.get("payload", b""))
    if conversation.authenticated and conversation.user:
        conn.users.add((conversation.db, conversation.user))
    if not reply.get("ok") or conversation.done:
        conn.conversation = None
    return reply


@command("logout")
async def _logout(conn: "Connection", db: str, cmd: dict) -> dict:
    conn.users.clear()
    return {"ok": 1.0}


@command("getnonce")
async def _getnonce(conn: "Connection", db: str, cmd: dict) -> dict:
    """The MONGODB-CR nonce (gone in 6.2: versions.refusal says CommandNotFound there)."""
    return {"nonce": os.urandom(8).hex(), "ok": 1.0}


@command("authenticate")
async def _authenticate(conn: "Connection", db: str, cmd: dict) -> dict:
    # The legacy command serves MONGODB-X509 (and once MONGODB-CR); the sandbox authenticates by SASL only.
    return error(334, "MechanismUnavailable",
                 f"Received authentication for mechanism {cmd.get('mechanism')} which is not enabled")


@command(*users_module.COMMANDS)
async def _user_management(conn: "Connection", db: str, cmd: dict) -> dict:
    member = conn.member
    name = next(iter(cmd))
    if member.deployment.topology == "replset" and member.state != "PRIMARY" and name != "usersInfo":
        return error(10107, "NotWritablePrimary", "not primary")
    reply = member.deployment.users.run(db, name, cmd)
    if reply.get("ok") and name != "usersInfo":
        member.deployment.note_write()  # users live in admin.system.users: a replicated write
    return reply


@command("connectionStatus")
async def _connection_status(conn: "Connection", db: str, cmd: dict) -> dict:
    users = [{"user": u, "db": d} for d, u in sorted(conn.users)]
    store = conn.member.deployment.users
    roles = [role for d, u in sorted(conn.users) for role in store.roles_of(d, u)]
    return {"authInfo": {"authenticatedUsers": users, "authenticatedUserRoles": roles}, "ok": 1.0}


# ----- informational ----------------------------------------------------------------------------
@command("ping")
async def _ping(conn: "Connection", db: str, cmd: dict) -> dict:
    return {"ok": 1.0}


@command("buildInfo", "buildinfo")
async def _build_info(conn: "Connection", db: str, cmd: dict) -> dict:
    version = conn.member.deployment.version
    return {"version": version.text, "gitVersion": "mongocli-sandbox", "versionArray": [*version.parts, 0],
            "bits": 64, "debug": False, "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE, "javascriptEngine": "none",
            "storageEngines": ["sandbox"], "modules": [], "allocator": "system",
            "openssl": {"running": ssl.OPENSSL_VERSION, "compiled": ssl.OPENSSL_VERSION}, "ok": 1.0}


@command("serverStatus")
async def _server_status(conn: "Connection", db: str, cmd: dict) -> dict:
    member = conn.member
    server = member.server
    uptime = time.monotonic() - member.started_at
    current = len(server.connections) if server else 0
    reply = {"host": member.address, "version": member.deployment.version.text,
             "process": "mongos" if member.deployment.topology == "sharded" else "mongod",
             "pid": Int64(os.getpid()), "uptime": float(int(uptime)), "uptimeMillis": Int64(int(uptime * 1000)),
             "uptimeEstimate": Int64(int(uptime)), "localTime": _now(),
             "connections": {"current": current, "available": 838860 - current,
                             "totalCreated": server.total_created if server else 0, "active": 1},
             "opcounters": {k: Int64(v) for k, v in member.opcounters.items()},
             "storageEngine": {"name": "sandbox"}}
    if member.deployment.topology == "replset":
        hello = hello_reply(conn, "hello", {})
        reply["repl"] = {k: hello[k] for k in ("topologyVersion", "hosts", "setName", "setVersion",
                                               "isWritablePrimary", "secondary", "primary", "me",
                                               "electionId", "lastWrite") if k in hello}
    reply["ok"] = 1.0
    return reply


@command("hostInfo")
async def _host_info(conn: "Connection", db: str, cmd: dict) -> dict:
    try:
        mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):
        mem_mb = 0
    return {"system": {"currentTime": _now(), "hostname": socket.gethostname(), "cpuAddrSize": 64,
                       "memSizeMB": Int64(mem_mb), "numCores": os.cpu_count() or 1,
                       "cpuArch": platform.machine(), "numaEnabled": False},
            "os": {"type": platform.system(), "name": platform.platform(), "version": platform.release()},
            "extra": {}, "ok": 1.0}


@command("getCmdLineOpts")
async def _cmd_line_opts(conn: "Connection", db: str, cmd: dict) -> dict:
    member = conn.member
    deployment = member.deployment
    argv = ["mongos" if deployment.topology == "sharded" else "mongod",
            "--port", str(member.port), "--bind_ip", member.host]
    parsed: dict[str, Any] = {"net": {"port": member.port, "bindIp": member.host}}
    if deployment.replset_name:
        argv += ["--replSet", deployment.replset_name]
        parsed["replication"] = {"replSet": deployment.replset_name}
    if deployment.auth:
        argv.append("--auth")
        parsed["security"] = {"authorization": "enabled"}
    return {"argv": argv, "parsed": parsed, "ok": 1.0}


@command("getParameter")
async def _get_parameter(conn: "Connection", db: str, cmd: dict) -> dict:
    params = {"featureCompatibilityVersion": {"version": conn.member.deployment.version.fcv},
              "authenticationMechanisms": list(scram.MECHANISMS), "logLevel": 0, "quiet": False,
              "enableTestCommands": True, "scramIterationCount": 10000, "scramSHA256IterationCount": 15000,
              "transactionLifetimeLimitSeconds": 60, "maxBSONDepth": 200}
    params.update(conn.member.deployment.parameters)
    which = cmd.get("getParameter")
    if which == "*" or (isinstance(which, Mapping) and which.get("allParameters")):
        return {**params, "ok": 1.0}
    found = {k: params[k] for k in cmd if k in params}
    if not found:
        return error(72, "InvalidOptions", "no option found to get")
    return {**found, "ok": 1.0}


@command("setParameter")
async def _set_parameter(conn: "Connection", db: str, cmd: dict) -> dict:
    return server_api.set_parameters(conn.member.deployment.parameters, cmd)


@command(*server_api.TEST_COMMANDS)
async def _api_test_command(conn: "Connection", db: str, cmd: dict) -> dict:
    """The Stable API test commands (enableTestCommands): they succeed once the API checks pass."""
    return {"ok": 1.0}


@command("fsync")
async def _fsync(conn: "Connection", db: str, cmd: dict) -> dict:
    # Data lives in memory: there is nothing to flush; fsync with lock is refused as a server
    # with an in-memory engine refuses it (inferred: the inMemory engine has no fsyncLock).
    if cmd.get("lock"):
        return error(115, "CommandNotSupported", "fsync lock is not supported by the sandbox's in-memory storage")
    return {"numFiles": 1, "ok": 1.0}


@command("whatsmyuri")
async def _whatsmyuri(conn: "Connection", db: str, cmd: dict) -> dict:
    return {"you": conn.peer, "ok": 1.0}


@command("getLog")
async def _get_log(conn: "Connection", db: str, cmd: dict) -> dict:
    which = cmd.get("getLog")
    if which == "*":
        return {"names": ["global", "startupWarnings"], "ok": 1.0}
    if which == "global":
        lines = conn.member.deployment.log_lines
        return {"totalLinesWritten": len(lines), "log": list(lines), "ok": 1.0}
    if which == "startupWarnings":
        return {"totalLinesWritten": 0, "log": [], "ok": 1.0}
    return error(0, "", f"no RecentEntries named: {which}")


# ----- sessions and operations ------------------------------------------------------------------
@command("endSessions", "killSessions")
async def _end_sessions(conn: "Connection", db: str, cmd: dict) -> dict:
    conn.member.deployment.sessions.end(cmd.get(next(iter(cmd))))
    conn.member.deployment.transactions.end_sessions(cmd.get(next(iter(cmd))))
    return {"ok": 1.0}


@command("refreshSessions")
async def _refresh_sessions(conn: "Connection", db: str, cmd: dict) -> dict:
    return {"ok": 1.0}


@command("killAllSessions")
async def _kill_all_sessions(conn: "Connection", db: str, cmd: dict) -> dict:
    conn.member.deployment.transactions.abort_all()
    return {"ok": 1.0}


@command("startSession")
async def _start_session(conn: "Connection", db: str, cmd: dict) -> dict:
    return {"id": {"id": Binary(os.urandom(16), 4)}, "timeoutMinutes": 30, "ok": 1.0}


@command("killOp")
async def _kill_op(conn: "Connection", db: str, cmd: dict) -> dict:
    return {"info": "attempting to kill op", "ok": 1.0}


@command("currentOp")
async def _current_op(conn: "Connection", db: str, cmd: dict) -> dict:
    member = conn.member
    show_all = bool(cmd.get("$all"))
    inprog = []
    for other in sorted(member.server.connections if member.server else (), key=lambda c: c.id):
        if other.current is None and not show_all:
            continue
        op: dict[str, Any] = {"type": "op", "host": member.address, "desc": f"conn{other.id}",
                              "connectionId": other.id, "client": other.peer, "active": other.current is not None,
                              "opid": other.id}
        if other.app_name:
            op["appName"] = other.app_name
        if other.client_metadata:
            op["clientMetadata"] = other.client_metadata
        if other.current is not None:
            running = other.current["command"]
            op.update(op="command", ns=f"{running.get('$db', 'admin')}.$cmd", command=running,
                      microsecs_running=Int64(int((time.monotonic() - other.current["started"]) * 1e6)))
        inprog.append(op)
    return {"inprog": inprog, "ok": 1.0}


@command("configureFailPoint")
async def _configure_fail_point(conn: "Connection", db: str, cmd: dict) -> dict:
    member = conn.member
    try:
        reply = member.failpoints.configure(cmd)
    except FailPointError as exc:
        return error(2, "BadValue", str(exc))
    if cmd.get("configureFailPoint") == STOP_REPL_PRODUCER and not member.failpoints.is_on(STOP_REPL_PRODUCER):
        member.deployment.replication.resume(member)  # its fetcher runs again: catch up
    return reply


# ----- replica set ------------------------------------------------------------------------------
def _require_replset(conn: "Connection") -> dict | None:
    topology = conn.member.deployment.topology
    if topology == "sharded":
        return error(59, "CommandNotFound", "no such command: replSet commands are not supported by mongos")
    if topology != "replset":
        return error(76, "NoReplicationEnabled", "not running with --replSet")
    return None


def _member_status(conn: "Connection", m: "Member") -> dict[str, Any]:
    from mongocli.sandbox.deployment import STATE_CODES

    deployment = m.deployment
    up = m.up
    entry: dict[str, Any] = {"_id": m.index, "name": m.address, "health": 1.0 if up else 0.0,
                             "state": STATE_CODES[m.state], "stateStr": m.state if up else "(not reachable/healthy)",
                             "uptime": int(time.monotonic() - m.started_at) if up else 0}
    if not m.arbiter:
        ts, wall = deployment.replication.applied(m)
        entry["optime"] = {"ts": ts, "t": Int64(deployment.term)} if up else {"ts": Timestamp(0, 0), "t": Int64(-1)}
        entry["optimeDate"] = wall if up else datetime.datetime.fromtimestamp(0, datetime.timezone.utc)
    if m.state == "PRIMARY":
        entry["electionId"] = deployment.election_id()
    entry["configVersion"] = deployment.config_version
    if m is conn.member:
        entry["self"] = True
    return entry


@command("replSetGetStatus")
async def _repl_status(conn: "Connection", db: str, cmd: dict) -> dict:
    if (bad := _require_replset(conn)) is not None:
        return bad
    from mongocli.sandbox.deployment import STATE_CODES

    deployment = conn.member.deployment
    n = len(deployment.members)
    return {"set": deployment.replset_name, "date": _now(), "myState": STATE_CODES[conn.member.state],
            "term": Int64(deployment.term), "heartbeatIntervalMillis": Int64(2000),
            "majorityVoteCount": n // 2 + 1, "writeMajorityCount": n // 2 + 1, "votingMembersCount": n,
            "writableVotingMembersCount": sum(1 for m in deployment.members if not m.arbiter),
            "members": [_member_status(conn, m) for m in deployment.members], "ok": 1.0}


@command("replSetGetConfig")
async def _repl_config(conn: "Connection", db: str, cmd: dict) -> dict:
    if (bad := _require_replset(conn)) is not None:
        return bad
    deployment = conn.member.deployment
    members = [{"_id": m.index, "host": m.address, "arbiterOnly": m.arbiter, "buildIndexes": True,
                "hidden": False, "priority": 0.0 if m.arbiter else 1.0, "tags": {},
                "secondaryDelaySecs": Int64(0), "votes": 1} for m in deployment.members]
    config = {"_id": deployment.replset_name, "version": deployment.config_version, "term": deployment.term,
              "protocolVersion": Int64(1), "writeConcernMajorityJournalDefault": True, "members": members,
              "settings": {"chainingAllowed": True, "heartbeatIntervalMillis": 2000, "heartbeatTimeoutSecs": 10,
                           "electionTimeoutMillis": int(deployment.election_delay * 1000),
                           "catchUpTimeoutMillis": -1}}
    return {"config": config, "ok": 1.0}


@command("replSetStepDown")
async def _repl_step_down(conn: "Connection", db: str, cmd: dict) -> dict:
    if (bad := _require_replset(conn)) is not None:
        return bad
    seconds = cmd.get("replSetStepDown", 60)
    seconds = 60 if seconds is True or not isinstance(seconds, (int, float)) else seconds
    return conn.member.deployment.step_down(conn.member, float(seconds), bool(cmd.get("force")))


@command("replSetFreeze")
async def _repl_freeze(conn: "Connection", db: str, cmd: dict) -> dict:
    if (bad := _require_replset(conn)) is not None:
        return bad
    seconds = cmd.get("replSetFreeze", 0)
    if not isinstance(seconds, (int, float)) or seconds < 0:
        return error(2, "BadValue", "replSetFreeze: the number of seconds must be a non-negative number")
    return conn.member.deployment.freeze(conn.member, float(seconds))


@command("shutdown")
async def _shutdown(conn: "Connection", db: str, cmd: dict) -> dict | None:
    # A real server closes the connection as it exits; drivers treat that as success.
    member = conn.member
    asyncio.get_running_loop().create_task(member.deployment.kill(member))
    return None


@command("commitTransaction", "abortTransaction")
async def _end_transaction(conn: "Connection", db: str, cmd: dict) -> dict:
    deployment = conn.member.deployment
    if deployment.topology == "standalone":
        return error(20, "IllegalOperation", "Transaction numbers are only allowed on a replica set member or mongos")
    if db != "admin":
        return error(13, "Unauthorized", f"{next(iter(cmd))} may only be run against the admin database.")
    if conn.member.state not in ("PRIMARY", "MONGOS"):
        return error(10107, "NotWritablePrimary", "not primary")
    deployment.sessions.touch(cmd.get("lsid"))
    return deployment.transactions.end(next(iter(cmd)), cmd)


from mongocli.sandbox import sharding  # noqa: E402,F401  (registers mongos's sharding commands)
