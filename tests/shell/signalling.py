"""A stdout stand-in for Ctrl-C tests: it tells the test when the input it watches has started."""

from __future__ import annotations

import io
import threading


class SignallingOutput(io.StringIO):
    """stdout that sets an event once `word` was written (the test's cue that the input is running)."""

    def __init__(self, word: str) -> None:
        super().__init__()
        self.word, self.seen = word, threading.Event()

    def write(self, text: str) -> int:
        if self.word in text:
            self.seen.set()
        return super().write(text)
