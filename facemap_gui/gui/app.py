"""Starts the desktop app: checks the display, creates the QApplication and the main window, runs the loop."""

from __future__ import annotations

import ctypes.util
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType

from facemap_gui.core.errors import FacemapError
from facemap_gui.live.settings import Settings, load_settings
from facemap_gui.models.install import missing
from facemap_gui.run.pipeline_builder import RunOptions, stand_in_model

log = logging.getLogger(__name__)
WINDOWLESS_PLATFORMS = ("offscreen", "minimal", "vnc")  # Qt platforms that need no display server


def has_display() -> bool:
    """Whether Qt has somewhere to show a window: a desktop session, or a platform that needs none."""
    if sys.platform != "linux":
        return True
    return bool(
        os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("QT_QPA_PLATFORM", "").startswith(WINDOWLESS_PLATFORMS)
    )


def display_problem() -> str | None:
    """Why Qt would abort before any window can show (it cannot be caught once Qt tries), or None."""
    if not has_display():
        return (
            "no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset); run it in a desktop "
            "session, or use `facemap-gui process` or `facemap-gui demo --headless`"
        )
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if (
        sys.platform == "linux"
        and not platform.startswith(("wayland", *WINDOWLESS_PLATFORMS))
        and ctypes.util.find_library("xcb-cursor") is None
    ):
        return (
            "Qt's X11 platform needs libxcb-cursor0, which is not installed; "
            "run `sudo apt-get install libxcb-cursor0` (or your distribution's xcb-util-cursor)"
        )
    return None


def with_landmark_model(
    options: RunOptions, settings: Settings, interactive: bool, offer_download: bool = True
) -> tuple[RunOptions, Callable[[], Path] | None]:
    """The options, and what makes the landmark model when there is none yet. None when a model is named or
    the real one is installed. On a first run, offer the download (interactive starts that want it, until
    "don't ask again"), else the generated stand-in: the window makes it in the background and plays the
    source meanwhile. `gui` and `demo` both start this way."""
    if options.model is not None or not missing():
        return options, None
    if interactive and offer_download and settings.ask_download and _download_accepted(settings):
        return options, None
    # Every request is kept: the stand-in has both precisions (pipeline_builder.with_stand_in's rule).
    return options, stand_in_model


def _download_accepted(settings: Settings) -> bool:
    """Ask before downloading; True once the models are installed. "Don't ask again" is kept in `settings`."""
    from PySide6.QtWidgets import QCheckBox, QDialog, QMessageBox

    from facemap_gui.gui.download_dialog import DownloadDialog

    question = QMessageBox(
        QMessageBox.Icon.Question,
        "facemap-gui: landmark model not installed",
        "Qualcomm's facemap_3dmm landmark model is not installed yet.\n\nDownload it now, or "
        "try the app with a generated stand-in model (its landmarks are not real)?",
    )
    download = question.addButton("Download", QMessageBox.ButtonRole.AcceptRole)
    question.addButton("Continue with the stand-in", QMessageBox.ButtonRole.RejectRole)
    dont_ask = QCheckBox("Don't ask again (download later with `facemap-gui models download`)")
    question.setCheckBox(dont_ask)
    question.exec()
    settings.ask_download = not dont_ask.isChecked()
    return question.clickedButton() is download and DownloadDialog().exec() == QDialog.DialogCode.Accepted


def run_gui(
    options: RunOptions,
    *,
    quit_after_frames: int = 0,
    screenshot: Path | None = None,
    record_frames: tuple[int, int] | None = None,
    loaded_settings: tuple[Settings, str | None] | None = None,
    offer_download: bool = True,
) -> int:
    """Run the app until its window closes; returns the exit code.

    With `quit_after_frames`, save a `screenshot` of the window after that many processed frames (or at the
    end of the source) and quit; `record_frames` (FROM, TO) records that stretch meanwhile. `loaded_settings`
    comes from a caller that already read them to resolve command-line defaults; otherwise they are read here.
    `offer_download` False (the demo): no download prompt, the stand-in when the real model is missing."""
    problem = display_problem()
    if problem:
        raise FacemapError(problem)
    settings, warning = loaded_settings or load_settings()
    # Non-headless OpenCV wheels point Qt at their own plugin folder; Qt must use its own.
    os.environ.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)
    from PySide6.QtCore import QCoreApplication, QEvent, QTimer, qInstallMessageHandler
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication, QMessageBox

    from facemap_gui.gui.style import apply_style
    from facemap_gui.gui.window import MainWindow

    qInstallMessageHandler(_log_qt_message)
    import cv2

    from facemap_gui.inference.runtime.session import set_intra_op_threads

    # The live pipeline is paced to the source, so second threads buy no frames, only wake-ups and spinning:
    # OpenCV's on every resize, ONNX Runtime's on every run (1-1.5 ms of CPU a 720p frame each; on the CPU
    # runtime inference takes ~1 ms longer; docs/performance.md).
    cv2.setNumThreads(1)
    set_intra_op_threads(1)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setApplicationName("facemap-gui")
    app.setWindowIcon(QIcon(str(Path(__file__).resolve().parent.parent / "data" / "facemap-gui.png")))
    apply_style(app)
    try:
        options, make_model = with_landmark_model(
            options, settings, interactive=not quit_after_frames, offer_download=offer_download
        )
        window = MainWindow(
            options,
            settings,
            settings_warning=warning,
            quit_after_frames=quit_after_frames,
            screenshot=screenshot,
            record_frames=record_frames,
            make_model=make_model,
        )
    except Exception as exc:  # fatal at start-up: a dialog (unless unattended) and one line on stderr
        log.debug("start-up failed", exc_info=True)
        message = (
            str(exc)
            if isinstance(exc, FacemapError)
            else (f"the window could not be created ({type(exc).__name__}: {exc})")
        )
        if not quit_after_frames:
            QMessageBox.critical(None, "facemap-gui cannot start", message)
        raise FacemapError(message) from exc

    def report(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        # An exception in a Qt slot: logged with its traceback, one line in the window; the app keeps running.
        log.error("unexpected error in the window", exc_info=(kind, exc, tb))
        window.status.show(f"Unexpected error: {kind.__name__}: {exc}", error=True)

    def close_on_signal(signum: int, _frame: FrameType | None) -> None:
        # Ctrl+C or SIGTERM: close the window the normal way (worker stopped, recording finished, settings
        # saved). Python runs this between bytecodes; the HUD timer makes sure some run several times a second.
        window.exit_code = 128 + signum
        QTimer.singleShot(0, window.close)

    previous_hook, sys.excepthook = sys.excepthook, report
    previous_handlers = {sig: signal.signal(sig, close_on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        window.show()
        log.info("window open (Ctrl+C or SIGTERM closes it)")
        app.exec()
    finally:
        sys.excepthook = previous_hook
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
    # Ordered teardown on the GUI thread: closeEvent has joined the worker threads; the window's Qt objects go
    # now, here, not when a garbage collection happens to run or during interpreter exit.
    code = window.exit_code
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return code


def _log_qt_message(kind: object, _context: object, text: str) -> None:
    """Qt's own messages go to the log (debug unless critical), not straight onto the user's terminal."""
    from PySide6.QtCore import QtMsgType

    serious = kind in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg)
    logging.getLogger("facemap_gui.qt").log(logging.ERROR if serious else logging.DEBUG, "%s", text)
