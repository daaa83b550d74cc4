"""RTT statistics: EWMA average (alpha 0.2, first sample sets it) and the minimum of the last 10."""

from __future__ import annotations

import threading

import pytest

from driver.sdam.rtt import RttStats, next_average_rtt


def test_first_sample_sets_the_average() -> None:
    assert next_average_rtt(None, 42.0) == 42.0


def test_ewma_weights_new_sample_by_one_fifth() -> None:
    assert next_average_rtt(10.0, 20.0) == pytest.approx(12.0)
    assert next_average_rtt(100.0, 0.0) == pytest.approx(80.0)


def test_average_converges_towards_a_steady_rtt() -> None:
    stats = RttStats()
    stats.add_sample(100.0)
    for _ in range(30):
        stats.add_sample(10.0)
    assert stats.average_ms == pytest.approx(10.0, abs=0.2)


def test_minimum_is_zero_until_two_samples() -> None:
    stats = RttStats()
    assert stats.average_ms is None
    assert stats.minimum_ms == 0.0
    stats.add_sample(7.0)
    assert stats.minimum_ms == 0.0
    stats.add_sample(9.0)
    assert stats.minimum_ms == 7.0


def test_minimum_covers_only_the_last_ten_samples() -> None:
    stats = RttStats()
    stats.add_sample(1.0)  # will fall out of the window
    for value in range(20, 30):
        stats.add_sample(float(value))
    assert stats.minimum_ms == 20.0
    average, minimum = stats.snapshot()
    assert minimum == 20.0 and average == stats.average_ms


def test_reset_forgets_everything() -> None:
    stats = RttStats()
    for value in (5.0, 6.0, 7.0):
        stats.add_sample(value)
    stats.reset()
    assert stats.snapshot() == (None, 0.0)
    stats.add_sample(50.0)
    assert stats.average_ms == 50.0


def test_negative_sample_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        RttStats().add_sample(-1.0)


def test_concurrent_writers_keep_the_window_bounded() -> None:
    stats = RttStats()
    start = threading.Barrier(4)

    def writer(base: float) -> None:
        start.wait()
        for i in range(200):
            stats.add_sample(base + i % 5)

    threads = [threading.Thread(target=writer, args=(b,)) for b in (10.0, 20.0, 30.0, 40.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    average, minimum = stats.snapshot()
    # Every sample lies in [10, 44], so both figures must too, whatever the interleaving.
    assert 10.0 <= minimum <= 44.0
    assert 10.0 <= average <= 44.0
