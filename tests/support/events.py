"""A thread-safe event recorder for tests: listeners append, tests wait on a condition (never sleep)."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable


class EventRecorder:
    """Collects every event it is called with; waits are woken by each new event."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def snapshot(self) -> list[Any]:
        with self._cond:
            return list(self.events)

    def clear(self) -> None:
        with self._cond:
            self.events.clear()

    def of(self, kind: type, where: Callable[[Any], bool] = lambda _e: True) -> list[Any]:
        """The recorded events of one type that satisfy `where`, in order."""
        with self._cond:
            return [e for e in self.events if isinstance(e, kind) and where(e)]

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout: float = 10.0,
                 what: str = "condition") -> None:
        """Block until predicate(events) holds; AssertionError naming the last events if it never does."""
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.events), timeout):
                names = [type(e).__name__ for e in self.events[-20:]]
                raise AssertionError(f"{what} not met within {timeout}s; last events: {names}")

    def wait(self, kind: type, where: Callable[[Any], bool] = lambda _e: True, timeout_s: float = 10.0) -> Any:
        """Block until an event of `kind` satisfying `where` was recorded; return the first one."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                found = [e for e in self.events if isinstance(e, kind) and where(e)]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    names = [type(e).__name__ for e in self.events[-20:]]
                    raise AssertionError(f"no {kind.__name__} within {timeout_s}s; last events: {names}")
                self._cond.wait(left)
