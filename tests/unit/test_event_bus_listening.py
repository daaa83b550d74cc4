"""EventBus.listening follows subscribe/unsubscribe (the pool and the executor read it per operation)."""

from __future__ import annotations

from driver.events.listeners import EventBus


def test_listening_follows_subscriptions() -> None:
    bus = EventBus()
    assert not bus.listening and not bus
    seen: list = []
    first = bus.subscribe(seen.append)
    second = bus.subscribe(seen.append)
    assert bus.listening and bus
    first()
    assert bus.listening
    bus.publish("e")
    assert seen == ["e"]
    second()
    assert not bus.listening and not bus
