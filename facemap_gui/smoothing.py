"""Temporal smoothing of landmarks and head pose: a One Euro filter per tracked face.

The One Euro filter (Casiez et al., CHI 2012) is a low-pass filter whose cutoff rises with speed: still faces
lose their jitter, moving faces keep up without lag. Faces are matched frame to frame by box overlap.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from facemap_gui.choices import DEFAULT_STRENGTH
from facemap_gui.detection.base import box_iou
from facemap_gui.pipeline import FaceResult, FrameResult

BETA = 0.02  # cutoff gain per unit of speed (pixels or degrees per second)
DERIVATIVE_CUTOFF_HZ = 1.0
MIN_IOU = 0.3  # a face overlapping its previous box less than this is a new face
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


@dataclasses.dataclass
class _Track:
    box: tuple[int, int, int, int]
    filter: OneEuroFilter


def _state(face: FaceResult) -> np.ndarray:
    return np.concatenate([face.landmarks.ravel(), face.pose, [face.focal]])  # focal: the head's distance


class LandmarkSmoother:
    """Smooths the landmarks, pose and focal length of each face in a stream of FrameResults (boxes stay as
    detected)."""

    def __init__(self, strength: float = DEFAULT_STRENGTH) -> None:
        self.strength = strength
        self._tracks: list[_Track] = []
        self._last_t: float | None = None

    def reset(self) -> None:
        self._tracks = []
        self._last_t = None

    def apply(self, result: FrameResult) -> FrameResult:
        t = result.frame.timestamp_ms / 1000.0
        if self._last_t is not None and not 0 <= t - self._last_t <= MAX_GAP_S:
            self.reset()
        self._last_t = t
        cutoff = min_cutoff_hz(self.strength)
        unmatched = list(self._tracks)
        tracks, faces = [], []
        for face in result.faces:
            best = max(unmatched, key=lambda tr: box_iou(tr.box, face.box), default=None)
            state = _state(face)
            if best is not None and box_iou(best.box, face.box) >= MIN_IOU:
                unmatched.remove(best)
                smoothed = best.filter(t, state, cutoff)
                face = dataclasses.replace(
                    face,
                    landmarks=smoothed[:-4].reshape(-1, 2),
                    pose=(float(smoothed[-4]), float(smoothed[-3]), float(smoothed[-2])),
                    focal=float(smoothed[-1]),
                )
                best.box = face.box
                tracks.append(best)
            else:
                tracks.append(_Track(face.box, OneEuroFilter(t, state)))
            faces.append(face)
        self._tracks = tracks
        return dataclasses.replace(result, faces=faces)
