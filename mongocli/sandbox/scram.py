"""Server side of SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802 / RFC 7677, MongoDB auth spec)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stringprep
import unicodedata
from dataclasses import dataclass
from typing import Any, Mapping

MECHANISMS = ("SCRAM-SHA-1", "SCRAM-SHA-256")
# Real server defaults (scramIterationCount / scramSHA256IterationCount).
_ITERATIONS = {"SCRAM-SHA-1": 10000, "SCRAM-SHA-256": 15000}
_HASH = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}

AUTH_FAILED = {"ok": 0.0, "code": 18, "codeName": "AuthenticationFailed", "errmsg": "Authentication failed."}


def saslprep(text: str) -> str:
    """RFC 4013 SASLprep (the subset SCRAM-SHA-256 needs: mapping, NFKC, prohibited output)."""
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch for ch in text if not stringprep.in_table_b1(ch)
    )
    normal = unicodedata.normalize("NFKC", mapped)
    for ch in normal:
        if (
            stringprep.in_table_c12(ch) or stringprep.in_table_c21_c22(ch) or stringprep.in_table_c3(ch)
            or stringprep.in_table_c4(ch) or stringprep.in_table_c5(ch) or stringprep.in_table_c6(ch)
            or stringprep.in_table_c7(ch) or stringprep.in_table_c8(ch) or stringprep.in_table_c9(ch)
        ):
            raise ValueError(f"SASLprep: prohibited character {ch!r} in password")
    return normal


@dataclass(frozen=True)
class _Credential:
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


def credential(mechanism: str, user: str, password: str) -> _Credential:
    """Salted SCRAM credential of a user for one mechanism (server side: stored key, server key)."""
    digest = _HASH[mechanism]
    if mechanism == "SCRAM-SHA-1":
        # MongoDB's SCRAM-SHA-1 hashes the MONGODB-CR digest, not the raw password (auth spec).
        secret = hashlib.md5(f"{user}:mongo:{password}".encode()).hexdigest().encode()
    else:
        secret = saslprep(password).encode()
    salt = os.urandom(16 if mechanism == "SCRAM-SHA-1" else 28)
    salted = hashlib.pbkdf2_hmac(digest, secret, salt, _ITERATIONS[mechanism])
    client_key = hmac.digest(salted, b"Client Key", digest)
    return _Credential(
        salt=salt,
        iterations=_ITERATIONS[mechanism],
        stored_key=hashlib.new(digest, client_key).digest(),
        server_key=hmac.digest(salted, b"Server Key", digest),
    )


def _parse_attrs(message: str) -> dict[str, str]:
    attrs = {}
    for part in message.split(","):
        if len(part) >= 2 and part[1] == "=":
            attrs[part[0]] = part[2:]
    return attrs


class ScramConversation:
    """One saslStart/saslContinue conversation on one connection."""

    def __init__(self, users: Any, mechanism: str, db: str) -> None:
        self.users = users
        self.mechanism = mechanism
        self.db = db
        self.user: str | None = None  # the user name; its database is `db`
        self.done = False
        self.authenticated = False
        self._step = 0
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._cred: _Credential | None = None
        self.skip_empty_exchange = False

    def start(self, payload: bytes, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Answer the client-first message with the server-first message."""
        self.skip_empty_exchange = bool((options or {}).get("skipEmptyExchange"))
        text = bytes(payload).decode("utf-8", "replace")
        if not text.startswith(("n,", "y,")):
            return dict(AUTH_FAILED)
        bare = text.split(",", 2)[2] if text.count(",") >= 2 else ""
        attrs = _parse_attrs(bare)
        user = attrs.get("n", "").replace("=2C", ",").replace("=3D", "=")
        cred = self.users.credential(self.db, user, self.mechanism)
        if cred is None or "r" not in attrs:
            return dict(AUTH_FAILED)
        self.user, self._cred = user, cred
        self._client_first_bare = bare
        self._nonce = attrs["r"] + base64.b64encode(os.urandom(24)).decode()
        self._server_first = f"r={self._nonce},s={base64.b64encode(cred.salt).decode()},i={cred.iterations}"
        self._step = 1
        return {"conversationId": 1, "done": False, "payload": self._server_first.encode(), "ok": 1.0}

    def next(self, payload: bytes) -> dict[str, Any]:
        """Answer saslContinue: verify the client proof, then the final empty round."""
        if self._step == 1:
            return self._verify(bytes(payload).decode("utf-8", "replace"))
        if self._step == 2 and not bytes(payload):
            self.done = True
            return {"conversationId": 1, "done": True, "payload": b"", "ok": 1.0}
        return dict(AUTH_FAILED)

    def _verify(self, client_final: str) -> dict[str, Any]:
        assert self._cred is not None
        digest = _HASH[self.mechanism]
        without_proof, _, proof_part = client_final.rpartition(",p=")
        attrs = _parse_attrs(without_proof)
        if attrs.get("r") != self._nonce or not proof_part:
            return dict(AUTH_FAILED)
        try:
            proof = base64.b64decode(proof_part, validate=True)
        except ValueError:
            return dict(AUTH_FAILED)
        auth_message = ",".join((self._client_first_bare, self._server_first, without_proof)).encode()
        client_signature = hmac.digest(self._cred.stored_key, auth_message, digest)
        if len(proof) != len(client_signature):
            return dict(AUTH_FAILED)
        client_key = bytes(a ^ b for a, b in zip(proof, client_signature))
        if not hmac.compare_digest(hashlib.new(digest, client_key).digest(), self._cred.stored_key):
            return dict(AUTH_FAILED)
        server_signature = hmac.digest(self._cred.server_key, auth_message, digest)
        self.authenticated = True
        self._step = 2
        self.done = self.skip_empty_exchange
        payload = ("v=" + base64.b64encode(server_signature).decode()).encode()
        return {"conversationId": 1, "done": self.done, "payload": payload, "ok": 1.0}
