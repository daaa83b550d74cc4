"""The benchmark tasks (benchmarking spec, Single-Doc and Multi-Doc, plus a 10k-document aggregate).

Each task has the spec's phases: `setup` once per client, `before` once per iteration (untimed,
returns what `do` needs), `do` (timed, returns what `check` judges) and `check`, which raises
BenchError unless the client really did the work (right documents back, right count stored).
The same code drives both clients: it only uses the API PyMongo and driver/ share.
Dataset sizes are the spec's: the source file's size times the number of operations.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Callable

DATA_DIR = os.environ.get("MONGOCLI_BENCH_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                               "bench-data"))
COLLECTION = "corpus"
HELLO_BYTES = 13  # BSON {hello: true}: the spec scores "Run command" as 10,000 x 13 bytes


class BenchError(RuntimeError):
    """A client did not do what the task asked (wrong reply, missing documents)."""


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    data_file: str | None
    ops: int  # spec scale: operations per iteration
    quick_ops: int
    setup: Callable[[Any, Any, int], None]  # (db, document, ops)
    before: Callable[[Any, Any, int], Any]  # -> state for do
    do: Callable[[Any, Any], Any]  # (db, state) -> outcome
    check: Callable[[Any, Any, Any, int], None]  # (db, document, outcome, ops)

    def bytes_per_op(self, data_dir: str = DATA_DIR) -> int:
        return os.path.getsize(os.path.join(data_dir, self.data_file)) if self.data_file else HELLO_BYTES

    def load(self, data_dir: str = DATA_DIR) -> Any:
        if not self.data_file:
            return None
        with open(os.path.join(data_dir, self.data_file), encoding="utf-8") as f:
            return json.load(f)


def _expect(ok: bool, message: str) -> None:
    if not ok:
        raise BenchError(message)


def _fresh_collection(db: Any) -> None:
    """Spec "Before task" for inserts: drop the corpus, create it with the create command."""
    db.drop_collection(COLLECTION)
    db.command({"create": COLLECTION})


def _count(db: Any) -> int:
    return int(db.command({"count": COLLECTION})["n"])


def _nothing(db: Any, doc: Any, ops: int) -> None:
    return None


# -- run command ---------------------------------------------------------------------------------
def _run_command(db: Any, ops: int) -> Any:
    command, reply = db.command, None
    for _ in range(ops):
        reply = command({"hello": True})
    return reply


def _check_run_command(db: Any, doc: Any, reply: Any, ops: int) -> None:
    _expect(reply is not None and reply.get("ok") == 1 and "maxWireVersion" in reply, f"hello replied {reply!r}")


# -- find one by _id -----------------------------------------------------------------------------
def _setup_by_id(db: Any, doc: Any, ops: int) -> None:
    db.drop_collection(COLLECTION)
    db[COLLECTION].insert_many([dict(doc, _id=i) for i in range(1, ops + 1)])


def _find_one(db: Any, ops: int) -> Any:
    find_one, found = db[COLLECTION].find_one, None
    for i in range(1, ops + 1):
        found = find_one({"_id": i})
    return found


def _check_find_one(db: Any, doc: Any, found: Any, ops: int) -> None:
    _expect(found is not None and found.get("_id") == ops and found.get("text") == doc["text"],
            f"find_one({{_id: {ops}}}) returned {str(found)[:120]}")


# -- inserts ------------------------------------------------------------------------------------
def _before_insert(db: Any, doc: Any, ops: int) -> Any:
    _fresh_collection(db)
    # Copies made here, untimed: both drivers add the generated _id to the dict they are given.
    return db[COLLECTION], [dict(doc) for _ in range(ops)]


def _insert_one(db: Any, state: Any) -> Any:
    coll, docs = state
    insert_one, result = coll.insert_one, None
    for d in docs:
        result = insert_one(d)
    return result


def _insert_many(db: Any, state: Any) -> Any:
    coll, docs = state
    return coll.insert_many(docs, ordered=True)


def _check_insert_one(db: Any, doc: Any, result: Any, ops: int) -> None:
    _expect(result is not None and result.inserted_id is not None, "insert_one returned no inserted_id")
    _expect(_count(db) == ops, f"{_count(db)} documents stored, {ops} inserted")


def _check_insert_many(db: Any, doc: Any, result: Any, ops: int) -> None:
    _expect(len(result.inserted_ids) == ops and len(set(map(str, result.inserted_ids))) == ops,
            f"insert_many reported {len(result.inserted_ids)} distinct ids for {ops} documents")
    _expect(_count(db) == ops, f"{_count(db)} documents stored, {ops} inserted")


# -- find many / aggregate ---------------------------------------------------------------------
def _setup_corpus(db: Any, doc: Any, ops: int) -> None:
    db.drop_collection(COLLECTION)
    db[COLLECTION].insert_many([dict(doc) for _ in range(ops)])  # driver-generated _ids (spec)


def _find_many(db: Any, coll: Any) -> int:
    n = 0
    for _ in coll.find({}):
        n += 1
    return n


def _aggregate(db: Any, coll: Any) -> int:
    n = 0
    for _ in coll.aggregate([{"$match": {}}]):
        n += 1
    return n


def _before_read(db: Any, doc: Any, ops: int) -> Any:
    return db[COLLECTION]


def _check_read_all(db: Any, doc: Any, n: int, ops: int) -> None:
    _expect(n == ops, f"the cursor gave {n} documents, {ops} stored")


TASKS: dict[str, Task] = {t.name: t for t in [
    Task("run_command", "Run command {hello: true}", None, 10_000, 1_000,
         _nothing, lambda db, doc, ops: ops, _run_command, _check_run_command),
    Task("find_one_by_id", "Find one by _id", "tweet.json", 10_000, 1_000,
         _setup_by_id, lambda db, doc, ops: ops, _find_one, _check_find_one),
    Task("small_insert_one", "Small doc insertOne", "small_doc.json", 10_000, 1_000,
         _nothing, _before_insert, _insert_one, _check_insert_one),
    Task("large_insert_one", "Large doc insertOne", "large_doc.json", 10, 3,
         _nothing, _before_insert, _insert_one, _check_insert_one),
    Task("find_many", "Find many and empty the cursor", "tweet.json", 10_000, 5_000,
         _setup_corpus, _before_read, _find_many, _check_read_all),
    Task("small_bulk_insert", "Small doc bulk insert", "small_doc.json", 10_000, 10_000,
         _nothing, _before_insert, _insert_many, _check_insert_many),
    Task("large_bulk_insert", "Large doc bulk insert", "large_doc.json", 10, 3,
         _nothing, _before_insert, _insert_many, _check_insert_many),
    Task("aggregate_10k", "Aggregate 10k documents ($match: {})", "tweet.json", 10_000, 5_000,
         _setup_corpus, _before_read, _aggregate, _check_read_all),
]}
