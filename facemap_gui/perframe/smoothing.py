"""Temporal smoothing of landmarks and head pose: a One Euro filter per tracked face.

The One Euro filter (Casiez et al., CHI 2012) is a low-pass filter whose cutoff rises with speed: still faces
lose their jitter, moving faces keep up without lag. A face's filter is its track id's (pipeline.FaceResult.track_id),
so two faces never share one, however close they come.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from facemap_gui.core.choices import DEFAULT_STRENGTH
from facemap_gui.perframe.pipeline import FaceResult, FrameResult

BETA = 0.02  # cutoff gain per unit of speed (pixels or degrees per second)
DERIVATIVE_CUTOFF_HZ = 1.0
MAX_GAP_S = 0.5  # after a longer gap (or time going backwards) a face starts afresh


def min_cutoff_hz(strength: float) -> float:
    """Strength 0 → 10 Hz (barely smoothed), 0.5 → 1 Hz, 1 → 0.1 Hz (very smooth when still)."""
    return 10.0 ** (1.0 - 2.0 * min(max(strength, 0.0), 1.0))


def _alpha(cutoff_hz: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filters a vector of values sampled at times in seconds; every element has its own adaptive cutoff."""

    def __init__(self, t: float, x: np.ndarray) -> None:
        self.t = t
        self.x = np.asarray(x, dtype=np.float64).copy()
        self.dx = np.zeros_like(self.x)

    def __call__(self, t: float, x: np.ndarray, min_cutoff: float, beta: float = BETA) -> np.ndarray:
        dt = t - self.t
        if dt <= 0:  # a repeated timestamp (a still image shown again): nothing new to filter
            return self.x.copy()
        self.dx += _alpha(DERIVATIVE_CUTOFF_HZ, dt) * ((x - self.x) / dt - self.dx)
        cutoff = min_cutoff + beta * np.abs(self.dx)
        self.x += _alpha(cutoff, dt) * (x - self.x)
        self.t = t
        return self.x.copy()


def _state(face: FaceResult) -> np.ndarray:
    return np.concatenate([face.landmarks.ravel(), face.pose, [face.focal]])  # focal: the head's distance


class LandmarkSmoother:
    """Smooths the landmarks, pose and focal length of each face in a stream of FrameResults (boxes stay as
    detected). A face seen on the previous frame continues its filter; any other starts afresh."""

    def __init__(self, strength: float = DEFAULT_STRENGTH) -> None:
        self.strength = strength
        self._filters: dict[int, OneEuroFilter] = {}  # by track id
        self._last_t: float | None = None

    def reset(self) -> None:
        self._filters = {}
        self._last_t = None

    def apply(self, result: FrameResult) -> FrameResult:
        t = result.frame.timestamp_ms / 1000.0
        if self._last_t is not None and not 0 <= t - self._last_t <= MAX_GAP_S:
            self.reset()
        self._last_t = t
        cutoff = min_cutoff_hz(self.strength)
        filters, faces = {}, []
        for face in result.faces:
            state = _state(face)
            known = self._filters.get(face.track_id)
            if known is None:
                filters[face.track_id] = OneEuroFilter(t, state)
            else:
                smoothed = known(t, state, cutoff)
                face = dataclasses.replace(
                    face,
                    landmarks=smoothed[:-4].reshape(-1, 2),
                    pose=(float(smoothed[-4]), float(smoothed[-3]), float(smoothed[-2])),
                    focal=float(smoothed[-1]),
                )
                filters[face.track_id] = known
            faces.append(face)
        self._filters = filters
        return dataclasses.replace(result, faces=faces)
