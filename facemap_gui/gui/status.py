"""The main window's status bar: messages (errors with their fix), the recording and the worker's state."""

from __future__ import annotations

import logging

from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QToolButton,
)

from facemap_gui.errors import FacemapError
from facemap_gui.live.settings import output_folder
from facemap_gui.recording import default_recording_path

log = logging.getLogger(__name__)

MESSAGE_MS = 8000


class StatusBar:
    """MainWindow's status bar and the recording it reports on."""

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.status_text = QLabel(objectName="statusText")
        # A long message (a path) must be cut off, not widen the window.
        self.status_text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        status.addWidget(self.status_text, 1)
        self.fix_button = QToolButton(objectName="fixButton")  # the fix for the message shown, when there is one
        self.fix_button.hide()
        status.addWidget(self.fix_button)
        self.recording_label = QLabel(objectName="recordingLabel")
        self.recording_label.hide()
        status.addPermanentWidget(self.recording_label)
        self.stream_label = QLabel(objectName="streamLabel")
        self.stream_label.hide()
        status.addPermanentWidget(self.stream_label)
        # Busy while the model is made (the banner says what and for how long); how far it is, nobody knows.
        self.model_progress = QProgressBar(
            maximum=0, maximumWidth=90, maximumHeight=12, textVisible=False, toolTip="Preparing the model"
        )
        self.model_progress.hide()
        status.addPermanentWidget(self.model_progress)
        self.state_label = QLabel(objectName="stateLabel")
        status.addPermanentWidget(self.state_label)

    def show_status(self, text: str, error: bool = False, fix: QAction | None = None) -> None:
        """Replace the message; errors (also logged) stay until replaced, others for MESSAGE_MS. `fix`: an
        action that remedies the error, offered beside it."""
        if error:
            log.warning("%s", text)
        self.fix_button.setVisible(fix is not None)
        if fix is not None:
            self.fix_button.setDefaultAction(fix)
        self.status_text.setText(text)
        self.status_text.setToolTip(text)
        self.status_text.setProperty("error", error)
        self.status_text.style().polish(self.status_text)
        if error:
            self._message_timer.stop()  # errors stay until something replaces them
        else:
            self._message_timer.start(MESSAGE_MS)

    def clear_status(self) -> None:
        self.show_status("")
        self._message_timer.stop()

    def toggle_recording(self) -> None:
        if self.record_action.isChecked():
            self.start_recording()
        else:
            self.stop_recording()

    def start_recording(self) -> None:
        try:
            if self.worker is None:
                raise FacemapError("nothing to record: open a camera, a video or the demo first")
            recorder = self.worker.start_recording(default_recording_path(output_folder(self.settings)))
        except FacemapError as exc:
            self.record_action.setChecked(False)
            self.show_status(f"Cannot record: {exc}", error=True)
            return
        self.record_action.setChecked(True)
        self.record_action.setText("Stop &recording")
        self.show_status(f"Recording to {recorder.status.video_path}")
        self.recording_label.show()
        self._refresh_recording()

    def stop_recording(self) -> None:
        status = self.worker.stop_recording() if self.worker is not None else None
        self.record_action.setChecked(False)
        self.record_action.setText("&Record")
        self.recording_label.hide()
        if status is None:
            return
        if status.error:
            self.show_status(status.error, error=True)
        else:
            saved = (
                f"Saved {status.frames_written} frames to {status.video_path} "
                f"({status.bytes_written / 1e6:.1f} MB, {status.frames_dropped} dropped)"
            )
            log.info("%s", saved)  # -v: where an unattended run's recording went
            self.show_status(saved)

    def _refresh_recording(self) -> None:
        recorder = self.worker.recorder if self.worker is not None else None
        if recorder is None:
            return
        status = recorder.status
        if not status.running:  # the recorder stopped itself (disk full, write error)
            self.stop_recording()
            return
        minutes, seconds = divmod(int(status.elapsed_s), 60)
        self.recording_label.setText(
            f"● REC {minutes:02d}:{seconds:02d} · {status.bytes_written / 1e6:.1f} MB · {status.frames_dropped} dropped"
        )
        self.recording_label.setToolTip(str(status.video_path))

    def choose_output_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for recordings", str(output_folder(self.settings)))
        if folder:
            self.settings.output_folder = folder
            self.show_status(f"Recordings go to {folder}")
