"""Resident memory of this process, current and peak, on Linux, Windows and macOS alike."""

from __future__ import annotations

import sys

import psutil


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    info = psutil.Process().memory_info()
    if hasattr(info, "peak_wset"):  # Windows keeps the peak working set itself
        return info.peak_wset / 2**20
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux
