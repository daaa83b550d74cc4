"""One connection to one server: TCP/TLS connect with timeouts, send a command, read its reply; only bytes move here."""

from __future__ import annotations

import functools
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from driver.compression import may_compress
from driver.errors import ConfigurationError, ConnectionFailure, NetworkTimeout, OperationFailure, ProtocolError
from driver.option_defaults import DEFAULTS
from driver.wire import (
    DEFAULT_MAX_MESSAGE_SIZE,
    MORE_TO_COME,
    OpMsg,
    OpReply,
    compress_message,
    encode_op_query,
    next_request_id,
    read_message,
)
from driver.wire.encode import COALESCE_BELOW, Buffer, coalesce, op_msg_buffers

if TYPE_CHECKING:
    import ssl  # loaded at run time only by clients that use TLS (start-up cost)

# URI option name -> ConnectionOptions field (canonical spellings from the uri-options spec).
URI_NAMES: Mapping[str, str] = {
    "connectTimeoutMS": "connect_timeout_ms",
    "socketTimeoutMS": "socket_timeout_ms",
    "tls": "tls",
    "tlsCAFile": "tls_ca_file",
    "tlsCertificateKeyFile": "tls_certificate_key_file",
    "tlsCertificateKeyFilePassword": "tls_certificate_key_file_password",
    "tlsAllowInvalidCertificates": "tls_allow_invalid_certificates",
    "tlsAllowInvalidHostnames": "tls_allow_invalid_hostnames",
    "tlsInsecure": "tls_insecure",
}


def _seconds(ms: float | None) -> float | None:
    """Milliseconds (0 or None = no limit) as socket.settimeout wants them: seconds or None.

    Every time value in the driver is carried in milliseconds; this is the one place it
    becomes seconds, at the socket.
    """
    return ms / 1000.0 if ms else None


# Bodies are read into a buffer that grows with the bytes received (doubling from this size),
# never allocated from the length a peer announces (issue 11: a 2 GB header cost 2 GB up front).
FIRST_READ_BUFFER = 1 << 16
# A read of a header asks the socket for up to this much: a small reply's header and body then
# arrive in one recv (one system call per reply instead of two); the surplus waits in _ahead.
READ_AHEAD = 1 << 14
# Most buffers one sendmsg takes (Linux UIO_MAXIOV, the POSIX IOV_MAX there); a message in more
# is sent by several calls.
IOV_MAX = 1024
_UNARMED = object()


@dataclass(frozen=True)
class ConnectionOptions:
    """Socket options of every connection of a client. Timeouts in milliseconds; 0/None = no limit.

    Certificate and hostname checks are ON unless tlsAllowInvalidCertificates,
    tlsAllowInvalidHostnames or tlsInsecure say otherwise.
    """

    connect_timeout_ms: float | None = DEFAULTS["connectTimeoutMS"]
    socket_timeout_ms: float | None = DEFAULTS["socketTimeoutMS"]
    tls: bool = False
    tls_ca_file: str | None = None
    tls_certificate_key_file: str | None = None
    tls_certificate_key_file_password: str | None = None
    tls_allow_invalid_certificates: bool = False
    tls_allow_invalid_hostnames: bool = False
    tls_insecure: bool = False

    @classmethod
    def from_uri_options(cls, options: Mapping[str, Any], **extra: Any) -> "ConnectionOptions":
        """Build from canonical URI option names (connectTimeoutMS, tlsCAFile, ...); others are ignored."""
        values = {field: options[name] for name, field in URI_NAMES.items() if name in options}
        values.update(extra)
        return cls(**values)


def parse_address(address: str | tuple[str, int]) -> tuple[str, int]:
    """"host:port", "[v6]:port", "host" (port 27017) or a (host, port) tuple -> (host, port)."""
    if isinstance(address, tuple):
        return address[0], int(address[1])
    if address.endswith(".sock"):
        return address, 0
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = address.rpartition(":") if ":" in address else (address, "", "")
    try:
        return host, int(port) if port else 27017
    except ValueError:
        raise ConfigurationError(f"address {address!r} has an invalid port {port!r}") from None


