"""The connection handshake document: client metadata and the initial hello/isMaster (mongodb-handshake spec)."""

from __future__ import annotations

import functools
import os
import platform
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import bson

from driver import DRIVER_NAME, __version__
from driver.errors import ConfigurationError

if TYPE_CHECKING:
    from driver.server_api import ServerApi

MAX_METADATA_BYTES = 512  # "Limitations": the whole client document, BSON overhead included
MAX_APP_NAME_BYTES = 128  # the application name string alone


@dataclass(frozen=True)
class HostInfo:
    """What the handshake reports about the machine; gathered once per process."""

    os_type: str
    os_name: str | None
    architecture: str | None
    os_version: str | None
    platform: str
    in_docker: bool


@functools.lru_cache(maxsize=1)
def host_info() -> HostInfo:
    """Read the OS and interpreter details (cached: they do not change while we run)."""
    system = platform.system() or "unknown"
    try:
        os_name = platform.freedesktop_os_release().get("PRETTY_NAME") or system
    except (OSError, AttributeError):
        os_name = system
    interpreter = f"{platform.python_implementation()} {platform.python_version()}"
    return HostInfo(
        os_type=system,
        os_name=os_name,
        architecture=platform.machine() or None,
        os_version=platform.release() or None,
        platform=interpreter,
        in_docker=os.path.exists("/.dockerenv"),
    )


def _int_env(env: Mapping[str, str], key: str) -> int | None:
    try:
        value = int(env[key])
    except (KeyError, ValueError):
        return None
    return value if -(2**31) <= value < 2**31 else None  # expected type is int32


