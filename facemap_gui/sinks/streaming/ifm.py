"""iFacialMocap's UDP format (ifacialmocap.com/for-developer/), which VSeeFace, VMagicMirror and Warudo receive as
"iPhone tracking": one text datagram a frame,
`name-value|...|=head#rx,ry,rz,px,py,pz|rightEye#rx,ry,rz|leftEye#rx,ry,rz|`, ARKit's blendshapes as integers
0-100 with `_L`/`_R` names, angles in degrees. The receiver listens on 49983; we only send there."""

from __future__ import annotations

from facemap_gui.perframe.expressions import ARKIT_NAMES
from facemap_gui.perframe.signals import FaceSignals

DEFAULT_PORT = 49983


def ifm_name(arkit: str) -> str:
    """eyeBlinkLeft → eyeBlink_L, jawOpen → jawOpen."""
    for side, suffix in (("Left", "_L"), ("Right", "_R")):
        if arkit.endswith(side):
            return arkit.removesuffix(side) + suffix
    return arkit


_NAMES = tuple((arkit, ifm_name(arkit)) for arkit in ARKIT_NAMES)


def packet(signals: FaceSignals, shapes: dict[str, float]) -> bytes:
    """The datagram for a face: head rotation as pitch, yaw, roll (the JSON Lines `pose`), position in metres as
    ARKit's face anchor (x right, y up, the face at negative z); no gaze, so the eyes are 0."""
    s = signals
    blend = "|".join(f"{name}-{round(shapes[arkit] * 100)}" for arkit, name in _NAMES)
    head = f"{s.pitch:.3f},{s.yaw:.3f},{s.roll:.3f},{s.head_x:.4f},{s.head_y:.4f},{-s.head_z:.4f}"
    return f"{blend}|=head#{head}|rightEye#0,0,0|leftEye#0,0,0|".encode("ascii")
