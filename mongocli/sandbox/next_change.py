"""A wake-up for whoever awaits "the next change" on the sandbox's event loop (awaitable hello, write-concern waits)."""

from __future__ import annotations

import asyncio


class NextChange:
    """`changed()` wakes every current `wait()`; a later wait() waits for the change after it.

    Why a fresh asyncio.Event per round: a set Event would let later waiters through at once;
    one made only when someone waits costs nothing while nobody does (the common case).
    """

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def changed(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self, timeout: float | None) -> None:
        """Until the next changed() or `timeout` seconds (None: no limit); never raises for the timeout."""
        if self._event is None:
            self._event = asyncio.Event()
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except asyncio.TimeoutError:
            pass