@functools.lru_cache(maxsize=8)
def ssl_context(options: ConnectionOptions) -> ssl.SSLContext:
    """An SSLContext for `options` (cached: loading CA files is slow). Raises ConfigurationError."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # TLS 1.2+, CERT_REQUIRED, check_hostname on
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # Each file loaded on its own, so the error names the option and the file it could not use.
    option, path = "tlsCAFile", options.tls_ca_file
    try:
        if options.tls_ca_file:
            ctx.load_verify_locations(cafile=options.tls_ca_file)
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        option, path = "tlsCertificateKeyFile", options.tls_certificate_key_file
        if options.tls_certificate_key_file:
            ctx.load_cert_chain(options.tls_certificate_key_file,
                                password=options.tls_certificate_key_file_password)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        what = f"{option} {path!r}" if path else "the system's CA certificates"
        raise ConfigurationError(f"cannot load {what}: {reason}") from exc
    if options.tls_insecure or options.tls_allow_invalid_hostnames or options.tls_allow_invalid_certificates:
        ctx.check_hostname = False
    if options.tls_insecure or options.tls_allow_invalid_certificates:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def connect_socket(address: str, options: ConnectionOptions) -> socket.socket:
    """Open a TCP (or Unix) socket to `address`, with TLS if asked, all within connectTimeoutMS.

    Raises NetworkTimeout when connectTimeoutMS passes, ConnectionFailure for other failures;
    both name the address.
    """
    host, port = parse_address(address)
    if not options.tls:
        sock = _connect_tcp(address, host, port, options.connect_timeout_ms)
        sock.settimeout(_seconds(options.socket_timeout_ms))
        return sock
    import ssl

    context = ssl_context(options)
    sock = _connect_tcp(address, host, port, options.connect_timeout_ms)
    try:
        sock = context.wrap_socket(sock, server_hostname=host)  # handshake under the connect timeout
        sock.settimeout(_seconds(options.socket_timeout_ms))
        return sock
    except socket.timeout:
        sock.close()
        raise NetworkTimeout(f"TLS handshake with {address} timed out after connectTimeoutMS="
                             f"{options.connect_timeout_ms}") from None
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise ConnectionFailure(
            f"TLS certificate of {address} was rejected: {exc.verify_message or exc}; give the CA with "
            "tlsCAFile, or (unsafe) tlsAllowInvalidCertificates / tlsAllowInvalidHostnames"
        ) from exc
    except OSError as exc:
        sock.close()
        raise ConnectionFailure(f"TLS handshake with {address} failed: {exc}") from exc


def _connect_tcp(address: str, host: str, port: int, timeout_ms: float | None) -> socket.socket:
    if host.endswith(".sock"):
        candidates = [(socket.AF_UNIX, socket.SOCK_STREAM, 0, host)]
    else:
        try:
            candidates = [(fam, typ, proto, sa) for fam, typ, proto, _, sa
                          in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)]
        except OSError as exc:
            raise ConnectionFailure(f"cannot resolve {address}: {exc}") from exc
    last: OSError | None = None
    for family, type_, proto, sockaddr in candidates:
        sock = socket.socket(family, type_, proto)
        try:
            sock.settimeout(_seconds(timeout_ms))
            if family != socket.AF_UNIX:
                # Commands are small request/reply exchanges: Nagle would add latency.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.connect(sockaddr)
            return sock
        except socket.timeout:
            sock.close()
            raise NetworkTimeout(f"connecting to {address} timed out after connectTimeoutMS="
                                 f"{timeout_ms:g}") from None
        except OSError as exc:
            sock.close()
            last = exc
    raise ConnectionFailure(f"cannot connect to {address}: {last}") from last


def check_reply(reply: Mapping[str, Any], name: str, address: str) -> None:
    """Raise OperationFailure (code, codeName, errorLabels kept) if the server said ok: 0."""
    if reply.get("ok"):
        return
    message = reply.get("errmsg") or reply.get("$err") or "unknown error"
    code = reply.get("code")
    code_text = f" (code {code}{', ' + reply['codeName'] if reply.get('codeName') else ''})" if code is not None else ""
    raise OperationFailure(f"command {name!r} failed on {address}: {message}{code_text}", code, reply)


class Connection:
    """A socket plus the framing rules of one server; not thread-safe except close().

    After the handshake, open_connection() sets `op_msg` (False only for servers < 3.6),
    `compressor` (negotiated name or None), `max_message_size`, `hello`, `server_api` and
    (load-balanced mode) `service_id`. `closed` is a plain attribute (read per command) but
    read-only to other objects: only close() here sets it.
    """

    def __init__(
        self,
        sock: socket.socket,
        address: str,
        *,
        options: ConnectionOptions | None = None,
        codec_options: Any = None,
    ) -> None:
        self.sock = sock
        self.address = address
        self.options = options or ConnectionOptions()
        self.codec_options = codec_options
        self.op_msg = True
        self.compressor: str | None = None
        self.max_message_size = DEFAULT_MAX_MESSAGE_SIZE
        self.hello: Mapping[str, Any] | None = None
        self.server_api: Any = None  # the declared Stable API (driver.server_api.ServerApi) or None
        self.service_id: Any = None  # load-balanced mode: the hello's serviceId (the pool's generations key)
        self.more_to_come = False  # the last reply said another follows (exhaust/streaming hello)
        # Read/write timeout in ms (None = none): socketTimeoutMS, or what set_timeout() says. It
        # bounds a whole reply, not each recv, so a server trickling bytes cannot stretch it.
        self._timeout_ms: float | None = self.options.socket_timeout_ms or None
        # An absolute time.monotonic() no I/O may pass (bounded_by()), and what set it.
        self._deadline: float | None = None
        self._deadline_reason = ""
        # The timeout the socket holds now (seconds, None, or _UNARMED before the first I/O):
        # settimeout() is a system call, so an unchanged "no timeout" is not set again before
        # every send and recv.
        self._armed: Any = _UNARMED
        self._ahead = b""  # bytes received beyond the last message part asked for (see READ_AHEAD)
        self._scratch: memoryview | None = None  # a view of READ_AHEAD bytes, reused by every small read
        self._last_reply_id = 0
        # A plain flag, not a threading.Event nor a property: it is read before every send and
        # receive and by the pool at every check-out and check-in; it only ever goes from False to
        # True (under _state_lock, in close()). Others read it, never set it.
        self.closed = False
        # Guards closed/_io_threads/_released: close() from another thread must not free the
        # socket's descriptor while a thread is inside a send or receive (see close()).
        self._state_lock = threading.Lock()
        self._io_threads = 0
        self._released = False

    @classmethod
    def connect(cls, address: str, options: ConnectionOptions | None = None, **kwargs: Any) -> "Connection":
        """TCP/TLS connect (no handshake: see driver.handshake.open_connection)."""
        options = options or ConnectionOptions()
        return cls(connect_socket(address, options), address, options=options, **kwargs)

    def set_timeout(self, timeout_ms: float | None) -> None:
        """Change the read/write timeout (None or 0 = wait forever); monitors use it for awaitable hello.

        It bounds each send and each whole reply (header and body together)."""
        self._timeout_ms = timeout_ms or None

    @contextmanager
    def bounded_by(self, deadline: float | None, reason: str, *, replaces_timeout: bool = False) -> Iterator[None]:
        """Within the block no send or read goes past `deadline` (a time.monotonic() value; None
        = no extra bound), whatever the per-reply timeout; `reason` names it in the timeout error
        (e.g. "connectTimeoutMS=2000 for connecting, the handshake and authentication").

        `replaces_timeout`: the per-reply timeout (socketTimeoutMS) does not apply in the block,
        only `deadline` (CSOT spec: timeoutMS overrides socketTimeoutMS; None then means none)."""
        outer = self._deadline, self._deadline_reason
        per_reply = self._timeout_ms
        if replaces_timeout:
            self._deadline, self._deadline_reason, self._timeout_ms = deadline, reason, None
        elif deadline is not None and (self._deadline is None or deadline < self._deadline):
            self._deadline, self._deadline_reason = deadline, reason
        try:
            yield
        finally:
            self._deadline, self._deadline_reason = outer
            if replaces_timeout:
                self._timeout_ms = per_reply

    def command(
        self,
        db: str,
        body: Mapping[str, Any],
        *,
        sequences: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        unacknowledged: bool = False,
        exhaust_allowed: bool = False,
        check: bool = True,
        encoded_batch: bool = False,
    ) -> dict[str, Any] | None:
        """Send `body` to database `db` and return the reply document.

        OP_MSG with `$db`; kind-1 `sequences` for bulk documents. `unacknowledged` sets
        moreToCome and returns None without reading. With `check`, ok: 0 raises
        OperationFailure. Handshake/auth commands are never compressed (OP_COMPRESSED spec).
        `encoded_batch`: a large cursor reply's batch may stay encoded (driver/wire/batch.py).
        """
        name = next(iter(body))
        if self.more_to_come:
            # Replies of an exhaust stream are still on their way; a new request would read them.
            raise ProtocolError(f"cannot send {name!r} to {self.address}: an exhaust reply stream is still "
                                "open; read it with receive_more() or close the connection")
        if not self.op_msg:
            merged = dict(body)
            for key, docs in (sequences or {}).items():
                merged[key] = list(docs)
            return self.legacy_command(db, merged, check=check)
        doc = dict(body)
        doc.setdefault("$db", db)
        request_id = next_request_id()
        message = op_msg_buffers(request_id, doc, sequences, more_to_come=unacknowledged,
                                 exhaust_allowed=exhaust_allowed, codec_options=self.codec_options)
        if self.compressor and may_compress(name):
            message = [compress_message(b"".join(message), self.compressor)]
        self._begin_io("send", name)
        try:
            self._send(message, name)
            if unacknowledged:
                return None
            reply = self._receive(request_id, name, check, encoded_batch)
        finally:
            self._end_io()
        if self.more_to_come and not exhaust_allowed:
            # OP_MSG spec: moreToCome is only valid on replies to requests that set exhaustAllowed.
            # Replies this connection never asked for would answer its next request: close it.
            self.close()
            raise ProtocolError(f"bad reply to {name!r} from {self.address}: the reply sets moreToCome "
                                "but the request did not allow exhaust; the connection was closed")
        return reply

    def legacy_command(self, db: str, body: Mapping[str, Any], *, check: bool = True) -> dict[str, Any]:
        """Run a command via OP_QUERY on `db.$cmd` (initial isMaster, servers < 3.6)."""
        name = next(iter(body))
        request_id = next_request_id()
        message = encode_op_query(request_id, f"{db}.$cmd", dict(body), n_return=-1,
                                  codec_options=self.codec_options)
        if self.compressor and may_compress(name):
            message = compress_message(message, self.compressor)
        self._begin_io("send", name)
        try:
            self._send([message], name)
            return self._receive(request_id, name, check)
        finally:
            self._end_io()

    def receive_more(self, *, check: bool = True) -> dict[str, Any]:
        """Read the next reply of an exhaust stream (after a reply with moreToCome)."""
        if not self.more_to_come:
            raise ProtocolError(f"receive_more() on {self.address}: the last reply did not set moreToCome")
        self._begin_io("read the reply to", "hello")
        try:
            return self._receive(self._last_reply_id, "hello", check)
        finally:
            self._end_io()

    def close(self) -> None:
        """Close the connection; safe from any thread, and wakes a thread blocked reading or sending.

        The socket is shut down at once, which ends a blocked recv/send (and any later one).
        Its descriptor is released only when no thread is inside I/O on it: closing the
        descriptor under a reader would let the OS hand the same number to a new socket while
        the reader is about to poll it, and the reader would then wait on that unrelated
        socket until its timeout (seen as monitors that stop() could not interrupt). The last
        thread leaving I/O releases it instead.
        """
        with self._state_lock:
            if self.closed:
                return
            self.closed = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already disconnected
            release = self._io_threads == 0
        if release:
            self._release()

    def _release(self) -> None:
        with self._state_lock:
            if self._released:
                return
            self._released = True
        self.sock.close()

    def _begin_io(self, what: str, name: str) -> None:
        """Mark a send/receive in progress, so close() from another thread keeps the descriptor.

        Every _begin_io is paired with _end_io in a finally (plain calls, not a generator-based
        context manager), once per command around its send and its reply: _send and _receive
        run inside such a pair.
        """
        with self._state_lock:
            if self.closed:
                raise ConnectionFailure(f"connection to {self.address} is closed; cannot {what} {name!r}")
            self._io_threads += 1

    def _end_io(self) -> None:
        with self._state_lock:
            self._io_threads -= 1
            release = self._io_threads == 0 and self.closed
        if release:
            self._release()

    # --- internals -----------------------------------------------------------------------

    def _io_deadline(self) -> tuple[float | None, str]:
        """The end of the next send or reply: the per-reply timeout or bounded_by()'s, the sooner."""
        deadline, reason = self._deadline, self._deadline_reason
        if self._timeout_ms:
            own = time.monotonic() + self._timeout_ms / 1000.0
            if deadline is None or own < deadline:
                deadline, reason = own, f"socketTimeoutMS={self._timeout_ms:g} for the whole reply"
        return deadline, reason

    def _arm(self, deadline: float | None) -> None:
        """Set the socket timeout to what is left until `deadline`; raise socket.timeout if none is."""
        if deadline is None:
            if self._armed is not None:
                self.sock.settimeout(None)
                self._armed = None
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(left)
        self._armed = left

    def _send(self, buffers: list[Buffer], name: str) -> None:
        """Send one message given as its buffers in order.

        With a large buffer among them, a plain socket gets them by sendmsg (scatter-gather: large
        documents are not copied into one message). A small message is joined (cheaper than an
        iovec per piece); an SSL socket has no sendmsg, and gets them joined in one sendall.
        """
        deadline, reason = self._io_deadline()
        try:
            if type(self.sock) is socket.socket and max(map(len, buffers)) >= COALESCE_BELOW:
                self._send_buffers(coalesce(buffers), deadline)
            else:
                self._arm(deadline)
                # one timeout for the whole sendall (Python >= 3.5)
                self.sock.sendall(buffers[0] if len(buffers) == 1 else b"".join(buffers))
        except socket.timeout:
            self.close()
            raise NetworkTimeout(f"sending {name!r} to {self.address} timed out ({reason})") from None
        except OSError as exc:
            self.close()
            raise ConnectionFailure(f"sending {name!r} to {self.address} failed: {exc}") from exc

    def _send_buffers(self, buffers: list[Buffer], deadline: float | None) -> None:
        """sendmsg until every byte of `buffers` is sent, at most IOV_MAX buffers a call.

        A call may send part of what it was given (socket buffer full under a timeout): the
        rest of a partly sent buffer goes on as a memoryview of it, never a copy."""
        sendmsg = self.sock.sendmsg
        start, count = 0, len(buffers)
        while start < count:
            self._arm(deadline)
            batch = buffers[start:start + IOV_MAX]
            sent = sendmsg(batch)
            for buf in batch:
                size = len(buf)
                if sent < size:
                    if sent:
                        buffers[start] = memoryview(buf)[sent:]
                    break
                sent -= size
                start += 1

    def _receive(self, request_id: int, name: str, check: bool, encoded_batch: bool = False) -> dict[str, Any]:
        deadline, reason = self._io_deadline()
        try:
            header, message = read_message(functools.partial(self._recv_exactly, deadline=deadline),
                                           max_message_size=self.max_message_size,
                                           expected_response_to=request_id, codec_options=self.codec_options,
                                           encoded_batch=encoded_batch)
            if deadline is not None and time.monotonic() > deadline:
                # The reply was complete only after its deadline: this thread ran late (a busy
                # machine) and found it waiting. A reader on time would have timed out; so does
                # this one, so the outcome does not depend on scheduling.
                raise socket.timeout("the reply completed after the deadline")
        except socket.timeout:
            self.close()
            raise NetworkTimeout(f"reading the reply to {name!r} from {self.address} timed out "
                                 f"({reason})") from None
        except ProtocolError as exc:
            self.close()  # the byte stream can no longer be trusted
            raise ProtocolError(f"bad reply to {name!r} from {self.address}: {exc}") from exc
        except ConnectionFailure:
            self.close()
            raise
        except OSError as exc:
            closed_by_us = self.closed  # another thread called close() to cancel this read
            self.close()
            if closed_by_us:
                raise ConnectionFailure(f"connection to {self.address} was closed while reading "
                                        f"the reply to {name!r}") from exc
            raise ConnectionFailure(f"reading the reply to {name!r} from {self.address} failed: {exc}") from exc
        self._last_reply_id = header.request_id
        if isinstance(message, OpMsg):
            self.more_to_come = bool(message.flags & MORE_TO_COME)
            body = message.body
            reply = body if type(body) is dict else dict(body)  # a fresh dict from the decoder: no copy
        elif isinstance(message, OpReply):
            self.more_to_come = False
            if not message.documents:
                self.close()
                raise ProtocolError(f"OP_REPLY to {name!r} from {self.address} holds no document")
            reply = dict(message.documents[0])
            if message.response_flags & 2 and "ok" not in reply:  # QueryFailure: $err document
                reply["ok"] = 0
        else:
            self.close()
            raise ProtocolError(f"unexpected {type(message).__name__} from {self.address} in reply to {name!r}")
        if check:
            check_reply(reply, name, self.address)
        return reply

    def _recv_exactly(self, size: int, deadline: float | None) -> bytes | bytearray:
        """Exactly `size` bytes by `deadline`; the buffer grows with what arrives (see FIRST_READ_BUFFER).

        Up to READ_AHEAD bytes are read at a time for small parts (the surplus is kept for the next
        call); a large part is received into its own buffer, handed to the parser as it is (and
        never reused: an encoded cursor batch, driver/wire/batch.py, keeps reading from it)."""
        ahead = self._ahead
        if len(ahead) >= size:
            self._ahead = ahead[size:]
            return ahead[:size]
        if size <= READ_AHEAD:
            if self._scratch is None:
                self._scratch = memoryview(bytearray(READ_AHEAD))
            scratch = self._scratch
            while len(ahead) < size:
                if self.closed:
                    raise ConnectionFailure(f"connection to {self.address} was closed while reading")
                self._arm(deadline)
                n = self.sock.recv_into(scratch)
                if n == 0:
                    raise ConnectionFailure(f"connection closed by {self.address} "
                                            f"after {len(ahead)} of {size} bytes")
                ahead += scratch[:n]  # bytes + a view: one copy of what arrived
            self._ahead = ahead[size:]
            return ahead[:size]
        self._ahead = b""
        buf = bytearray(min(size, max(FIRST_READ_BUFFER, len(ahead))))
        buf[:len(ahead)] = ahead
        got = len(ahead)
        recv_into = self.sock.recv_into
        while got < size:
            if self.closed:
                raise ConnectionFailure(f"connection to {self.address} was closed while reading")
            if got == len(buf):
                buf.extend(bytes(min(len(buf), size - len(buf))))
            self._arm(deadline)
            with memoryview(buf) as view:
                n = recv_into(view[got:] if got else view)
            if n == 0:
                raise ConnectionFailure(f"connection closed by {self.address} "
                                        f"after {got} of {size} bytes")
            got += n
        return buf
