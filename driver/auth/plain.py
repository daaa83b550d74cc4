"""PLAIN (RFC 4616) over saslStart: LDAP proxy authentication, one round trip."""

from __future__ import annotations

from typing import Any

from bson.binary import Binary

from driver.errors import AuthenticationFailed


def sasl_start(username: str, password: str) -> dict[str, Any]:
    """The single saslStart command for PLAIN: payload is authzid NUL authcid NUL passwd, authzid empty."""
    if not username:
        raise AuthenticationFailed("PLAIN: a username is required")
    if password is None:
        raise AuthenticationFailed(f"PLAIN: a password is required for user {username!r}")
    payload = b"\x00" + username.encode("utf-8") + b"\x00" + password.encode("utf-8")
    return {"saslStart": 1, "mechanism": "PLAIN", "payload": Binary(payload), "autoAuthorize": 1}


def check_reply(reply: dict[str, Any]) -> None:
    """The server finishes PLAIN in one step; anything else is a broken conversation."""
    if not reply.get("done"):
        raise AuthenticationFailed("PLAIN: the server did not finish the conversation in one step")
