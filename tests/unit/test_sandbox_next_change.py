"""The sandbox's NextChange: changed() wakes the current waiters only; a wait that times out returns."""

from __future__ import annotations

import asyncio

from mongocli.sandbox.next_change import NextChange


def test_changed_wakes_every_current_waiter_and_later_waits_need_the_next_change() -> None:
    async def scenario() -> list[str]:
        signal = NextChange()
        woken: list[str] = []

        async def waiter(name: str) -> None:
            await signal.wait(None)
            woken.append(name)

        first, second = asyncio.create_task(waiter("a")), asyncio.create_task(waiter("b"))
        await asyncio.sleep(0)  # let both start waiting
        signal.changed()
        await asyncio.gather(first, second)
        late = asyncio.create_task(waiter("late"))
        await asyncio.sleep(0)
        assert not late.done()  # the earlier change does not let a later waiter through
        signal.changed()
        await late
        return woken

    assert asyncio.run(scenario()) == ["a", "b", "late"]


def test_a_wait_ends_at_its_timeout_without_an_error() -> None:
    async def scenario() -> bool:
        await NextChange().wait(0.01)
        return True

    assert asyncio.run(scenario())
