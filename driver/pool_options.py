"""ConnectionPoolOptions of the CMAP spec, validated once, with the non-default view PoolCreated reports."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from driver.errors import ConfigurationError
from driver.option_defaults import DEFAULTS, POOL_BACKGROUND_INTERVAL_MS

# URI option name (CMAP "Connection Pool Options") -> PoolOptions field.
URI_NAMES: Mapping[str, str] = {
    "maxPoolSize": "max_pool_size",
    "minPoolSize": "min_pool_size",
    "maxConnecting": "max_connecting",
    "waitQueueTimeoutMS": "wait_queue_timeout_ms",
    "maxIdleTimeMS": "max_idle_time_ms",
}


@dataclass(frozen=True)
class PoolOptions:
    """Options of one connection pool (all pools of a client share them).

    max_pool_size: most connections (pending + available + in use); 0 = no limit.
    min_pool_size: connections the background run keeps established while the pool is ready.
    max_connecting: most connections being established at once (> 0).
    wait_queue_timeout_ms: longest wait for a connection in check-out; 0 = no limit.
    max_idle_time_ms: an available connection idle longer is closed ("idle"); 0 = no limit.
    background_interval_ms: pause between background runs (prune perished, populate to
        min_pool_size); None or a negative value = no background thread (call Pool.maintain()).
    load_balanced: pool generations are kept per serviceId (load-balancers spec).
    """

    max_pool_size: int = DEFAULTS["maxPoolSize"]
    min_pool_size: int = DEFAULTS["minPoolSize"]
    max_connecting: int = DEFAULTS["maxConnecting"]
    wait_queue_timeout_ms: float = DEFAULTS["waitQueueTimeoutMS"]
    max_idle_time_ms: float = DEFAULTS["maxIdleTimeMS"]
    background_interval_ms: float | None = POOL_BACKGROUND_INTERVAL_MS
    load_balanced: bool = False

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> ConfigurationError:
            return ConfigurationError(f"pool option {name}={getattr(self, name)!r} is invalid: it {rule}")

        for name in ("max_pool_size", "min_pool_size", "wait_queue_timeout_ms", "max_idle_time_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise bad(name, "must be a number >= 0")
        if isinstance(self.max_connecting, bool) or not isinstance(self.max_connecting, int) or self.max_connecting <= 0:
            raise bad("max_connecting", "must be an integer > 0")
        if self.max_pool_size and self.min_pool_size > self.max_pool_size:
            raise bad("min_pool_size", f"must not exceed max_pool_size ({self.max_pool_size})")
        if self.background_interval_ms == 0:
            raise bad("background_interval_ms", "must be positive, or negative/None for no background thread")

    @classmethod
    def from_uri_options(cls, options: Mapping[str, Any], **extra: Any) -> "PoolOptions":
        """Build from canonical URI option names (maxPoolSize, ...); names that are not pool options are ignored.

        `extra` passes PoolOptions fields directly (background_interval_ms, load_balanced).
        """
        kwargs = {field: options[uri] for uri, field in URI_NAMES.items() if uri in options}
        kwargs.update(extra)
        return cls(**kwargs)

    def non_default(self) -> dict[str, Any]:
        """The options that differ from their defaults, by URI name (PoolCreatedEvent.options)."""
        defaults = {f.name: f.default for f in fields(self)}
        return {uri: getattr(self, f) for uri, f in URI_NAMES.items() if getattr(self, f) != defaults[f]}

    @property
    def background_thread(self) -> bool:
        """True when the pool runs its own maintenance thread."""
        return self.background_interval_ms is not None and self.background_interval_ms > 0