def faas_environment(env: Mapping[str, str]) -> dict[str, Any]:
    """client.env FaaS fields per the spec's table; conflicting providers give no FaaS fields."""
    found = []
    if env.get("AWS_EXECUTION_ENV", "").startswith("AWS_Lambda_") or env.get("AWS_LAMBDA_RUNTIME_API"):
        found.append("aws.lambda")
    if env.get("FUNCTIONS_WORKER_RUNTIME"):
        found.append("azure.func")
    if env.get("K_SERVICE") or env.get("FUNCTION_NAME"):
        found.append("gcp.func")
    if env.get("VERCEL"):
        found.append("vercel")
    if set(found) == {"vercel", "aws.lambda"}:
        found = ["vercel"]  # vercel takes precedence over aws.lambda
    if len(found) != 1:
        return {}
    name = found[0]
    doc: dict[str, Any] = {"name": name}
    fields: list[tuple[str, str, bool]] = {
        "aws.lambda": [("region", "AWS_REGION", False), ("memory_mb", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", True)],
        "gcp.func": [("memory_mb", "FUNCTION_MEMORY_MB", True), ("timeout_sec", "FUNCTION_TIMEOUT_SEC", True),
                     ("region", "FUNCTION_REGION", False)],
        "vercel": [("region", "VERCEL_REGION", False)],
        "azure.func": [],
    }[name]
    for field, key, is_int in fields:
        value = _int_env(env, key) if is_int else env.get(key)
        if value is not None and value != "":
            doc[field] = value
    return doc


def _check_info(value: str | None, what: str) -> None:
    if value and "|" in value:
        raise ConfigurationError(f"driver info {what} {value!r} must not contain '|' (the metadata delimiter)")


def check_app_name(app_name: str | None) -> None:
    """Raise ConfigurationError for an appName over 128 bytes (handshake spec, "Limitations")."""
    if app_name is not None and len(app_name.encode("utf-8")) > MAX_APP_NAME_BYTES:
        raise ConfigurationError(
            f"appName {app_name[:20]!r}... is {len(app_name.encode('utf-8'))} bytes; "
            f"the handshake allows at most {MAX_APP_NAME_BYTES}"
        )


def client_metadata(
    app_name: str | None = None,
    *,
    driver_info: Sequence[tuple[str, str | None, str | None]] = (),
    env: Mapping[str, str] | None = None,
    host: HostInfo | None = None,
) -> dict[str, Any]:
    """The handshake's `client` document, truncated to 512 BSON bytes in the spec's order.

    `driver_info` holds (name, version, platform) of wrapping libraries, appended with '|'
    ("Supporting Wrapping Libraries"). Raises ConfigurationError for an appName over 128 bytes.
    """
    env = os.environ if env is None else env
    host = host or host_info()
    doc: dict[str, Any] = {}
    if app_name is not None:
        check_app_name(app_name)
        doc["application"] = {"name": app_name}
    names, versions, platforms = [DRIVER_NAME], [__version__], [host.platform]
    for name, version, extra_platform in driver_info:
        for value, what in ((name, "name"), (version, "version"), (extra_platform, "platform")):
            _check_info(value, what)
        names.append(name)
        versions.append(version or "")
        if extra_platform:
            platforms.append(extra_platform)
    doc["driver"] = {"name": "|".join(names), "version": "|".join(versions)}
    os_doc = {"type": host.os_type or "unknown"}
    for key, value in (("name", host.os_name), ("architecture", host.architecture), ("version", host.os_version)):
        if value:
            os_doc[key] = value
    doc["os"] = os_doc
    doc["platform"] = "|".join(platforms)
    env_doc = faas_environment(env)
    container = {}
    if host.in_docker:
        container["runtime"] = "docker"
    if env.get("KUBERNETES_SERVICE_HOST"):
        container["orchestrator"] = "kubernetes"
    if container:
        env_doc["container"] = container
    if env_doc:
        doc["env"] = env_doc
    return truncate_metadata(doc)


DriverInfo = tuple[str, "str | None", "str | None"]  # (name, version, platform) of a wrapping library


class ClientMetadata:
    """A client's handshake `client` document: its appName and the driver info appended to it.

    `append` adds a wrapping library's (name, version, platform) after the client was built
    (handshake spec, "Appending metadata after MongoClient initialization"): connections made
    from then on send it; open connections are neither closed nor re-handshaken. Appending info
    already present changes nothing. Safe to read from connecting threads while appended to.
    """

    def __init__(self, app_name: str | None = None, driver_info: Sequence[DriverInfo] = ()) -> None:
        check_app_name(app_name)
        self._app_name = app_name
        self._driver_info: tuple[DriverInfo, ...] = ()
        self._document: dict[str, Any] = client_metadata(app_name)
        self._lock = threading.Lock()  # appends from two threads both land
        for info in driver_info:
            self.append(*info)

    @property
    def driver_info(self) -> tuple[DriverInfo, ...]:
        return self._driver_info

    def document(self) -> dict[str, Any]:
        """The `client` document new connections send (built once per change, not per connection)."""
        return self._document

    def append(self, name: str, version: str | None = None, platform: str | None = None) -> bool:
        """Add a library's driver info; False when exactly that info was appended before."""
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"driver info needs a non-empty name, not {name!r}")
        info = (name, version, platform)
        with self._lock:
            if info in self._driver_info:
                return False
            driver_info = self._driver_info + (info,)
            document = client_metadata(self._app_name, driver_info=driver_info)  # checks '|' before any change
            # Connecting threads read without the lock: they see the old document or the new one.
            self._driver_info, self._document = driver_info, document
        return True


def _size(doc: Mapping[str, Any]) -> int:
    return len(bson.encode(doc))


def truncate_metadata(doc: dict[str, Any], limit: int = MAX_METADATA_BYTES) -> dict[str, Any]:
    """Shrink `doc` until it fits `limit` BSON bytes, in the order of the spec's "Limitations"."""
    doc = {k: (dict(v) if isinstance(v, dict) else v) for k, v in doc.items()}
    if _size(doc) <= limit:
        return doc
    if "env" in doc:  # 1. omit fields from env except env.name
        doc["env"] = {k: v for k, v in doc["env"].items() if k == "name"}
        if not doc["env"]:
            del doc["env"]
        if _size(doc) <= limit:
            return doc
    doc["os"] = {"type": doc["os"]["type"]}  # 2. omit fields from os except os.type
    if _size(doc) <= limit:
        return doc
    doc.pop("env", None)  # 3. omit env entirely
    if _size(doc) <= limit:
        return doc
    if "platform" in doc:  # 4. truncate platform
        excess = _size(doc) - limit
        platform_bytes = doc["platform"].encode("utf-8")
        keep = max(0, len(platform_bytes) - excess)
        doc["platform"] = platform_bytes[:keep].decode("utf-8", "ignore")
    return doc


@dataclass(frozen=True)
class HandshakeRequest:
    """The first command on a socket and how to send it: `legacy` means isMaster over OP_QUERY."""

    command: dict[str, Any]
    legacy: bool


def build_hello(
    metadata: Mapping[str, Any],
    *,
    compressors: Iterable[str] = (),
    sasl_supported_mechs: str | None = None,
    speculative_authenticate: Mapping[str, Any] | None = None,
    load_balanced: bool = False,
    server_api: "ServerApi | None" = None,
) -> HandshakeRequest:
    """The initial handshake command (handshake spec, "Connection handshake").

    With a server API version or loadBalanced the handshake is `hello` over OP_MSG; otherwise it
    is legacy `isMaster` over OP_QUERY with helloOk: true, so the reply says whether later
    monitoring may use `hello`. Every handshake carries `backpressure: true` (client-backpressure).
    """
    legacy = server_api is None and not load_balanced
    cmd: dict[str, Any] = {"isMaster": 1} if legacy else {"hello": 1}
    cmd["helloOk"] = True
    cmd["client"] = dict(metadata)
    compressors = list(compressors)
    if compressors:  # OP_COMPRESSED spec: the client's list, in preference order
        cmd["compression"] = compressors
    if load_balanced:
        cmd["loadBalanced"] = True
    if sasl_supported_mechs:
        cmd["saslSupportedMechs"] = sasl_supported_mechs
    if speculative_authenticate:
        cmd["speculativeAuthenticate"] = dict(speculative_authenticate)
    if server_api is not None:
        # Stable API spec, "Handshake behavior": the declared version rides on hello over OP_MSG.
        server_api.add_to(cmd)
    # Client backpressure spec, "Handshake changes": drivers that retry overload errors with
    # backoff and a token bucket MUST say so, so the server may rate-limit them differently.
    cmd["backpressure"] = True
    return HandshakeRequest(cmd, legacy)


def monitoring_hello(hello_ok: bool) -> dict[str, Any]:
    """The command a monitor sends after the handshake: `hello` if the server said helloOk, else isMaster.

    Handshake spec: later hello calls MUST NOT carry the client metadata.
    """
    return {"hello": 1} if hello_ok else {"isMaster": 1}


def uses_op_msg(max_wire_version: int, *, legacy_request: bool) -> bool:
    """After the handshake, OP_MSG is used when the server's maxWireVersion >= 6 (MongoDB 3.6)."""
    if not legacy_request:
        return True
    return max_wire_version >= 6


__all__ = [
    "ClientMetadata", "HandshakeRequest", "HostInfo", "build_hello", "client_metadata", "host_info", "monitoring_hello",
    "truncate_metadata", "uses_op_msg", "MAX_METADATA_BYTES", "MAX_APP_NAME_BYTES",
]
