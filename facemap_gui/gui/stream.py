"""The window's Stream menu: send the tracking to an avatar app (OpenSeeFace UDP or VMC) and say how it goes.

The live worker sends, on its own thread, per frame; the window only chooses the target and shows the status."""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QMenuBar, QSpinBox, QWidget

from facemap_gui.errors import FacemapError
from facemap_gui.streaming import PROTOCOLS, StreamStatus, StreamTarget

STREAM_KEY = "Ctrl+T"
PROTOCOL_NAMES = {"osf": "&OpenSeeFace UDP", "vmc": "&VMC (OSC)", "ifm": "&iFacialMocap", "vts": "VTube &Studio"}
TARGET_HINT = (
    "Default 127.0.0.1:11573 for OpenSeeFace, 127.0.0.1:39539 for VMC (39540 for a VMC performer such "
    "as Virtual Motion Capture), 127.0.0.1:49983 for iFacialMocap, 127.0.0.1:8001 for VTube Studio. Only this "
    "computer receives unless you name another host."
)


class TargetDialog(QDialog):
    """Host and port of one protocol's target; `target` holds the choice once accepted."""

    def __init__(self, target: StreamTarget, parent: QWidget | None = None) -> None:
        super().__init__(parent, windowTitle=f"Stream target ({target.protocol})")
        self.target = target
        self.host = QLineEdit(target.host, objectName="streamHost")
        self.port = QSpinBox(minimum=1, maximum=65535, value=target.port, objectName="streamPort")
        self.problem = QLabel(objectName="streamProblem", wordWrap=True)
        self.problem.hide()
        hint = QLabel(TARGET_HINT, wordWrap=True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow(hint)
        form.addRow(self.problem)
        form.addRow(buttons)

    def accept(self) -> None:
        host = self.host.text().strip()
        host = f"[{host}]" if ":" in host else host
        try:
            self.target = StreamTarget.parse(f"{self.target.protocol}://{host}:{self.port.value()}")
        except FacemapError as exc:  # the dialog stays open and says what is wrong (the CLI's check and words)
            self.problem.setText(str(exc).partition("; expected")[0])
            self.problem.show()
            return
        super().accept()


class StreamMenu:
    """MainWindow's Stream menu, toolbar toggle and status label; the choice lives in its settings."""

    def _build_stream_actions(self) -> None:
        self.stream_action = self._action(
            "&Stream",
            STREAM_KEY,
            self._stream_toggled,
            checkable=True,
            tip="Send the tracking to an avatar app (the Stream menu sets where)",
        )
        self.stream_group = QActionGroup(self, exclusive=True)
        self.stream_actions = {"off": self._action("&Off", checkable=True)}
        self.stream_actions.update({p: self._action(PROTOCOL_NAMES[p], checkable=True) for p in PROTOCOLS})
        for key, action in self.stream_actions.items():
            action.setData(key)
            self.stream_group.addAction(action)
        self.stream_group.triggered.connect(self._stream_chosen)
        self.stream_target_action = self._action(
            "&Target…", None, self.edit_stream_target, tip="Host and port the tracking is sent to"
        )
        self._stream_told: str | None = None  # the send problem last put in the status bar

    def _build_stream_menu(self, bar: QMenuBar) -> None:
        menu = bar.addMenu("S&tream")
        menu.addActions(list(self.stream_actions.values()))
        menu.addSeparator()
        menu.addAction(self.stream_target_action)

    def stream_targets(self) -> list[StreamTarget]:
        return [self.settings.stream_target()] if self.settings.stream else []

    def _apply_stream(self) -> None:
        """Show the settings' choice in the menu and toolbar and hand it to the worker."""
        s = self.settings
        self.stream_action.setChecked(s.stream)
        self.stream_actions[s.stream_protocol if s.stream else "off"].setChecked(True)
        self.stream_target_action.setText(f"&Target ({s.stream_target()})…")
        self._stream_told = None
        if self.worker is not None:
            self.worker.set_stream(self.stream_targets())
        self._refresh_stream()

    def _stream_toggled(self) -> None:
        self.settings.stream = self.stream_action.isChecked()
        self._apply_stream()

    def _stream_chosen(self, action: QAction) -> None:
        self.settings.stream = action.data() != "off"
        if self.settings.stream:
            self.settings.stream_protocol = action.data()
        self._apply_stream()

    def edit_stream_target(self) -> None:
        dialog = TargetDialog(self.settings.stream_target(), self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            setattr(self.settings, f"stream_{dialog.target.protocol}", str(dialog.target))
            self._apply_stream()

    def _refresh_stream(self) -> None:
        """The status label (a few times a second, from the HUD timer) and a send problem, told once."""
        targets = self.stream_targets()
        statuses = (self.worker.stream_status() if self.worker is not None else []) or [
            StreamStatus(t, 0.0, None) for t in targets
        ]  # before the first frame is sent
        self.stream_label.setVisible(bool(targets))
        self.stream_label.setText(" | ".join(status.line() for status in statuses))
        for status in statuses:
            if status.error is not None and status.error != self._stream_told:
                self._stream_told = status.error
                self.show_status(f"{status.target}: {status.error}; streaming goes on", error=True)
