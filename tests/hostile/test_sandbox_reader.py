"""The sandbox's reader: memory follows bytes received, and only a few large messages at once.

Many peers each sending part of a large message must not add up: the sandbox (its own
process, so its resident memory is its own) stays within a bound while they wait, still
answers small commands, and takes large messages again once the peers go away.
"""

from __future__ import annotations

import os
import selectors
import socket
import struct
import subprocess
import sys
import time

import pymongo

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEERS = 24
ANNOUNCED = 40_000_000  # under the 48 MB maximum: a legal length
SENT_EACH = 16 << 20  # each peer sends 16 MiB of it, then waits
GROWTH_BOUND_MB = 150  # two 16 MiB bodies in flight plus buffers; 24 trusted peers would be ~400


def _status_mb(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for pid {pid}")


def _push(peers: list[socket.socket], quiet_s: float = 2.0, deadline_s: float = 90.0) -> list[int]:
    """Send each peer's partial message as far as the sandbox takes it; stop when it takes no more."""
    header = struct.pack("<iiii", ANNOUNCED, 1, 0, 2013)
    pending = {sock: memoryview(header + bytes(SENT_EACH)) for sock in peers}
    sent = {sock: 0 for sock in peers}
    selector = selectors.DefaultSelector()
    for sock in peers:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_WRITE)
    last_progress = start = time.monotonic()
    while pending and time.monotonic() - last_progress < quiet_s and time.monotonic() - start < deadline_s:
        for key, _ in selector.select(timeout=0.2):
            sock = key.fileobj
            try:
                n = sock.send(pending[sock][:1 << 20])
            except BlockingIOError:
                continue
            sent[sock] += n
            pending[sock] = pending[sock][n:]
            last_progress = time.monotonic()
            if not pending[sock]:
                selector.unregister(sock)
                del pending[sock]
    selector.close()
    return [sent[sock] for sock in peers]


def test_partial_large_messages_from_many_peers_stay_bounded_and_the_sandbox_keeps_serving() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "mongocli", "sandbox", "--port", "0", "--quiet"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peers: list[socket.socket] = []
    try:
        uri = proc.stdout.readline().strip()
        assert uri.startswith("mongodb://"), proc.stderr.read() if proc.poll() is not None else uri
        host, port = uri.split("//")[1].split("/")[0].split("?")[0].rsplit(":", 1)
        with pymongo.MongoClient(uri, serverSelectionTimeoutMS=20000) as client:
            client.admin.command("ping")
            before = _status_mb(proc.pid, "VmRSS")
            peers = [socket.create_connection((host, int(port)), timeout=20) for _ in range(PEERS)]
            sent = _push(peers)
            growth = _status_mb(proc.pid, "VmHWM") - before
            # The sandbox did read large bodies (two at least), yet held far less than was sent.
            assert sum(1 for n in sent if n >= SENT_EACH) >= 2, sent
            assert growth < GROWTH_BOUND_MB, (growth, sum(sent) >> 20)
            assert client.admin.command("ping")["ok"] == 1  # small messages are never held up
            for sock in peers:
                sock.close()
            # With the peers gone their slots are free: a large message goes through.
            client.test.big.insert_one({"blob": b"\x00" * (10 << 20)})
            assert client.test.big.count_documents({}) == 1
    finally:
        for sock in peers:
            sock.close()
        proc.terminate()
        proc.wait(30)
