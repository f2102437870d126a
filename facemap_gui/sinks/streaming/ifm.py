"""iFacialMocap's UDP format (ifacialmocap.com/for-developer/), which VSeeFace, VMagicMirror and Warudo receive as
"iPhone tracking": one text datagram a frame,
`name-value|...|=head#rx,ry,rz,px,py,pz|rightEye#rx,ry,rz|leftEye#rx,ry,rz|`, ARKit's blendshapes as integers
0-100 with `_L`/`_R` names, angles in degrees. The receiver listens on 49983; we only send there."""

from __future__ import annotations

from facemap_gui.perframe.expressions import ARKIT_NAMES, arkit_values
from facemap_gui.perframe.signals import FaceSignals

DEFAULT_PORT = 49983


def ifm_name(arkit: str) -> str:
    """eyeBlinkLeft → eyeBlink_L, jawOpen → jawOpen."""
    for side, suffix in (("Left", "_L"), ("Right", "_R")):
        if arkit.endswith(side):
            return arkit.removesuffix(side) + suffix
    return arkit


# The datagram with its numbers left out: a frame fills them in with one formatting.
_TEMPLATE = "|".join(f"{ifm_name(arkit)}-%d" for arkit in ARKIT_NAMES) + (
    "|=head#%.3f,%.3f,%.3f,%.4f,%.4f,%.4f|rightEye#0,0,0|leftEye#0,0,0|"
)


def packet(signals: FaceSignals, shapes: dict[str, float]) -> bytes:
    """The datagram for a face: head rotation as pitch, yaw, roll (the JSON Lines `pose`), position in metres as
    ARKit's face anchor (x right, y up, the face at negative z); no gaze, so the eyes are 0."""
    s = signals
    blend = [round(value * 100) for value in arkit_values(shapes)]
    return (_TEMPLATE % (*blend, s.pitch, s.yaw, s.roll, s.head_x, s.head_y, -s.head_z)).encode("ascii")
