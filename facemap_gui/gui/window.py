"""The main window: menus, toolbar, the video with its HUD, status bar. Thin: the work is in `LiveWorker`."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import platformdirs
from PySide6.QtCore import QByteArray, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSizePolicy,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from facemap_gui.atomic import replacing
from facemap_gui.gui.choice import RuntimeChoice
from facemap_gui.gui.controls import Controls
from facemap_gui.gui.hud import DisplayFigures, HudPanel, RateMeter
from facemap_gui.gui.status import StatusBar
from facemap_gui.gui.stream import StreamMenu
from facemap_gui.gui.view import ViewStack
from facemap_gui.live.events import LiveFrame, ViewOptions, WorkerEvent, WorkerState
from facemap_gui.live.settings import Settings, save_settings
from facemap_gui.live.worker import LiveWorker
from facemap_gui.overlay import OverlayOptions
from facemap_gui.pipeline_builder import RunOptions
from facemap_gui.sources import list_cameras
from facemap_gui.sources.demo import DEMO_LOOP
from facemap_gui.sources.files import IMAGE_SUFFIXES
from facemap_gui.timing import seconds_since_launch

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v")
HUD_REFRESH_MS = 250
SHUTDOWN_TIMEOUT_S = 10.0  # on quit, for a worker still finishing (a runtime switch compiling a model)


class _Bridge(QObject):
    """The worker's listener: re-emits its calls as signals, which Qt delivers on the GUI thread."""

    frame = Signal()
    state = Signal(object, str)
    note = Signal(object)  # WorkerEvent

    def frame_ready(self) -> None:
        self.frame.emit()

    def state_changed(self, state: WorkerState, message: str) -> None:
        self.state.emit(state, message)

    def event(self, event: WorkerEvent) -> None:
        self.note.emit(event)


