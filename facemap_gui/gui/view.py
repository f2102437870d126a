"""The central area: the annotated video scaled to the window (aspect kept), or a message with next steps."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QAction, QColor, QImage, QPainter, QResizeEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget

BACKGROUND = QColor(18, 19, 22)


class VideoView(QWidget):
    """Paints the newest frame letterboxed into the widget; only the newest frame is kept."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rgb: np.ndarray | None = None  # the newest frame, at the source's size
        self._pixels: np.ndarray | None = None  # that frame scaled to the view, in Format_RGB32's byte order
        self._image: QImage | None = None  # a QImage over _pixels, reused while the sizes stay
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(320, 180)

    def sizeHint(self) -> QSize:
        return QSize(960, 540)

    def set_frame(self, rgb: np.ndarray) -> None:
        self._rgb = rgb
        self._scale_frame()

    def _scale_frame(self) -> None:
        # Scaled here once per frame with OpenCV and painted as it is: Qt's smooth scaling of an RGB888 image
        # converted and filtered it on every paint, on the GUI thread and Qt's pool (~3 ms a 720p frame).
        rect = self.image_rect()
        ratio = self.devicePixelRatioF()
        w, h = max(1, round(rect.width() * ratio)), max(1, round(rect.height() * ratio))
        if self._pixels is None or self._pixels.shape[:2] != (h, w):
            self._pixels = np.empty((h, w, 4), np.uint8)
            self._image = QImage(self._pixels.data, w, h, 4 * w, QImage.Format.Format_RGB32)
            self._image.setDevicePixelRatio(ratio)
        rgb = self._rgb
        if rgb.shape[:2] != (h, w):
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
        cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA, dst=self._pixels)

    def image_rect(self) -> QRectF:
        """Where the frame lands in the widget: as large as fits, aspect kept, centred."""
        if self._rgb is None:
            return QRectF()
        frame_h, frame_w = self._rgb.shape[:2]
        scale = min(self.width() / frame_w, self.height() / frame_h)
        w, h = frame_w * scale, frame_h * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def resizeEvent(self, event: QResizeEvent) -> None:
        if self._rgb is not None:
            self._scale_frame()
        super().resizeEvent(event)

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        if self._image is not None:
            painter.drawImage(self.image_rect().topLeft(), self._image)
        painter.end()


class MessagePage(QWidget):
    """A calm full-view message (no camera, model missing, start-up failed) with buttons for what to do next."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(objectName="messageTitle", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.detail = QLabel(objectName="messageDetail", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for label in (self.title, self.detail):  # a long path wraps or is cut; it never widens the window
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._buttons = QHBoxLayout()
        self._buttons.addStretch()
        layout = QVBoxLayout(self)
        layout.addStretch()
        layout.addWidget(self.title)
        layout.addWidget(self.detail)
        layout.addSpacing(16)
        layout.addLayout(self._buttons)
        layout.addStretch()

    def show_message(self, title: str, detail: str, actions: list[QAction]) -> None:
        self.title.setText(title)
        self.detail.setText(detail)
        while self._buttons.count() > 1:
            item = self._buttons.takeAt(1)
            if item.widget():
                item.widget().deleteLater()
        for action in actions:
            button = QPushButton(action.text().replace("&", ""), self)
            button.clicked.connect(action.trigger)
            self._buttons.addWidget(button)
        self._buttons.addStretch()


class ViewStack(QStackedWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.video = VideoView(self)
        self.message = MessagePage(self)
        self.addWidget(self.video)
        self.addWidget(self.message)

    def show_video(self) -> None:
        self.setCurrentWidget(self.video)

    def show_message(self, title: str, detail: str, actions: list[QAction]) -> None:
        self.message.show_message(title, detail, actions)
        self.setCurrentWidget(self.message)
