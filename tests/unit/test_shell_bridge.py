"""The bridge's change stream handle: one reader at a time, no change lost to an abandoned (Ctrl-C) call."""

from __future__ import annotations

import threading

from mongocli.shell.bridge import _Stream


class FakeStream:
    """try_next answers from a script of (change, token after it); `gate` holds a call until released."""

    def __init__(self, steps: list[tuple[dict | None, dict]], alive_after: bool = True) -> None:
        self.steps = list(steps)
        self.resume_token = {"_data": "start"}
        self.alive = True
        self.alive_after = alive_after
        self.gate = threading.Event()
        self.gate.set()
        self.calls = 0
        self.closed = False

    def try_next(self):
        self.calls += 1
        self.gate.wait(30)
        change, self.resume_token = self.steps.pop(0)
        if not self.steps:
            self.alive = self.alive_after
        return change

    def close(self) -> None:
        self.closed = True


def test_each_change_comes_with_the_token_that_follows_it():
    handle = _Stream(FakeStream([(None, {"_data": "a"}), ({"_id": 1}, {"_data": "b"})]))
    handle.fill()
    assert handle.pop() == (None, {"_data": "a"})
    handle.fill()
    assert handle.pop() == ({"_id": 1}, {"_data": "b"})
    assert not handle.closed


def test_a_change_fetched_by_an_abandoned_call_waits_for_the_next_call():
    stream = FakeStream([({"_id": 1}, {"_data": "t1"}), ({"_id": 2}, {"_data": "t2"})])
    handle = _Stream(stream)
    stream.gate.clear()
    abandoned = threading.Thread(target=handle.fill)  # its caller was interrupted: nobody pops for it
    abandoned.start()
    stream.gate.set()
    abandoned.join(30)
    handle.fill()  # the next call: the parked change is there, no getMore is sent
    assert stream.calls == 1
    assert handle.pop() == ({"_id": 1}, {"_data": "t1"})
    handle.fill()
    assert handle.pop() == ({"_id": 2}, {"_data": "t2"})


def test_a_stream_that_ends_is_closed_and_close_kills_it():
    stream = FakeStream([(None, {"_data": "end"})], alive_after=False)
    handle = _Stream(stream)
    handle.fill()
    assert handle.pop() == (None, {"_data": "end"})
    assert handle.closed
    handle.fill()
    assert stream.calls == 1  # a closed stream sends nothing more
    handle.close()
    assert stream.closed
