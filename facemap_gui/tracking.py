"""Tracking faces between detections, so the full-frame detector runs only now and then.

After a detection each face is looked for again in the next frame inside a small square region around where it
was, with the short-range BlazeFace model: the region (twice the face box) is where that model works best, it
costs a fraction of a full-range pass over the whole frame, and its score is an honest face-presence check that
does not depend on the landmark model (facemap_3dmm has no presence output, and a stand-in's landmarks do not
follow the face). The full-frame detector runs when no face is tracked, when a tracked face is not found in its
region (it left, or was covered), and every `redetect_every` frames to pick up new faces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from facemap_gui.detection.base import Detection, FaceDetector
from facemap_gui.sources.base import Frame

REDETECT_EVERY = 15  # frames: new faces are found within half a second at 30 fps
REGION_SCALE = 2.0  # side of the searched region, in face boxes: room for fast motion, face still large in it
DUPLICATE_IOU = 0.5  # two tracks whose faces overlap this much have converged on one face


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two inclusive boxes."""
    ix = min(a[2], b[2]) - max(a[0], b[0]) + 1
    iy = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    return inter / ((a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter)


def search_region(box: tuple[int, int, int, int], size: tuple[int, int], scale: float = REGION_SCALE
                  ) -> tuple[int, int, int, int]:
    """A square of `scale` times the box's longer side about its centre, clamped to the image (inclusive)."""
    x0, y0, x1, y1 = box
    half = max(x1 - x0 + 1, y1 - y0 + 1) * scale / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = size
    return (max(0, math.floor(cx - half + 0.5)), max(0, math.floor(cy - half + 0.5)),
            min(w - 1, math.floor(cx + half - 0.5)), min(h - 1, math.floor(cy + half - 0.5)))


@dataclass(frozen=True, slots=True)
class TrackerCounts:
    frames: int = 0
    detector_calls: int = 0  # full-frame detections
    region_checks: int = 0  # short-range passes over a tracked face's region


class FaceTracker(FaceDetector):
    """A FaceDetector that runs `detector` on whole frames only when needed and otherwise re-finds each tracked
    face with `checker` in its region. Frames must come in time order; `reset()` forgets the tracked faces."""

    name = "tracker"

    def __init__(self, detector: FaceDetector, checker: FaceDetector, redetect_every: int = REDETECT_EVERY,
                 region_scale: float = REGION_SCALE) -> None:
        if redetect_every < 1:
            raise ValueError("redetect_every must be at least 1")
        self.detector = detector
        self.checker = checker
        self.redetect_every = redetect_every
        self.region_scale = region_scale
        self.detector_ran = False  # on the last frame
        self.counts = TrackerCounts()
        self._faces: list[Detection] = []
        self._since_detection = 0

    def reset(self) -> None:
        self._faces = []

    def detect(self, frame: Frame) -> list[Detection]:
        checks = 0
        found: list[Detection] | None = None
        if self._faces and self._since_detection < self.redetect_every:
            found = []
            for face in self._faces:
                checks += 1
                again = self._find_in_region(frame, face)
                if again is None:  # lost: the whole frame is searched below, this same frame
                    found = None
                    break
                found.append(again)
        self.detector_ran = found is None
        if found is None:
            found = self.detector.detect(frame)
            self._since_detection = 0
        self._since_detection += 1
        self._faces = _without_duplicates(found)
        c = self.counts
        self.counts = TrackerCounts(c.frames + 1, c.detector_calls + self.detector_ran, c.region_checks + checks)
        return list(self._faces)

    def _find_in_region(self, frame: Frame, face: Detection) -> Detection | None:
        """The face again inside its region of this frame (the candidate overlapping it most), or None."""
        x0, y0, x1, y1 = search_region(face.box, frame.size, self.region_scale)
        # MediaPipe needs a contiguous image; copying a region this size costs microseconds.
        region = Frame(frame.index, frame.timestamp_ms, np.ascontiguousarray(frame.rgb[y0 : y1 + 1, x0 : x1 + 1]))
        candidates = [_moved(found, x0, y0) for found in self.checker.detect(region)]
        return max(candidates, key=lambda d: box_iou(d.box, face.box), default=None)

    def close(self) -> None:
        self.checker.close()
        self.detector.close()


def _moved(detection: Detection, dx: int, dy: int) -> Detection:
    x0, y0, x1, y1 = detection.box
    return Detection((x0 + dx, y0 + dy, x1 + dx, y1 + dy), detection.score)


def _without_duplicates(faces: list[Detection]) -> list[Detection]:
    kept: list[Detection] = []
    for face in sorted(faces, key=lambda d: d.score, reverse=True):
        if all(box_iou(face.box, other.box) < DUPLICATE_IOU for other in kept):
            kept.append(face)
    return kept
