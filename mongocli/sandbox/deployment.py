"""A simulated deployment: members, their replica-set states, elections and topology versions."""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from bson import ObjectId

from mongocli.sandbox.change_journal import ChangeJournal
from mongocli.sandbox.change_streams import ChangeStreams
from mongocli.sandbox.cluster_time import ClusterClock
from mongocli.sandbox.failpoints import FailPoints
from mongocli.sandbox.next_change import NextChange
from mongocli.sandbox.oplog import Oplog
from mongocli.sandbox.replication import Replication
from mongocli.sandbox import server_api
from mongocli.sandbox.users import UserStore
from mongocli.sandbox.sessions import SessionStore
from mongocli.sandbox.transactions import TransactionStore
from mongocli.sandbox.versions import UnsupportedVersion, server_version as _server_version

if TYPE_CHECKING:  # pragma: no cover
    import ssl

    from mongocli.sandbox.server import MemberServer

TOPOLOGIES = ("standalone", "replset", "sharded")

# Replica-set member states as replSetGetStatus numbers them.
STATE_CODES = {"PRIMARY": 1, "SECONDARY": 2, "ARBITER": 7, "DOWN": 8}


class SandboxError(RuntimeError):
    """The sandbox cannot do what was asked (bad topology, unknown member, port in use)."""


class Member:
    """One simulated mongod/mongos process: its address, state and per-process data."""

    def __init__(self, deployment: "Deployment", index: int, host: str, port: int, *, arbiter: bool = False) -> None:
        self.deployment = deployment
        self.index = index
        self.host = host
        self.port = port
        self.arbiter = arbiter
        self.state = "DOWN"
        self.process_id = ObjectId()
        self.counter = 0
        self.failpoints = FailPoints()
        self.server: MemberServer | None = None
        self.started_at = time.monotonic()
        self.frozen_until = 0.0
        self.stepdown_until = 0.0
        self.last_heartbeat = datetime.datetime.now(datetime.timezone.utc)
        self.opcounters = dict.fromkeys(("insert", "query", "update", "delete", "getmore", "command"), 0)
        self._hello_changed = NextChange()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def up(self) -> bool:
        return self.state != "DOWN"

    @property
    def is_primary(self) -> bool:
        return self.state in ("PRIMARY", "STANDALONE", "MONGOS")

    def topology_version(self) -> dict[str, Any]:
        """topologyVersion as hello reports it (SDAM spec, "topologyVersion")."""
        return {"processId": self.process_id, "counter": self.counter}

    def bump(self) -> None:
        """The member's hello answer changed: advance topologyVersion and wake awaiting hellos."""
        self.counter += 1
        self._hello_changed.changed()

    async def wait_changed(self, timeout: float) -> None:
        """Wait until the next bump() or the timeout (streaming hello, SDAM "awaitable hello")."""
        await self._hello_changed.wait(timeout)


