"""Every client option default in one table, each beside the specification that fixes it.

Keys are the uri-options spec's canonical option names; time values are milliseconds, as the
option names say ("...MS"). Settings objects take their defaults from here and nowhere else.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

DEFAULTS: Mapping[str, Any] = MappingProxyType({
    # uri-options spec, "List of specified options" / connection-monitoring-and-pooling spec.
    "connectTimeoutMS": 10_000,          # uri-options: "defaults to 10,000 ms"
    "socketTimeoutMS": 0,                # uri-options: 0 = no limit
    # server-discovery-and-monitoring (SDAM) monitoring spec, "heartbeatFrequencyMS".
    "heartbeatFrequencyMS": 10_000,      # multi-threaded clients: 10 s
    "serverMonitoringMode": "auto",      # SDAM monitoring, "serverMonitoringMode"
    # server-selection spec, "serverSelectionTimeoutMS" and "localThresholdMS".
    "serverSelectionTimeoutMS": 30_000,
    "localThresholdMS": 15,
    # connection-monitoring-and-pooling (CMAP) spec, "Connection Pool Options".
    "maxPoolSize": 100,
    "minPoolSize": 0,
    "maxConnecting": 2,
    "waitQueueTimeoutMS": 0,             # 0 = no limit
    "maxIdleTimeMS": 0,                  # 0 = no limit
    # retryable-writes / retryable-reads specs: both default to true.
    "retryWrites": True,
    "retryReads": True,
    # client-backpressure spec, "Overload retry policy": retries after an overload error
    # (MAX_RETRIES, default 2) and whether they avoid the overloaded server (default off).
    "maxAdaptiveRetries": 2,
    "enableOverloadRetargeting": False,
    # initial-dns-seedlist-discovery spec, "srvMaxHosts" (0 = no limit).
    "srvMaxHosts": 0,
    # uri-options spec: topology shape switches are off unless asked for.
    "directConnection": False,
    "loadBalanced": False,
})

# SDAM monitoring, "minHeartbeatFrequencyMS": fixed by the spec, not a URI option.
MIN_HEARTBEAT_FREQUENCY_MS = 500
# CMAP "Background Thread": how often a pool prunes perished connections and populates.
POOL_BACKGROUND_INTERVAL_MS = 1_000
