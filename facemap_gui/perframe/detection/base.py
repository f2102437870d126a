"""The face-detector interface and a name → class registry of detector backends."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass

from facemap_gui.sources.base import Frame


@dataclass(frozen=True, slots=True)
class Detection:
    """A face box in image pixels, inclusive corners (x0, y0, x1, y1), with the detector's score."""

    box: tuple[int, int, int, int]
    score: float
    track_id: int | None = None  # the followed face's id when the box comes from a track (tracking.Identities)


class FaceDetector(abc.ABC):
    """Finds faces in a frame. `video=True` detectors expect frames in time order."""

    name: str = ""

    @abc.abstractmethod
    def detect(self, frame: Frame) -> list[Detection]: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


DetectorFactory = Callable[..., FaceDetector]
DETECTORS: dict[str, DetectorFactory] = {}


def register_detector(name: str, factory: DetectorFactory) -> None:
    DETECTORS[name] = factory


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two inclusive boxes."""
    ix = min(a[2], b[2]) - max(a[0], b[0]) + 1
    iy = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    return inter / ((a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter)


def clamp_box(x0: float, y0: float, x1: float, y1: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Round a box to inclusive integer corners inside an image of size (width, height)."""
    w, h = size
    return (
        min(max(round(x0), 0), w - 1),
        min(max(round(y0), 0), h - 1),
        min(max(round(x1), 0), w - 1),
        min(max(round(y1), 0), h - 1),
    )
