"""The OpenSeeFace UDP packet (as its facetracker.py packs it, and Unity/OpenSee.cs reads it): 1785 bytes a face,
the faces of a frame in one datagram, nothing for a frame without a face."""

from __future__ import annotations

import struct

import numpy as np

from facemap_gui.pipeline import FaceResult
from facemap_gui.signals import FaceSignals
from facemap_gui.streaming.rotation import quaternion_yxz

DEFAULT_PORT = 11573
# time; face id; width, height; eye open right, left; success; PnP error; quaternion (x, y, z, w); Euler (deg);
# translation; 68 confidences; 68 points (x, y); 70 3D points; 14 features.
FACE = struct.Struct("<d i 2f 2f B f 4f 3f 3f 68f 136f 210f 14f")
# OpenSeeFace's 68 points are its 66-point layout (iBUG-68 without 49 and 53, the outer upper-lip points next to
# the corners) then the right and left pupils.
OSF_FROM_IBUG = np.array([*range(49), 50, 51, 52, *range(54, 68)])
_NO_3D_POINTS = (0.0,) * 210  # what OpenSeeFace sends when its 3D fit failed
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


def features(signals: FaceSignals) -> tuple[float, ...]:
    """OpenSeeFace's 14 features: its eye features read 0 open and -1 closed; what we do not compute is 0, as
    OpenSeeFace sends for a feature it has no value for."""
    known = {
        "eye_l": signals.eye_open_left - 1.0,
        "eye_r": signals.eye_open_right - 1.0,
        "eyebrow_updown_l": signals.brow_raise_left,
        "eyebrow_updown_r": signals.brow_raise_right,
        "mouth_open": signals.mouth_open,
        "mouth_wide": signals.mouth_wide,
    }
    return tuple(known.get(name, 0.0) for name in _FEATURES)


def face_packet(now: float, face_id: int, size: tuple[int, int], face: FaceResult, signals: FaceSignals) -> bytes:
    """One face's 1785 bytes. Per-point confidences are the face's score (the model gives none)."""
    points = face.landmarks[OSF_FROM_IBUG].ravel().tolist()
    pupils = face.landmarks[36:48].reshape(2, 6, 2).mean(axis=1).ravel().tolist()  # the eyes' centres
    translation = (signals.head_x, -signals.head_y, signals.head_z)  # the rotation's frame: y down
    return FACE.pack(
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
        *(face.score,) * 68,
        *points,
        *pupils,
        *_NO_3D_POINTS,
        *features(signals),
    )
