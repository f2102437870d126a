"""VMC protocol (OSC over UDP, protocol.vmc.info): one OSC bundle a frame with the head bone, the VRM preset
blendshapes VSeeFace documents (Blink_L, Blink_R, A, I) and ARKit's 52 names (what "Perfect Sync" models have),
then /VMC/Ext/Blend/Apply."""

from __future__ import annotations

import struct

from facemap_gui.perframe.expressions import ARKIT_NAMES, arkit_values
from facemap_gui.perframe.signals import FaceSignals
from facemap_gui.sinks.streaming.rotation import quaternion_yxz

DEFAULT_PORT = 39539  # a VMC "Marionette" (the avatar app); a "Performer" such as VSeeFace listens on 39540
VRM_PRESETS = ("Blink_L", "Blink_R", "A", "I")
BLENDSHAPES = (*VRM_PRESETS, *ARKIT_NAMES)


def presets(signals: FaceSignals) -> tuple[float, ...]:
    return 1.0 - signals.eye_open_left, 1.0 - signals.eye_open_right, signals.mouth_open, signals.mouth_wide


def _osc_string(text: str) -> bytes:
    """An OSC string: ASCII, NUL-terminated, padded with NULs to a multiple of 4 bytes."""
    data = text.encode("ascii") + b"\0"
    return data + b"\0" * (-len(data) % 4)


def _message_head(address: str, label: str | None, floats: int) -> bytes:
    """A bundle element up to its float arguments: the element's size, the address, the type tags (a string
    `label` first when given, then `floats` floats) and the label."""
    tags = "," + "s" * (label is not None) + "f" * floats
    head = _osc_string(address) + _osc_string(tags) + (_osc_string(label) if label is not None else b"")
    return struct.pack(">i", len(head) + 4 * floats) + head


# Only the floats change between frames: every element's head is encoded once, and a frame's bundle is one pack of
# the heads with the floats between them.
_BUNDLE = _osc_string("#bundle") + struct.pack(">Q", 1)  # time tag 1: "immediately"
_BONE_HEAD = _message_head("/VMC/Ext/Bone/Pos", "Head", 7)
_BLEND_HEADS = tuple(_message_head("/VMC/Ext/Blend/Val", name, 1) for name in BLENDSHAPES)
_APPLY = _message_head("/VMC/Ext/Blend/Apply", None, 0)
_FRAME = struct.Struct(
    f">{len(_BUNDLE + _BONE_HEAD)}s7f" + "".join(f"{len(head)}sf" for head in _BLEND_HEADS) + f"{len(_APPLY)}s"
)
_ARGUMENTS = [_BUNDLE + _BONE_HEAD, *(0.0,) * 7, *(x for head in _BLEND_HEADS for x in (head, 0.0)), _APPLY]
_ROTATION = slice(4, 8)  # the bone's quaternion, after its position (0, 0, 0)
_BLEND_VALUES = slice(9, -1, 2)  # each blendshape's float, after its head


def bundle(signals: FaceSignals, shapes: dict[str, float]) -> bytes:
    """The frame's bundle for a face: head bone rotation as Unity's Quaternion.Euler(pitch, yaw, roll) (VMC
    receivers run on Unity; position 0: receivers place the head themselves), presets and ARKit blendshapes."""
    arguments = _ARGUMENTS.copy()
    arguments[_ROTATION] = quaternion_yxz(signals.pitch, signals.yaw, signals.roll)
    arguments[_BLEND_VALUES] = (*presets(signals), *arkit_values(shapes))
    return _FRAME.pack(*arguments)
