"""The window's recording control: File › Record and its toolbar button, the output folder, the REC label."""

from __future__ import annotations

import logging

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFileDialog, QLabel, QWidget

from facemap_gui.core.errors import FacemapError
from facemap_gui.gui.controls import Controller, make_action
from facemap_gui.gui.icons import dot_icon
from facemap_gui.gui.style import named
from facemap_gui.live.settings import Settings, output_folder
from facemap_gui.sinks.recording import default_recording_path

log = logging.getLogger(__name__)

RECORD_TEXTS = ("&Record", "Stop &recording")  # the action's text when idle, when recording


class RecordingControl(Controller):
    """Records what the worker in use shows; tells how it went through `message`."""

    def __init__(self, window: QWidget, settings: Settings) -> None:
        super().__init__(window)
        self._settings = settings
        self.action = make_action(
            window,
            RECORD_TEXTS[0],
            "Ctrl+R",
            self.toggle,
            checkable=True,
            tip="Record the annotated view and its landmarks",
        )
        self.action.setIcon(dot_icon(QColor("#ff5252")))
        self.folder_action = make_action(window, "Output &folder…", None, self.choose_output_folder)
        self.label = named(QLabel(), "recordingLabel")
        self.label.hide()

    def toggle(self) -> None:
        if self.action.isChecked():
            self.start()
        else:
            self.stop()

    def start(self) -> None:
        try:
            if self._worker is None:
                raise FacemapError("nothing to record: open a camera, a video or the demo first")
            recorder = self._worker.start_recording(default_recording_path(output_folder(self._settings)))
        except FacemapError as exc:
            self.action.setChecked(False)
            self.say(f"Cannot record: {exc}", error=True)
            return
        self.action.setChecked(True)
        self.action.setText(RECORD_TEXTS[1])
        self.say(f"Recording to {recorder.status.video_path}")
        self.label.show()
        self.refresh()

    def stop(self) -> None:
        status = self._worker.stop_recording() if self._worker is not None else None
        self.action.setChecked(False)
        self.action.setText(RECORD_TEXTS[0])
        self.label.hide()
        if status is None:
            return
        if status.error:
            self.say(status.error, error=True)
        else:
            saved = (
                f"Saved {status.frames_written} frames to {status.video_path} "
                f"({status.bytes_written / 1e6:.1f} MB, {status.frames_dropped} dropped)"
            )
            log.info("%s", saved)  # -v: where an unattended run's recording went
            self.say(saved)

    def refresh(self) -> None:
        """The REC label, a few times a second (the window's HUD timer)."""
        recorder = self._worker.recorder if self._worker is not None else None
        if recorder is None:
            return
        status = recorder.status
        if not status.running:  # the recorder stopped itself (disk full, write error)
            self.stop()
            return
        minutes, seconds = divmod(int(status.elapsed_s), 60)
        self.label.setText(
            f"● REC {minutes:02d}:{seconds:02d} · {status.bytes_written / 1e6:.1f} MB · {status.frames_dropped} dropped"
        )
        self.label.setToolTip(str(status.video_path))

    def choose_output_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self._window, "Folder for recordings", str(output_folder(self._settings))
        )
        if folder:
            self._settings.output_folder = folder
            self.say(f"Recordings go to {folder}")
