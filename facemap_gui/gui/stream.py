"""The window's Stream menu: send the tracking to avatar apps (OpenSeeFace UDP, VMC, iFacialMocap, VTube Studio) and
say how it goes.

The live worker sends, on its own thread, per frame; the window only chooses the target and shows the status."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QSpinBox,
    QWidget,
)

from facemap_gui.core.errors import FacemapError
from facemap_gui.core.network import is_loopback
from facemap_gui.gui.controls import Controller, make_action
from facemap_gui.gui.style import named
from facemap_gui.live.settings import Settings
from facemap_gui.live.worker import LiveWorker
from facemap_gui.sinks.streaming import PROTOCOLS, StreamStatus, StreamTarget

STREAM_KEY = "Ctrl+T"
CALIBRATE_KEY = "Ctrl+Shift+N"
CALIBRATE_S = 3.0
PROTOCOL_NAMES = {"osf": "&OpenSeeFace UDP", "vmc": "&VMC (OSC)", "ifm": "&iFacialMocap", "vts": "VTube &Studio"}
TARGET_HINT = (
    "Default 127.0.0.1:11573 for OpenSeeFace, 127.0.0.1:39539 for VMC (39540 for a VMC performer such "
    "as Virtual Motion Capture), 127.0.0.1:49983 for iFacialMocap, 127.0.0.1:8001 for VTube Studio. Only this "
    "computer receives unless you name another host."
)


def destination(target: StreamTarget) -> str:
    """Where `target`'s packets go, in words: this computer only, or out over the network."""
    where = (
        "this computer only"
        if is_loopback(target.host)
        else "another machine: your face's tracking leaves this computer, unencrypted"
    )
    return f"Packets go to {target.host}, port {target.port} ({where})."


