"""The main window: menus, toolbar, the video with its HUD, status bar. Thin: the work is in `LiveWorker`."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

import platformdirs
from PySide6.QtCore import QByteArray, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QColor, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from facemap_gui.errors import FacemapError
from facemap_gui.gui.hud import DisplayFigures, HudPanel, RateMeter
from facemap_gui.gui.icons import dot_icon, text_icon, widest
from facemap_gui.gui.view import ViewStack
from facemap_gui.live.settings import Settings, output_folder, save_settings
from facemap_gui.live.worker import LiveFrame, LiveWorker, ViewOptions, WorkerEvent, WorkerState
from facemap_gui.overlay import OverlayOptions
from facemap_gui.pipeline_builder import RunOptions
from facemap_gui.recording import default_recording_path
from facemap_gui.runtime import PRECISIONS, RUNTIME_NAMES, available_runtimes
from facemap_gui.sources import list_cameras
from facemap_gui.sources.demo import DEMO_LOOP
from facemap_gui.sources.files import IMAGE_SUFFIXES
from facemap_gui.timing import seconds_since_launch

log = logging.getLogger(__name__)

RUNTIMES = {name: name.upper() for name in RUNTIME_NAMES}
RUNTIME_KEYS = {name: f"Ctrl+{number}" for number, name in enumerate(RUNTIME_NAMES, 1)}
PRECISION_KEYS = {"float": "Ctrl+F", "w8a8": "Ctrl+8"}
OVERLAY_TOGGLES = {"boxes": ("Face &boxes", "B"), "points": ("Land&mark points", "P"),
                   "contours": ("&Contours", "C"), "axes": ("Head-pose &axes", "A")}
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v")
HUD_REFRESH_MS = 250
MESSAGE_MS = 8000
SHUTDOWN_TIMEOUT_S = 10.0  # on quit, for a worker still finishing (a runtime switch compiling a model)


def precision_availability(options: RunOptions) -> dict[str, str | None]:
    reasons: dict[str, str | None] = {}
    for precision in PRECISIONS:
        try:
            options.model_path(precision)
            reasons[precision] = None
        except FacemapError as exc:
            reasons[precision] = str(exc)
    return reasons


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


class MainWindow(QMainWindow):
    def __init__(self, options: RunOptions, settings: Settings, *, settings_warning: str | None = None,
                 quit_after_frames: int = 0, screenshot: Path | None = None) -> None:
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

    def _action(self, text: str, shortcut: str | None = None,
                slot: Callable[[], object] | None = None, checkable: bool = False, checked: bool = False,
                tip: str = "") -> QAction:
        action = QAction(text, self, checkable=checkable)
        if checkable:
            action.setChecked(checked)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        if slot:
            action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work in fullscreen too, with the menu bar hidden
        return action

    def _build_actions(self) -> None:
        s = self.settings
        self.open_action = self._action("&Open video or image…", "Ctrl+O", self.open_file)
        self.demo_action = self._action("&Demo clip", "Ctrl+D", lambda: self.start_source(DEMO_LOOP))
        self.record_action = self._action("&Record", "Ctrl+R", self.toggle_recording, checkable=True,
                                          tip="Record the annotated view and its landmarks")
        self.record_action.setIcon(dot_icon(QColor("#ff5252")))
        self.folder_action = self._action("Output &folder…", None, self.choose_output_folder)
        self.download_action = self._action("Download &models…", None, self.download_models,
                                            tip="Download Qualcomm's facemap_3dmm models (float and w8a8)")
        self.quit_action = self._action("&Quit", "Ctrl+Q", self.close)
        self.refresh_cameras_action = self._action("&Refresh camera list", None, self._fill_source_menu)
        self.runtime_group = QActionGroup(self, exclusive=True)
        self.runtime_actions: dict[str, QAction] = {}
        for runtime, label in RUNTIMES.items():
            action = self._action(label, RUNTIME_KEYS[runtime], checkable=True)
            action.setData(runtime)
            self.runtime_group.addAction(action)
            self.runtime_actions[runtime] = action
        self.runtime_group.triggered.connect(self._choice_triggered)
        self.precision_group = QActionGroup(self, exclusive=True)
        self.precision_actions: dict[str, QAction] = {}
        for precision in PRECISIONS:
            action = self._action(precision, PRECISION_KEYS[precision], checkable=True)
            action.setData(precision)
            self.precision_group.addAction(action)
            self.precision_actions[precision] = action
        self.precision_group.triggered.connect(self._choice_triggered)
        self.overlay_actions = {
            name: self._action(text, key, self._view_changed, checkable=True, checked=getattr(s.overlay, name))
            for name, (text, key) in OVERLAY_TOGGLES.items()}
        self.smoothing_action = self._action("&Smoothing", "S", self._view_changed, checkable=True,
                                             checked=s.smoothing, tip="One Euro filter on landmarks and pose")
        self.tracking_action = self._action(
            "&Tracking", "T", self._view_changed, checkable=True, checked=s.tracking and self.options.tracking,
            tip="Crop each face where its landmarks were on the previous frame, and run the full-frame detector "
                "only when a face is lost or every few frames (off: detect on every frame)")
        self.hud_action = self._action("&HUD panel", "H", self._toggle_hud, checkable=True, checked=s.hud)
        self.fullscreen_action = self._action("&Full screen", "F11", self._toggle_fullscreen, checkable=True)
        self._action("Leave full screen", "Esc", self._leave_fullscreen)
        self.shortcuts_action = self._action("&Keyboard shortcuts", "F1", self._show_shortcuts)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addAction(self.demo_action)
        file_menu.addSeparator()
        file_menu.addAction(self.record_action)
        file_menu.addAction(self.folder_action)
        file_menu.addAction(self.download_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        self.source_menu = bar.addMenu("&Source")
        self.source_menu.aboutToShow.connect(self._fill_source_menu_once)
        self._cameras_listed = False
        runtime_menu = bar.addMenu("&Runtime")
        runtime_menu.addActions(list(self.runtime_actions.values()))
        runtime_menu.aboutToShow.connect(self._update_availability)
        precision_menu = bar.addMenu("&Precision")
        precision_menu.addActions(list(self.precision_actions.values()))
        precision_menu.aboutToShow.connect(self._update_availability)
        view_menu = bar.addMenu("&View")
        view_menu.addActions(list(self.overlay_actions.values()))
        view_menu.addSeparator()
        view_menu.addAction(self.smoothing_action)
        view_menu.addAction(self.tracking_action)
        view_menu.addSeparator()
        view_menu.addAction(self.hud_action)
        view_menu.addAction(self.fullscreen_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        self._fill_recent_menu()

    def _build_toolbar(self) -> None:
        bar = self.toolbar = QToolBar("Controls", self, movable=False, objectName="controls")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        bar.addAction(self.open_action)
        bar.addAction(self.demo_action)
        bar.addSeparator()
        bar.addAction(self.record_action)
        record = bar.widgetForAction(self.record_action)
        record.setObjectName("recordButton")
        record.setFixedWidth(widest(record, ("&Record", "Stop &recording")))  # the toolbar must not shift
        bar.addSeparator()
        bar.addWidget(QLabel("RUNTIME", objectName="toolbarLabel"))
        bar.addActions(list(self.runtime_actions.values()))
        bar.addSeparator()
        bar.addWidget(QLabel("PRECISION", objectName="toolbarLabel"))
        bar.addActions(list(self.precision_actions.values()))
        bar.addSeparator()
        bar.addAction(self.smoothing_action)
        self.strength_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, fixedWidth=110,
                                       toolTip="Smoothing strength: stronger is steadier but lags more")
        self.strength_slider.setValue(round(self.settings.smoothing_strength * 100))
        self.strength_slider.valueChanged.connect(self._view_changed)
        bar.addWidget(self.strength_slider)
        self.addToolBar(bar)
        # What does not fit a narrow window goes behind Qt's extension button: make it visible and say so.
        more = bar.findChild(QToolButton, "qt_toolbar_ext_button")
        more.setIcon(text_icon("»", QColor("#d7dae0")))
        more.setToolTip("More controls")

    def _build_body(self) -> None:
        body = QWidget(self)
        layout = QHBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        column = QVBoxLayout()
        column.setSpacing(0)
        self.stand_in_banner = QLabel("STAND-IN MODEL — landmarks are not real (random weights; install the real "
                                      "model with `facemap-gui models download`)", objectName="standInBanner",
                                      alignment=Qt.AlignmentFlag.AlignCenter)
        self.stand_in_banner.setWordWrap(True)
        self.stand_in_banner.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.stand_in_banner.hide()
        column.addWidget(self.stand_in_banner)
        self.stack = ViewStack(body)
        column.addWidget(self.stack, 1)
        layout.addLayout(column, 1)
        self.hud = HudPanel()
        # Scrolls in a short window instead of setting the window's minimum height.
        self.hud_area = QScrollArea(body, widgetResizable=True, frameShape=QFrame.Shape.NoFrame,
                                    horizontalScrollBarPolicy=Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.hud_area.setWidget(self.hud)
        self.hud_area.setFixedWidth(self.hud.width() + self.hud_area.verticalScrollBar().sizeHint().width())
        self.hud_area.setVisible(self.settings.hud)
        layout.addWidget(self.hud_area)
        self.setCentralWidget(body)

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
        self.state_label = QLabel(objectName="stateLabel")
        status.addPermanentWidget(self.state_label)

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
        self.worker.start()

    def _stop_worker(self) -> None:
        if self.worker is None:
            return
        self.stop_recording()
        if not self.worker.stop():
            log.warning("the %s worker did not stop within a second; it finishes in the background",
                        self.options.source)
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
        path, _ = QFileDialog.getOpenFileName(self, "Open video or image", str(self.open_folder()),
                                              f"Videos and images ({patterns});;All files (*)")
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

    def _choice(self) -> tuple[str, str]:
        return self.runtime_group.checkedAction().data(), self.precision_group.checkedAction().data()

    def _check_choice(self, runtime: str, precision: str) -> None:
        for actions, wanted in ((self.runtime_actions, runtime), (self.precision_actions, precision)):
            if wanted not in self._unavailable:
                actions[wanted].setChecked(True)
            elif not any(a.isChecked() for a in actions.values()):
                # Nothing runs here (no model at all): keep the one asked for; the worker says why.
                usable = (a for key, a in actions.items() if key not in self._unavailable)
                next(usable, actions[wanted]).setChecked(True)

    def _update_availability(self) -> None:
        """Unavailable runtimes and precisions stay clickable (greyed, the reason as tooltip), so that choosing
        one can say why it is not there."""
        self._unavailable = {}
        for actions, reasons in ((self.runtime_actions, available_runtimes(self.options.allow_simulator)),
                                 (self.precision_actions, precision_availability(self.options))):
            for key, action in actions.items():
                reason = reasons.get(key, "not available")
                if reason:
                    self._unavailable[key] = reason
                action.setToolTip(reason or f"{action.text()} ({action.shortcut().toString()})")
                button = self.toolbar.widgetForAction(action)
                button.setProperty("unavailable", reason is not None)
                button.style().polish(button)

    def _choice_triggered(self, action: QAction) -> None:
        self._update_availability()
        if action.data() in self._unavailable:
            self._check_choice(self.options.runtime, self.options.precision)  # back to what runs
            self._tell_unavailable(action.data())
            return
        self.switch_session()

    def _tell_unavailable(self, key: str) -> None:
        """Why `key` (a runtime or precision) cannot be chosen, with the fix as a button where there is one."""
        label = RUNTIMES.get(key, key)
        fix = self.download_action if key in PRECISIONS and self.options.model is None else None
        self.show_status(f"{label} is not available: {self._unavailable[key]}", error=True, fix=fix)

    def _tell_unavailable_choice(self, runtime: str, precision: str) -> None:
        """A runtime or precision asked for at start (command line, settings) that cannot run: say what runs
        instead and why, as a fallback always is."""
        running = self._choice()
        for key, instead in ((runtime, running[0]), (precision, running[1])):
            if key in self._unavailable and key != instead:
                self.show_status(f"{RUNTIMES.get(key, key)} is not available, using "
                                 f"{RUNTIMES.get(instead, instead)}: {self._unavailable[key]}", error=True)

    def download_models(self) -> None:
        from facemap_gui.gui.download_dialog import DownloadDialog

        if DownloadDialog(parent=self).exec() == QDialog.DialogCode.Accepted:
            self._update_availability()
            self.show_status("Models installed: choose them in the Runtime and Precision menus")

    def switch_session(self) -> None:
        runtime, precision = self._choice()
        if self.worker is None or self.worker.state is WorkerState.FAILED:
            self.start_source(self.options.source, remember=False)
            return
        self.options = dataclasses.replace(self.options, runtime=runtime, precision=precision)
        self.worker.request_switch(runtime, precision)
        self.show_status(f"Switching to {RUNTIMES[runtime]} {precision}…")

    def _sync_choice_to_session(self) -> None:
        """Check the runtime and precision actually running (after a failed switch or a fallback)."""
        worker = self.worker
        if worker is None or worker.pipeline is None or worker.switching:
            return
        info = worker.pipeline.session.info
        self._check_choice(info.runtime, info.precision)
        self.settings.runtime, self.settings.precision = info.runtime, info.precision

    # -- view options ------------------------------------------------------------------------------------

    def _view_options(self) -> ViewOptions:
        overlay = OverlayOptions(**{name: a.isChecked() for name, a in self.overlay_actions.items()})
        return ViewOptions(overlay=overlay, smoothing=self.smoothing_action.isChecked(),
                           smoothing_strength=self.strength_slider.value() / 100,
                           tracking=self.tracking_action.isChecked())

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
        self.stack.video.set_frame(live.annotated)
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
            detail = (f"{message}\n\nOpen a video or image instead, or try the built-in demo clip. "
                      "Cameras appear in the Source menu when connected.")
        else:
            title, detail = f"Cannot start {Path(source).name or source}", message
        self.stack.show_message(title, detail, [self.open_action, self.demo_action])
        self.show_status(message, error=True)

    def _on_note(self, event: WorkerEvent) -> None:
        if self.sender() is self._bridge:
            self.show_status(event.text, event.error)
            self._sync_choice_to_session()

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

    def _refresh_hud(self) -> None:
        self._draining = [w for w in self._draining if w.alive]
        self._refresh_recording()
        live = self.latest
        if live is None:
            return
        self.stand_in_banner.setVisible(live.stand_in)
        now = time.monotonic()
        figures = DisplayFigures(display_fps=self.display_meter.rate(now), latency_ms=self.latency_ms)
        self.hud.update_figures(live, figures, Path(self.options.source).name or self.options.source,
                                self._tracking_text())

    def _tracking_text(self) -> str:
        pipeline = self.worker.pipeline if self.worker is not None else None
        if pipeline is None or pipeline.tracker is None:
            return "off"
        return f"on · full scan every {pipeline.config.redetect_every}"

    # -- recording ---------------------------------------------------------------------------------------

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
            self.show_status(f"Saved {status.frames_written} frames to {status.video_path} "
                             f"({status.bytes_written / 1e6:.1f} MB, {status.frames_dropped} dropped)")

    def _refresh_recording(self) -> None:
        recorder = self.worker.recorder if self.worker is not None else None
        if recorder is None:
            return
        status = recorder.status
        if not status.running:  # the recorder stopped itself (disk full, write error)
            self.stop_recording()
            return
        minutes, seconds = divmod(int(status.elapsed_s), 60)
        self.recording_label.setText(f"● REC {minutes:02d}:{seconds:02d} · {status.bytes_written / 1e6:.1f} MB · "
                                     f"{status.frames_dropped} dropped")
        self.recording_label.setToolTip(str(status.video_path))

    def choose_output_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for recordings", str(output_folder(self.settings)))
        if folder:
            self.settings.output_folder = folder
            self.show_status(f"Recordings go to {folder}")

    # -- help, script, close -----------------------------------------------------------------------------

    def _show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td><b>{a.shortcut().toString()}</b></td><td>{a.text().replace('&', '')}</td></tr>"
                       for a in self.actions() if not a.shortcut().isEmpty())
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
        if self.screenshot is not None and not self.grab().save(str(self.screenshot)):
            log.error("%s: cannot write the screenshot (check the folder and the .png suffix)", self.screenshot)
            self.exit_code = 1
        self.close()

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
