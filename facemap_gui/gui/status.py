"""The window's status bar: the message (an error with its fix) and the worker's state, beside the labels other
controllers own (recording, stream, model progress)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QSizePolicy, QStatusBar, QToolButton, QWidget

from facemap_gui.gui.style import named
from facemap_gui.live.events import WorkerState

log = logging.getLogger(__name__)

MESSAGE_MS = 8000


class StatusPanel(QObject):
    """Controllers tell it what to say through their `message(text, error, fix)` signals, connected to `show`."""

    def __init__(self, bar: QStatusBar, permanent: Sequence[QWidget]) -> None:
        super().__init__(bar)
        self.text = named(QLabel(), "statusText")
        # A long message (a path) must be cut off, not widen the window.
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bar.addWidget(self.text, 1)
        self.fix_button = named(QToolButton(), "fixButton")  # the fix for the message shown, when there is one
        self.fix_button.hide()
        bar.addWidget(self.fix_button)
        for widget in permanent:
            bar.addPermanentWidget(widget)
        self.state_label = named(QLabel(), "stateLabel")
        bar.addPermanentWidget(self.state_label)
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self.clear)

    def show(self, text: str, error: bool = False, fix: QAction | None = None) -> None:
        """Replace the message; errors (also logged) stay until replaced, others for MESSAGE_MS. `fix`: an
        action that remedies the error, offered beside it."""
        if error:
            log.warning("%s", text)
        self.fix_button.setVisible(fix is not None)
        if fix is not None:
            self.fix_button.setDefaultAction(fix)
        self.text.setText(text)
        self.text.setToolTip(text)
        self.text.setProperty("error", error)
        self.text.style().polish(self.text)
        if error:
            self._timer.stop()  # errors stay until something replaces them
        else:
            self._timer.start(MESSAGE_MS)

    def clear(self) -> None:
        self.show("")
        self._timer.stop()

    def show_state(self, state: WorkerState) -> None:
        self.state_label.setText(f"● {state.value}")
        self.state_label.setProperty("state", state.value)
        self.state_label.style().polish(self.state_label)