class MainWindow(Controls, RuntimeChoice, StatusBar, StreamMenu, QMainWindow):
    def __init__(
        self,
        options: RunOptions,
        settings: Settings,
        *,
        settings_warning: str | None = None,
        quit_after_frames: int = 0,
        screenshot: Path | None = None,
    ) -> None:
        """`quit_after_frames` > 0 runs unattended (tests, bug reports): after that many processed frames, or
        when the source ends or fails, save `screenshot` and close. Settings are then left untouched."""
        super().__init__()
        self.options = options
        self.settings = settings
        self.quit_after_frames = quit_after_frames
        self.screenshot = screenshot
        self.worker: LiveWorker | None = None
        self.latest: LiveFrame | None = None
        self.display_meter = RateMeter()
        self.latency_ms = 0.0
        self._finished = False
        self.exit_code = 0
        self._bridge: _Bridge | None = None
        self._draining: list[LiveWorker] = []  # stopped workers whose threads are still finishing
        self.setWindowTitle("facemap-gui")
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._unavailable: dict[str, str] = {}  # runtime or precision key -> why it cannot run here
        self._update_availability()
        self._check_choice(self.options.runtime, self.options.precision)
        self._build_body()
        self._build_status_bar()
        self._apply_stream()
        self.stack.video.on_resize = self._view_changed  # the worker scales its pictures to the view
        self._hud_timer = QTimer(self, interval=HUD_REFRESH_MS, timeout=self._refresh_hud)
        self._hud_timer.start()
        self._message_timer = QTimer(self, singleShot=True, timeout=self.clear_status)
        if settings.geometry and not self.quit_after_frames:
            self.restoreGeometry(QByteArray.fromBase64(settings.geometry.encode()))
        else:
            self.resize(1280, 760)
        self.start_source(options.source, remember=False)
        self._tell_unavailable_choice(options.runtime, options.precision)
        if settings_warning:
            self.show_status(settings_warning, error=True)

    # -- construction ------------------------------------------------------------------------------------

    def _build_body(self) -> None:
        body = QWidget(self)
        layout = QHBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        column = QVBoxLayout()
        column.setSpacing(0)
        self.stand_in_banner = QLabel(
            "STAND-IN MODEL — landmarks are not real (random weights; install the real "
            "model with `facemap-gui models download`)",
            objectName="standInBanner",
            alignment=Qt.AlignmentFlag.AlignCenter,
        )
        self.stand_in_banner.setWordWrap(True)
        self.stand_in_banner.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.stand_in_banner.hide()
        column.addWidget(self.stand_in_banner)
        self.stack = ViewStack(body)
        column.addWidget(self.stack, 1)
        layout.addLayout(column, 1)
        self.hud = HudPanel()
        # Scrolls in a short window instead of setting the window's minimum height.
        self.hud_area = QScrollArea(
            body,
            widgetResizable=True,
            frameShape=QFrame.Shape.NoFrame,
            horizontalScrollBarPolicy=Qt.ScrollBarPolicy.ScrollBarAlwaysOff,
        )
        self.hud_area.setWidget(self.hud)
        self.hud_area.setFixedWidth(self.hud.width() + self.hud_area.verticalScrollBar().sizeHint().width())
        self.hud_area.setVisible(self.settings.hud)
        layout.addWidget(self.hud_area)
        self.setCentralWidget(body)

    # -- source ------------------------------------------------------------------------------------------

    def start_source(self, spec: str, remember: bool = True) -> None:
        """Stop what runs and start `spec` with the current runtime, precision and view options."""
        self._stop_worker()
        spec = DEMO_LOOP if spec == "demo" else spec  # a window shows the demo clip looped, however it was named
        runtime, precision = self._choice()
        self.options = dataclasses.replace(self.options, source=spec, runtime=runtime, precision=precision)
        if remember:
            self.settings.source = spec
            if Path(spec).exists():
                self.settings.add_recent(str(Path(spec).resolve()))
                self._fill_recent_menu()
        self.latest = None
        self.stand_in_banner.hide()
        self.clear_status()  # messages belong to the source that caused them
        # No parent: the worker keeps its bridge alive as long as its threads may call it. Signals from a
        # stopped worker's bridge still queued are ignored by checking the sender.
        self._bridge = _Bridge()
        self._bridge.frame.connect(self._on_frame)
        self._bridge.state.connect(self._on_state)
        self._bridge.note.connect(self._on_note)
        self.worker = LiveWorker(self.options, self._bridge, self._view_options())
        self.worker.set_stream(self.stream_targets())
        self.worker.start()

    def _stop_worker(self) -> None:
        if self.worker is None:
            return
        self.stop_recording()
        if not self.worker.stop():
            log.warning(
                "the %s worker did not stop within a second; it finishes in the background", self.options.source
            )
            # Kept until its threads end, so that it and its bridge (a QObject) are freed here, on the GUI
            # thread, and never by the last reference going away on one of its own threads.
            self._draining.append(self.worker)
        self.worker = None

    def open_folder(self) -> Path:
        """Where the Open dialog starts: the folder of the last file opened, else Videos, else home."""
        folders = [Path(p).parent for p in self.settings.recent_files[:1]]
        folders += [Path(platformdirs.user_videos_dir()), Path.home()]
        return next(f for f in folders if f.is_dir())

    def open_file(self) -> None:
        patterns = " ".join(f"*{s}" for s in (*VIDEO_SUFFIXES, *sorted(IMAGE_SUFFIXES)))
        path, _ = QFileDialog.getOpenFileName(
            self, "Open video or image", str(self.open_folder()), f"Videos and images ({patterns});;All files (*)"
        )
        if path:
            self.start_source(path)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_files:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(lambda _c=False, p=path: self.start_source(p))
        self.recent_menu.setEnabled(bool(self.settings.recent_files))

    def _fill_source_menu_once(self) -> None:
        # Listing probes devices (slow on Windows): do it when the menu is first opened, and on Refresh.
        if not self._cameras_listed:
            self._fill_source_menu()

    def _fill_source_menu(self) -> None:
        self._cameras_listed = True
        menu = self.source_menu
        menu.clear()
        cameras = list_cameras()
        for camera in cameras:
            action = menu.addAction(f"{camera.name}  (camera {camera.index})")
            action.setCheckable(True)
            action.setChecked(self.options.source == camera.spec)
            action.triggered.connect(lambda _c=False, spec=camera.spec: self.start_source(spec))
        if not cameras:
            menu.addAction("No camera found").setEnabled(False)
        menu.addAction(self.refresh_cameras_action)
        menu.addSeparator()
        menu.addAction(self.open_action)
        menu.addMenu(self.recent_menu)
        menu.addAction(self.demo_action)

    # -- runtime and precision ---------------------------------------------------------------------------

    # -- view options ------------------------------------------------------------------------------------

    def _view_options(self) -> ViewOptions:
        overlay = OverlayOptions(**{name: a.isChecked() for name, a in self.overlay_actions.items()})
        return ViewOptions(
            overlay=overlay,
            smoothing=self.smoothing_action.isChecked(),
            smoothing_strength=self.strength_slider.value() / 100,
            tracking=self.tracking_action.isChecked(),
            display_area=self.stack.video.display_area(),
        )

    def _view_changed(self) -> None:
        view = self._view_options()
        self.settings.overlay = view.overlay
        self.settings.smoothing, self.settings.smoothing_strength = view.smoothing, view.smoothing_strength
        self.settings.tracking = view.tracking
        self.strength_slider.setEnabled(view.smoothing)
        if self.worker is not None:
            self.worker.view = view

    def _toggle_hud(self) -> None:
        self.settings.hud = self.hud_action.isChecked()
        self.hud_area.setVisible(self.settings.hud)

    def _toggle_fullscreen(self) -> None:
        full = self.fullscreen_action.isChecked()
        self.menuBar().setVisible(not full)
        self.findChild(QToolBar, "controls").setVisible(not full)
        if full:
            self.showFullScreen()
        else:
            self.showNormal()

    def _leave_fullscreen(self) -> None:
        if self.fullscreen_action.isChecked():
            self.fullscreen_action.trigger()

    # -- worker signals ----------------------------------------------------------------------------------

    def _on_frame(self) -> None:
        if self.worker is None or self.sender() is not self._bridge:
            return
        live = self.worker.take_latest()
        if live is None:
            return
        self.stack.video.set_picture(live.picture, live.result.frame.size)
        self.stack.show_video()
        self.stack.video.repaint()  # paint now, so the latency below includes it
        now = time.monotonic()
        latency = (now - live.captured_at) * 1000.0
        self.latency_ms = latency if self.latest is None else self.latency_ms + 0.1 * (latency - self.latency_ms)
        self.display_meter.tick(now)
        first = self.latest is None
        self.latest = live
        if first:
            self._refresh_hud()
            log.info("first frame on screen %.2f s after launch", seconds_since_launch())
        if self.quit_after_frames and live.processed >= self.quit_after_frames:
            self._finish_script(0)

    def _on_state(self, state: WorkerState, message: str) -> None:
        if self.worker is None or self.sender() is not self._bridge:
            return
        self.state_label.setText(f"● {state.value}")
        self.state_label.setProperty("state", state.value)
        self.state_label.style().polish(self.state_label)
        if state is WorkerState.STARTING and self.latest is None:
            self.stack.show_message(message, "", [])
        elif state is WorkerState.RUNNING:
            self._sync_choice_to_session()
            self.setWindowTitle(f"facemap-gui — {Path(message).name or message}")
        elif state is WorkerState.IDLE:
            self.show_status(message)
            self.stop_recording()
            if self.quit_after_frames:
                self._finish_script(0)
        elif state is WorkerState.FAILED:
            self._show_failure(message)
            if self.quit_after_frames:
                self._finish_script(1)

    def _show_failure(self, message: str) -> None:
        source = self.options.source
        if source.startswith("camera:"):
            title = "No camera found" if not list_cameras() else f"Cannot open {source}"
            detail = (
                f"{message}\n\nOpen a video or image instead, or try the built-in demo clip. "
                "Cameras appear in the Source menu when connected."
            )
        else:
            title, detail = f"Cannot start {Path(source).name or source}", message
        self.stack.show_message(title, detail, [self.open_action, self.demo_action])
        self.show_status(message, error=True)

    def _on_note(self, event: WorkerEvent) -> None:
        if self.sender() is self._bridge:
            self.show_status(event.text, event.error)
            self._sync_choice_to_session()

    def _refresh_hud(self) -> None:
        self._draining = [w for w in self._draining if w.alive]
        self._refresh_recording()
        self._refresh_stream()
        live = self.latest
        if live is None:
            return
        self.stand_in_banner.setVisible(live.stand_in)
        now = time.monotonic()
        figures = DisplayFigures(display_fps=self.display_meter.rate(now), latency_ms=self.latency_ms)
        self.hud.update_figures(
            live, figures, Path(self.options.source).name or self.options.source, self._tracking_text()
        )

    def _tracking_text(self) -> str:
        pipeline = self.worker.pipeline if self.worker is not None else None
        if pipeline is None or pipeline.tracker is None:
            return "off"
        return f"on · full scan every {pipeline.config.redetect_every}"

    # -- help, script, close -----------------------------------------------------------------------------

    def _show_shortcuts(self) -> None:
        rows = "".join(
            f"<tr><td><b>{a.shortcut().toString()}</b></td><td>{a.text().replace('&', '')}</td></tr>"
            for a in self.actions()
            if not a.shortcut().isEmpty()
        )
        QMessageBox.information(self, "Keyboard shortcuts", f"<table cellspacing=6>{rows}</table>")

    def _finish_script(self, code: int) -> None:
        """Quit with `code` after saving the screenshot; the grab waits one turn of the event loop so that
        pending layout changes (a message page just shown) are in the picture."""
        if self._finished:
            return
        self._finished = True
        self.exit_code = code
        self._refresh_hud()
        log.info("after %d frames: %s", self.latest.processed if self.latest else 0, self.hud.as_text())
        QTimer.singleShot(0, self._save_screenshot_and_close)

    def _save_screenshot_and_close(self) -> None:
        if self.screenshot is not None and not self._save_screenshot(self.screenshot):
            log.error("%s: cannot write the screenshot (check the folder and the .png suffix)", self.screenshot)
            self.exit_code = 1
        self.close()

    def _save_screenshot(self, path: Path) -> bool:
        """Written beside and renamed (never half a picture under the name), marked as the app's so that the
        next run may replace it (commands/destinations.py)."""
        image = self.grab().toImage()
        image.setText("Software", "facemap-gui")
        try:
            with replacing(path) as part:
                return image.save(str(part), path.suffix.lstrip(".") or "png")
        except OSError:
            return False

    def closeEvent(self, event: QCloseEvent) -> None:
        self._hud_timer.stop()
        self._stop_worker()
        for worker in self._draining:  # no worker thread may outlive the window (and run into interpreter exit)
            if not worker.stop(SHUTDOWN_TIMEOUT_S):
                log.error("the %s worker is still running after %g s", worker.options.source, SHUTDOWN_TIMEOUT_S)
        self._draining.clear()
        if not self.quit_after_frames:
            self.settings.geometry = bytes(self.saveGeometry().toBase64()).decode()
            save_settings(self.settings)
        event.accept()
