"""The central area: the annotated video scaled to the window (aspect kept), or a message with next steps."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QAction, QColor, QImage, QPainter
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget

BACKGROUND = QColor(18, 19, 22)


class VideoView(QWidget):
    """Paints the newest frame letterboxed into the widget; only the newest frame is kept."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._pixels: np.ndarray | None = None  # keeps the buffer QImage points at alive
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(320, 180)

    def sizeHint(self) -> QSize:
        return QSize(960, 540)

    def set_frame(self, rgb: np.ndarray) -> None:
        self._pixels = np.ascontiguousarray(rgb)
        h, w = self._pixels.shape[:2]
        self._image = QImage(self._pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888)

    def image_rect(self) -> QRectF:
        """Where the frame lands in the widget: as large as fits, aspect kept, centred."""
        if self._image is None:
            return QRectF()
        scale = min(self.width() / self._image.width(), self.height() / self._image.height())
        w, h = self._image.width() * scale, self._image.height() * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        if self._image is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(self.image_rect(), self._image)
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
