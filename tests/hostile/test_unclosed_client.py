"""A Client dropped without close() is collected with its threads and sockets, and a ResourceWarning says so."""

from __future__ import annotations

import gc
import threading
import warnings
import weakref

from driver.client import Client
from tests.hostile.server import HostileServer

JOIN_S = 30.0  # generous: the close is prompt, a busy machine may be slow to schedule it


def _use_and_drop(uri: str) -> weakref.ref:
    client = Client(uri)
    client.admin.command("ping")
    client.admin.command("ping")
    return weakref.ref(client)


def test_an_unreferenced_unclosed_client_is_collected_with_its_threads_and_sockets() -> None:
    with HostileServer("good") as server:
        before = set(threading.enumerate())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ref = _use_and_drop(server.uri("heartbeatFrequencyMS=500", "serverSelectionTimeoutMS=10000"))
            started = [t for t in threading.enumerate() if t not in before]
            assert started and server.open_connections() >= 2  # a monitor's and a pooled one at least
            gc.collect()
        assert ref() is None, gc.get_referrers(ref()) if ref() is not None else None
        warned = [w for w in caught if issubclass(w.category, ResourceWarning)]
        assert warned and "garbage collected without close()" in str(warned[0].message)
        for thread in started:
            thread.join(JOIN_S)
        assert not [t.name for t in started if t.is_alive()]
        assert server.wait_until_no_connections(JOIN_S), server.open_connections()


def test_a_closed_client_does_not_warn() -> None:
    with HostileServer("good") as server:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client = Client(server.uri("serverSelectionTimeoutMS=10000"))
            client.admin.command("ping")
            client.close()
            del client
            gc.collect()
        assert not [w for w in caught if issubclass(w.category, ResourceWarning)
                    and "without close()" in str(w.message)]
