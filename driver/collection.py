"""Collection handles: CRUD, bulk writes, aggregation, counting, distinct and index management (CRUD spec)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from driver.api_types import (
    Document,
    Hint,
    KeySpec,
    Pipeline,
    Projection,
    ReadConcernLike,
    ReadPreferenceLike,
    ReturnDocument,
    Update,
    WriteConcernLike,
)
from driver import collection_reads
from driver.cursor import Cursor, ListCursor
from driver.errors import ConfigurationError, OperationFailure, ServerSelectionTimeout, raise_write_reply_errors
from driver.execute import Operation, Reply
from driver.retry_policy import Retryable
from driver.ops import (
    aggregate_command,
    count_command,
    count_documents_command,
    delete_command,
    delete_statement,
    distinct_command,
    drop_indexes_command,
    estimated_document_count_command,
    find_and_modify_command,
    encode_insert,
    has_write_stage,
    index_document,
    insert_command,
    list_indexes_command,
    parse_count_documents_reply,
    parse_count_reply,
    parse_distinct_reply,
    parse_find_and_modify_reply,
    rename_collection_command,
    update_command,
    update_statement,
)
from driver.ops.admin import NAMESPACE_NOT_FOUND
from driver.ops.server_support import put_raw_data
from driver.read_concern import ReadConcern
from driver.read_preference import as_read_preference
from driver.results import DeleteResult, InsertManyResult, InsertOneResult, UpdateResult
from driver.session import ClientSession
from driver.timeout import (applies_timeout, as_timeout_error, check_timeout_ms, current as current_deadline,
                            operation_timeout_ms, resolve_timeout_ms, selection_timeout_ms)
from driver.write_concern import WriteConcern
from driver.wire.encode import EncodedDocuments

if TYPE_CHECKING:
    from driver.bulk import Batch, BatchLimits, BulkWriteResult, UnacknowledgedBulkWriteResult, WriteRequest
    from driver.change_stream import ChangeStream, ChangeStreamOptions
    from driver.context import ClientContext
    from driver.database import Database




class IndexModel:
    """One index for create_indexes: keys plus options by server name (unique, name, sparse, ...)."""

    def __init__(self, keys: KeySpec, **options: Any) -> None:
        self.document = index_document(keys, **options)

    def __repr__(self) -> str:
        return f"IndexModel({self.document!r})"


def read_only_option(name: str, instead: str = "") -> property:
    """A handle's option as a read-only property over its `_name` field (as in PyMongo): what the
    handle sends is computed from it once, so assigning it raises (saying `instead`) rather than
    being ignored."""
    instead = instead or f"with_options({name}=...) returns a handle with another {name}"

    def refuse(handle: object, value: object) -> None:
        raise AttributeError(f"{type(handle).__name__}.{name} is read-only: {instead}")

    return property(attrgetter(f"_{name}"), refuse, doc=f"This handle's {name} (read-only; see with_options).")


def inherit_options(parent: Any, read_concern: ReadConcernLike | None, write_concern: WriteConcernLike | None,
                    read_preference: ReadPreferenceLike | None) -> tuple[ReadConcern, WriteConcern, Any]:
    """A handle's (read concern, write concern, read preference): each one given, else `parent`'s."""
    return ((ReadConcern.from_document(read_concern) if read_concern is not None else parent.read_concern),
            (WriteConcern.from_document(write_concern) if write_concern is not None else parent.write_concern),
            as_read_preference(read_preference, parent.read_preference))


def _return_new(return_document: object) -> bool:
    if isinstance(return_document, bool):
        return return_document
    if isinstance(return_document, str) and return_document.lower() in ("before", "after"):
        return return_document.lower() == "after"
    raise ConfigurationError(f"return_document must be 'before' or 'after', not {return_document!r}")


class Collection:
    """A collection of a Database; options default to the database's (no I/O to create one)."""

    def __init__(self, context: "ClientContext", database: "Database", name: str, *,
                 read_concern: ReadConcernLike | None = None, write_concern: WriteConcernLike | None = None,
                 read_preference: ReadPreferenceLike | None = None, timeout_ms: int | None = None) -> None:
        if not isinstance(name, str) or not name or "\x00" in name or ("$" in name and not name.startswith("$cmd")):
            raise ConfigurationError(f"invalid collection name {name!r}: it must be non-empty without '$' or NUL")
        self._context = context
        self.database = database
        self.name = name
        # Read-only (properties below, as in PyMongo): what follows is computed from them once, so a
        # changed concern would be silently ignored; with_options makes a handle with other options.
        self._read_concern, self._write_concern, self._read_preference = inherit_options(
            database, read_concern, write_concern, read_preference)
        # CSOT spec: timeoutMS inherited from the database unless given (0 = no limit).
        self.timeout_ms = resolve_timeout_ms(check_timeout_ms(timeout_ms, f"collection {name!r}"), database.timeout_ms)
        # What every operation sends, computed once (with_options makes another handle). The
        # documents go into commands as they are: the driver copies a concern before changing it.
        self._wc = self._write_concern.document()
        self._rc = self._read_concern.document()
        self._acknowledges = self._write_concern.acknowledged

    read_concern = read_only_option("read_concern")
    write_concern = read_only_option("write_concern")
    read_preference = read_only_option("read_preference")

    @property
    def full_name(self) -> str:
        return f"{self.database.name}.{self.name}"

    def __getitem__(self, name: str) -> "Collection":
        return self.database.get_collection(f"{self.name}.{name}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Collection) and other.database == self.database and other.name == self.name

    def __hash__(self) -> int:
        return hash((self.database, self.name))

    def __repr__(self) -> str:
        return f"Collection({self.full_name!r})"

    def with_options(self, *, read_preference: ReadPreferenceLike | None = None,
                     write_concern: WriteConcernLike | None = None,
                     read_concern: ReadConcernLike | None = None, timeout_ms: int | None = None) -> "Collection":
        """A copy of this collection with some options replaced."""
        return Collection(self._context, self.database, self.name, read_concern=read_concern or self.read_concern,
                          write_concern=write_concern or self.write_concern,
                          read_preference=read_preference or self.read_preference,
                          timeout_ms=resolve_timeout_ms(timeout_ms, self.timeout_ms))

    # -- plumbing ------------------------------------------------------------------------
    def _execute(self, op: Operation) -> Reply:
        return self._context.executor.execute(op)

    def _read(self, body: dict[str, Any], session: ClientSession | None, raw_data: bool | None = None) -> dict[str, Any]:
        put_raw_data(body, raw_data)
        return self._execute(Operation(self.database.name, body, read_preference=self._read_preference,
                                       session=session, retryable=Retryable.READ)).document or {}

    def _write(self, body: dict[str, Any], session: ClientSession | None, *, sequence: str | None = None,
               retryable: bool = True, raw_data: bool | None = None) -> dict[str, Any] | None:
        """Send a write; statements travel as an OP_MSG document sequence; None when unacknowledged."""
        put_raw_data(body, raw_data)
        sequences = None
        if sequence is not None:
            sequences = {sequence: body.pop(sequence)}
        unack = not self._acknowledged(session)
        if unack and session is not None:
            raise ConfigurationError("an unacknowledged write (w=0) cannot use an explicit session "
                                     "(sessions spec); drop the session or use an acknowledged write concern")
        reply = self._execute(Operation(self.database.name, body, session=session,
                                        retryable=Retryable.WRITE if retryable else None, sequences=sequences,
                                        unacknowledged=unack))
        return reply.document

    def _acknowledged(self, session: ClientSession | None) -> bool:
        """Whether a write gets a reply: inside a transaction the transaction's write concern
        applies at commit, never the collection's (transactions spec), so w: 0 here does not count."""
        return self._acknowledges or (session is not None and session.in_transaction)

    # -- inserts -------------------------------------------------------------------------
    @applies_timeout
    def insert_one(self, document: Mapping[str, Any], *, bypass_document_validation: bool | None = None,
                   session: ClientSession | None = None, comment: Any = None,
                   raw_data: bool | None = None) -> InsertOneResult:
        encoded, _id = encode_insert(document)  # encoded once, sent as it is
        body = insert_command(self.name, EncodedDocuments((encoded,)), write_concern=self._wc, comment=comment,
                              bypass_document_validation=bypass_document_validation)
        reply = self._write(body, session, sequence="documents", raw_data=raw_data)
        if reply is None:
            return InsertOneResult(_id, acknowledged=False)
        raise_write_reply_errors(reply)
        return InsertOneResult(_id)

    @applies_timeout
    def insert_many(self, documents: Sequence[Mapping[str, Any]], *, ordered: bool = True,
                    bypass_document_validation: bool | None = None, session: ClientSession | None = None,
                    comment: Any = None, raw_data: bool | None = None) -> InsertManyResult:
        """Insert in as few commands as the server's size limits allow; BulkWriteError on write errors."""
        if isinstance(documents, Mapping) or not isinstance(documents, Sequence) and not hasattr(documents, "__iter__"):
            raise ConfigurationError("insert_many takes a list of documents")
        documents = documents if isinstance(documents, (list, tuple)) else list(documents)
        if not documents:
            raise ConfigurationError("insert_many needs at least one document")
        from driver.bulk import plan_inserts  # bulk planning loads on first use (start-up time)

        # No InsertOne per document: plan_inserts encodes each document once, _id first.
        batches = plan_inserts(documents, limits=self._batch_limits())
        result = self._run_batches(batches, ordered=ordered, session=session, comment=comment,
                                   bypass_document_validation=bypass_document_validation, raw_data=raw_data)
        ids = result.inserted_ids
        return InsertManyResult(list(map(ids.__getitem__, range(len(documents)))), acknowledged=result.acknowledged)

    # -- bulk ----------------------------------------------------------------------------
    @applies_timeout
    def bulk_write(self, requests: Sequence[WriteRequest], *, ordered: bool = True,
                   session: ClientSession | None = None, let: Document | None = None, comment: Any = None,
                   bypass_document_validation: bool | None = None,
                   raw_data: bool | None = None) -> BulkWriteResult | UnacknowledgedBulkWriteResult:
        """Run InsertOne/UpdateOne/UpdateMany/ReplaceOne/DeleteOne/DeleteMany requests in batches.

        Batches follow the selected server's maxWriteBatchSize / maxBsonObjectSize /
        maxMessageSizeBytes (CRUD spec, bulk "Batch splitting"); write errors carry the
        caller's request indexes. Returns a BulkWriteResult (acknowledged) or an
        UnacknowledgedBulkWriteResult (w: 0).
        """
        from driver.bulk import plan_bulk

        batches = plan_bulk(list(requests), ordered=ordered, limits=self._batch_limits())
        return self._run_batches(batches, ordered=ordered, session=session, let=let, comment=comment,
                                 bypass_document_validation=bypass_document_validation, raw_data=raw_data)

    def _batch_limits(self) -> BatchLimits:
        from driver.bulk import BatchLimits

        topology = self._context.topology
        deadline = current_deadline()  # CSOT: the bulk write's deadline bounds this selection too
        try:
            server = topology.select_server("write", timeout_ms=selection_timeout_ms(
                deadline, topology.settings.server_selection_timeout_ms))
        except ServerSelectionTimeout as exc:
            error = as_timeout_error(exc, deadline)
            if error is exc:
                raise
            raise error from exc
        sd = topology.description.servers.get(server.address)
        return BatchLimits.from_server(sd) if sd is not None else BatchLimits()

    def _run_batches(self, batches: Sequence[Batch], *, ordered: bool, session: ClientSession | None,
                     let: Mapping[str, Any] | None = None, comment: Any = None,
                     bypass_document_validation: bool | None = None,
                     raw_data: bool | None = None) -> BulkWriteResult | UnacknowledgedBulkWriteResult:
        """Send planned batches through the executor on the one bulk path (bulk.run_bulk)."""
        from driver.bulk import SEQUENCE_FIELD, run_bulk

        def send(batch: Batch) -> dict[str, Any] | None:
            body = batch.command(self.name, ordered=ordered, write_concern=self._wc, let=let, comment=comment,
                                 bypass_document_validation=bypass_document_validation, encoded=True)
            return self._write(body, session, sequence=SEQUENCE_FIELD[batch.kind], raw_data=raw_data)

        return run_bulk(batches, send, ordered=ordered, acknowledged=self._acknowledged(session))

    # -- updates and deletes -------------------------------------------------------------
    def _update(self, filter: Mapping[str, Any], update: Update, *, multi: bool, replacement: bool, upsert: bool,
                array_filters: Sequence[Document] | None, hint: Hint | None, collation: Document | None,
                let: Document | None, sort: KeySpec | None, bypass_document_validation: bool | None,
                session: ClientSession | None, comment: Any, raw_data: bool | None) -> UpdateResult:
        stmt = update_statement(filter, update, multi=multi, replacement=replacement, upsert=upsert or None,
                                collation=collation, array_filters=array_filters, hint=hint, sort=sort)
        body = update_command(self.name, [stmt], write_concern=self._wc, let=let, comment=comment,
                              bypass_document_validation=bypass_document_validation)
        reply = self._write(body, session, sequence="updates", raw_data=raw_data)
        if reply is None:
            return UpdateResult(None, None, None, None, acknowledged=False)
        raise_write_reply_errors(reply)
        upserted = reply.get("upserted") or []
        upserted_id = upserted[0].get("_id") if upserted else None
        n = int(reply.get("n", 0))
        return UpdateResult(n - len(upserted), int(reply.get("nModified", 0)), upserted_id, len(upserted),
                            raw_result=reply)

    @applies_timeout
    def update_one(self, filter: Mapping[str, Any], update: Update, *, upsert: bool = False,
                   array_filters: Sequence[Document] | None = None, hint: Hint | None = None,
                   collation: Document | None = None, let: Document | None = None, sort: KeySpec | None = None,
                   bypass_document_validation: bool | None = None, session: ClientSession | None = None,
                   comment: Any = None, raw_data: bool | None = None) -> UpdateResult:
        return self._update(filter, update, multi=False, replacement=False, upsert=upsert, array_filters=array_filters,
                            hint=hint, collation=collation, let=let, sort=sort,
                            bypass_document_validation=bypass_document_validation, session=session, comment=comment,
                            raw_data=raw_data)

    @applies_timeout
    def update_many(self, filter: Mapping[str, Any], update: Update, *, upsert: bool = False,
                    array_filters: Sequence[Document] | None = None, hint: Hint | None = None,
                    collation: Document | None = None, let: Document | None = None,
                    bypass_document_validation: bool | None = None, session: ClientSession | None = None,
                    comment: Any = None, raw_data: bool | None = None) -> UpdateResult:
        return self._update(filter, update, multi=True, replacement=False, upsert=upsert, array_filters=array_filters,
                            hint=hint, collation=collation, let=let, sort=None,
                            bypass_document_validation=bypass_document_validation, session=session, comment=comment,
                            raw_data=raw_data)

    @applies_timeout
    def replace_one(self, filter: Mapping[str, Any], replacement: Mapping[str, Any], *, upsert: bool = False,
                    hint: Hint | None = None, collation: Document | None = None, let: Document | None = None,
                    sort: KeySpec | None = None, bypass_document_validation: bool | None = None,
                    session: ClientSession | None = None, comment: Any = None,
                    raw_data: bool | None = None) -> UpdateResult:
        return self._update(filter, replacement, multi=False, replacement=True, upsert=upsert, array_filters=None,
                            hint=hint, collation=collation, let=let, sort=sort,
                            bypass_document_validation=bypass_document_validation, session=session, comment=comment,
                            raw_data=raw_data)

    def _delete(self, filter: Mapping[str, Any], *, multi: bool, hint: Hint | None, collation: Document | None,
                let: Document | None, session: ClientSession | None, comment: Any,
                raw_data: bool | None) -> DeleteResult:
        stmt = delete_statement(filter, multi=multi, collation=collation, hint=hint)
        body = delete_command(self.name, [stmt], write_concern=self._wc, let=let, comment=comment)
        reply = self._write(body, session, sequence="deletes", raw_data=raw_data)
        if reply is None:
            return DeleteResult(None, acknowledged=False)
        raise_write_reply_errors(reply)
        return DeleteResult(int(reply.get("n", 0)), raw_result=reply)

    @applies_timeout
    def delete_one(self, filter: Mapping[str, Any], *, hint: Hint | None = None, collation: Document | None = None,
                   let: Document | None = None, session: ClientSession | None = None,
                   comment: Any = None, raw_data: bool | None = None) -> DeleteResult:
        return self._delete(filter, multi=False, hint=hint, collation=collation, let=let, session=session,
                            comment=comment, raw_data=raw_data)

    @applies_timeout
    def delete_many(self, filter: Mapping[str, Any], *, hint: Hint | None = None,
                    collation: Document | None = None, let: Document | None = None,
                    session: ClientSession | None = None, comment: Any = None,
                    raw_data: bool | None = None) -> DeleteResult:
        return self._delete(filter, multi=True, hint=hint, collation=collation, let=let, session=session,
                            comment=comment, raw_data=raw_data)

    # -- reads ---------------------------------------------------------------------------
    def find(self, filter: Mapping[str, Any] | None = None, projection: Projection | None = None, *,
             sort: KeySpec | None = None, skip: int | None = None, limit: int | None = None,
             batch_size: int | None = None, hint: Hint | None = None, collation: Document | None = None,
             max_time_ms: int | None = None, comment: Any = None, allow_disk_use: bool | None = None,
             let: Document | None = None, session: ClientSession | None = None, timeout_ms: int | None = None,
             timeout_mode: str | None = None, cursor_type: str | None = None, max_await_time_ms: int | None = None,
             **options: Any) -> Cursor:
        """A lazy Cursor over the matching documents (nothing is sent until it is iterated).

        `cursor_type` "tailable" or "tailableAwait" (a capped collection's tailable cursor, awaiting
        data up to `max_await_time_ms` per getMore). `timeout_ms` (timeoutMS) bounds the find and,
        by default (`timeout_mode` "cursorLifetime"), every getMore too; with "iteration" (the only
        mode of tailable cursors) each next() gets it afresh."""
        find = collection_reads.find_options(filter, projection, cursor_type, self._rc, dict(
            sort=sort, skip=skip, hint=hint, collation=collation, max_time_ms=max_time_ms, comment=comment,
            allow_disk_use=allow_disk_use, let=let, **options))
        return Cursor(self._context, self.database.name, self.name, find=find, read_preference=self._read_preference,
                      session=session, batch_size=batch_size or 0, limit=limit or 0, comment=comment,
                      timeout_ms=operation_timeout_ms(timeout_ms, self.timeout_ms), timeout_mode=timeout_mode,
                      tailable=cursor_type in ("tailable", "tailableAwait"), await_data=cursor_type == "tailableAwait",
                      max_await_time_ms=max_await_time_ms)

    @applies_timeout
    def find_one(self, filter: Any = None, projection: Projection | None = None, *,
                 session: ClientSession | None = None, cursor_type: str | None = None,
                 timeout_mode: str | None = None, max_await_time_ms: int | None = None,
                 batch_size: int | None = None, limit: int | None = None, **options: Any) -> dict[str, Any] | None:
        """The first matching document or None (a non-document filter means {_id: filter}); `options` as find's.

        One find with limit 1 and singleBatch, without a Cursor around it (driver/collection_reads.py).
        `batch_size` and `limit` are find's and ignored here (one document is asked for)."""
        if filter is not None and type(filter) is not dict and not isinstance(filter, Mapping):  # dict: no ABC check
            filter = {"_id": filter}
        return collection_reads.find_one(self._context, self.database.name, self.name,
                                 collection_reads.find_options(filter, projection, cursor_type, self._rc, options),
                                 read_preference=self._read_preference, session=session, cursor_type=cursor_type,
                                 timeout_mode=timeout_mode, max_await_time_ms=max_await_time_ms)

    def _find_and_modify(self, filter: Mapping[str, Any], *, session: ClientSession | None,
                         raw_data: bool | None, **kwargs: Any) -> Mapping[str, Any] | None:
        body = find_and_modify_command(self.name, filter, write_concern=self._wc, **kwargs)
        reply = self._write(body, session, raw_data=raw_data)
        if reply is None:
            return None
        wce = reply.get("writeConcernError")
        if wce:
            raise_write_reply_errors({"writeConcernError": wce})
        return parse_find_and_modify_reply(reply)

    @applies_timeout
    def find_one_and_delete(self, filter: Mapping[str, Any], *, projection: Projection | None = None,
                            sort: KeySpec | None = None, hint: Hint | None = None,
                            collation: Document | None = None, let: Document | None = None, comment: Any = None,
                            max_time_ms: int | None = None,
                            session: ClientSession | None = None, raw_data: bool | None = None) -> Mapping[str, Any] | None:
        return self._find_and_modify(filter, session=session, raw_data=raw_data, remove=True, projection=projection, sort=sort,
                                     hint=hint, collation=collation, let=let, comment=comment, max_time_ms=max_time_ms)

    @applies_timeout
    def find_one_and_update(self, filter: Mapping[str, Any], update: Update, *,
                            return_document: ReturnDocument = "before", upsert: bool = False,
                            projection: Projection | None = None, sort: KeySpec | None = None,
                            array_filters: Sequence[Document] | None = None, hint: Hint | None = None,
                            collation: Document | None = None, let: Document | None = None, comment: Any = None,
                            max_time_ms: int | None = None, bypass_document_validation: bool | None = None,
                            session: ClientSession | None = None, raw_data: bool | None = None) -> Mapping[str, Any] | None:
        return self._find_and_modify(filter, session=session, raw_data=raw_data, update=update, return_new=_return_new(return_document),
                                     upsert=upsert or None, projection=projection, sort=sort,
                                     array_filters=array_filters, hint=hint, collation=collation, let=let,
                                     comment=comment, max_time_ms=max_time_ms,
                                     bypass_document_validation=bypass_document_validation)

    @applies_timeout
    def find_one_and_replace(self, filter: Mapping[str, Any], replacement: Mapping[str, Any], *,
                             return_document: ReturnDocument = "before", upsert: bool = False,
                             projection: Projection | None = None, sort: KeySpec | None = None,
                             hint: Hint | None = None, collation: Document | None = None,
                             let: Document | None = None, comment: Any = None, max_time_ms: int | None = None,
                             bypass_document_validation: bool | None = None,
                             session: ClientSession | None = None, raw_data: bool | None = None) -> Mapping[str, Any] | None:
        return self._find_and_modify(filter, session=session, raw_data=raw_data, replacement=replacement,
                                     return_new=_return_new(return_document), upsert=upsert or None,
                                     projection=projection, sort=sort, hint=hint, collation=collation, let=let,
                                     comment=comment, max_time_ms=max_time_ms,
                                     bypass_document_validation=bypass_document_validation)

    def aggregate(self, pipeline: Pipeline, *, batch_size: int | None = None, allow_disk_use: bool | None = None,
                  let: Document | None = None, comment: Any = None, session: ClientSession | None = None,
                  max_time_ms: int | None = None, collation: Document | None = None, hint: Hint | None = None,
                  bypass_document_validation: bool | None = None, raw_data: bool | None = None,
                  timeout_ms: int | None = None, timeout_mode: str | None = None,
                  max_await_time_ms: int | None = None) -> Cursor:
        """A lazy Cursor over the pipeline's output; $out/$merge pipelines run on the primary as writes."""
        writes = has_write_stage(pipeline)
        body = aggregate_command(self.name, pipeline, batch_size=batch_size, allow_disk_use=allow_disk_use,
                                 max_time_ms=max_time_ms, read_concern=self._rc, collation=collation, hint=hint,
                                 comment=comment, let=let, write_concern=self._wc if writes else None,
                                 bypass_document_validation=bypass_document_validation)
        put_raw_data(body, raw_data)
        return Cursor(self._context, self.database.name, self.name, body=body,
                      read_preference=self._read_preference, session=session, write_stage=writes,
                      batch_size=batch_size or 0, comment=comment, retryable=None if writes else Retryable.READ,
                      timeout_ms=operation_timeout_ms(timeout_ms, self.timeout_ms), timeout_mode=timeout_mode,
                      max_await_time_ms=max_await_time_ms)

    @applies_timeout
    def watch(self, pipeline: Pipeline | None = None, options: ChangeStreamOptions | None = None,
              *, session: ClientSession | None = None, **keywords: Any) -> ChangeStream:
        """A ChangeStream of this collection's changes (change-streams spec): iterate it (blocks until a
        change), or call try_next(); resume_token is what to store to continue later with resume_after.
        `options` and/or keywords as in ChangeStreamOptions (full_document=..., max_await_time_ms=...)."""
        from driver.change_stream import ChangeStreamOptions
        from driver.watch import open_change_stream

        return open_change_stream(self._context, self.database.name, self.name, pipeline,
                                  ChangeStreamOptions.of(options, keywords), read_preference=self._read_preference,
                                  read_concern=self._rc, session=session)

    @applies_timeout
    def count_documents(self, filter: Mapping[str, Any] | None = None, *, skip: int | None = None,
                        limit: int | None = None, hint: Hint | None = None, collation: Document | None = None,
                        comment: Any = None, max_time_ms: int | None = None,
                        session: ClientSession | None = None, raw_data: bool | None = None) -> int:
        """The exact number of matching documents (an aggregate with $group; CRUD spec)."""
        body = count_documents_command(self.name, filter if filter is not None else {}, skip=skip, limit=limit,
                                       hint=hint, collation=collation, max_time_ms=max_time_ms,
                                       read_concern=self._rc, comment=comment)
        return parse_count_documents_reply(self._read(body, session, raw_data))

    @applies_timeout
    def estimated_document_count(self, *, comment: Any = None, max_time_ms: int | None = None,
                                 session: ClientSession | None = None, raw_data: bool | None = None) -> int:
        """The count from collection metadata (the count command; CRUD spec)."""
        body = estimated_document_count_command(self.name, max_time_ms=max_time_ms, read_concern=self._rc,
                                                comment=comment)
        return self._count(body, session, raw_data)

    @applies_timeout
    def count(self, filter: Mapping[str, Any] | None = None, *, skip: int | None = None, limit: int | None = None,
              hint: Hint | None = None, collation: Document | None = None, comment: Any = None,
              max_time_ms: int | None = None, session: ClientSession | None = None,
              raw_data: bool | None = None) -> int:
        """Deprecated `count` command (mongosh's db.coll.count()); prefer count_documents.

        CRUD spec: the count command may be inaccurate on sharded clusters and after an
        unclean shutdown; it is kept because shell users type it. A missing collection counts 0.
        """
        body = count_command(self.name, filter, skip=skip, limit=limit, hint=hint, collation=collation,
                             max_time_ms=max_time_ms, read_concern=self._rc, comment=comment)
        return self._count(body, session, raw_data)

    def _count(self, body: dict[str, Any], session: ClientSession | None, raw_data: bool | None) -> int:
        """Run a `count` command; a collection that does not exist counts 0."""
        try:
            return parse_count_reply(self._read(body, session, raw_data))
        except OperationFailure as exc:
            if exc.code == NAMESPACE_NOT_FOUND:
                return 0
            raise

    @applies_timeout
    def distinct(self, key: str, filter: Mapping[str, Any] | None = None, *, collation: Document | None = None,
                 hint: Hint | None = None, comment: Any = None, max_time_ms: int | None = None,
                 session: ClientSession | None = None, raw_data: bool | None = None) -> list[Any]:
        body = distinct_command(self.name, key, filter, collation=collation, hint=hint, max_time_ms=max_time_ms,
                                read_concern=self._rc, comment=comment)
        return parse_distinct_reply(self._read(body, session, raw_data))

    # -- indexes -------------------------------------------------------------------------
    @applies_timeout
    def create_index(self, keys: KeySpec, *, session: ClientSession | None = None, comment: Any = None,
                     max_time_ms: int | None = None, **options: Any) -> str:
        """createIndexes for one index; returns its name."""
        return self.create_indexes([IndexModel(keys, **options)], session=session, comment=comment,
                                   max_time_ms=max_time_ms)[0]

    @applies_timeout
    def create_indexes(self, models: Sequence[IndexModel | Document], *, session: ClientSession | None = None,
                       comment: Any = None, max_time_ms: int | None = None) -> list[str]:
        """createIndexes for IndexModels (or {key, name, ...} documents); returns the names."""
        docs = []
        for i, model in enumerate(models):
            if isinstance(model, IndexModel):
                docs.append(model.document)
            elif isinstance(model, Mapping) and "key" in model:
                options = {k: v for k, v in model.items() if k != "key"}
                docs.append(index_document(model["key"], **options))
            else:
                raise ConfigurationError(f"create_indexes: models[{i}] must be an IndexModel or a "
                                         f"{{key: ..., name: ...}} document, not {model!r}")
        from driver.ops import create_indexes_command

        body = create_indexes_command(self.name, docs, write_concern=self._wc, comment=comment, max_time_ms=max_time_ms)
        self._execute(Operation(self.database.name, body, session=session))
        return [d["name"] for d in docs]

    @applies_timeout
    def drop_index(self, index_or_name: KeySpec, *, session: ClientSession | None = None, comment: Any = None) -> None:
        """dropIndexes for one index by name or key spec ("*" is refused: use drop_indexes)."""
        if index_or_name == "*":
            raise ConfigurationError("drop_index('*') would drop every index; call drop_indexes() for that")
        body = drop_indexes_command(self.name, index_or_name, write_concern=self._wc, comment=comment)
        self._execute(Operation(self.database.name, body, session=session))

    @applies_timeout
    def drop_indexes(self, *, session: ClientSession | None = None, comment: Any = None) -> None:
        """Drop every index but _id."""
        body = drop_indexes_command(self.name, "*", write_concern=self._wc, comment=comment)
        self._execute(Operation(self.database.name, body, session=session))

    def list_indexes(self, *, session: ClientSession | None = None, batch_size: int | None = None,
                     comment: Any = None, timeout_ms: int | None = None,
                     timeout_mode: str | None = None) -> ListCursor | collection_reads.PrefixedCursor:
        """listIndexes as a cursor; a collection that does not exist has no indexes (empty cursor)."""
        body = list_indexes_command(self.name, batch_size=batch_size, comment=comment)
        cursor = Cursor(self._context, self.database.name, self.name, body=body,
                        read_preference=self._read_preference, session=session, batch_size=batch_size or 0,
                        timeout_ms=operation_timeout_ms(timeout_ms, self.timeout_ms), timeout_mode=timeout_mode)
        return collection_reads.missing_is_empty(cursor)

    @applies_timeout
    def index_information(self, *, session: ClientSession | None = None) -> dict[str, Any]:
        """{name: {key: [(field, direction)], ...options}} like PyMongo's helper."""
        info = {}
        for ix in self.list_indexes(session=session):
            ix = dict(ix)
            name = ix.pop("name")
            ix["key"] = list(ix["key"].items())
            info[name] = ix
        return info

    # -- collection management -----------------------------------------------------------
    @applies_timeout
    def drop(self, *, session: ClientSession | None = None, comment: Any = None) -> None:
        self.database.drop_collection(self.name, session=session, comment=comment)

    @applies_timeout
    def rename(self, new_name: str, *, drop_target: bool = False, session: ClientSession | None = None,
               comment: Any = None) -> None:
        """renameCollection (sent to admin) within this database."""
        body = rename_collection_command(self.full_name, f"{self.database.name}.{new_name}",
                                         drop_target=drop_target or None, write_concern=self._wc, comment=comment)
        self._execute(Operation("admin", body, session=session))
