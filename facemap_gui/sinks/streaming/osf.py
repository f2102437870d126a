"""The OpenSeeFace UDP packet (as its facetracker.py packs it, and Unity/OpenSee.cs reads it): 1785 bytes a face,
the faces of a frame in one datagram, nothing for a frame without a face."""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import numpy as np

from facemap_gui.perframe.pipeline import FaceResult
from facemap_gui.perframe.signals import FaceSignals
from facemap_gui.sinks.streaming.rotation import quaternion_yxz

DEFAULT_PORT = 11573
# time; face id; width, height; eye open right, left; success; PnP error; quaternion (x, y, z, w); Euler (deg);
# translation; 68 confidences; 68 points (x, y); 70 3D points; 14 features.
FACE = struct.Struct("<d i 2f 2f B f 4f 3f 3f 68f 136f 210f 14f")
# Packed in parts (the same bytes): the scalars, then the arrays as bytes, as building 470 arguments costs more.
_HEAD, _CONFIDENCE, _FEATURE_VALUES = (
    struct.Struct("<d i 2f 2f B f 4f 3f 3f"),
    struct.Struct("<f"),
    struct.Struct("<14f"),
)
# OpenSeeFace's 68 points are its 66-point layout (iBUG-68 without 49 and 53, the outer upper-lip points next to
# the corners) then the right and left pupils.
OSF_FROM_IBUG = np.array([*range(49), 50, 51, 52, *range(54, 68)])
_NO_3D_POINTS = bytes(210 * 4)  # what OpenSeeFace sends when its 3D fit failed: 210 zeros
_FEATURES = (
    "eye_l",
    "eye_r",
    "eyebrow_steepness_l",
    "eyebrow_updown_l",
    "eyebrow_quirk_l",
    "eyebrow_steepness_r",
    "eyebrow_updown_r",
    "eyebrow_quirk_r",
    "mouth_corner_updown_l",
    "mouth_corner_inout_l",
    "mouth_corner_updown_r",
    "mouth_corner_inout_r",
    "mouth_open",
    "mouth_wide",
)


def quaternion(pose: tuple[float, float, float]) -> tuple[float, float, float, float]:
    """(x, y, z, w) of the head's rotation (model → camera: x right, y down, z away) from yaw/pitch/roll degrees:
    the decoder's Ry(-yaw) Rx(-pitch) Rx(-pi) Rz(-roll)."""
    yaw, pitch, roll = pose
    return quaternion_yxz(-pitch - 180.0, -yaw, -roll)


# OpenSeeFace's 8 brow and mouth-corner features, measured as its tracker.py FeatureExtractor does, then mapped
# from rest (0) by a fixed scale to -1..1 where OpenSeeFace adapts to each user's running median and extremes.
# Rest values: dlib's points of a real neutral face (tests/data/dlib_faces.json).
FEATURE_REST = {"steepness": -14.0, "quirk": 0.9, "corner_updown": -0.36, "corner_inout": 0.17}
FEATURE_SCALE = {"steepness": 15.0, "quirk": 0.5, "corner_updown": 0.5, "corner_inout": 0.08}
_FEATURE_KIND = {  # eyebrow_steepness_l -> (its rest, its scale)
    name: (FEATURE_REST[kind], FEATURE_SCALE[kind])
    for name in _FEATURES
    for kind in [name.removeprefix("eyebrow_").removeprefix("mouth_")[:-2]]
    if kind in FEATURE_REST
}


_FEATURE_POINTS = (0, 1, 15, 16, *range(17, 28), 30, 51, 52, 50, 57, 60, 62, 64, 66)


def _angle(a: Sequence[float], b: Sequence[float]) -> float:
    """Degrees of the line a→b, folded into -90..90 (OpenSeeFace's align_points)."""
    degrees = math.degrees(math.atan2(b[1] - a[1], b[0] - a[0])) % 360.0
    return 180.0 - degrees if degrees >= 90.0 and degrees < 270.0 else (degrees - 360.0 if degrees >= 270 else degrees)


