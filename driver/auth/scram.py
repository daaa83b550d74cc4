"""SCRAM-SHA-1 / SCRAM-SHA-256 client conversation (RFC 5802, RFC 7677) as a small pure state machine."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from collections import OrderedDict
from typing import Any

from bson.binary import Binary

from driver.auth.saslprep import saslprep
from driver.errors import AuthenticationFailed

# Auth spec, SCRAM-SHA-1 / SCRAM-SHA-256: "drivers MUST enforce a minimum iteration count of 4096".
MIN_ITERATIONS = 4096
# No spec maximum; servers default to 10,000 (SHA-1) / 15,000 (SHA-256). PBKDF2 costs about a
# second per million iterations here, so a hostile count (2e9 = minutes of CPU, past every
# timeout) is refused rather than computed (issue 11).
MAX_ITERATIONS = 1_000_000

_HASHES = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}


class _SaltedPasswordCache:
    """Auth spec "Caching credentials in SCRAM": keyed by mechanism, password, salt and iterations."""

    def __init__(self, max_entries: int = 64) -> None:
        self._entries: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self.hits = 0

    def salted_password(self, mechanism: str, password: bytes, salt: bytes, iterations: int) -> bytes:
        """Return Hi(password, salt, i), computing it (slowly, on purpose) only on a miss."""
        key = (mechanism, password, salt, iterations)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found
        # PBKDF2 runs outside the lock: it is the expensive part and is deterministic.
        value = hashlib.pbkdf2_hmac(_HASHES[mechanism], password, salt, iterations)
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = 0


CACHE = _SaltedPasswordCache()


def escape_username(username: str) -> str:
    """RFC 5802 section 5.1: ',' and '=' in a saslname are written '=2C' and '=3D'."""
    return username.replace("=", "=3D").replace(",", "=2C")


def mongo_password(mechanism: str, username: str, password: str) -> bytes:
    """The password SCRAM feeds to Hi(): SHA-1 uses MongoDB's MD5 digest, SHA-256 uses SASLprep."""
    if mechanism == "SCRAM-SHA-1":
        # Auth spec, SCRAM-SHA-1: HEX(MD5(UTF8(username + ':mongo:' + password))), no SASLprep.
        return hashlib.md5(f"{username}:mongo:{password}".encode("utf-8")).hexdigest().encode("ascii")
    return saslprep(password).encode("utf-8")


def _parse_attributes(message: bytes, what: str) -> dict[str, str]:
    """Split a SCRAM message "a=v,b=w" into a dict; the value keeps any '=' (base64)."""
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AuthenticationFailed(f"SCRAM: the server's {what} is not UTF-8: {exc}") from None
    attrs: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or len(key) != 1:
            raise AuthenticationFailed(f"SCRAM: malformed attribute {part!r} in the server's {what}")
        attrs.setdefault(key, value)
    return attrs


