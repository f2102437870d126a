"""The window's Help menu: keyboard shortcuts, the documentation, About (versions and the model in use) and
"Copy diagnostics" (the `doctor --json` report, for bug reports)."""

from __future__ import annotations

import html
import json
import logging
import sys
from pathlib import Path

import onnxruntime
import PySide6
from PySide6.QtCore import QProcess, QUrl, qVersion
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QMenu, QMessageBox, QWidget

from facemap_gui import __version__
from facemap_gui.gui.controls import Controller, make_action
from facemap_gui.inference.runtime.qnn import qnn_versions

log = logging.getLogger(__name__)

# The docs/ folder of a source checkout; wheels and the frozen app do not carry it.
DOCS = Path(__file__).resolve().parents[2] / "docs"
DOCTOR_KEYS = ("facemap_gui", "platform", "packages", "runtimes", "models", "errors")  # what a report must hold


def doctor_command() -> list[str]:
    """`facemap-gui doctor --json` as this installation runs it (the frozen app is its own CLI)."""
    cli = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "facemap_gui.cli"]
    return [*cli, "doctor", "--json"]


def doc_pages(folder: Path = DOCS) -> list[tuple[str, Path]]:
    """(title, file) of each docs/*.md present, the title being its first heading."""
    pages = []
    for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        first = path.read_text(encoding="utf-8", errors="replace").partition("\n")[0]
        pages.append((first.lstrip("# ").strip() or path.stem, path))
    return pages


def versions() -> dict[str, str]:
    qnn = qnn_versions()
    return {
        "facemap-gui": __version__,
        "Qt": qVersion(),
        "PySide6": PySide6.__version__,
        "ONNX Runtime": onnxruntime.__version__,
        "onnxruntime-qnn": qnn.get("onnxruntime-qnn", "not installed"),
        "QNN SDK": qnn.get("qnn", "– (needs onnxruntime-qnn)"),
        "Python": sys.version.split()[0],
    }


class HelpMenu(Controller):
    """The Help menu; the diagnostics run in a child process, so the window stays live meanwhile. About names
    the model of the worker in use (`set_worker`)."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.shortcuts_action = make_action(window, "&Keyboard shortcuts", "F1", self._show_shortcuts)
        self.about_action = make_action(window, "&About facemap-gui", None, self._show_about)
        self.diagnostics_action = make_action(
            window,
            "&Copy diagnostics",
            None,
            self._copy_diagnostics,
            tip="Copy the `facemap-gui doctor --json` report to the clipboard, for bug reports",
        )
        self._diagnostics: QProcess | None = None
        self.menu = menu = QMenu("&Help", window)
        menu.addAction(self.shortcuts_action)
        docs = menu.addMenu("&Documentation")
        pages = doc_pages()
        for title, path in pages:
            action = docs.addAction(title)
            action.setToolTip(str(path))
            action.triggered.connect(lambda _c=False, p=path: QDesktopServices.openUrl(QUrl.fromLocalFile(str(p))))
        if not pages:
            docs.addAction("Not included with this copy: see the docs/ folder of the source").setEnabled(False)
        menu.addSeparator()
        menu.addAction(self.diagnostics_action)
        menu.addAction(self.about_action)

    def _show_shortcuts(self) -> None:
        rows = "".join(
            f"<tr><td><b>{a.shortcut().toString()}</b></td><td>{a.text().replace('&', '')}</td></tr>"
            for a in self._window.actions()
            if not a.shortcut().isEmpty()
        )
        QMessageBox.information(self._window, "Keyboard shortcuts", f"<table cellspacing=6>{rows}</table>")

    def about_text(self) -> str:
        """The versions and the landmark model in use (real or stand-in, its file and sha256), as HTML."""
        rows = "".join(f"<tr><td>{name}</td><td><b>{value}</b></td></tr>" for name, value in versions().items())
        pipeline = self._worker.pipeline if self._worker is not None else None
        if pipeline is None:
            model = "not loaded yet"
        else:
            info = pipeline.session.model
            kind = "STAND-IN (random weights: its landmarks are not real)" if info.stand_in else "Qualcomm facemap_3dmm"
            model = f"{kind}<br>{html.escape(str(info.path))}<br>sha256 {info.sha256}"
        return f"<p><b>facemap-gui {__version__}</b></p><table cellspacing=4>{rows}</table><p>Model: {model}</p>"

    def _show_about(self) -> None:
        QMessageBox.about(self._window, "About facemap-gui", self.about_text())

    def _copy_diagnostics(self) -> None:
        if self._diagnostics is not None:
            return  # one at a time
        process = self._diagnostics = QProcess(self)
        process.finished.connect(self._diagnostics_finished)
        process.errorOccurred.connect(self._diagnostics_failed)
        command = doctor_command()
        process.start(command[0], command[1:])
        self.say("Collecting diagnostics (facemap-gui doctor --json)…")

    def _diagnostics_failed(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._diagnostics_finished()

    def stop_diagnostics(self) -> None:
        if self._diagnostics is not None:
            self._diagnostics.kill()
            self._diagnostics.waitForFinished(1000)

    def _diagnostics_finished(self) -> None:
        process, self._diagnostics = self._diagnostics, None
        if process is None:
            return
        out = bytes(process.readAllStandardOutput().data()).decode(errors="replace")
        err = bytes(process.readAllStandardError().data()).decode(errors="replace").strip()
        process.deleteLater()
        try:
            report = json.loads(out)
            if not isinstance(report, dict) or not all(key in report for key in DOCTOR_KEYS):
                raise ValueError("not a doctor report")
        except ValueError:
            reason = err.splitlines()[-1] if err else process.errorString()
            self.say(f"Diagnostics failed: {reason} (run `facemap-gui doctor --json` instead)", error=True)
            return
        QGuiApplication.clipboard().setText(out)
        self.say(f"Diagnostics copied to the clipboard ({len(out) / 1000:.0f} kB): paste them into the report")
