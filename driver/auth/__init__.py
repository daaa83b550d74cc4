"""Authentication: pick a mechanism (auth spec "Default Authentication Methods") and run its conversation."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from driver.auth import plain, scram, x509
from driver.errors import AuthenticationFailed, ConfigurationError, ConnectionFailure, OperationFailure

# run_command(db, body) -> reply; raises OperationFailure on ok: 0. The connection supplies it.
RunCommand = Callable[[str, dict], Mapping[str, Any]]

SUPPORTED = ("SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN", "MONGODB-X509")
_NEGOTIATE = (None, "", "DEFAULT")


def needs_negotiation(credential: Any) -> bool:
    """True when the user named no mechanism, so the handshake must ask saslSupportedMechs."""
    return getattr(credential, "mechanism", None) in _NEGOTIATE


def negotiated_mechanism(sasl_supported_mechs: Any) -> str:
    """SCRAM-SHA-256 if the server lists it for the user, else SCRAM-SHA-1 (auth spec; never PLAIN).

    An absent list (servers < 4.0, or an unknown user) also means SCRAM-SHA-1; unknown names in
    the list are ignored, as the handshake spec says not to validate it.
    """
    if isinstance(sasl_supported_mechs, (list, tuple)) and "SCRAM-SHA-256" in sasl_supported_mechs:
        return "SCRAM-SHA-256"
    return "SCRAM-SHA-1"


def _check_supported(mechanism: str) -> None:
    if mechanism not in SUPPORTED:
        raise ConfigurationError(
            f"authentication mechanism {mechanism!r} is not supported by mongocli; "
            f"use one of {', '.join(SUPPORTED)}"
        )


def sasl_supported_mechs_value(credential: Any) -> str | None:
    """The handshake's saslSupportedMechs value "<source>.<username>" (username not SASLprepped)."""
    if credential is None or not needs_negotiation(credential):
        return None
    return f"{credential.source or 'admin'}.{credential.username}"


@dataclass
class Speculative:
    """State kept between the handshake's speculativeAuthenticate and the reply."""

    mechanism: str
    document: dict[str, Any]
    conversation: scram.ScramConversation | None = None


def speculative_start(credential: Any) -> Speculative | None:
    """Build the speculativeAuthenticate document, or None for mechanisms that do not speculate.

    Handshake spec: with no mechanism configured, speculate with SCRAM-SHA-256.
    """
    if credential is None:
        return None
    mechanism = "SCRAM-SHA-256" if needs_negotiation(credential) else credential.mechanism
    if mechanism in ("SCRAM-SHA-1", "SCRAM-SHA-256"):
        conv = scram.new_conversation(mechanism, credential.username, credential.password)
        return Speculative(mechanism, scram.speculative_start(conv, credential.source or "admin"), conv)
    if mechanism == "MONGODB-X509":
        return Speculative(mechanism, x509.speculative_start(credential.username))
    return None


def authenticate(
    run_command: RunCommand,
    credential: Any,
    *,
    hello_reply: Mapping[str, Any],
    speculative: Speculative | None = None,
    address: str = "",
) -> str:
    """Authenticate one connection; return the mechanism used. Raises AuthenticationFailed.

    `hello_reply` is the handshake reply (for saslSupportedMechs and speculativeAuthenticate).
    Arbiters cannot authenticate (auth spec step 2), so nothing is sent to them.
    """
    if credential is None or hello_reply.get("arbiterOnly"):
        return ""
    if needs_negotiation(credential):
        mechanism = negotiated_mechanism(hello_reply.get("saslSupportedMechs"))
    else:
        mechanism = credential.mechanism
    _check_supported(mechanism)
    spec_reply = hello_reply.get("speculativeAuthenticate")
    # The speculative reply only counts for the mechanism we speculated with.
    if speculative is None or speculative.mechanism != mechanism or not isinstance(spec_reply, Mapping):
        speculative, spec_reply = None, None
    where = f" on {address}" if address else ""
    try:
        if mechanism == "MONGODB-X509":
            if spec_reply is None:
                run_command("$external", x509.authenticate_command(credential.username))
        elif mechanism == "PLAIN":
            plain.check_reply(run_command(credential.source or "$external",
                                          plain.sasl_start(credential.username, credential.password)))
        else:
            conv = speculative.conversation if speculative else None
            _run_scram(run_command, credential, mechanism, conv, spec_reply)
    except OperationFailure as exc:
        raise AuthenticationFailed(
            f"{mechanism} authentication of user {credential.username!r} "
            f"(source {credential.source!r}){where} failed: {exc}"
        ) from exc
    except AuthenticationFailed as exc:
        raise AuthenticationFailed(f"{exc}{where} (user {credential.username!r})") from exc
    except ConnectionFailure:
        raise
    return mechanism


# SCRAM server messages are a nonce, a salt and a count, or a signature: well under 1 KiB.
# The bound keeps a hostile payload from costing memory or hashing time (issue 11).
MAX_SASL_PAYLOAD = 64 * 1024


def _payload(reply: Mapping[str, Any]) -> bytes:
    """The reply's SASL payload as bytes: BSON binary, or base64 text from some servers.

    Anything else (a number would make bytes(n) allocate n bytes), or a payload over
    MAX_SASL_PAYLOAD, raises AuthenticationFailed.
    """
    value = reply.get("payload", b"")
    if isinstance(value, str):  # some servers answer base64 text
        if len(value) > MAX_SASL_PAYLOAD * 4 // 3 + 4:
            raise AuthenticationFailed(f"SCRAM: the server's payload is {len(value)} characters of text; "
                                       f"at most {MAX_SASL_PAYLOAD} bytes are expected")
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise AuthenticationFailed("SCRAM: the server's payload is text but not valid base64") from None
    if not isinstance(value, (bytes, bytearray)):  # bson.Binary is a bytes subclass
        raise AuthenticationFailed(f"SCRAM: the server's payload is a {type(value).__name__} ({value!r:.40}), "
                                   "not binary data")
    if len(value) > MAX_SASL_PAYLOAD:
        raise AuthenticationFailed(f"SCRAM: the server's payload is {len(value)} bytes; "
                                   f"at most {MAX_SASL_PAYLOAD} are expected")
    return bytes(value)


def _run_scram(
    run_command: RunCommand,
    credential: Any,
    mechanism: str,
    conv: scram.ScramConversation | None,
    first_reply: Mapping[str, Any] | None,
) -> None:
    source = credential.source or "admin"
    if conv is None or first_reply is None:
        conv = scram.new_conversation(mechanism, credential.username, credential.password)
        first_reply = run_command(source, scram.sasl_start(conv))
    conversation_id = first_reply.get("conversationId")
    final = conv.process_server_first(_payload(first_reply))
    reply = run_command(source, scram.sasl_continue(conversation_id, final))
    conv.verify_server_final(_payload(reply))
    if not reply.get("done"):
        # Servers that ignore skipEmptyExchange want one more, empty, round trip.
        reply = run_command(source, scram.sasl_continue(conversation_id, b""))
        if not reply.get("done"):
            raise AuthenticationFailed(f"{mechanism}: the server did not finish the conversation")
