"""Establish a ready connection: TCP/TLS connect, then the handshake (hello/isMaster) and authentication."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from driver.compression import negotiate
from driver.socket_connection import Connection, ConnectionOptions
from driver.errors import AuthenticationFailed, ConfigurationError, OperationFailure
from driver.handshake import build_hello, client_metadata, uses_op_msg
from driver.hello import check_hello

if TYPE_CHECKING:
    from driver.server_api import ServerApi


def open_connection(
    address: str,
    options: ConnectionOptions | None = None,
    credential: Any = None,
    *,
    app_name: str | None = None,
    compressors: Iterable[str] = (),
    load_balanced: bool = False,
    server_api: "ServerApi | None" = None,
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
    started = time.monotonic()
    conn = Connection.connect(address, options, codec_options=codec_options)
    # connectTimeoutMS bounds establishing as a whole (connect, TLS, handshake, authentication),
    # so a server that answers slowly, or a byte at a time, cannot hold a new connection open.
    timeout_ms = conn.options.connect_timeout_ms
    deadline = started + timeout_ms / 1000.0 if timeout_ms else None
    try:
        with conn.bounded_by(deadline, f"connectTimeoutMS={timeout_ms:g} for connecting, the handshake "
                                       "and authentication" if timeout_ms else ""):
            return _handshake(conn, address, credential, app_name=app_name, compressors=compressors,
                              load_balanced=load_balanced, server_api=server_api, metadata=metadata,
                              on_connection=on_connection)
    except BaseException:
        conn.close()
        raise


def _handshake(conn: Connection, address: str, credential: Any, *, app_name: str | None, compressors: list[str],
               load_balanced: bool, server_api: "ServerApi | None", metadata: Mapping[str, Any] | None,
               on_connection: Callable[[Connection], None] | None) -> tuple[Connection, dict[str, Any], float]:
    """The handshake and authentication on a connected socket (see open_connection)."""
    if on_connection is not None:
        on_connection(conn)
    # The auth package (SCRAM, hashlib, hmac, SASLprep) is loaded only by clients that authenticate.
    auth = _auth() if credential is not None else None
    speculative = auth.speculative_start(credential) if auth is not None else None
    request = build_hello(
        metadata if metadata is not None else client_metadata(app_name),
        compressors=compressors,
        sasl_supported_mechs=auth.sasl_supported_mechs_value(credential) if auth is not None else None,
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
    # A reply with ok: 0 was raised above; its fields are checked and bounded once, in hello.py.
    limits = check_hello(address, reply)
    conn.op_msg = uses_op_msg(limits.max_wire_version, legacy_request=request.legacy)
    conn.compressor = negotiate(compressors, limits.compression)
    conn.max_message_size = limits.max_message_size_bytes
    conn.hello = reply
    conn.server_api = server_api  # monitoring hellos on this socket declare it too
    if load_balanced:
        conn.service_id = reply.get("serviceId")  # load-balancers spec: generations per service
    if load_balanced and not reply.get("serviceId"):
        # Load balancer spec: a reply without serviceId means the server is not behind a load
        # balancer, and the error MUST say so in the spec's words (then ours: where, what to do).
        raise ConfigurationError(
            "Driver attempted to initialize in load balancing mode, but the server does not support this mode: "
            f"{address} did not answer with a serviceId. Remove loadBalanced=true to connect directly."
        )
    if auth is not None:
        auth.authenticate(conn.command, credential, hello_reply=reply, speculative=speculative, address=address)
    return conn, reply, rtt_ms


def _auth() -> Any:
    from driver import auth

    return auth
