"""Live output to avatar apps, sent as each frame is processed: OpenSeeFace UDP packets, VMC (OSC) bundles,
iFacialMocap datagrams and VTube Studio's plugin API (WebSocket, on a thread of its own).

`Streamer(targets)` starts, `send(result)` is the per-frame call, `retarget(targets)` changes where it sends,
`status()` says what each target is doing (packets a second, last error) and `close()` stops. Sending never blocks
or raises: a receiver that is not running, an unreachable host or a name that does not resolve is reported once
(status and a log warning)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from facemap_gui.core.errors import FacemapError
from facemap_gui.core.network import redact, split_url
from facemap_gui.perframe.calibration import Neutral
from facemap_gui.perframe.expressions import frame_blendshapes
from facemap_gui.perframe.pipeline import FaceResult, FrameResult
from facemap_gui.perframe.signals import FaceSignals, frame_signals
from facemap_gui.sinks.streaming import ifm, osf, vmc, vts
from facemap_gui.sinks.streaming.udp import UdpSender

PROTOCOLS = {"osf": osf.DEFAULT_PORT, "vmc": vmc.DEFAULT_PORT, "ifm": ifm.DEFAULT_PORT, "vts": vts.DEFAULT_PORT}
DEFAULT_HOST = "127.0.0.1"  # nothing leaves the machine unless the user names another host


@dataclass(frozen=True)
class StreamTarget:
    protocol: str  # a key of PROTOCOLS
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> StreamTarget:
        """`PROTOCOL://HOST:PORT` (osf, vmc, ifm, vts); the host and port may be left out (127.0.0.1, default port).
        The CLI's --stream and the window's Target dialog both check here: a host must be a DNS name or the
        address of one host (not 0.0.0.0/8, broadcast or multicast)."""
        protocol, separator, _ = text.partition("://")
        try:
            if protocol not in PROTOCOLS or (text != protocol and not separator):
                raise ValueError("unknown protocol")
            parts = split_url(text) if separator else None
            if parts and (parts.path not in ("", "/") or parts.query or parts.fragment):
                raise ValueError("nothing may follow the port")
        except ValueError as exc:
            raise FacemapError(
                f"{redact(text)[:300]}: {exc}; expected osf://HOST:PORT (OpenSeeFace, port {osf.DEFAULT_PORT}), "
                f"vmc://HOST:PORT (VMC, port {vmc.DEFAULT_PORT}), ifm://HOST:PORT (iFacialMocap, port "
                f"{ifm.DEFAULT_PORT}) or vts://HOST:PORT (VTube Studio, port {vts.DEFAULT_PORT})"
            ) from None
        host = parts.hostname if parts and parts.hostname else DEFAULT_HOST
        return cls(protocol, host, parts.port if parts and parts.port else PROTOCOLS[protocol])

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.protocol}://{host}:{self.port}"


@dataclass(frozen=True)
class StreamStatus:
    target: StreamTarget
    packets_per_s: float  # over the last whole second
    error: str | None  # the last send problem, while it keeps happening
    waiting: str | None = None  # what the user must do before anything is sent (SenderStatus.waiting)

    def line(self) -> str:
        """'osf://127.0.0.1:11573 · 30 pkt/s', marked ' ⚠' while a send problem lasts, or 'vts://… · waiting for
        you', for a status bar (short: four of them fit beside the status text; `error` and `waiting` say more)."""
        if self.waiting is not None:
            return f"{self.target} · waiting for you"
        text = f"{self.target} · {self.packets_per_s:.0f} pkt/s"
        return text if self.error is None else f"{text} ⚠"


class Streamer:
    """Sends every processed frame to each target; with `neutral`, every expression and signal sent is relative
    to the user's neutral face (calibration.py). Set between frames."""

    def __init__(self, targets: list[StreamTarget], neutral: Neutral | None = None) -> None:
        self.neutral = neutral
        self.targets: list[StreamTarget] = []
        self._senders: list[UdpSender | vts.VtsSender] = []
        self.retarget(targets)

    def retarget(self, targets: list[StreamTarget]) -> None:
        """Send to `targets` from the next frame. A target already sent to keeps its sender (a VTube Studio
        connection stays up while another format is added); the others' senders close."""
        kept = dict(zip(self.targets, self._senders, strict=True))
        for target, sender in kept.items():
            if target not in targets:
                sender.close()
        self.targets = list(targets)
        self._senders = [
            kept.get(t) or (vts.VtsSender if t.protocol == "vts" else UdpSender)(str(t), t.host, t.port)
            for t in self.targets
        ]
        self._expressions = any(t.protocol != "osf" for t in self.targets)

    def send(self, result: FrameResult) -> None:
        """OpenSeeFace gets every face, with its track id as the face id; the others follow one face
        (`FrameResult.avatar_face`). A frame without a face sends nothing (as OpenSeeFace), except to VTube Studio,
        which is told `faceFound: false`."""
        face = result.avatar_face
        if face is None:
            for sender in self._senders:
                if isinstance(sender, vts.VtsSender):
                    sender.send({})
            return
        signals = self._signals(result, face)
        shapes = frame_blendshapes(result, face) if self._expressions else {}
        if self.neutral is not None:
            shapes = self.neutral.apply_shapes(shapes)
        payloads: dict[str, Any] = {}
        for target, sender in zip(self.targets, self._senders, strict=True):
            if target.protocol not in payloads:
                payloads[target.protocol] = self._payload(target.protocol, result, face, signals, shapes)
            sender.send(payloads[target.protocol])

    def _payload(
        self, protocol: str, result: FrameResult, avatar: FaceResult, signals: FaceSignals, shapes: dict[str, float]
    ) -> Any:
        """The frame in `protocol`'s form: bytes for the UDP formats, parameter values for VTube Studio;
        `signals` and `shapes` are the `avatar` face's."""
        if protocol == "vmc":
            return vmc.bundle(signals, shapes)
        if protocol == "ifm":
            return ifm.packet(signals, shapes)
        if protocol == "vts":
            return vts.parameters(signals, shapes)
        now = time.time()
        return b"".join(
            osf.face_packet(
                now,
                other.track_id,
                result.frame.size,
                other,
                signals if other is avatar else self._signals(result, other),
                None if self.neutral is None else self.neutral.brow_mouth,
            )
            for other in result.faces
        )

    def _signals(self, result: FrameResult, face: FaceResult) -> FaceSignals:
        """The face's signals, relative to the calibrated neutral face when there is one."""
        signals = frame_signals(result, face)
        return signals if self.neutral is None else self.neutral.apply_signals(signals)

    def status(self) -> list[StreamStatus]:
        return [
            StreamStatus(target, sender.packets_per_s(), sender.error, sender.waiting)
            for target, sender in zip(self.targets, self._senders, strict=True)
        ]

    def close(self) -> None:
        for sender in self._senders:
            sender.close()

    def __enter__(self) -> Streamer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
