"""The model download dialog the app opens on a first run without models.

Public API (call on the GUI thread)::

    from facemap_gui.gui.download_dialog import DownloadDialog
    from facemap_gui.models.install import missing

    names = missing()  # catalogue names the app needs and lacks, e.g. ["facemap_3dmm-float", "basis"]
    if names and DownloadDialog(names, parent).exec() == QDialog.DialogCode.Accepted:
        ...  # installed: store.landmark_model_path(...) and store.basis_dir() now hold the files

`DownloadDialog(names=None, parent=None, downloader=None)`: `names` defaults to `missing()`; `downloader`
(a `facemap_gui.models.download.Downloader`) lets a caller set timeouts. The download starts when the dialog
is shown and runs on a background thread; each file has a row with a progress bar, its size, rate and time
left. The dialog accepts by itself once everything is installed (`installed` then lists what was). Cancel
stops the transfer (what arrived is kept and resumed next time) and rejects. When the download fails (no
network, proxy, server error, checksum mismatch) the dialog stays open with the reason and the offline way
in: the URLs to fetch on another machine and `facemap-gui models install FILE.zip`; its Close button rejects
and `error` holds the message.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Sequence

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from facemap_gui.core import store
from facemap_gui.core.errors import FacemapError
from facemap_gui.core.network import redact
from facemap_gui.models.catalogue import resolve
from facemap_gui.models.download import DownloadCancelled, Downloader, DownloadError, Progress
from facemap_gui.models.install import download, missing
from facemap_gui.models.records import Installed

log = logging.getLogger(__name__)


class _Relay(QObject):
    """Carries the download thread's reports to the dialog; Qt queues them onto the GUI thread."""

    progress = Signal(object)  # Progress
    done = Signal(object)  # list[Installed] or the exception that ended the download


class DownloadDialog(QDialog):
    def __init__(
        self, names: Sequence[str] | None = None, parent: QWidget | None = None, downloader: Downloader | None = None
    ) -> None:
        super().__init__(parent)
        self.entries = resolve(missing() if names is None else names)
        self.downloader = downloader or Downloader()
        self.installed: list[Installed] = []
        self.error = ""
        self._thread: threading.Thread | None = None
        # Parentless, and referenced by the thread's closure: it outlives the dialog if it must.
        self._relay = _Relay()
        self._relay.progress.connect(self._on_progress)
        self._relay.done.connect(self._on_done)
        self.downloader.progress = self._relay.progress.emit

        self.setWindowTitle("Download models")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel(
                "facemap-gui needs Qualcomm's facemap_3dmm landmark model and its 3DMM basis. They are downloaded "
                f"once into {store.models_dir()} and checked before they are installed.",
                wordWrap=True,
            )
        )
        grid = QGridLayout()
        self._rows: dict[str, tuple[QProgressBar, QLabel]] = {}
        self._finished: set[str] = set()
        for row, remote in enumerate(r for e in self.entries for r in e.files):
            bar, detail = QProgressBar(textVisible=False), QLabel("waiting")
            grid.addWidget(QLabel(remote.filename), row, 0)
            grid.addWidget(bar, row, 1)
            grid.addWidget(detail, row, 2)
            self._rows[remote.filename] = (bar, detail)
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)
        self.message = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        layout.addWidget(self.message)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        relay, downloader, names = self._relay, self.downloader, [e.name for e in self.entries]

        def work() -> None:
            try:
                result: object = download(names, downloader)
            except Exception as exc:  # every failure ends here, to be shown in the dialog, never lost
                if not isinstance(exc, FacemapError):
                    log.error("model download failed unexpectedly", exc_info=True)
                result = exc
            relay.done.emit(result)

        self._thread = threading.Thread(target=work, name="model-download", daemon=True)
        self._thread.start()

    def _on_progress(self, progress: Progress) -> None:
        bar, detail = self._rows[progress.filename]
        if progress.finished:
            self._finished.add(progress.filename)
        if progress.fraction is None:
            bar.setRange(0, 0)  # size unknown: a busy bar
        else:
            bar.setRange(0, 1000)
            bar.setValue(round(progress.fraction * 1000))
        detail.setText(progress.describe())  # bytes and rate, or the attempt and why it is retried
        detail.setToolTip(progress.describe())

    def _on_done(self, result: object) -> None:
        self._thread = None
        if isinstance(result, list):
            self.installed = result
            self.accept()
            return
        if isinstance(result, DownloadCancelled) or self.downloader.cancel.is_set():
            super().reject()
            return
        self.error = str(result)
        reason = result.reason if isinstance(result, DownloadError) else self.error  # the offline way comes below
        failed = result.url.rsplit("/", 1)[-1] if isinstance(result, DownloadError) else None
        for filename, (bar, detail) in self._rows.items():  # every row ends in its final state
            if filename not in self._finished:
                bar.setRange(0, 1)
                detail.setText("failed (see below)" if filename == failed else "not downloaded")
                detail.setToolTip(reason if filename == failed else "")
        urls = "".join(f"<br>&nbsp;&nbsp;{html.escape(redact(r.source_url()))}" for e in self.entries for r in e.files)
        self.message.setText(
            f"<b>The download failed:</b> {html.escape(reason)}<br><br>"
            "<b>To install without this computer's network:</b> download these files on a computer that has "
            f"internet access:{urls}<br>then copy them here and run, once per file:<br>"
            "<tt>facemap-gui models install FILE.zip</tt> (or <tt>FILE.npy</tt>)"
        )
        self.message.show()
        self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Close)
        close = self.buttons.button(QDialogButtonBox.StandardButton.Close)
        close.setDefault(True)  # Enter closes, as Escape does
        close.setFocus()
        self.adjustSize()

    def reject(self) -> None:
        """Cancel (button, Escape, window close): stop the transfer first, close when the thread has ended."""
        if self._thread is None:
            super().reject()
            return
        self.downloader.cancel.set()
        self.buttons.setEnabled(False)
        self.message.setText("Cancelling… (what has arrived is kept: the next download resumes from there)")
        self.message.show()
