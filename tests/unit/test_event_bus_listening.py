"""EventBus.listening and commands_listened follow subscribe/unsubscribe (the pool and the executor read them per operation)."""

from __future__ import annotations

from typing import Any

import pytest

from driver.errors import ConfigurationError
from driver.events.listeners import EventBus, listens_to
from mongocli.service.connect import FirstChecks


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


class _Listener:
    def __init__(self, families: Any) -> None:
        self.listens_to = families
        self.seen: list = []

    def __call__(self, event: Any) -> None:
        self.seen.append(event)


def test_commands_listened_only_while_a_listener_asks_for_command_events() -> None:
    bus = EventBus()
    sdam = _Listener(("sdam",))
    stop_sdam = bus.subscribe(sdam)
    assert bus.listening and not bus.commands_listened  # e.g. mongocli's FirstChecks
    stop_all = bus.subscribe(lambda event: None)  # no listens_to: every family
    assert bus.commands_listened
    stop_all()
    assert not bus.commands_listened
    stop_commands = bus.subscribe(_Listener(frozenset({"command", "pool"})))
    assert bus.commands_listened
    bus.publish("e")
    assert sdam.seen == ["e"]  # delivery is unchanged: listens_to only says what must be built
    stop_commands()
    stop_sdam()
    assert not bus.listening and not bus.commands_listened


@pytest.mark.parametrize("families", ["sdam", ("sdam", "heartbeats")])
def test_an_unknown_event_family_is_refused_when_subscribing(families: Any) -> None:
    bus = EventBus()
    with pytest.raises(ConfigurationError, match="listens_to must be a collection of"):
        bus.subscribe(_Listener(families))
    assert not bus.listening


def test_mongocli_first_checks_asks_for_sdam_events_only() -> None:
    assert listens_to(FirstChecks()) == {"sdam"}
