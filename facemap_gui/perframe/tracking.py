"""Tracking faces between detections, so the full-frame detector runs only now and then.

As in MediaPipe's face mesh and 3DDFA_V2, a face's crop on the next frame comes from its landmarks on this
one: the square about its 68 points (`landmark_square`, clamped by `landmark_box`), expanded like a detector
box, still holds the face when it moves by less than about a tenth of its size between frames, and the model
then finds it inside.

facemap_3dmm has no face-presence output, so the tracking confidence comes from appearance. When the detector
finds a face, a small grey thumbnail of its landmark square is kept; on every tracked frame it is looked for by
normalised cross-correlation within the new landmark square grown by `SLACK` thumbnail pixels (a face matches
itself at 0.85-1 while it moves and turns a little, wherever its landmarks jitter by a few percent; background,
or landmarks that slid off the face, score far lower). The full-frame detector runs when no face is tracked;
when a tracked face's match falls below `MIN_SIMILARITY` (it left, turned away, was covered, or moved too
fast), on that same frame, so no frame loses a face the detector would have found; and every `redetect_every`
frames, which finds new faces, drops tracks on faces it no longer sees and refreshes the thumbnails. That
periodic pass runs beside tracking (pipeline.DetectorThread) and is merged a few frames after the frame it
looked at: a tracked face it saw keeps its track, a face it found that is not tracked is cropped where it was
found.

Every face has a track id (`Identities`), whether the tracker runs or the detector looks at every frame: a face the
tracker followed keeps its track's id; any other face takes the id of the nearest face seen on one of the last
`REACQUIRE_FRAMES` frames whose centre lay within `NEAR` of a face side from its own (and that no other face of the
frame has), nearest pairs first; else a new id, counting from 0 in order of first appearance, never reused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from facemap_gui.core.choices import REDETECT_EVERY
from facemap_gui.perframe.detection.base import Detection, box_iou, clamp_box

THUMBNAIL = 31  # side of the face thumbnail, px: enough detail to tell a face from its background
MIN_SIMILARITY = 0.6  # correlation below which the face counts as lost (a face matches itself at 0.85-1)
SLACK = 2  # thumbnail px (~6% of the face) the face may sit off its landmark box and still match: landmarks
# jitter by a few percent from frame to frame, more with an 8-bit model
MIN_FACE = 8  # px: a landmark box smaller than this (e.g. squeezed against the border) is not a face
DUPLICATE_IOU = 0.5  # two tracks whose faces overlap this much have converged on one face
REACQUIRE_FRAMES = 10  # a face lost this many frames ago or fewer gets its id back when found where it was
NEAR = 0.5  # face sides between a face's centre and where an id was last seen, at most, to take that id
NEW_FACE = -1  # the track id of a face not followed by a track, until Identities gives it one


class Landmarked(Protocol):
    """What the tracker needs of a face the pipeline processed (pipeline.FaceResult)."""

    @property
    def score(self) -> float: ...
    @property
    def landmarks(self) -> np.ndarray: ...
    @property
    def track_id(self) -> int: ...


Square = tuple[float, float, float]  # centre x, centre y and side, image px


def landmark_square(points: np.ndarray) -> Square:
    """The square about the points' bounding box (side = its longer side)."""
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    return (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)


