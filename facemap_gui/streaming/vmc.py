"""VMC protocol (OSC over UDP, protocol.vmc.info): one OSC bundle a frame with the head bone, the VRM preset
blendshapes VSeeFace documents (Blink_L, Blink_R, A, I) and ARKit's 52 names (what "Perfect Sync" models have),
then /VMC/Ext/Blend/Apply."""

from __future__ import annotations

import struct

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from facemap_gui.expressions import ARKIT_NAMES
from facemap_gui.signals import FaceSignals
from facemap_gui.streaming.rotation import quaternion_yxz

DEFAULT_PORT = 39539  # a VMC "Marionette" (the avatar app); a "Performer" such as VSeeFace listens on 39540
VRM_PRESETS = ("Blink_L", "Blink_R", "A", "I")
BLENDSHAPES = (*VRM_PRESETS, *ARKIT_NAMES)
_FLOATS = struct.Struct(">7f")  # OSC floats are big-endian


def presets(signals: FaceSignals) -> tuple[float, ...]:
    return 1.0 - signals.eye_open_left, 1.0 - signals.eye_open_right, signals.mouth_open, signals.mouth_wide


class VmcBundle:
    """python-osc builds the frame's bundle once; each frame then only rewrites its floats in place (building it
    afresh with python-osc costs more than the whole per-frame budget)."""

    def __init__(self) -> None:
        bundle = OscBundleBuilder(IMMEDIATELY)
        bone = OscMessageBuilder("/VMC/Ext/Bone/Pos")
        bone.add_arg("Head")
        for _ in range(7):
            bone.add_arg(0.0, OscMessageBuilder.ARG_TYPE_FLOAT)
        messages = [bone]
        for name in BLENDSHAPES:
            value = OscMessageBuilder("/VMC/Ext/Blend/Val")
            value.add_arg(name)
            value.add_arg(0.0, OscMessageBuilder.ARG_TYPE_FLOAT)
            messages.append(value)
        messages.append(OscMessageBuilder("/VMC/Ext/Blend/Apply"))
        built = [message.build() for message in messages]
        for message in built:
            bundle.add_content(message)
        self._buffer = bytearray(bundle.build().dgram)
        # Each message's floats end it; the bundle holds a 16-byte header, then each message after its 4-byte size.
        ends, offset = [], 16
        for message in built:
            offset += 4 + message.size
            ends.append(offset)
        self._bone_at = ends[0] - _FLOATS.size
        self._blend_at = [end - 4 for end in ends[1:-1]]

    def frame(self, signals: FaceSignals, shapes: dict[str, float]) -> bytes:
        """The bundle for a face: head bone rotation as Unity's Quaternion.Euler(pitch, yaw, roll) (VMC receivers
        run on Unity; position 0: receivers place the head themselves), presets and ARKit blendshapes."""
        _FLOATS.pack_into(
            self._buffer, self._bone_at, 0.0, 0.0, 0.0, *quaternion_yxz(signals.pitch, signals.yaw, signals.roll)
        )
        values = (*presets(signals), *(shapes[name] for name in ARKIT_NAMES))
        for at, value in zip(self._blend_at, values, strict=True):
            struct.pack_into(">f", self._buffer, at, value)
        return bytes(self._buffer)