class ScramConversation:
    """One SCRAM client conversation: client_first() -> process_server_first() -> verify_server_final().

    The object holds no socket; the caller carries the bytes. Calls out of order raise
    AuthenticationFailed. `prepared_password` is RFC 5802's Normalize(password) as bytes (see
    mongo_password() for MongoDB's variant, or use new_conversation()). `nonce` is injectable for
    the RFC test vectors; it defaults to 24 random bytes, base64-encoded (printable, no ',').
    """

    def __init__(
        self,
        mechanism: str,
        username: str,
        prepared_password: bytes,
        *,
        nonce: str | None = None,
        cache: _SaltedPasswordCache | None = None,
    ) -> None:
        if mechanism not in _HASHES:
            raise AuthenticationFailed(f"SCRAM: unknown mechanism {mechanism!r}")
        if not username:
            raise AuthenticationFailed(f"{mechanism}: a username is required")
        self.mechanism = mechanism
        self._digest = _HASHES[mechanism]
        self._username = username
        self._password = prepared_password
        self._nonce = nonce if nonce is not None else base64.b64encode(os.urandom(24)).decode("ascii")
        self._cache = cache if cache is not None else CACHE
        self._state = "start"
        self._first_bare = ""
        self._server_signature = b""

    @property
    def done(self) -> bool:
        return self._state == "done"

    def client_first(self) -> bytes:
        """The client-first-message; 'n,,' because drivers MUST NOT advertise channel binding."""
        self._expect("start")
        self._first_bare = f"n={escape_username(self._username)},r={self._nonce}"
        self._state = "first-sent"
        return b"n,," + self._first_bare.encode("utf-8")

    def process_server_first(self, payload: bytes) -> bytes:
        """Validate the server-first-message and return the client-final-message with the proof."""
        self._expect("first-sent")
        attrs = _parse_attributes(payload, "server-first-message")
        if "m" in attrs:
            # RFC 5802 5.1: an unknown mandatory extension means we must fail.
            raise AuthenticationFailed("SCRAM: the server requires an unsupported extension (m=)")
        try:
            server_nonce, salt_b64, iter_text = attrs["r"], attrs["s"], attrs["i"]
        except KeyError as exc:
            raise AuthenticationFailed(f"SCRAM: the server-first-message lacks {exc.args[0]}=") from None
        if not server_nonce.startswith(self._nonce) or len(server_nonce) <= len(self._nonce):
            raise AuthenticationFailed("SCRAM: the server nonce does not extend the client nonce")
        try:
            iterations = int(iter_text)
        except ValueError:
            raise AuthenticationFailed(f"SCRAM: iteration count {iter_text!r} is not a number") from None
        if iterations < MIN_ITERATIONS:
            raise AuthenticationFailed(
                f"SCRAM: the server asked for {iterations} iterations; the minimum is {MIN_ITERATIONS}"
            )
        if iterations > MAX_ITERATIONS:
            raise AuthenticationFailed(
                f"SCRAM: the server asked for {iterations} iterations; mongocli refuses more than "
                f"{MAX_ITERATIONS} (each attempt would cost minutes of CPU): the server is misconfigured "
                "or not genuine"
            )
        try:
            salt = base64.b64decode(salt_b64, validate=True)
        except ValueError:
            raise AuthenticationFailed("SCRAM: the salt is not valid base64") from None
        if not salt:
            raise AuthenticationFailed("SCRAM: the server sent an empty salt")

        salted = self._cache.salted_password(self.mechanism, self._password, salt, iterations)
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.new(self._digest, client_key).digest()
        without_proof = f"c=biws,r={server_nonce}"
        auth_message = ",".join((self._first_bare, payload.decode("utf-8"), without_proof)).encode("utf-8")
        signature = self._hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = self._hmac(salted, b"Server Key")
        self._server_signature = self._hmac(server_key, auth_message)
        self._state = "final-sent"
        return f"{without_proof},p={base64.b64encode(proof).decode('ascii')}".encode("utf-8")

    def verify_server_final(self, payload: bytes) -> None:
        """Check the server signature (v=) so we know the server also knows the password."""
        self._expect("final-sent")
        attrs = _parse_attributes(payload, "server-final-message")
        if "e" in attrs:
            raise AuthenticationFailed(f"SCRAM: the server reported an error: {attrs['e']}")
        try:
            verifier = base64.b64decode(attrs.get("v", ""), validate=True)
        except ValueError:
            verifier = b""
        if not verifier or not hmac.compare_digest(verifier, self._server_signature):
            raise AuthenticationFailed("SCRAM: the server signature is wrong; the server may not be genuine")
        self._state = "done"

    def _hmac(self, key: bytes, msg: bytes) -> bytes:
        return hmac.new(key, msg, self._digest).digest()

    def _expect(self, state: str) -> None:
        if self._state != state:
            raise AuthenticationFailed(f"SCRAM: step called in state {self._state!r}, expected {state!r}")


def new_conversation(mechanism: str, username: str, password: str | None) -> ScramConversation:
    """A conversation for a MongoDB user: the password is digested or SASLprepped per mechanism."""
    if mechanism not in _HASHES:
        raise AuthenticationFailed(f"SCRAM: unknown mechanism {mechanism!r}")
    if not username:
        raise AuthenticationFailed(f"{mechanism}: a username is required")
    if password is None:
        raise AuthenticationFailed(f"{mechanism}: a password is required for user {username!r}")
    return ScramConversation(mechanism, username, mongo_password(mechanism, username, password))


def sasl_start(conversation: ScramConversation) -> dict[str, Any]:
    """The saslStart command; skipEmptyExchange lets new servers finish in two round trips."""
    return {
        "saslStart": 1,
        "mechanism": conversation.mechanism,
        "payload": Binary(conversation.client_first()),
        "autoAuthorize": 1,
        "options": {"skipEmptyExchange": True},
    }


def speculative_start(conversation: ScramConversation, source: str) -> dict[str, Any]:
    """The speculativeAuthenticate document: the saslStart fields plus `db` (handshake spec)."""
    doc = sasl_start(conversation)
    doc["db"] = source
    return doc


def sasl_continue(conversation_id: Any, payload: bytes) -> dict[str, Any]:
    """A saslContinue command for the running conversation."""
    return {"saslContinue": 1, "conversationId": conversation_id, "payload": Binary(payload)}