class Deployment:
    """The whole simulated deployment. All mutation happens on its event loop's thread; other
    threads read snapshots and wait on `state_changed` (a threading.Condition)."""

    def __init__(
        self,
        topology: str = "standalone",
        members: int | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        users: dict[str, str] | None = None,
        ssl_context: "ssl.SSLContext | None" = None,
        election_delay_ms: int = 500,
        arbiter: bool = False,
        replset_name: str = "rs0",
        engine: Any = None,
        replication_lag_ms: int = 0,
        server_version: str | None = None,
    ) -> None:
        if topology not in TOPOLOGIES:
            raise SandboxError(f"unknown topology {topology!r}: choose one of {', '.join(TOPOLOGIES)}")
        count = members if members is not None else (3 if topology == "replset" else 1)
        if count < 1 or (topology == "standalone" and count != 1):
            raise SandboxError(f"a {topology} deployment cannot have {count} member(s)")
        if arbiter and (topology != "replset" or count < 2):
            raise SandboxError("--arbiter needs a replica set of at least 2 members")
        try:  # the release every member presents (versions.py: what it reports and which features it has)
            self.version = _server_version(server_version)
        except UnsupportedVersion as exc:
            raise SandboxError(str(exc)) from None
        self.topology = topology
        self.replset_name = replset_name if topology == "replset" else None
        self.host = host
        self.base_port = port
        self.ssl_context = ssl_context
        self.election_delay = max(0, election_delay_ms) / 1000.0
        # --auth: every command but the handshake needs an authenticated user with the privilege.
        self.auth = bool(users)
        self.users = UserStore(users)
        self.sessions = SessionStore()
        # Server parameters set at startup or by setParameter (getParameter reports them).
        self.parameters: dict[str, Any] = dict(server_api.DEFAULT_PARAMETERS)
        self.cursor_api = server_api.CursorParameters()  # getMore repeats its cursor's API parameters
        self.engine = engine if engine is not None else _default_engine()
        self.engine.catalog.dollar_names_refused = not self.version.has("dollarFieldNames")
        self.members = [
            Member(self, i, host, port + i if port else 0, arbiter=arbiter and i == count - 1) for i in range(count)
        ]
        self.term = 0
        self.config_version = 1
        self.clock = ClusterClock()
        self.optime = self.clock.time
        self.journal = ChangeJournal(self.clock)
        self.transactions = TransactionStore(self)
        self.change_streams = ChangeStreams(self)
        self.oplog = Oplog(self)
        self.engine.observer = self._on_write
        self.last_write_date = datetime.datetime.now(datetime.timezone.utc)
        self.log_lines: list[str] = []
        self.state_changed = threading.Condition()
        self.elections = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._election: asyncio.TimerHandle | None = None
        self._listeners: list[Callable[[str], None]] = []
        self.replication = Replication(self, replication_lag_ms)
        self.replication.reset()

    # ----- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind every member (ports P, P+1, ... or free ports) and elect the first primary."""
        from mongocli.sandbox.server import MemberServer

        self.loop = asyncio.get_running_loop()
        try:
            for member in self.members:
                member.server = MemberServer(member)
                member.port = await member.server.start(member.port)
        except OSError as exc:
            await self.close()
            raise SandboxError(f"cannot listen on {self.host}: {exc}") from exc
        for member in self.members:
            member.state = {"standalone": "STANDALONE", "sharded": "MONGOS"}.get(self.topology, "SECONDARY")
            if member.arbiter:
                member.state = "ARBITER"
        self.log(f"started {self.topology} on {', '.join(self.addresses)}")
        if self.topology == "replset":
            # The initial election is immediate so that a Sandbox is usable within milliseconds.
            self._run_election()
            self.replication.start_noop_writer()
        self._notify()

    async def close(self) -> None:
        """Stop every member and cancel pending elections."""
        self.replication.stop_noop_writer()
        if self._election is not None:
            self._election.cancel()
        for member in self.members:
            if member.server is not None:
                await member.server.stop()
            member.state = "DOWN"
        self._notify()

    # ----- views ------------------------------------------------------------------------------
    @property
    def addresses(self) -> list[str]:
        return [m.address for m in self.members]

    @property
    def primary(self) -> Member | None:
        if self.topology != "replset":
            return next((m for m in self.members if m.up), None)
        return next((m for m in self.members if m.state == "PRIMARY"), None)

    def member(self, address: str) -> Member:
        for m in self.members:
            if m.address == address or str(m.port) == str(address):
                return m
        raise SandboxError(f"no member at {address!r}; members are {', '.join(self.addresses)}")

    def uri(self, user: str | None = None, password: str | None = None, tls_ca_file: str | None = None) -> str:
        """The connection string a client should use for this deployment."""
        from urllib.parse import quote

        cred = f"{quote(user, safe='')}:{quote(password or '', safe='')}@" if user else ""
        options = []
        if self.replset_name:
            options.append(f"replicaSet={self.replset_name}")
        if user:
            options.append("authSource=admin")
        if self.ssl_context is not None:
            options.append("tls=true")
            if tls_ca_file:
                options.append(f"tlsCAFile={quote(tls_ca_file, safe='/')}")
        return f"mongodb://{cred}{','.join(self.addresses)}/" + (f"?{'&'.join(options)}" if options else "")

    def log(self, message: str) -> None:
        """Append a line to the member-independent log (getLog) and tell listeners (the CLI)."""
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        self.log_lines.append(f'{{"t":{{"$date":"{stamp}"}},"s":"I","c":"SANDBOX","msg":"{message}"}}')
        del self.log_lines[:-1024]
        for listener in self._listeners:
            listener(message)

    def add_listener(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def note_write(self) -> None:
        """Advance the optime after a write; secondaries follow as `replication` decides."""
        # The write's journal entries ticked the clock already (their last tick is its optime);
        # a write that changed no document (create, an update matching nothing) ticks once.
        self.optime = self.clock.time if self.clock.time > self.optime else self.clock.tick()
        self.last_write_date = datetime.datetime.now(datetime.timezone.utc)
        self.replication.on_write(self.primary)

    def _on_write(self, coll: Any, old: dict | None, new: dict | None, replacement: bool) -> None:
        """Every document write to the shared store outside a transaction: it must not touch
        a document an open transaction wrote; then the change journal records it (replica sets
        and mongos only: a standalone has neither)."""
        if self.topology == "standalone" or coll.name.startswith("system.") or coll.db == "local":
            return  # no transactions or change streams there: nothing to check or record
        self.transactions.check_outside_write(coll, new if new is not None else old)
        self.journal.record_write(coll.db, coll.name, old, new, replacement, uuid=coll.uuid)

    def election_id(self) -> ObjectId:
        """electionId as a real server forms it: 0x7fffffff then the term (SDAM spec compares it)."""
        return ObjectId(f"7fffffff{self.term:016x}")

    # ----- state changes (event loop thread only) -------------------------------------------
    async def kill(self, member: Member) -> None:
        """Stop a member as if its process died: it stops listening and drops connections."""
        if not member.up:
            return
        was_primary = member.state == "PRIMARY"
        member.state = "DOWN"
        if member.server is not None:
            await member.server.stop()
        self.log(f"member {member.address} is down")
        if was_primary:
            self._primary_lost(f"primary {member.address} went down")
        self._notify()

    async def restart(self, member: Member) -> None:
        """Bring a killed member back on its port as a new process (secondary in a replica set)."""
        if member.up:
            return
        from mongocli.sandbox.server import MemberServer

        member.process_id, member.counter = ObjectId(), 0
        member.failpoints.clear()
        member.started_at = time.monotonic()
        member.frozen_until = member.stepdown_until = 0.0
        member.server = MemberServer(member)
        member.port = await member.server.start(member.port)
        member.state = {"standalone": "STANDALONE", "sharded": "MONGOS"}.get(self.topology, "SECONDARY")
        if member.arbiter:
            member.state = "ARBITER"
        self.log(f"member {member.address} restarted as {member.state}")
        self.replication.resume(member)
        if self.topology == "replset" and self.primary is None:
            self._schedule_election(self.election_delay)
        self._notify()

    def step_down(self, member: Member, seconds: float, force: bool = False) -> dict[str, Any]:
        """replSetStepDown: the primary becomes a secondary, ineligible for `seconds`."""
        if member.state != "PRIMARY":
            return {"ok": 0.0, "code": 10107, "codeName": "NotWritablePrimary", "errmsg": "not primary so can't step down"}
        # Like a real primary, only ask whether a caught-up secondary is reachable (all are caught
        # up here); a secondary's own freeze/step-down window is its business at election time.
        others = [m for m in self.members if m is not member and m.state == "SECONDARY"]
        if not others and not force:
            return {"ok": 0.0, "code": 262, "codeName": "ExceededTimeLimit",
                    "errmsg": "No electable secondaries caught up as of now"}
        member.state = "SECONDARY"
        member.stepdown_until = time.monotonic() + seconds
        self._primary_lost(f"primary {member.address} stepped down for {seconds:g}s")
        self._notify()
        return {"ok": 1.0}

    def freeze(self, member: Member, seconds: float) -> dict[str, Any]:
        """replSetFreeze: a secondary will not stand for election for `seconds` (0 unfreezes)."""
        if member.state == "PRIMARY":
            return {"ok": 0.0, "code": 95, "codeName": "NotSecondary",
                    "errmsg": "cannot freeze node when primary or running for election. state: Primary"}
        member.frozen_until = time.monotonic() + seconds if seconds > 0 else 0.0
        member.stepdown_until = 0.0 if seconds == 0 else member.stepdown_until
        reply: dict[str, Any] = {"ok": 1.0}
        if seconds == 0:
            reply["info"] = "unfreezing"
        if self.primary is None:
            self._schedule_election(self.election_delay)
        return reply

    def _frozen(self, member: Member) -> bool:
        now = time.monotonic()
        return member.frozen_until > now or member.stepdown_until > now

    def _primary_lost(self, why: str) -> None:
        self.log(f"{why}; election in {self.election_delay * 1000:.0f} ms")
        self._bump_all()
        self._schedule_election(self.election_delay)

    def _schedule_election(self, delay: float) -> None:
        assert self.loop is not None
        if self._election is not None:
            self._election.cancel()
        self._election = self.loop.call_later(delay, self._run_election)

    def _run_election(self) -> None:
        """Elect a primary among reachable, eligible secondaries when a majority can vote."""
        self._election = None
        if self.primary is not None:
            return
        voters_up = sum(1 for m in self.members if m.up)
        if voters_up * 2 <= len(self.members):
            self.log(f"no majority ({voters_up}/{len(self.members)} members up): no primary")
            return
        data_members = [m for m in self.members if m.state == "SECONDARY"]
        eligible = [m for m in data_members if not self._frozen(m)]
        if not eligible:
            if data_members:  # retry when the first freeze or step-down period ends
                wake = min(max(m.frozen_until, m.stepdown_until) for m in data_members)
                self._schedule_election(max(0.0, wake - time.monotonic()) + 0.001)
            return
        winner = eligible[0]
        self.term += 1
        self.elections += 1
        winner.state = "PRIMARY"
        self.log(f"member {winner.address} elected primary in term {self.term}")
        self._bump_all()
        self._notify()

    def _bump_all(self) -> None:
        for m in self.members:
            if m.up:
                m.bump()

    def _notify(self) -> None:
        with self.state_changed:
            self.state_changed.notify_all()


def _default_engine() -> Any:
    from mongocli.sandbox.engine import DataEngine

    return DataEngine()


class Sandbox:
    """A deployment running in a background thread's event loop, driven from synchronous code.

    with Sandbox(topology="replset", members=3, election_delay_ms=200) as sb:
        client = connect(sb.uri); sb.step_down(); sb.wait_for_primary(5)
    """

    def __init__(self, topology: str = "standalone", members: int | None = None, *,
                 auth: tuple[str, str] | None = None, tls_cert: str | None = None, tls_key: str | None = None,
                 **settings: Any) -> None:
        """`auth` (user, password) and `tls_cert`/`tls_key` (PEM files) are the Sandbox's own; every
        other keyword (host, port, election_delay_ms, arbiter, replset_name, engine, replication_lag_ms,
        server_version, ...) is a Deployment setting, passed on as it is (one list to keep)."""
        self._auth = auth
        self._tls_cert = tls_cert
        self.deployment = Deployment(topology, members, users=dict([auth]) if auth else None,
                                     ssl_context=_server_ssl_context(tls_cert, tls_key), **settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ----- lifecycle -------------------------------------------------------------------------
    def start(self) -> "Sandbox":
        """Start listening on every member; returns once all members answer."""
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="mongocli-sandbox", daemon=True)
        self._thread.start()
        ready.wait()
        try:
            self._call(self.deployment.start())
        except BaseException:
            self._stop_loop()
            raise
        return self

    def stop(self) -> None:
        """Stop every member and the background loop."""
        if self._loop is None:
            return
        try:
            self._call(self.deployment.close())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None
        self._thread = None

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Any, timeout: float = 30) -> Any:
        assert self._loop is not None, "the sandbox is not running: call start() or use it in a with block"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _call_sync(self, fn: Callable[[], Any]) -> Any:
        async def wrapper() -> Any:
            return fn()

        return self._call(wrapper())

    # ----- views ------------------------------------------------------------------------------
    @property
    def uri(self) -> str:
        """The connection string (all members, replicaSet=..., credentials and TLS as configured)."""
        user, password = self._auth if self._auth else (None, None)
        return self.deployment.uri(user, password, self._tls_cert)

    @property
    def addresses(self) -> list[str]:
        return self.deployment.addresses

    @property
    def primary(self) -> str | None:
        """The primary's host:port now (any live member outside a replica set), or None."""
        member = self.deployment.primary
        return member.address if member is not None else None

    @property
    def term(self) -> int:
        return self.deployment.term

    # ----- actions ----------------------------------------------------------------------------
    def kill(self, address: str | None = None) -> str:
        """Kill a member (default: the primary): it stops listening and drops its connections."""
        member = self._member_or_primary(address)
        self._call(self.deployment.kill(member))
        return member.address

    def restart(self, address: str) -> None:
        """Restart a killed member on its port; in a replica set it rejoins as a secondary."""
        self._call(self.deployment.restart(self.deployment.member(address)))

    def step_down(self, seconds: float = 60, force: bool = False) -> str:
        """replSetStepDown on the current primary; returns the old primary's address."""
        member = self._member_or_primary(None)
        reply = self._call_sync(lambda: self.deployment.step_down(member, seconds, force))
        if not reply.get("ok"):
            raise SandboxError(f"step down of {member.address} failed: {reply.get('errmsg')}")
        return member.address

    def freeze(self, address: str, seconds: float) -> None:
        """replSetFreeze on a secondary: it will not stand for election for `seconds`."""
        member = self.deployment.member(address)
        reply = self._call_sync(lambda: self.deployment.freeze(member, seconds))
        if not reply.get("ok"):
            raise SandboxError(f"freeze of {address} failed: {reply.get('errmsg')}")

    def wait_for_primary(self, timeout: float = 10.0, *, other_than: str | None = None) -> str:
        """Block until a primary exists (and is not `other_than`); returns its address."""
        deadline = time.monotonic() + timeout
        with self.deployment.state_changed:
            while True:
                member = self.deployment.primary
                if member is not None and member.address != other_than:
                    return member.address
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SandboxError(f"no primary within {timeout:g}s; members: {self._states()}")
                self.deployment.state_changed.wait(left)

    def _states(self) -> str:
        return ", ".join(f"{m.address}={m.state}" for m in self.deployment.members)

    def _member_or_primary(self, address: str | None) -> Member:
        if address is not None:
            return self.deployment.member(address)
        member = self.deployment.primary
        if member is None:
            raise SandboxError(f"there is no primary now; members: {self._states()}")
        return member


def _server_ssl_context(cert: str | None, key: str | None) -> "ssl.SSLContext | None":
    """A server-side TLS context from a PEM certificate and key, or None without them."""
    if not cert and not key:
        return None
    if not cert:
        raise SandboxError("TLS needs --tls-cert as well as --tls-key")
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key or None)
    except (OSError, ssl.SSLError) as exc:
        raise SandboxError(f"cannot load the TLS certificate {cert!r} / key {key!r}: {exc}") from exc
    return context
