"""Database handles: collections, commands, collection management and database-level aggregate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from driver.collection import Collection, inherit_options, read_only_option
from driver.cursor import CURSOR_TYPES, Cursor
from driver.errors import ConfigurationError, OperationFailure
from driver.execute import Operation
from driver.retry_policy import Retryable
from driver.ops.admin import (
    NAMESPACE_NOT_FOUND,
    create_collection_command,
    drop_collection_command,
    drop_database_command,
    list_collections_command,
)
from driver.ops.aggregate import aggregate_command, has_write_stage
from driver.ops.server_support import put_raw_data
from driver.read_preference import PRIMARY_READ, ReadPreference, as_read_preference
from driver.session import ClientSession
from driver.timeout import applies_timeout, check_timeout_ms, operation_timeout_ms, resolve_timeout_ms

if TYPE_CHECKING:
    from driver.change_stream import ChangeStream, ChangeStreamOptions
    from driver.context import ClientContext


class Database:
    """A database of a Client; options default to the client's (no I/O to create one).

    Made by `Client.get_database` with the client's internal context (its executor and
    topology); `client` is the public owner.
    """

    def __init__(self, context: "ClientContext", name: str, *, read_concern: Any = None, write_concern: Any = None,
                 read_preference: Any = None, timeout_ms: int | None = None) -> None:
        if not isinstance(name, str) or not name or any(c in name for c in ' ./\\"$\x00'):
            raise ConfigurationError(f"invalid database name {name!r}: it must be non-empty without spaces, "
                                     "'.', '/', '\\', '\"', '$' or NUL")
        self._context = context
        client = self.client = context.client
        self.name = name
        # Read-only (properties below, as in PyMongo): collections take them when made, so a changed
        # concern would not reach them; with_options makes a handle with other options.
        self._read_concern, self._write_concern, self._read_preference = inherit_options(
            client, read_concern, write_concern, read_preference)
        # CSOT spec: timeoutMS inherited from the client unless given (0 = no limit, never unset again).
        self.timeout_ms = resolve_timeout_ms(check_timeout_ms(timeout_ms, f"database {name!r}"), client.timeout_ms)

    read_concern = read_only_option("read_concern")
    write_concern = read_only_option("write_concern")
    read_preference = read_only_option("read_preference")

    # -- collections ---------------------------------------------------------------------
    def get_collection(self, name: str, *, read_concern: Any = None, write_concern: Any = None,
                       read_preference: Any = None, timeout_ms: int | None = None) -> "Collection":
        return Collection(self._context, self, name, read_concern=read_concern, write_concern=write_concern,
                          read_preference=read_preference, timeout_ms=timeout_ms)

    def __getitem__(self, name: str) -> "Collection":
        return self.get_collection(name)

    def __getattr__(self, name: str) -> "Collection":
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get_collection(name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Database) and other.client is self.client and other.name == self.name

    def __hash__(self) -> int:
        return hash((id(self.client), self.name))

    def __repr__(self) -> str:
        return f"Database({self.name!r})"

    # -- commands ------------------------------------------------------------------------
    @applies_timeout
    def run_command(self, command: str | Mapping[str, Any], *, session: ClientSession | None = None,
                    read_preference: Any = None, check: bool = True, **kwargs: Any) -> dict[str, Any]:
        """Run `command` ({name: value, ...} or a name meaning {name: 1}) on this database; never retried.

        Goes to the primary unless `read_preference` says otherwise (like the runCommand helpers
        of other drivers, the database's read preference is not applied). With check=False an
        ok: 0 reply is returned instead of raised.
        """
        body = {command: 1} if isinstance(command, str) else dict(command)
        if not body:
            raise ConfigurationError("run_command needs a command document with at least the command name")
        body.update(kwargs)
        pref = as_read_preference(read_preference, PRIMARY_READ)
        reply = self._context.executor.execute(Operation(self.name, body, read_preference=pref, session=session,
                                                        check=check, user_command=True,
                                                        explicit_read_preference=read_preference is not None))
        return reply.document or {}

    def run_cursor_command(self, command: Mapping[str, Any], *, session: ClientSession | None = None,
                           read_preference: Any = None, cursor_type: str = "nonTailable",
                           batch_size: int | None = None, max_time_ms: int | None = None,
                           comment: Any = None, timeout_ms: int | None = None,
                           timeout_mode: str | None = None) -> Cursor:
        """Run a cursor-creating command as given (runCursorCommand, run-command spec) and return its
        Cursor, which continues with getMore on the same server and session until exhausted.

        The command is sent now, never retried, to the primary unless `read_preference` says
        otherwise; a reply without a cursor raises ProtocolError. `batch_size`, `max_time_ms` and
        `comment` apply to the getMore commands only (the command document carries its own).
        `cursor_type` ("nonTailable", "tailable", "tailableAwait") must agree with the command's
        own tailable/awaitData flags: the caller sets both (spec, "Tailable and TailableAwait").
        """
        body = dict(command)
        if not body:
            raise ConfigurationError("run_cursor_command needs a command document with at least the command name")
        if cursor_type not in CURSOR_TYPES:
            raise ConfigurationError(f"cursor_type must be one of {', '.join(CURSOR_TYPES)}, not {cursor_type!r}")
        name, target = next(iter(body.items()))
        cursor = Cursor(self._context, self.name, target if isinstance(target, str) else f"$cmd.{name}", body=body,
                        read_preference=as_read_preference(read_preference, PRIMARY_READ), session=session,
                        batch_size=batch_size or 0, comment=comment, max_await_time_ms=max_time_ms,
                        retryable=None, user_command=True, timeout_ms=operation_timeout_ms(timeout_ms, self.timeout_ms),
                        timeout_mode=timeout_mode, tailable=cursor_type != "nonTailable",
                        await_data=cursor_type == "tailableAwait")
        return cursor.open()

    command = run_command  # PyMongo's name: the same method, not a call through another

    def _write_command(self, body: dict[str, Any], session: ClientSession | None) -> dict[str, Any]:
        reply = self._context.executor.execute(Operation(self.name, body, session=session))
        return reply.document or {}

    # -- collection management -----------------------------------------------------------
    @applies_timeout
    def create_collection(self, name: str, *, session: ClientSession | None = None, comment: Any = None,
                          **options: Any) -> "Collection":
        """create (options by server name: capped, size, max, validator, viewOn, pipeline, ...)."""
        body = create_collection_command(name, write_concern=self.write_concern.document(), comment=comment, **options)
        self._write_command(body, session)
        return self.get_collection(name)

    @applies_timeout
    def drop_collection(self, name: Any, *, session: ClientSession | None = None, comment: Any = None) -> dict[str, Any]:
        """drop; a collection that does not exist is not an error (NamespaceNotFound is ignored)."""
        name = getattr(name, "name", name)
        body = drop_collection_command(name, write_concern=self.write_concern.document(), comment=comment)
        try:
            return self._write_command(body, session)
        except OperationFailure as exc:
            if exc.code == NAMESPACE_NOT_FOUND or "ns not found" in str(exc):
                return {"ok": 1.0, "ns": f"{self.name}.{name}"}
            raise

    def list_collections(self, filter: Mapping[str, Any] | None = None, session: ClientSession | None = None,
                         raw_data: bool | None = None, timeout_ms: int | None = None, timeout_mode: str | None = None,
                         **kwargs: Any) -> Cursor:
        """listCollections as a cursor (kwargs: name_only, authorized_collections, batch_size, comment;
        raw_data: 8.2+, see put_raw_data)."""
        body = list_collections_command(filter=filter, **kwargs)
        put_raw_data(body, raw_data)
        return Cursor(self._context, self.name, "$cmd.listCollections", body=body, read_preference=ReadPreference(),
                      session=session, batch_size=kwargs.get("batch_size") or 0,
                      timeout_ms=operation_timeout_ms(timeout_ms, self.timeout_ms), timeout_mode=timeout_mode)

    def list_collection_names(self, filter: Mapping[str, Any] | None = None,
                              session: ClientSession | None = None, **kwargs: Any) -> list[str]:
        return [c["name"] for c in self.list_collections(filter, session=session, name_only=True, **kwargs)]

    def aggregate(self, pipeline: Sequence[Mapping[str, Any]], *, session: ClientSession | None = None,
                  batch_size: int | None = None, raw_data: bool | None = None, timeout_ms: int | None = None,
                  timeout_mode: str | None = None, **kwargs: Any) -> Cursor:
        """A database-level aggregate ({aggregate: 1}), e.g. $currentOp or $documents."""
        writes = has_write_stage(pipeline)
        body = aggregate_command(1, pipeline, batch_size=batch_size, read_concern=self.read_concern.document(),
                                 write_concern=self.write_concern.document() if writes else None, **kwargs)
        put_raw_data(body, raw_data)
        return Cursor(self._context, self.name, "$cmd.aggregate", body=body,
                      read_preference=self.read_preference, session=session, write_stage=writes,
                      batch_size=batch_size or 0, comment=kwargs.get("comment"),
                      retryable=None if writes else Retryable.READ,
                      timeout_ms=operation_timeout_ms(timeout_ms, self.timeout_ms), timeout_mode=timeout_mode)

    @applies_timeout
    def watch(self, pipeline: Sequence[Mapping[str, Any]] | None = None, options: ChangeStreamOptions | None = None,
              *, session: ClientSession | None = None, **keywords: Any) -> ChangeStream:
        """A ChangeStream of every collection of this database (change-streams spec, "Database.watch");
        `options` and/or keywords as in ChangeStreamOptions."""
        from driver.change_stream import ChangeStreamOptions
        from driver.watch import open_change_stream

        return open_change_stream(self._context, self.name, 1, pipeline, ChangeStreamOptions.of(options, keywords),
                                  read_preference=self.read_preference, read_concern=self.read_concern.document(),
                                  session=session)

    @applies_timeout
    def drop(self, *, session: ClientSession | None = None, comment: Any = None) -> dict[str, Any]:
        """dropDatabase."""
        return self._write_command(drop_database_command(write_concern=self.write_concern.document(),
                                                         comment=comment), session)

    def with_options(self, *, read_concern: Any = None, write_concern: Any = None,
                     read_preference: Any = None, timeout_ms: int | None = None) -> "Database":
        return Database(self._context, self.name, read_concern=read_concern or self.read_concern,
                        write_concern=write_concern or self.write_concern,
                        read_preference=read_preference or self.read_preference,
                        timeout_ms=resolve_timeout_ms(timeout_ms, self.timeout_ms))

