"""The Client: one topology, one event bus, one server-session pool, and the executor every operation goes through."""

from __future__ import annotations

import threading
import warnings
import weakref
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from driver.context import ClientContext
from driver.cursor import ListCursor
from driver.collection import read_only_option
from driver.database import Database
from driver.errors import ConfigurationError, DriverError, ServerSelectionTimeout
from driver.events.listeners import EventBus
from driver.handshake import ClientMetadata
from driver.execute import Operation
from driver.retry_policy import Retryable
from driver.ops.admin import list_databases_command, parse_list_databases_reply
from driver.read_concern import ReadConcern
from driver.read_preference import PRIMARY_PREFERRED, ReadPreference
from driver.retry import TokenBucket
from driver.session import ClientSession, end_sessions_commands
from driver.settings import ClientSettings, client_settings
from driver.timeout import applies_timeout, check_timeout_ms, resolve_timeout_ms
from driver.topology_builder import build_topology
from driver.write_concern import WriteConcern

if TYPE_CHECKING:
    from driver.change_stream import ChangeStream, ChangeStreamOptions

DEFAULT_URI = "mongodb://localhost:27017"
# Sessions spec, "endSessions": best effort at close; do not make close() wait long for it.
END_SESSIONS_SELECTION_TIMEOUT_MS = 1_000


