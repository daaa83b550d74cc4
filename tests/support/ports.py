"""Loopback ports for tests: one with nothing listening on it."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released): connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
