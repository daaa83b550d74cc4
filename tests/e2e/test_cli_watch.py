"""`mongocli watch` as a subprocess: PyMongo writes, each change arrives in order as one JSON line; Ctrl-C ends it."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Iterator

import pymongo
import pytest

from mongocli.sandbox import Sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEADLINE_S = 30.0  # generous: a busy 2-core machine; a passing run never waits it out


@pytest.fixture(scope="module")
def replset() -> Iterator[Sandbox]:
    with Sandbox(topology="replset", members=3, election_delay_ms=100, host="127.0.0.1", port=0) as sandbox:
        yield sandbox


class Watcher:
    """`python -m mongocli watch ...` with stdout and stderr lines read by threads into queues."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "mongocli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.out: queue.Queue[str | None] = queue.Queue()
        self.err: queue.Queue[str | None] = queue.Queue()
        self.err_seen: list[str] = []
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True).start()

    @staticmethod
    def _pump(stream, sink: queue.Queue) -> None:
        for line in stream:
            sink.put(line)
        sink.put(None)

    def _next(self, sink: queue.Queue, what: str, deadline: float) -> str:
        left = deadline - time.monotonic()
        try:
            line = sink.get(timeout=max(left, 0.01))
        except queue.Empty:
            raise AssertionError(f"no {what} within {DEADLINE_S}s; stderr: {''.join(self.err_seen)}") from None
        if line is None:
            raise AssertionError(f"mongocli watch ended ({self.proc.wait(5)}) before {what}; "
                                 f"stderr: {''.join(self.err_seen)}")
        return line

    def wait_stderr(self, text: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not any(text in line for line in self.err_seen):
            self.err_seen.append(self._next(self.err, repr(text), deadline))

    def events(self, n: int) -> list[dict]:
        deadline = time.monotonic() + DEADLINE_S
        return [json.loads(self._next(self.out, f"event {i + 1} of {n}", deadline)) for i in range(n)]

    def stderr_text(self) -> str:
        """Everything the process wrote to stderr (call after it ended)."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                line = self.err.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            if line is None:
                break
            self.err_seen.append(line)
        return "".join(self.err_seen)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(DEADLINE_S)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def start() -> Iterator:
    started: list[Watcher] = []

    def run(*args: str) -> Watcher:
        started.append(Watcher(*args))
        return started[-1]

    yield run
    for watcher in started:
        if watcher.proc.poll() is None:
            watcher.proc.kill()
            watcher.proc.wait(5)


def test_watch_prints_each_change_in_order_as_a_json_line(replset: Sandbox, start) -> None:
    watcher = start("--uri", replset.uri, "watch", "shop.orders")
    watcher.wait_stderr("watching shop.orders")  # the change stream is open: nothing written now is missed
    with pymongo.MongoClient(replset.uri) as client:
        orders = client.shop.orders
        orders.insert_one({"_id": 1, "qty": 1})
        orders.update_one({"_id": 1}, {"$set": {"qty": 2}})
        client.shop.other.insert_one({"_id": 9})  # another collection: not in this stream
        orders.delete_one({"_id": 1})
    insert, update, delete = watcher.events(3)
    assert [e["operationType"] for e in (insert, update, delete)] == ["insert", "update", "delete"]
    assert insert["fullDocument"] == {"_id": 1, "qty": 1}
    assert insert["ns"] == {"db": "shop", "coll": "orders"}
    assert update["updateDescription"]["updatedFields"] == {"qty": 2}
    assert all(e["documentKey"] == {"_id": 1} for e in (insert, update, delete))
    assert len({json.dumps(e["_id"], sort_keys=True) for e in (insert, update, delete)}) == 3  # resume tokens
    assert watcher.stop() == 130  # Ctrl-C ends a watch: 130 in the exit-code table, as for monitor


def test_watch_database_with_pipeline_and_limit(replset: Sandbox, start) -> None:
    watcher = start("--uri", replset.uri, "watch", "inv", "--limit", "2",
                    "--pipeline", '[{"$match": {"operationType": "insert"}}]')
    watcher.wait_stderr("watching inv")
    with pymongo.MongoClient(replset.uri) as client:
        client.inv.a.insert_one({"_id": "a1"})
        client.inv.a.delete_one({"_id": "a1"})  # filtered out by the pipeline
        client.inv.b.insert_one({"_id": "b1"})
    first, second = watcher.events(2)
    assert [(e["ns"]["coll"], e["documentKey"]["_id"]) for e in (first, second)] == [("a", "a1"), ("b", "b1")]
    assert watcher.proc.wait(DEADLINE_S) == 0  # --limit 2: done after two events


def test_watch_refuses_a_bad_pipeline_before_connecting(start) -> None:
    watcher = start("--uri", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100", "watch", "db.c",
                    "--pipeline", '{"$match": {}}')
    code = watcher.proc.wait(DEADLINE_S)
    stderr = watcher.stderr_text()
    assert code == 2, stderr
    assert "--pipeline must be a JSON array" in stderr
