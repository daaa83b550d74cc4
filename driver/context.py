"""The explicit internal context a Client hands to its Database, Collection, Cursor and ClientSession objects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from driver.execute import Executor
from driver.session import ServerSessionPool

if TYPE_CHECKING:
    from driver.events.listeners import EventBus
    from driver.sdam.topology import Topology
    from driver.server_api import ServerApi


class ClientContext:
    """What the objects a client creates may use of it, named and typed: no reaching into the client.

    `client` is the public owner (`Database.client`, `ClientSession.client`); `topology` the
    live topology; `events` the client's event bus; `server_sessions` the pool of server
    sessions (sessions spec); `executor` runs every operation (built here, with this context,
    because it starts implicit sessions from it); `server_api` the declared Stable API version
    or None. Built once by the Client; never replaced.
    """

    __slots__ = ("client", "topology", "events", "server_sessions", "executor", "server_api")

    def __init__(self, client: Any, topology: "Topology", events: "EventBus", *,
                 retry_writes: bool, retry_reads: bool, max_adaptive_retries: int = 2,
                 overload_retargeting: bool = False, server_api: "ServerApi | None" = None) -> None:
        self.client = client
        self.server_api = server_api
        self.topology = topology
        self.events = events
        self.server_sessions = ServerSessionPool()
        self.executor = Executor(self, retry_writes=retry_writes, retry_reads=retry_reads,
                                 max_adaptive_retries=max_adaptive_retries,
                                 overload_retargeting=overload_retargeting)

    @property
    def logical_session_timeout_minutes(self) -> int | None:
        """The deployment's session timeout as the current topology description states it."""
        return self.topology.description.logical_session_timeout_minutes
