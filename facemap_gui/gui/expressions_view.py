"""The expressions panel: what the avatar app receives for the first face, as bars (the ARKit expressions and the
signals, calibrated as they are sent) and a short scrolling plot of a few of them, so a streamer can tune the
calibration and the smoothing. Painted with QPainter; updated a few times a second from the window's latest frame."""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QCheckBox, QFrame, QVBoxLayout, QWidget

from facemap_gui.gui.style import named
from facemap_gui.live.events import LiveFrame
from facemap_gui.perframe.calibration import Neutral
from facemap_gui.perframe.expressions import ARKIT_NAMES, COMPUTED, frame_blendshapes
from facemap_gui.perframe.signals import frame_signals

SIGNALS = ("eye_open_left", "eye_open_right", "mouth_open", "mouth_wide", "brow_raise_left", "brow_raise_right")
PLOTTED = ("jawOpen", "mouthSmileLeft", "eyeBlinkLeft", "eyeBlinkRight")  # the plot's lines, in COLOURS order
COLOURS = ("#4fc3f7", "#ffb74d", "#81c784", "#e57373")
HISTORY = 40  # plot points: 10 s at the window's 4 refreshes a second
ROW_PX, NAME_PX, WIDTH_PX = 14, 130, 260


class Bars(QWidget):
    """One labelled 0..1 bar a row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, float] = {}

    def set_rows(self, rows: dict[str, float]) -> None:
        resized = rows.keys() != self.rows.keys()
        self.rows = rows
        if resized:
            self.setFixedSize(WIDTH_PX, ROW_PX * len(rows))
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        track = WIDTH_PX - NAME_PX - 36
        for row, (name, value) in enumerate(self.rows.items()):
            y = row * ROW_PX
            painter.setPen(self.palette().text().color())
            painter.drawText(QRectF(0, y, NAME_PX, ROW_PX), int(Qt.AlignmentFlag.AlignVCenter), name)
            painter.fillRect(QRectF(NAME_PX, y + 3, track, ROW_PX - 6), QColor("#3a3d44"))
            painter.fillRect(QRectF(NAME_PX, y + 3, track * value, ROW_PX - 6), QColor("#4fc3f7"))
            painter.drawText(QRectF(NAME_PX + track, y, 36, ROW_PX), int(Qt.AlignmentFlag.AlignRight), f"{value:.2f}")


class Plot(QWidget):
    """The last HISTORY values of each PLOTTED name, newest on the right."""

    def __init__(self) -> None:
        super().__init__()
        self.history = {name: deque[float](maxlen=HISTORY) for name in PLOTTED}
        self.setFixedSize(WIDTH_PX, 110)

    def add(self, shapes: dict[str, float]) -> None:
        for name, values in self.history.items():
            values.append(shapes[name])
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#22252b"))
        top = 28  # below the two rows of names
        height, step = self.height() - top - 2, self.width() / (HISTORY - 1)
        for index, (name, values) in enumerate(self.history.items()):
            painter.setPen(QPen(QColor(COLOURS[index]), 1.5))
            start = HISTORY - len(values)
            points = [QPointF((start + i) * step, top + height * (1.0 - v)) for i, v in enumerate(values)]
            painter.drawPolyline(points)
            painter.drawText(QPointF(4 + index % 2 * WIDTH_PX / 2, 11 + index // 2 * 13), name)


class ExpressionsPanel(QFrame):
    """Bars for every expression and signal sent (the computed expressions only, unless `show_all`) and the plot;
    `update_values` is called a few times a second, not per frame."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("expressionsPanel")
        self.show_all = named(QCheckBox("All 52 (those 68 points cannot show read 0)"), "expressionsAll")
        self.show_all.toggled.connect(lambda _on: self._show())
        self.bars = Bars()
        self.plot = Plot()
        layout = QVBoxLayout(self)
        layout.addWidget(self.plot)
        layout.addWidget(self.show_all)
        layout.addWidget(self.bars)
        layout.addStretch(1)
        self.values: dict[str, float] = {}  # what the bars show: every expression and signal of the first face
        self._show()

    def update_values(self, live: LiveFrame, neutral: Neutral | None) -> None:
        """The avatar face's values as the streamers send them (relative to `neutral` when calibrated)."""
        face = live.result.avatar_face
        if face is None:
            return
        shapes = frame_blendshapes(live.result, face)
        signals = frame_signals(live.result, face)
        if neutral is not None:
            shapes, signals = neutral.apply_shapes(shapes), neutral.apply_signals(signals)
        self.values = {**shapes, **{name: getattr(signals, name) for name in SIGNALS}}
        self.plot.add(shapes)
        self._show()

    def _show(self) -> None:
        names = (*(ARKIT_NAMES if self.show_all.isChecked() else COMPUTED), *SIGNALS)
        self.bars.set_rows({name: self.values.get(name, 0.0) for name in names})
