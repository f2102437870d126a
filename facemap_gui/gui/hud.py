"""The heads-up panel beside the video: speed, latency, per-stage times, runtime in use, tracking."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter, QShowEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QSizePolicy, QWidget

from facemap_gui.gui.style import named
from facemap_gui.inference.runtime.base import RuntimeInfo
from facemap_gui.live.events import LiveFrame
from facemap_gui.perframe.pipeline import STAGES
from facemap_gui.perframe.signals import HUD_ROWS, frame_signals, hud_rows

STAGE_ROWS = (*STAGES, "overlay")


class RateMeter:
    """Events per second over the last `window_s` seconds (0 once events stop)."""

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()

    def rate(self, now: float) -> float:
        if len(self._times) < 2 or now - self._times[-1] > self.window_s:
            return 0.0
        return (len(self._times) - 1) / (self._times[-1] - self._times[0])


@dataclass(frozen=True)
class DisplayFigures:
    display_fps: float
    latency_ms: float  # capture → painted, averaged like the stage times


class ElidedLabel(QLabel):
    """A value that does not fit its column ends in "…" instead of being cut anywhere, mid-character included."""

    def shown_text(self) -> str:
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, self.contentsRect().width())

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        painter.drawText(self.contentsRect(), int(self.alignment()), self.shown_text())


class HudPanel(QFrame):
    """Read-only figures in labelled rows; `update_figures` is called a few times a second, not per frame."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("hud")
        self.setFixedWidth(270)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(16, 14, 16, 14)
        self._grid.setVerticalSpacing(3)
        self._grid.setColumnStretch(1, 1)
        self._row = 0
        self._rows: list[tuple[str, QLabel]] = []
        self._section("Speed")
        self.display_fps = self._value("Display")
        self.pipeline_fps = self._value("Pipeline")
        self.latency = self._value("Latency", "capture → on screen")
        self.dropped = self._value(
            "Dropped",
            "frames skipped because a newer one arrived before inference was "
            "free: the view shows the newest frame instead of lagging",
        )
        self._section("Stage times")
        self.stages = {stage: self._value(stage.capitalize()) for stage in STAGE_ROWS}
        self._section("Runtime")
        self.runtime = self._value("In use")
        self.device = self._value("Device")
        self.nodes = self._value("Nodes")
        self._section("Faces")
        self.faces = self._value("Faces")
        self.detector = self._value("Detector", "frames on which the full-frame face detector ran")
        self.tracking = self._value(
            "Tracking",
            "between full-frame detections, each face is cropped where its landmarks were on the previous frame",
        )
        self._section("Face signals")  # the avatar face's (FrameResult.avatar_face), as streamed
        tips = {"Head": "yaw / pitch / roll, degrees", "Distance": "from the camera, estimated from the face's size"}
        self.signals = {name: self._value(name, tips.get(name, "")) for name in HUD_ROWS}
        self._section("Source")
        self.source = self._value("Input")
        self.resolution = self._value("Size")
        self._grid.setRowStretch(self._row, 1)

    def showEvent(self, event: QShowEvent) -> None:
        # Each value keeps the size of its line once laid out: Qt relayouts the whole panel after a text change
        # unless the label's size is fixed, which made every refresh cost 2.3 ms instead of 0.5-0.9.
        super().showEvent(event)
        self._grid.activate()
        for _name, value in self._rows:
            value.setFixedSize(value.size())

    def _section(self, title: str) -> None:
        label = named(QLabel(title.upper()), "hudSection")
        self._grid.addWidget(label, self._row, 0, 1, 2)
        self._row += 1

    def _value(self, name: str, tooltip: str = "") -> QLabel:
        key = named(QLabel(name), "hudKey")
        value = named(ElidedLabel("–", alignment=Qt.AlignmentFlag.AlignRight), "hudValue")
        value.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # long names are elided
        value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for label in (key, value):
            label.setToolTip(tooltip)
        self._grid.addWidget(key, self._row, 0)
        self._grid.addWidget(value, self._row, 1)
        self._row += 1
        self._rows.append((name, value))
        return value

    def as_text(self) -> str:
        """All figures on one line, for the log of an unattended run."""
        return "; ".join(f"{name.lower()} {value.text()}" for name, value in self._rows)

    def update_figures(self, live: LiveFrame, figures: DisplayFigures, source_name: str, tracking: str) -> None:
        self.display_fps.setText(f"{figures.display_fps:.1f} fps")
        pipeline_fps = 1000.0 / live.pipeline_ms if live.pipeline_ms > 0 else 0.0
        self.pipeline_fps.setText(f"{pipeline_fps:.0f} fps · {live.pipeline_ms:.1f} ms")
        self.latency.setText(f"{figures.latency_ms:.0f} ms")
        self.dropped.setText(f"{live.dropped} of {live.dropped + live.processed}")
        for stage, label in self.stages.items():
            ms = live.stage_ms.get(stage)
            label.setText("–" if ms is None else f"{ms:.2f} ms")
        self._show_runtime(live.runtime)
        self.faces.setText(str(len(live.result.faces)))
        self.detector.setText(f"{live.detector_calls} of {live.processed} frames")
        self.tracking.setText(tracking)
        face = live.result.avatar_face
        rows = hud_rows(frame_signals(live.result, face)) if face is not None else {}
        for name, label in self.signals.items():
            label.setText(rows.get(name, "–"))
        self.source.setText(source_name)
        self.source.setToolTip(source_name)
        w, h = live.result.frame.size
        self.resolution.setText(f"{w} × {h}")

    def _show_runtime(self, info: RuntimeInfo | None) -> None:
        if info is None:  # the model is still being made
            for label, text in ((self.runtime, "model not ready"), (self.device, "–"), (self.nodes, "–")):
                label.setText(text)
                label.setToolTip("")
            return
        self.runtime.setText(f"{info.runtime.upper()} · {info.precision}")
        self.runtime.setToolTip(
            f"asked for {info.requested}: {info.fallback_reason}" if info.fallback_reason else info.summary()
        )
        self.device.setText(info.device)
        self.nodes.setText(
            ", ".join(f"{n} {ep.removesuffix('ExecutionProvider')}" for ep, n in sorted(info.nodes_by_ep.items()))
            or "–"
        )
