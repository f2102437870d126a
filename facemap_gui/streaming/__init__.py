"""Live output to avatar apps: OpenSeeFace UDP packets and VMC (OSC) bundles, sent as each frame is processed.

`Streamer(targets)` starts, `send(result)` is the per-frame call, `status()` says what each target is doing
(packets a second, last error) and `close()` stops. Sending never blocks or raises: a receiver that is not running,
an unreachable host or a name that does not resolve is reported once (status and a log warning)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from facemap_gui.errors import FacemapError
from facemap_gui.expressions import blendshapes
from facemap_gui.pipeline import FrameResult
from facemap_gui.signals import FaceSignals, face_signals
from facemap_gui.streaming import osf, vmc
from facemap_gui.streaming.udp import UdpSender

PROTOCOLS = {"osf": osf.DEFAULT_PORT, "vmc": vmc.DEFAULT_PORT}
DEFAULT_HOST = "127.0.0.1"  # nothing leaves the machine unless the user names another host
_TARGET = re.compile(
    r"(?P<protocol>osf|vmc)(://(\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:/\[\]]*))(:(?P<port>\d+))?/?)?"
)


@dataclass(frozen=True)
class StreamTarget:
    protocol: str  # "osf" or "vmc"
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> StreamTarget:
        """`osf://HOST:PORT` or `vmc://HOST:PORT`; the host and port may be left out (127.0.0.1, default port)."""
        match = _TARGET.fullmatch(text)
        port = int(match["port"]) if match and match["port"] else None
        if match is None or (port is not None and not 0 < port < 65536):
            raise FacemapError(
                f"--stream {text}: expected osf://HOST:PORT (OpenSeeFace, port {osf.DEFAULT_PORT}) "
                f"or vmc://HOST:PORT (VMC, port {vmc.DEFAULT_PORT})"
            )
        protocol = match["protocol"]
        return cls(protocol, match["ipv6"] or match["host"] or DEFAULT_HOST, port or PROTOCOLS[protocol])

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.protocol}://{host}:{self.port}"


@dataclass(frozen=True)
class StreamStatus:
    target: StreamTarget
    packets_per_s: float  # over the last whole second
    error: str | None  # the last send problem, while it keeps happening

    def line(self) -> str:
        """'streaming to osf://127.0.0.1:11573 · 30 pkt/s' (and the last error, if any), for a status bar."""
        text = f"streaming to {self.target} · {self.packets_per_s:.0f} pkt/s"
        return text if self.error is None else f"{text} · {self.error}"


class Streamer:
    """Sends every processed frame to each target."""

    def __init__(self, targets: list[StreamTarget]) -> None:
        self.targets = list(targets)
        self._senders = [UdpSender(str(t), t.host, t.port) for t in self.targets]
        self._vmc = vmc.VmcBundle() if any(t.protocol == "vmc" for t in self.targets) else None

    def send(self, result: FrameResult) -> None:
        if not self._senders or not result.faces:  # OpenSeeFace, too, sends nothing for a frame without a face
            return
        signals = [face_signals(face, result.frame.size) for face in result.faces]
        payloads: dict[str, bytes] = {}
        now = time.time()
        for target, sender in zip(self.targets, self._senders, strict=True):
            if target.protocol not in payloads:
                payloads[target.protocol] = self._payload(target.protocol, result, signals, now)
            sender.send(payloads[target.protocol])

    def _payload(self, protocol: str, result: FrameResult, signals: list[FaceSignals], now: float) -> bytes:
        if protocol == "vmc":
            assert self._vmc is not None
            return self._vmc.frame(signals[0], blendshapes(result.faces[0]))  # an avatar has one face: the first
        return b"".join(
            osf.face_packet(now, number, result.frame.size, face, its_signals)
            for number, (face, its_signals) in enumerate(zip(result.faces, signals, strict=True))
        )

    def status(self) -> list[StreamStatus]:
        return [
            StreamStatus(target, sender.packets_per_s(), sender.error)
            for target, sender in zip(self.targets, self._senders, strict=True)
        ]

    def close(self) -> None:
        for sender in self._senders:
            sender.close()

    def __enter__(self) -> Streamer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