class TargetDialog(QDialog):
    """Host and port of one protocol's target; `target` holds the choice once accepted. It says where packets
    will go as the host is typed, and asks before accepting a host beyond this machine."""

    def __init__(self, target: StreamTarget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Stream target ({target.protocol})")
        self.target = target
        self.host = named(QLineEdit(target.host), "streamHost")
        self.port = named(QSpinBox(), "streamPort")
        self.port.setRange(1, 65535)
        self.port.setValue(target.port)
        self.problem = named(QLabel(wordWrap=True), "streamProblem")
        self.problem.hide()
        self.destination = named(QLabel(wordWrap=True), "streamDestination")
        self.host.textChanged.connect(self._show_destination)
        self.port.valueChanged.connect(self._show_destination)
        hint = QLabel(TARGET_HINT, wordWrap=True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow(self.destination)
        form.addRow(hint)
        form.addRow(self.problem)
        form.addRow(buttons)
        self._show_destination()

    def typed(self) -> StreamTarget:
        """The target as typed; FacemapError (the CLI's check and words) when the host is not valid."""
        host = self.host.text().strip()
        host = f"[{host}]" if ":" in host else host
        return StreamTarget.parse(f"{self.target.protocol}://{host}:{self.port.value()}")

    def _show_destination(self) -> None:
        try:
            self.destination.setText(destination(self.typed()))
        except FacemapError:
            self.destination.setText("Packets go nowhere until the host is a valid name or address.")

    def accept(self) -> None:
        try:
            target = self.typed()
        except FacemapError as exc:  # the dialog stays open and says what is wrong
            self.problem.setText(str(exc).partition("; expected")[0])
            self.problem.show()
            return
        if not is_loopback(target.host) and not self.confirm_remote(target):
            return
        self.target = target
        super().accept()

    def confirm_remote(self, target: StreamTarget) -> bool:
        answer = QMessageBox.question(
            self,
            "Send beyond this computer?",
            f"{destination(target)}\n\nAnyone on the network path can read it. Send to {target.host}?",
        )
        return answer == QMessageBox.StandardButton.Yes


class StreamControl(Controller):
    """The Stream menu, toolbar toggle and status label; the choice lives in the settings, the worker in use
    (`set_worker`) sends. Any of the four formats may be on at once (VTube Studio and VSeeFace side by side, say):
    each is a check box in the menu; the toolbar toggle stops and resumes them together."""

    def __init__(self, window: QWidget, settings: Settings) -> None:
        super().__init__(window)
        self._settings = settings
        self.action = make_action(
            window,
            "&Stream",
            STREAM_KEY,
            self._toggled,
            checkable=True,
            tip="Send the tracking to avatar apps (the Stream menu sets which and where)",
        )
        self.protocol_actions = {p: make_action(window, PROTOCOL_NAMES[p], checkable=True) for p in PROTOCOLS}
        for protocol, action in self.protocol_actions.items():
            action.toggled.connect(lambda on, protocol=protocol: self._chosen(protocol, on))
        self.off_action = make_action(window, "&Off", None, self._stop, tip="Stop streaming to every app")
        self.target_actions = {p: make_action(window, "") for p in PROTOCOLS}
        for protocol, action in self.target_actions.items():
            action.triggered.connect(lambda _checked=False, protocol=protocol: self.edit_target(protocol))
        self.calibrate_action = make_action(
            window,
            "Calibrate &neutral face",
            CALIBRATE_KEY,
            self.calibrate,
            tip="Record your relaxed face for a few seconds: what is streamed then reads 0 there",
        )
        self.menu = QMenu("S&tream", window)
        self.menu.addActions([*self.protocol_actions.values(), self.off_action])
        self.menu.addSeparator()
        targets = self.menu.addMenu("&Targets")
        targets.setStatusTip("Host and port each format is sent to")
        targets.addActions(list(self.target_actions.values()))
        self.menu.addAction(self.calibrate_action)
        self.label = named(QLabel(), "streamLabel")
        self.label.hide()
        self._told: dict[StreamTarget, str] = {}  # the problem or wait last put in the status bar, per target
        self._error_told: StreamTarget | None = None  # whose problem the status bar last said
        self._apply()

    def set_worker(self, worker: LiveWorker | None) -> None:
        super().set_worker(worker)
        if worker is not None:
            worker.set_stream(self._settings.stream_targets())

    def _apply(self) -> None:
        """Show the settings' choice in the menu and toolbar and hand it to the worker."""
        s = self._settings
        self.action.setChecked(s.stream)
        for protocol, action in self.protocol_actions.items():
            action.blockSignals(True)  # showing the choice is not choosing
            action.setChecked(s.stream and protocol in s.stream_protocols)
            action.blockSignals(False)
        self.off_action.setEnabled(s.stream)
        for protocol, action in self.target_actions.items():
            action.setText(f"{PROTOCOL_NAMES[protocol].replace('&', '')}: {s.stream_target(protocol)}…")
        targets = s.stream_targets()
        if self._told:  # an old target's error must not stay red in the status bar
            self.say(f"Streaming to {', '.join(map(str, targets))}" if targets else "Streaming stopped")
        self._told, self._error_told = {}, None
        if self._worker is not None:
            self._worker.set_stream(targets)
        self.refresh()

    def _toggled(self) -> None:
        self._settings.stream = self.action.isChecked()
        self._apply()

    def _chosen(self, protocol: str, on: bool) -> None:
        """A format ticked starts streaming to it (alone, if streaming was off); the last one unticked stops."""
        s = self._settings
        if on:
            s.stream_protocols = [*s.stream_protocols, protocol] if s.stream else [protocol]
            s.stream = True
        elif s.stream_protocols != [protocol]:
            s.stream_protocols = [p for p in s.stream_protocols if p != protocol]
        else:
            s.stream = False  # the choice stays, for the toolbar toggle
        self._apply()

    def _stop(self) -> None:
        self._settings.stream = False
        self._apply()

    def edit_target(self, protocol: str) -> None:
        dialog = TargetDialog(self._settings.stream_target(protocol), self._window)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            setattr(self._settings, f"stream_{protocol}", str(dialog.target))
            self._apply()

    def calibrate(self) -> None:
        """The worker records and saves the neutral face and tells how it went (a worker event)."""
        if self._worker is None:
            self.say("Nothing to calibrate on: start a camera first", error=True)
            return
        self._worker.calibrate(CALIBRATE_S)
        self.say(f"Calibrating: look at the camera with a relaxed, neutral face for {CALIBRATE_S:g} s…")

    def refresh(self) -> None:
        """The status label (a few times a second, from the window's HUD timer) and each target's send problem or
        prompt waiting for the user, told once."""
        targets = self._settings.stream_targets()
        sending = {s.target: s for s in self._worker.stream_status()} if self._worker is not None else {}
        # Before the first frame is sent to a new target, the worker does not report it yet.
        statuses = [sending.get(t) or StreamStatus(t, 0.0, None) for t in targets]
        self.label.setVisible(bool(targets))
        self.label.setText(f"streaming to {' | '.join(status.line() for status in statuses)}")
        news = {s.target: s.error or f"waiting for you to {s.waiting}" for s in statuses if s.error or s.waiting}
        self.label.setToolTip(
            "\n".join(f"{t}: {text}" for t, text in news.items()) or "Packets a second sent to each target"
        )
        failing = {status.target for status in statuses if status.error is not None}
        for status in statuses:
            text = news.get(status.target)
            if text is None or text == self._told.get(status.target):
                continue
            if status.error is not None:
                self._told[status.target], self._error_told = text, status.target
                self.say(f"{status.target}: {text}; streaming goes on", error=True)
            elif self._error_told not in failing:  # a prompt to answer: told, but not over a problem that lasts
                self._told[status.target] = text
                self.say(f"{status.target}: {text}")
