"""The OpenSeeFace UDP packet (as its facetracker.py packs it, and Unity/OpenSee.cs reads it): 1785 bytes a face,
the faces of a frame in one datagram, nothing for a frame without a face."""

from __future__ import annotations

import struct
from itertools import chain
from operator import itemgetter

from facemap_gui.perframe import brow_mouth
from facemap_gui.perframe.pipeline import FaceResult
from facemap_gui.perframe.signals import FaceSignals, centre, clip
from facemap_gui.sinks.streaming.rotation import quaternion_yxz

DEFAULT_PORT = 11573
# time; face id; width, height; eye open right, left; success; PnP error; quaternion (x, y, z, w); Euler (deg);
# translation; 68 confidences; 68 points (x, y); 70 3D points; 14 features.
FACE = struct.Struct("<d i 2f 2f B f 4f 3f 3f 68f 136f 210f 14f")
# Packed in parts (the same bytes): the scalars, the points, then the rest as bytes, as building 470 arguments
# costs more.
_HEAD, _CONFIDENCE, _POINTS, _FEATURE_VALUES = (
    struct.Struct("<d i 2f 2f B f 4f 3f 3f"),
    struct.Struct("<f"),
    struct.Struct("<136f"),
    struct.Struct("<14f"),
)
# OpenSeeFace's 68 points are its 66-point layout (iBUG-68 without 49 and 53, the outer upper-lip points next to
# the corners) then the right and left pupils.
OSF_FROM_IBUG = (*range(49), 50, 51, 52, *range(54, 68))
_OSF_POINTS = itemgetter(*OSF_FROM_IBUG)
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
_IN_ORDER = itemgetter(*_FEATURES)


def quaternion(pose: tuple[float, float, float]) -> tuple[float, float, float, float]:
    """(x, y, z, w) of the head's rotation (model → camera: x right, y down, z away) from yaw/pitch/roll degrees:
    the decoder's Ry(-yaw) Rx(-pitch) Rx(-pi) Rz(-roll)."""
    yaw, pitch, roll = pose
    return quaternion_yxz(-pitch - 180.0, -yaw, -roll)


# The 8 brow and mouth-corner features (perframe/brow_mouth.py) mapped from rest (0) by a fixed scale to -1..1,
# where OpenSeeFace adapts to each user's running median and extremes. Rest: the user's calibrated neutral face,
# else dlib's points of a real neutral face (tests/data/dlib_faces.json).
FEATURE_REST = {"steepness": -14.0, "quirk": 0.9, "corner_updown": -0.36, "corner_inout": 0.17}
FEATURE_SCALE = {"steepness": 15.0, "quirk": 0.5, "corner_updown": 0.5, "corner_inout": 0.08}
_KIND = {name: name.removeprefix("eyebrow_").removeprefix("mouth_")[:-2] for name in brow_mouth.NAMES}
DEFAULT_REST = {name: FEATURE_REST[kind] for name, kind in _KIND.items()}
_SCALE = {name: FEATURE_SCALE[kind] for name, kind in _KIND.items()}


def brow_and_mouth(points: list[list[float]], rest: dict[str, float] | None = None) -> dict[str, float]:
    """The 8 features, each -1..1 and 0 at `rest` (raw values by name; DEFAULT_REST when None)."""
    rest = rest or DEFAULT_REST
    return {
        name: clip((raw - rest[name]) / _SCALE[name], -1.0, 1.0) for name, raw in brow_mouth.measure(points).items()
    }


def features(face: FaceResult, signals: FaceSignals, rest: dict[str, float] | None = None) -> tuple[float, ...]:
    """OpenSeeFace's 14 features: its eye features read 0 open and -1 closed, the others 0 at rest (`rest`: the
    brow and mouth features' raw values at rest, from a calibration)."""
    known = brow_and_mouth(face.points(), rest)
    known["eye_l"], known["eye_r"] = signals.eye_open_left - 1.0, signals.eye_open_right - 1.0
    known["eyebrow_updown_l"], known["eyebrow_updown_r"] = signals.brow_raise_left, signals.brow_raise_right
    known["mouth_open"], known["mouth_wide"] = signals.mouth_open, signals.mouth_wide
    return _IN_ORDER(known)


def face_packet(
    now: float,
    face_id: int,
    size: tuple[int, int],
    face: FaceResult,
    signals: FaceSignals,
    rest: dict[str, float] | None = None,
) -> bytes:
    """One face's 1785 bytes. Per-point confidences are the face's score (the model gives none); `rest` as in
    `features`."""
    p = face.points()
    pupils = (*centre(p[36:42]), *centre(p[42:48]))  # the right eye's centre, then the left's
    points = _POINTS.pack(*chain.from_iterable(_OSF_POINTS(p)), *pupils)
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
    return b"".join((head, confidences, points, _NO_3D_POINTS, _FEATURE_VALUES.pack(*features(face, signals, rest))))
