"""StageTimes: per-stage figures over runs of any length, in fixed memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from facemap_gui.core.timing import StageTimes


def test_mean_is_exact_and_median_and_p95_within_a_thousandth_of_numpys():
    rng = np.random.default_rng(3)
    values = rng.lognormal(mean=0.0, sigma=1.0, size=20_000)  # ms: mostly 0.1-10, a long tail
    times = StageTimes()
    for ms in values.tolist():
        times.add("inference", ms)
    figures = times.summary()["inference"]
    assert figures["count"] == 20_000
    assert figures["mean"] == pytest.approx(values.mean(), abs=0.0005)  # rounded to 3 decimals
    for name, q in (("median", 50), ("p95", 95)):
        exact = np.percentile(values, q, method="lower")
        assert abs(figures[name] - exact) <= exact * 0.001 + 0.0005, name  # bin centre, then 3 decimals


def test_tiny_huge_and_single_values():
    times = StageTimes()
    times.add("wait", 0.0)
    times.add("wait", 0.0004)  # below 1 µs: reported as 0
    times.add("wait", 0.0)
    times.add("stall", 10_000_000.0)  # beyond the last bin: counted there, the mean stays exact
    times.add("one", 2.5)
    summary = times.summary()
    assert summary["wait"] == {"mean": 0.0, "median": 0.0, "p95": 0.0, "count": 3}
    assert summary["stall"]["mean"] == 10_000_000.0 and summary["stall"]["median"] == pytest.approx(100_000, rel=0.01)
    one = pytest.approx(2.5, rel=0.001)
    assert summary["one"] == {"mean": 2.5, "median": one, "p95": one, "count": 1}


def test_memory_does_not_grow_with_frames_and_stages_come_in_the_given_order():
    times = StageTimes(order=("decode", "draw"))

    def frames(n: int) -> None:
        for i in range(n):
            times.add("draw", 0.5 + (i % 7) * 0.01)
            times.add("extra", 1.0)
            times.add("decode", 2.0)

    tracemalloc.start()
    try:
        frames(1000)
        before = tracemalloc.get_traced_memory()[0]
        frames(50_000)  # kept as a list of floats, this would be 3.6 MB more
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 10_000
    assert list(times.summary()) == ["decode", "draw", "extra"]
    assert times.summary()["draw"]["count"] == 51_000
