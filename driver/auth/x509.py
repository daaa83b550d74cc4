"""MONGODB-X509: the TLS client certificate's subject is the user; one `authenticate` command."""

from __future__ import annotations

from typing import Any


def authenticate_command(username: str | None) -> dict[str, Any]:
    """The authenticate command; the user is sent only when the application gave one (auth spec, 3.4+)."""
    cmd: dict[str, Any] = {"authenticate": 1, "mechanism": "MONGODB-X509"}
    if username:
        cmd["user"] = username
    return cmd


def speculative_start(username: str | None) -> dict[str, Any]:
    """The speculativeAuthenticate document: the authenticate command plus db "$external"."""
    doc = authenticate_command(username)
    doc["db"] = "$external"
    return doc
