"""Round-trip-time statistics: the EWMA average (server selection) and the recent minimum (CSOT)."""

from __future__ import annotations

import threading
from collections import deque

# Server selection spec, "Calculation of Average Round Trip Times": alpha = 0.2 puts about
# 85% of the weight on the 9 most recent observations.
RTT_ALPHA = 0.2
# CSOT / SDAM "Measuring RTT": the minimum is taken over the last 10 samples, and is not
# trusted (reported as 0) until at least 2 samples exist.
MIN_RTT_SAMPLES = 10
MIN_RTT_REQUIRED_SAMPLES = 2


def next_average_rtt(average_ms: float | None, sample_ms: float) -> float:
    """The new average RTT after one sample: the first sample sets it, then EWMA with alpha 0.2."""
    if average_ms is None:
        return float(sample_ms)
    return RTT_ALPHA * sample_ms + (1 - RTT_ALPHA) * average_ms


class RttStats:
    """Thread-safe running RTT figures for one server (a monitor writes, readers snapshot).

    `average_ms` is None until the first sample; `minimum_ms` is 0.0 until two samples exist.
    `reset()` is called when the server becomes Unknown (spec: its average RTT is cleared).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._average: float | None = None
        self._samples: deque[float] = deque(maxlen=MIN_RTT_SAMPLES)

    def add_sample(self, sample_ms: float) -> None:
        """Record one RTT measurement in milliseconds (negative values are a caller bug)."""
        if sample_ms < 0:
            raise ValueError(f"an RTT sample cannot be negative: {sample_ms} ms")
        with self._lock:
            self._average = next_average_rtt(self._average, sample_ms)
            self._samples.append(float(sample_ms))

    @property
    def average_ms(self) -> float | None:
        with self._lock:
            return self._average

    @property
    def minimum_ms(self) -> float:
        with self._lock:
            if len(self._samples) < MIN_RTT_REQUIRED_SAMPLES:
                return 0.0
            return min(self._samples)

    def snapshot(self) -> tuple[float | None, float]:
        """(average_ms, minimum_ms) read together under one lock."""
        with self._lock:
            minimum = min(self._samples) if len(self._samples) >= MIN_RTT_REQUIRED_SAMPLES else 0.0
            return self._average, minimum

    def reset(self) -> None:
        """Forget every sample (server became unavailable)."""
        with self._lock:
            self._average = None
            self._samples.clear()
