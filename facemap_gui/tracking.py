"""Tracking faces between detections, so the full-frame detector runs only now and then.

When the detector finds a face, a small grey thumbnail of it is kept. On the next frames the face is looked for
in a square region twice its size around where it was, by normalised cross-correlation of that thumbnail at
three scales (OpenCV matchTemplate, a fraction of a millisecond): the best match moves and rescales the box,
and its correlation is the tracking confidence. It compares pixels with pixels the detector itself confirmed, so
it holds for the real landmark model and a stand-in alike (facemap_3dmm has no face-presence output, and a
stand-in's landmarks do not follow the face). The full-frame detector runs when no face is tracked, when a
tracked face's best match falls below `MIN_SIMILARITY` (it left, turned away, was covered), and every
`redetect_every` frames, which finds new faces, refreshes the thumbnails and corrects any drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from facemap_gui.detection.base import Detection, FaceDetector, box_iou, clamp_box
from facemap_gui.sources.base import Frame

REDETECT_EVERY = 15  # frames: new faces are found within half a second at 30 fps
REGION_SCALE = 2.0  # side of the searched region, in face boxes: room for fast motion
THUMBNAIL = 31  # side of the face thumbnail, px: enough detail to tell a face from its background
# Thumbnail sides tried: the face may shrink or grow ~3% a frame. OpenCV correlates templates up to 32 px
# directly and switches to a slower DFT path above, hence 31 +- 1.
SCALES = (THUMBNAIL - 1, THUMBNAIL, THUMBNAIL + 1)
MIN_SIMILARITY = 0.6  # correlation below which the face counts as lost (a face matches itself at 0.85-1)
DUPLICATE_IOU = 0.5  # two tracks whose faces overlap this much have converged on one face


def search_region(box: tuple[int, int, int, int], size: tuple[int, int], scale: float = REGION_SCALE
                  ) -> tuple[int, int, int, int]:
    """A square of `scale` times the box's longer side about its centre, clamped to the image (inclusive)."""
    x0, y0, x1, y1 = box
    half = max(x1 - x0 + 1, y1 - y0 + 1) * scale / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = size
    return (max(0, math.floor(cx - half + 0.5)), max(0, math.floor(cy - half + 0.5)),
            min(w - 1, math.floor(cx + half - 0.5)), min(h - 1, math.floor(cy + half - 0.5)))


def grey_thumbnail(rgb: np.ndarray, box: tuple[int, int, int, int], face_size: tuple[float, float]) -> np.ndarray:
    """`box` of the image in grey, scaled so that a face of `face_size` (w, h) px becomes THUMBNAIL px square.
    Grey first, then area averaging, after skipping pixels on large faces so the cost does not grow with them."""
    x0, y0, x1, y1 = box
    step = max(1, int(min(face_size) / (2 * THUMBNAIL)))  # still >= 2 source pixels per thumbnail pixel
    grey = cv2.cvtColor(rgb[y0 : y1 + 1 : step, x0 : x1 + 1 : step], cv2.COLOR_RGB2GRAY)
    fx, fy = THUMBNAIL * step / face_size[0], THUMBNAIL * step / face_size[1]
    return cv2.resize(grey, None, fx=fx, fy=fy, interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class Track:
    face: Detection  # where the face is now; the score is the detector's when it last saw the face
    thumbnails: tuple[np.ndarray, ...]  # the face when the detector last saw it, one per side in SCALES


def start_track(rgb: np.ndarray, face: Detection) -> Track:
    x0, y0, x1, y1 = face.box
    base = grey_thumbnail(rgb, face.box, (x1 - x0 + 1, y1 - y0 + 1))
    base = cv2.resize(base, (THUMBNAIL, THUMBNAIL), interpolation=cv2.INTER_AREA)  # rounding may leave 31 or 33
    return Track(face, tuple(base if side == THUMBNAIL else cv2.resize(base, (side, side), interpolation=cv2.INTER_AREA)
                             for side in SCALES))


def follow(rgb: np.ndarray, track: Track) -> Track | None:
    """The track moved to its best match in this frame, or None when no match reaches MIN_SIMILARITY."""
    x0, y0, x1, y1 = track.face.box
    w, h = x1 - x0 + 1, y1 - y0 + 1
    size = (rgb.shape[1], rgb.shape[0])
    region = search_region(track.face.box, size)
    grey = grey_thumbnail(rgb, region, (w, h))
    matches = []
    for side, thumbnail in zip(SCALES, track.thumbnails, strict=True):
        if grey.shape[0] >= side and grey.shape[1] >= side:  # not when the region is cut short by the border
            _, similarity, _, location = cv2.minMaxLoc(cv2.matchTemplate(grey, thumbnail, cv2.TM_CCOEFF_NORMED))
            matches.append((similarity, side, location))
    similarity, side, (mx, my) = max(matches, default=(0.0, THUMBNAIL, (0, 0)))
    if similarity < MIN_SIMILARITY:
        return None
    # Thumbnail pixels back to image pixels; the matched side says how much the face grew or shrank.
    left, top = region[0] + mx * w / THUMBNAIL, region[1] + my * h / THUMBNAIL
    grown_w, grown_h = w * side / THUMBNAIL, h * side / THUMBNAIL
    box = clamp_box(left, top, left + grown_w - 1, top + grown_h - 1, size)
    return Track(Detection(box, track.face.score), track.thumbnails)


class FaceTracker(FaceDetector):
    """A FaceDetector that runs `detector` on whole frames only when needed and follows the faces it found in
    between. Frames must come in time order."""

    name = "tracker"

    def __init__(self, detector: FaceDetector, redetect_every: int = REDETECT_EVERY) -> None:
        if redetect_every < 1:
            raise ValueError("redetect_every must be at least 1")
        self.detector = detector
        self.redetect_every = redetect_every
        self.detector_ran = False  # on the last frame
        self.detector_calls = 0  # frames on which the full-frame detector ran
        self.tracked_faces = 0  # faces followed by thumbnail matching instead, summed over frames
        self._tracks: list[Track] = []
        self._since_detection = 0

    def detect(self, frame: Frame) -> list[Detection]:
        tracks = self._follow_all(frame) if self._since_detection < self.redetect_every else None
        self.detector_ran = tracks is None
        if tracks is None:
            tracks = [start_track(frame.rgb, face) for face in self.detector.detect(frame)]
            self._since_detection = 0
        self._since_detection += 1
        self._tracks = _without_duplicates(tracks)
        self.detector_calls += self.detector_ran
        self.tracked_faces += 0 if self.detector_ran else len(self._tracks)
        return [track.face for track in self._tracks]

    def _follow_all(self, frame: Frame) -> list[Track] | None:
        """Every tracked face followed into this frame; None when there is none or one was lost."""
        followed = []
        for track in self._tracks:
            moved = follow(frame.rgb, track)
            if moved is None:
                return None
            followed.append(moved)
        return followed or None

    def close(self) -> None:
        self.detector.close()


def _without_duplicates(tracks: list[Track]) -> list[Track]:
    kept: list[Track] = []
    for track in sorted(tracks, key=lambda t: t.face.score, reverse=True):
        if all(box_iou(track.face.box, other.face.box) < DUPLICATE_IOU for other in kept):
            kept.append(track)
    return kept