def landmark_box(square: Square, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The square as a box clamped to the image (inclusive); None when less than MIN_FACE px of it is left
    inside."""
    cx, cy, side = square
    half = side / 2
    box = clamp_box(cx - half, cy - half, cx + half, cy + half, size)
    return box if min(box[2] - box[0], box[3] - box[1]) + 1 >= MIN_FACE else None


def thumbnail(rgb: np.ndarray, square: Square, slack: int = 0) -> np.ndarray:
    """The square of the image in grey, THUMBNAIL px across, grown by `slack` thumbnail px on every side
    (THUMBNAIL + 2 slack px in all). Parts outside the image repeat its edge, so a face cut by the border
    keeps its shape. Pixels are skipped on large faces before the area averaging, so the cost does not grow
    with the face (still >= 2 source pixels per thumbnail pixel)."""
    cx, cy, side = square
    size = THUMBNAIL + 2 * slack
    span = max(1, round(side * size / THUMBNAIL))  # image px across
    x0, y0 = math.floor(cx - span / 2 + 0.5), math.floor(cy - span / 2 + 0.5)
    height, width = rgb.shape[:2]
    region = rgb[max(y0, 0) : max(min(y0 + span, height), 0), max(x0, 0) : max(min(x0 + span, width), 0)]
    pads = (max(-y0, 0), max(y0 + span - height, 0), max(-x0, 0), max(x0 + span - width, 0))
    if any(pads):
        region = cv2.copyMakeBorder(region, *pads, cv2.BORDER_REPLICATE)
    step = max(1, span // (2 * size))
    grey = cv2.cvtColor(region[::step, ::step], cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)


def similarity(window: np.ndarray, reference: np.ndarray) -> float:
    """The best normalised cross-correlation of a thumbnail anywhere in a window at least its size, in [-1, 1]."""
    return float(cv2.matchTemplate(window, reference, cv2.TM_CCOEFF_NORMED).max())


@dataclass(frozen=True)
class Track:
    box: tuple[int, int, int, int]  # where the face's crop comes from on the next frame: its landmark box
    score: float  # the detector's, when it last saw the face
    thumbnail: np.ndarray  # the face when the detector last saw it
    track_id: int


class FaceTracker:
    """Decides, frame by frame, whether faces come from the detector or from the previous frame's landmarks,
    and checks the tracked ones. Frames must come in time order. The pipeline drives it:

        boxes = tracker.tracked()           # None: run the detector on this frame
        ... landmarks for `boxes` ...
        if not tracker.confirm(rgb, faces):  # a face was lost: run the detector on this frame
        ... after a detection: tracker.start(rgb, faces)
        tracker.due()                       # time for the periodic pass: start it on this frame
        boxes = tracker.merge(found)        # instead of tracked(), when that pass's detections arrive
        ... landmarks for `boxes` ...; tracker.start(rgb, faces, age=frames since the frame it looked at)
    """

    def __init__(self, redetect_every: int = REDETECT_EVERY) -> None:
        if redetect_every < 1:
            raise ValueError("redetect_every must be at least 1")
        self.redetect_every = redetect_every
        self.tracked_faces = 0  # faces whose crop came from the previous frame's landmarks, summed over frames
        self.lost = 0  # tracked faces that failed the check, so the detector ran on their frame
        self._tracks: list[Track] = []
        self._since_detection = 0

    def tracked(self) -> list[Detection] | None:
        """The faces to crop on this frame, from the previous frame's landmarks; None when nothing is tracked
        (the detector must look on this frame)."""
        if not self._tracks:
            return None
        return [Detection(track.box, track.score, track.track_id) for track in self._tracks]

    def due(self) -> bool:
        """`redetect_every` frames have passed since the detector last looked: time for the periodic pass."""
        return self._since_detection >= self.redetect_every

    def merge(self, found: Sequence[Detection]) -> list[Detection]:
        """The faces to crop on this frame once a periodic pass's detections arrive: each tracked face it saw
        (its centre inside the track's box) where its landmarks were on the previous frame, and each face it
        found that is not tracked where it found it. Tracked faces it did not see are dropped."""
        unseen = list(self._tracks)
        crops = []
        for detection in found:
            x0, y0, x1, y1 = detection.box
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            track = next((t for t in unseen if t.box[0] <= cx <= t.box[2] and t.box[1] <= cy <= t.box[3]), None)
            if track is None:
                crops.append(detection)
            else:
                unseen.remove(track)
                crops.append(Detection(track.box, detection.score, track.track_id))
        return crops

    def start(self, rgb: np.ndarray, faces: Sequence[Landmarked], age: int = 0) -> None:
        """Track the faces found on this frame (with their landmarks), by a detection on this frame or, `age`
        frames late, by a periodic pass that looked at an earlier one (`merge`)."""
        size = (rgb.shape[1], rgb.shape[0])
        tracks = []
        for face in faces:
            square = landmark_square(face.landmarks)
            box = landmark_box(square, size)
            if box is not None:
                tracks.append(Track(box, face.score, thumbnail(rgb, square), face.track_id))
        self._tracks = _without_duplicates(tracks)
        self._since_detection = 1 + age

    def confirm(self, rgb: np.ndarray, faces: Sequence[Landmarked]) -> bool:
        """Check this frame's landmarks of the tracked faces (in `tracked()` order) and move each track to its
        new landmark box. False when any face was lost: the caller then runs the detector on this frame."""
        size = (rgb.shape[1], rgb.shape[0])
        moved = []
        for track, face in zip(self._tracks, faces, strict=True):
            square = landmark_square(face.landmarks)
            box = landmark_box(square, size)
            if box is None or similarity(thumbnail(rgb, square, SLACK), track.thumbnail) < MIN_SIMILARITY:
                self.lost += 1
                return False
            moved.append(Track(box, track.score, track.thumbnail, track.track_id))
        self._tracks = _without_duplicates(moved)
        self._since_detection += 1
        self.tracked_faces += len(moved)
        return True


def _without_duplicates(tracks: list[Track]) -> list[Track]:
    kept: list[Track] = []
    for track in sorted(tracks, key=lambda t: t.score, reverse=True):
        if all(box_iou(track.box, other.box) < DUPLICATE_IOU for other in kept):
            kept.append(track)
    return kept


class Identities:
    """Gives each face of each frame its track id (the rule is in the module's docstring). Call `assign` once per
    frame, in time order, frames without a face included (they age the lost faces)."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[Square, int]] = {}  # id -> where its face was last seen, and on which frame
        self._frame = 0
        self._next = 0

    def assign(self, faces: Sequence[Landmarked]) -> list[int]:
        """The faces' ids: their `track_id` when the tracker followed them, else matched or new (NEW_FACE)."""
        self._frame += 1
        self._seen = {i: seen for i, seen in self._seen.items() if self._frame - seen[1] <= REACQUIRE_FRAMES}
        squares = [landmark_square(face.landmarks) for face in faces]
        ids: list[int | None] = [None if face.track_id == NEW_FACE else face.track_id for face in faces]
        free = {i: square for i, (square, _) in self._seen.items() if i not in ids}
        pairs = sorted(
            (math.dist(square[:2], last[:2]) / max(square[2], last[2], 1.0), n, i)
            for n, square in enumerate(squares)
            if ids[n] is None
            for i, last in free.items()
        )
        for distance, n, i in pairs:
            if distance <= NEAR and ids[n] is None and i in free:
                ids[n] = i
                del free[i]
        assigned = []
        for square, track_id in zip(squares, ids, strict=True):
            if track_id is None:
                track_id, self._next = self._next, self._next + 1
            self._seen[track_id] = (square, self._frame)
            assigned.append(track_id)
        return assigned