class Client:
    """A MongoDB client: `Client(uri, *, event_listeners=(), **uri_options)` or `Client(settings=...)`.

    Options use URI option names (heartbeatFrequencyMS, retryWrites, retryReads, appname,
    serverSelectionTimeoutMS, w, readPreference, ...) and override the URI's. `settings`: a
    ClientSettings already built by `driver.settings.client_settings` (the command line builds
    and checks them once, then hands them over; they are not parsed again). Monitoring
    starts at construction; `close()` (or leaving a `with` block) ends sessions and stops it.
    `events` delivers every command, pool, SDAM and heartbeat event to its subscribers; a listener
    with a `listens_to` attribute (e.g. `("sdam",)`) says which families must be built for it
    (command events are built only when some listener asks for them).

    `min_heartbeat_frequency_ms` is internal and for tests only: it lowers SDAM's fixed 500 ms
    minHeartbeatFrequencyMS for this client's monitors (the unified test format allows test
    runners to), so fail-point tests recover quickly. Applications leave it unset.
    """

    _AT_CREATION = "give it when creating the Client (URI option or keyword), or use get_database(..., {}=...)"
    read_preference = read_only_option("read_preference", _AT_CREATION.format("read_preference"))
    write_concern = read_only_option("write_concern", _AT_CREATION.format("write_concern"))
    read_concern = read_only_option("read_concern", _AT_CREATION.format("read_concern"))

    def __init__(self, uri: str | None = None, *, settings: ClientSettings | None = None,
                 event_listeners: Iterable[Callable[[Any], None]] = (),
                 min_heartbeat_frequency_ms: float | None = None, **options: Any) -> None:
        if settings is None:
            settings = client_settings(DEFAULT_URI if uri is None else uri,
                                       min_heartbeat_frequency_ms=min_heartbeat_frequency_ms, **options)
        elif uri is not None or options or min_heartbeat_frequency_ms is not None:
            raise ConfigurationError("Client(settings=...) takes the settings as built; give no URI or "
                                     "options beside them (build them into the settings instead)")
        self._settings = settings
        self.events = EventBus()
        for listener in event_listeners:
            self.events.subscribe(listener)
        # Read-only (as in PyMongo; databases take them when made): see read_only_option.
        self._read_preference: ReadPreference = self._settings.read_preference
        self._write_concern: WriteConcern = self._settings.write_concern
        self._read_concern: ReadConcern = self._settings.read_concern
        # CSOT spec: the client level of timeoutMS, inherited by databases, collections and sessions.
        self.timeout_ms: int | None = self._settings.timeout_ms
        self.default_database_name = self._settings.connection_string.database or None
        self._metadata = ClientMetadata(self._settings.app_name)
        self.topology = build_topology(self._settings, self.events, self._metadata)
        self._context = ClientContext(self, self.topology, self.events,
                                      retry_writes=self._settings.retry_writes,
                                      retry_reads=self._settings.retry_reads,
                                      max_adaptive_retries=self._settings.max_adaptive_retries,
                                      overload_retargeting=self._settings.overload_retargeting,
                                      server_api=self._settings.server_api)
        self._executor = self._context.executor
        self._closed = False
        self.topology.open()
        # Monitors and pools never refer to the Client (they hold the topology), so a client
        # dropped without close() is collected; this finalizer then stops its threads and
        # sockets and warns (issue 11; PyMongo's monitors likewise hold their client weakly).
        self._finalizer = weakref.finalize(self, _close_unreferenced, self.topology, self._settings.seeds)
        self._finalizer.atexit = False  # at interpreter exit daemon threads simply end

    def append_metadata(self, name: str, version: str | None = None, platform: str | None = None) -> None:
        """Append a wrapping library's driver info to the handshake metadata (handshake spec,
        appendMetadata): connections opened from now on send it, open ones are kept as they are;
        info appended before is not repeated."""
        self._metadata.append(name, version, platform)

    @property
    def topology_description(self) -> Any:
        """The current TopologyDescription: an immutable snapshot, safe to keep and compare."""
        return self.topology.description

    @property
    def options(self) -> Mapping[str, Any]:
        """The effective URI options (canonical names)."""
        return self._settings.options

    @property
    def retry_budget(self) -> TokenBucket:
        """The client-backpressure retry budget (tokens left for overload retries), for diagnostics."""
        return self._executor.retry_tokens

    # -- databases -----------------------------------------------------------------------
    def get_database(self, name: str | None = None, *, read_concern: Any = None, write_concern: Any = None,
                     read_preference: Any = None, timeout_ms: int | None = None) -> Database:
        """A Database handle (no I/O); `name` defaults to the URI's database; `timeout_ms` (timeoutMS)
        overrides the client's for its operations."""
        name = name or self.default_database_name
        if not name:
            raise DriverError("no database name given and the URI names none: use client[name]")
        return Database(self._context, name, read_concern=read_concern, write_concern=write_concern,
                        read_preference=read_preference, timeout_ms=timeout_ms)

    def get_default_database(self) -> Database:
        return self.get_database()

    def __getitem__(self, name: str) -> Database:
        return self.get_database(name)

    def __getattr__(self, name: str) -> Database:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get_database(name)

    @property
    def admin(self) -> Database:
        return self.get_database("admin")

    @applies_timeout
    def list_databases(self, session: ClientSession | None = None, **kwargs: Any) -> ListCursor:
        """listDatabases (filter, name_only, authorized_databases, comment) as a cursor of documents."""
        body = list_databases_command(**kwargs)
        reply = self._executor.execute(Operation("admin", body, read_preference=ReadPreference(),
                                                 session=session, retryable=Retryable.READ))
        return ListCursor(parse_list_databases_reply(reply.document or {}))

    @applies_timeout
    def list_database_names(self, session: ClientSession | None = None) -> list[str]:
        return [d["name"] for d in self.list_databases(session=session, name_only=True)]

    @applies_timeout
    def drop_database(self, name: str, *, session: ClientSession | None = None) -> None:
        self.get_database(name).drop(session=session)

    @applies_timeout
    def watch(self, pipeline: Sequence[Mapping[str, Any]] | None = None, options: ChangeStreamOptions | None = None,
              *, session: ClientSession | None = None, **keywords: Any) -> ChangeStream:
        """A ChangeStream of every change in the deployment (change-streams spec, "MongoClient.watch");
        `options` and/or keywords as in ChangeStreamOptions."""
        from driver.change_stream import ChangeStreamOptions
        from driver.watch import open_change_stream

        every_change = replace(ChangeStreamOptions.of(options, keywords), all_changes_for_cluster=True)
        return open_change_stream(self._context, "admin", 1, pipeline, every_change,
                                  read_preference=self.read_preference, read_concern=self.read_concern.document(),
                                  session=session)

    # -- client bulk write (MongoDB 8.0 bulkWrite command) -----------------------------------
    @applies_timeout
    def bulk_write(self, models: Sequence[Any], *, ordered: bool = True, verbose_results: bool | None = None,
                   bypass_document_validation: bool | None = None, comment: Any = None,
                   let: Mapping[str, Any] | None = None, write_concern: Any = None,
                   session: ClientSession | None = None, raw_data: bool | None = None) -> Any:
        """Writes across namespaces in as few `bulkWrite` commands as the server allows.

        `models` are ClientInsertOne/ClientUpdateOne/ClientUpdateMany/ClientReplaceOne/ClientDeleteOne/
        ClientDeleteMany (driver.ops.client_bulk_write), each naming its "db.coll". Returns a
        ClientBulkWriteResult (per-model results with verbose_results=True); raises
        ClientBulkWriteError with the partial result on write or write concern errors."""
        from driver.client_bulk_write import run_client_bulk_write

        if session is not None and session.in_transaction:
            if write_concern is not None:
                raise ConfigurationError("Cannot set write concern after starting a transaction: give it to "
                                         "start_transaction instead")
            wc = WriteConcern()  # the transaction's write concern applies, at commit
        else:
            wc = WriteConcern.from_document(write_concern) if write_concern is not None else self.write_concern
        return run_client_bulk_write(self._context, models, write_concern=wc, ordered=ordered,
                                     verbose_results=verbose_results,
                                     bypass_document_validation=bypass_document_validation, comment=comment,
                                     let=let, session=session, raw_data=raw_data)

    # -- sessions ------------------------------------------------------------------------
    def start_session(self, causal_consistency: bool | None = None,
                      default_transaction_options: Mapping[str, Any] | None = None, snapshot: bool = False,
                      snapshot_time: Any = None, default_timeout_ms: int | None = None) -> ClientSession:
        """An explicit session (causally consistent unless told otherwise, or `snapshot`: every read
        at one point in time, `snapshot_time` or the first read's); end it or use `with`.
        `default_timeout_ms` (CSOT defaultTimeoutMS) bounds its commit, abort and withTransaction;
        the client's timeoutMS when not given."""
        default = resolve_timeout_ms(check_timeout_ms(default_timeout_ms, "start_session"), self.timeout_ms)
        return ClientSession(self._context, causal_consistency=causal_consistency,
                             default_transaction_options=default_transaction_options, snapshot=snapshot,
                             snapshot_time=snapshot_time, default_timeout_ms=default)

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Kill dropped cursors, end pooled server sessions (endSessions, 10,000 per command), stop monitoring."""
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        try:
            self._executor.kill_pending_cursors()
            self._end_sessions()
        finally:
            self.topology.close()

    def _end_sessions(self) -> None:
        lsids = self._context.server_sessions.drain()
        if not lsids:
            return
        pref = ReadPreference(PRIMARY_PREFERRED)
        try:
            server = self.topology.select_server(pref, timeout_ms=END_SESSIONS_SELECTION_TIMEOUT_MS)
        except ServerSelectionTimeout:
            return  # nothing reachable: the server expires the sessions itself
        for body in end_sessions_commands(lsids):
            try:
                self._executor.execute(Operation("admin", body, read_preference=pref, address=server.address,
                                                 sessionless=True))
            except DriverError:
                return  # best effort (sessions spec: errors from endSessions are ignored)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client {self._settings.seeds} {self.topology.description.type.value}>"


def _close_unreferenced(topology: Any, seeds: Any) -> None:
    """Finalizer of a Client collected without close(): warn, and close its topology.

    The close runs on its own short thread: a finalizer may run inside any thread (even a
    monitor's, holding whatever lock it holds when the collector starts).
    """
    warnings.warn(f"Client for {seeds} was garbage collected without close(); its monitors and "
                  "connections are being closed now. Call close() or use 'with Client(...) as client:'",
                  ResourceWarning, stacklevel=2)
    threading.Thread(target=topology.close, name="close-unreferenced-client", daemon=True).start()
