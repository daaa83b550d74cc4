"""Establish a ready connection: TCP/TLS connect, then the handshake (hello/isMaster) and authentication."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Mapping

from driver import auth
from driver.compression import negotiate
from driver.socket_connection import Connection, ConnectionOptions
from driver.errors import AuthenticationFailed, ConfigurationError, OperationFailure
from driver.handshake import build_hello, client_metadata, uses_op_msg


def open_connection(
    address: str,
    options: ConnectionOptions | None = None,
    credential: Any = None,
    *,
    app_name: str | None = None,
    compressors: Iterable[str] = (),
    load_balanced: bool = False,
    server_api: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    codec_options: Any = None,
    on_connection: Callable[[Connection], None] | None = None,
) -> tuple[Connection, dict[str, Any], float]:
    """Connect to `address`, run the handshake and authenticate; return (connection, hello reply, rtt_ms).

    rtt_ms is the round trip of the handshake command alone. Monitoring sockets pass
    credential=None: the auth spec forbids authenticating them. `on_connection(conn)` is
    called once the socket is connected, before the handshake, so a caller (a monitor) can
    close it from another thread to interrupt the handshake; if it raises, the socket is
    closed and the error propagates. Any failure closes the socket and raises:
    NetworkTimeout / ConnectionFailure (network), AuthenticationFailed,
    OperationFailure (a handshake refused without credentials), ConfigurationError.
    """
    compressors = list(compressors)
    conn = Connection.connect(address, options, codec_options=codec_options)
    try:
        if on_connection is not None:
            on_connection(conn)
        speculative = auth.speculative_start(credential) if credential is not None else None
        request = build_hello(
            metadata if metadata is not None else client_metadata(app_name),
            compressors=compressors,
            sasl_supported_mechs=auth.sasl_supported_mechs_value(credential),
            speculative_authenticate=speculative.document if speculative else None,
            load_balanced=load_balanced,
            server_api=server_api,
        )
        started = time.monotonic()
        try:
            if request.legacy:
                reply = conn.legacy_command("admin", request.command)
            else:
                reply = conn.command("admin", request.command)
        except OperationFailure as exc:
            if credential is None:
                raise
            # Auth spec, "Authentication Handshake" step 1: a failed handshake is an auth error.
            raise AuthenticationFailed(f"handshake with {address} failed: {exc}") from exc
        rtt_ms = (time.monotonic() - started) * 1000.0
        conn.op_msg = uses_op_msg(reply, legacy_request=request.legacy)
        conn.compressor = negotiate(compressors, reply.get("compression"))
        if reply.get("maxMessageSizeBytes"):
            conn.max_message_size = int(reply["maxMessageSizeBytes"])
        conn.hello = reply
        if load_balanced and not reply.get("serviceId"):
            # Load balancer spec: a reply without serviceId means the server is not behind a load balancer.
            raise ConfigurationError(
                f"loadBalanced=true but {address} did not answer with a serviceId; "
                "is it really behind a load balancer? Remove loadBalanced to connect directly."
            )
        auth.authenticate(conn.command, credential, hello_reply=reply, speculative=speculative, address=address)
        return conn, reply, rtt_ms
    except BaseException:
        conn.close()
        raise