def _brow_and_mouth(points: list[list[float]]) -> dict[str, float]:
    """Raw values of the 8 features from iBUG-68 points (OpenSeeFace's 58/62 mouth corners are iBUG 60/64, its
    49-51 iBUG 50-52), lengths in nose lengths (y) and jaw widths (x) as OpenSeeFace normalises. Measured after
    turning the points by OpenSeeFace's head-roll angle: its own left steepness and corner heights change with
    roll (twice the roll for the left brow)."""
    norm_angle = sum(_angle(points[a], points[b]) for a, b in ((42, 45), (36, 39), (0, 16), (31, 35))) / 4
    cos, sin = math.cos(math.radians(norm_angle)), math.sin(math.radians(norm_angle))
    p = {i: (x * cos + y * sin, y * cos - x * sin) for i in _FEATURE_POINTS for x, y in (points[i],)}
    norm_x = abs(p[0][0] - p[16][0] + p[1][0] - p[15][0]) / 2 or 1e-6
    norm_y = abs(p[30][1] - p[27][1]) / 3 or 1e-6

    def quirk(first: int, last: int) -> float:  # the brow's largest bend away from its end-to-end line
        (ax, ay), (bx, by) = p[first], p[last]
        length = math.hypot(bx - ax, by - ay) or 1e-6
        inner = range(min(first, last) + 1, max(first, last))
        return max(abs((p[i][1] - ay) * (bx - ax) - (p[i][0] - ax) * (by - ay)) for i in inner) / length / norm_y

    upper_lip = (p[50][1] + p[51][1] + p[52][1]) / 3
    centre = (p[51][0] + p[62][0] + p[27][0] + p[30][0] + p[66][0] + p[57][0]) / 6
    return {
        "eyebrow_steepness_l": -_angle(p[22], p[26]),
        "eyebrow_quirk_l": quirk(22, 26),
        "eyebrow_steepness_r": _angle(p[17], p[21]),
        "eyebrow_quirk_r": quirk(17, 21),
        "mouth_corner_updown_l": (upper_lip - p[64][1]) / norm_y,
        "mouth_corner_inout_l": abs(centre - p[64][0]) / norm_x,
        "mouth_corner_updown_r": (upper_lip - p[60][1]) / norm_y,
        "mouth_corner_inout_r": abs(centre - p[60][0]) / norm_x,
    }


def brow_and_mouth(points: list[list[float]]) -> dict[str, float]:
    """The 8 features, each -1..1 and 0 at rest."""
    return {
        name: min(max((raw - _FEATURE_KIND[name][0]) / _FEATURE_KIND[name][1], -1.0), 1.0)
        for name, raw in _brow_and_mouth(points).items()
    }


def features(face: FaceResult, signals: FaceSignals) -> tuple[float, ...]:
    """OpenSeeFace's 14 features: its eye features read 0 open and -1 closed, the others 0 at rest."""
    known = {
        "eye_l": signals.eye_open_left - 1.0,
        "eye_r": signals.eye_open_right - 1.0,
        "eyebrow_updown_l": signals.brow_raise_left,
        "eyebrow_updown_r": signals.brow_raise_right,
        "mouth_open": signals.mouth_open,
        "mouth_wide": signals.mouth_wide,
        **brow_and_mouth(face.points()),
    }
    return tuple(known[name] for name in _FEATURES)


def face_packet(now: float, face_id: int, size: tuple[int, int], face: FaceResult, signals: FaceSignals) -> bytes:
    """One face's 1785 bytes. Per-point confidences are the face's score (the model gives none)."""
    pupils = face.landmarks[36:48].reshape(2, 6, 2).sum(axis=1) / 6  # the eyes' centres (np.mean's sums)
    points = np.concatenate((face.landmarks[OSF_FROM_IBUG], pupils)).astype("<f4")  # as struct's "f" rounds
    translation = (signals.head_x, -signals.head_y, signals.head_z)  # the rotation's frame: y down
    head = _HEAD.pack(
        now,
        face_id,
        *size,
        signals.eye_open_right,
        signals.eye_open_left,
        1,
        0.0,
        *quaternion(face.pose),
        signals.pitch,
        signals.yaw,
        signals.roll,
        *translation,
    )
    confidences = _CONFIDENCE.pack(face.score) * 68
    return b"".join(
        (head, confidences, points.tobytes(), _NO_3D_POINTS, _FEATURE_VALUES.pack(*features(face, signals)))
    )
