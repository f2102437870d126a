"""The central area: the annotated video scaled to the window (aspect kept), or a message with next steps."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QAction, QColor, QImage, QPainter, QResizeEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget

from facemap_gui.gui.style import named
from facemap_gui.live.picture import fitted_size

BACKGROUND = QColor(18, 19, 22)


class VideoView(QWidget):
    """Paints the newest picture (`live.picture`: already scaled to `display_area()` on the worker's thread)
    letterboxed into the widget. Until the worker follows a resize, the picture it has is stretched to fit."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._picture: np.ndarray | None = None  # the buffer `_image` paints from
        self._image: QImage | None = None
        self._frame_size: tuple[int, int] | None = None  # the source's, for the aspect
        self.on_resize: Callable[[], None] = lambda: None
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(320, 180)

    def sizeHint(self) -> QSize:
        return QSize(960, 540)

    def display_area(self) -> tuple[int, int]:
        """The widget's size in device pixels: what a picture may fill."""
        ratio = self.devicePixelRatioF()
        return max(1, round(self.width() * ratio)), max(1, round(self.height() * ratio))

    def set_picture(self, picture: np.ndarray, frame_size: tuple[int, int]) -> None:
        height, width = picture.shape[:2]
        self._picture, self._frame_size = picture, frame_size
        self._image = QImage(picture.data, width, height, 3 * width, QImage.Format.Format_RGB888)
        self._image.setDevicePixelRatio(self.devicePixelRatioF())

    def image_rect(self) -> QRectF:
        """Where the frame lands in the widget: as large as fits, aspect kept, centred."""
        if self._frame_size is None:
            return QRectF()
        frame_w, frame_h = self._frame_size
        scale = min(self.width() / frame_w, self.height() / frame_h)
        w, h = frame_w * scale, frame_h * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.on_resize()

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        rect = self.image_rect()
        if self._image is None:
            painter.fillRect(self.rect(), BACKGROUND)
        else:
            # Only the letterbox bars are filled: the picture covers the rest.
            right, bottom = self.width() - rect.right(), self.height() - rect.bottom()
            painter.fillRect(QRectF(0, 0, self.width(), rect.top()), BACKGROUND)
            painter.fillRect(QRectF(0, rect.bottom(), self.width(), bottom), BACKGROUND)
            painter.fillRect(QRectF(0, rect.top(), rect.left(), rect.height()), BACKGROUND)
            painter.fillRect(QRectF(rect.right(), rect.top(), right, rect.height()), BACKGROUND)
            assert self._picture is not None and self._frame_size is not None
            height, width = self._picture.shape[:2]
            if (width, height) == fitted_size(self._frame_size, self.display_area()):
                painter.drawImage(rect.topLeft().toPoint(), self._image)  # whole pixels: a plain copy
            else:
                painter.drawImage(rect, self._image)
        painter.end()


class MessagePage(QWidget):
    """A calm full-view message (no camera, model missing, start-up failed) with buttons for what to do next."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = named(QLabel(alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True), "messageTitle")
        self.detail = named(QLabel(alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True), "messageDetail")
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
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
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
