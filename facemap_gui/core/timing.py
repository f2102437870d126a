"""Timing statistics: per-stage milliseconds over a run of any length, as mean, median and p95."""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np
import psutil


class StageTimes:
    """Per-stage milliseconds over a whole run in fixed memory (72 KB a stage), however long the run: an exact
    sum and a count per logarithmic bin (0.2% wide, from 1 µs to 100 s), so the mean is exact and the median and
    p95 are within 0.1% (the centre of the bin holding that frame's time). Stages are reported in `order`, then
    as first seen."""

    LOW_MS = 0.001  # bin 0 holds everything below this, reported as 0
    RATIO = 1.002
    BINS = 1 + math.ceil(math.log(100_000.0 / LOW_MS) / math.log(RATIO))

    def __init__(self, order: tuple[str, ...] = ()) -> None:
        self._order = order
        self._counts: dict[str, np.ndarray] = {}
        self._sums: dict[str, float] = {}

    def add(self, stage: str, ms: float) -> None:
        counts = self._counts.get(stage)
        if counts is None:
            counts = self._counts[stage] = np.zeros(self.BINS, np.int64)
            self._sums[stage] = 0.0
        index = 0 if ms < self.LOW_MS else min(self.BINS - 1, 1 + int(math.log(ms / self.LOW_MS, self.RATIO)))
        counts[index] += 1
        self._sums[stage] += ms

    def __contains__(self, stage: str) -> bool:
        return stage in self._counts

    def summary(self) -> dict[str, dict[str, float]]:
        """{stage: {mean, median, p95, count}} in ms, for the stages with at least one frame."""
        stages = sorted(self._counts, key=lambda s: self._order.index(s) if s in self._order else len(self._order))
        return {stage: self.stage_summary(stage) for stage in stages}

    def stage_summary(self, stage: str) -> dict[str, float]:
        """{mean, median, p95, count} in ms of one stage that has had a frame."""
        cumulative = np.cumsum(self._counts[stage])
        count = int(cumulative[-1])

        def percentile(q: float) -> float:
            index = int(np.searchsorted(cumulative, math.floor(q * (count - 1)), side="right"))
            return 0.0 if index == 0 else self.LOW_MS * self.RATIO ** (index - 0.5)

        return {
            "mean": round(self._sums[stage] / count, 3),
            "median": round(percentile(0.5), 3),
            "p95": round(percentile(0.95), 3),
            "count": count,
        }


def seconds_since_launch() -> float:
    """Wall time since this process started, as the OS recorded it (so the interpreter's start-up counts). On
    Linux from the start tick in /proc against the boot-time clock: psutil's create_time adds it to the boot time
    in whole seconds, up to a second off."""
    if sys.platform.startswith("linux"):
        with open("/proc/self/stat", "rb") as stat:
            start_ticks = int(stat.read().rpartition(b")")[2].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    return time.time() - psutil.Process().create_time()
