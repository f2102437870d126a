"""The main window: it owns the worker and wires its parts (source menu, view toggles, runtime chooser,
recording, streaming, help, status bar, HUD, video), each a controller with its own actions and widgets."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QColor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from facemap_gui.core.atomic import replacing
from facemap_gui.core.timing import seconds_since_launch
from facemap_gui.gui.choice import RUNTIMES, RuntimeChooser
from facemap_gui.gui.controls import SourceMenu, ViewControls, make_action
from facemap_gui.gui.expressions_view import ExpressionsPanel
from facemap_gui.gui.help import HelpMenu
from facemap_gui.gui.hud import DisplayFigures, HudPanel, RateMeter
from facemap_gui.gui.icons import text_icon, widest
from facemap_gui.gui.qt_health import none_leak_problem
from facemap_gui.gui.record import RECORD_TEXTS, RecordingControl
from facemap_gui.gui.status import StatusPanel
from facemap_gui.gui.stream import StreamControl
from facemap_gui.gui.style import named
from facemap_gui.gui.view import ViewStack
from facemap_gui.live.events import LiveFrame, WorkerEvent, WorkerState
from facemap_gui.live.settings import Settings, save_settings
from facemap_gui.live.worker import LiveWorker
from facemap_gui.run.pipeline_builder import RunOptions
from facemap_gui.sources import list_cameras
from facemap_gui.sources.demo import looped

log = logging.getLogger(__name__)

HUD_REFRESH_MS = 250
STAND_IN_TEXT = "STAND-IN MODEL — landmarks are not real (File › Download models… gets the real one)"
STAND_IN_TIP = "Random weights. Install the real model with File › Download models… or `facemap-gui models download`"
MINIMUM_SIZE = (640, 420)  # the video beside the HUD panel, the banner in two lines
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

    def worker_event(self, event: WorkerEvent) -> None:
        self.note.emit(event)


class MainWindow(QMainWindow):
    worker_changed = Signal(object)  # the LiveWorker the parts act on, or None

    def __init__(
        self,
        options: RunOptions,
        settings: Settings,
        *,
        settings_warning: str | None = None,
        quit_after_frames: int = 0,
        screenshot: Path | None = None,
        record_frames: tuple[int, int] | None = None,
        make_model: Callable[[], Path] | None = None,
    ) -> None:
        """`quit_after_frames` > 0 runs unattended (tests, bug reports): after that many processed frames, or
        when the source ends or fails, save `screenshot` and close. Settings are then left untouched.
        `record_frames` (FROM, TO): record from the FROM-th processed frame to the TO-th, as Record would.
        `make_model`: makes the landmark model (the first launch's stand-in) on a thread of its own; the
        source plays without landmarks meanwhile, with the progress shown."""
        super().__init__()
        pyside_problem = none_leak_problem()  # measured before any worker thread runs
        self.options = options
        self.settings = settings
        self.quit_after_frames = quit_after_frames
        self.screenshot = screenshot
        self._record_toggles = list(record_frames or ())  # processed-frame counts still to start, then stop at
        self.worker: LiveWorker | None = None
        self.latest: LiveFrame | None = None
        self.display_meter = RateMeter()
        self.latency_ms = 0.0
        self._finished = False
        self.exit_code = 0
        self._bridge: _Bridge | None = None
        self._draining: list[LiveWorker] = []  # stopped workers whose threads are still finishing
        self._model_future = self._make_in_background(make_model) if make_model is not None else None
        self._model_started = time.monotonic()
        self.setWindowTitle("facemap-gui")
        self.setMinimumSize(*MINIMUM_SIZE)
        self.sources = SourceMenu(self, settings)
        self.sources.chosen.connect(self.start_source)
        self.view = ViewControls(self, settings, options.tracking is not False)
        self.view.changed.connect(self._view_changed)
        self.choice = RuntimeChooser(self, lambda: self.options)
        self.choice.chosen.connect(self.switch_session)
        self.recording = RecordingControl(self, settings)
        self.stream = StreamControl(self, settings)
        self.help = HelpMenu(self)
        for user in (self.recording, self.stream, self.help):  # the parts that act on the worker
            self.worker_changed.connect(user.set_worker)
        self.quit_action = make_action(self, "&Quit", "Ctrl+Q", self.close)
        self.hud_action = make_action(self, "&HUD panel", "H", self._toggle_hud, checkable=True, checked=settings.hud)
        self.expressions_action = make_action(
            self,
            "&Expressions panel",
            "E",
            self._toggle_expressions,
            checkable=True,
            tip="What the avatar app receives: a bar for each expression and signal, and a short plot",
        )
        self.fullscreen_action = make_action(self, "&Full screen", "F11", self._toggle_fullscreen, checkable=True)
        make_action(self, "Leave full screen", "Esc", self._leave_fullscreen)
        self._build_menus()
        self._build_toolbar()
        self.choice.update_availability()  # now on the toolbar's buttons too
        self._build_body()
        # Busy while the model is made (the banner says what and for how long); how far it is, nobody knows.
        self.model_progress = QProgressBar(maximum=0, textVisible=False)
        self.model_progress.setMaximumSize(90, 12)
        self.model_progress.setToolTip("Preparing the model")
        self.model_progress.hide()
        self.status = StatusPanel(self.statusBar(), [self.recording.label, self.stream.label, self.model_progress])
        for part in (self.choice, self.recording, self.stream, self.help):
            part.message.connect(self.status.show)
        if self._model_future is not None:
            self.model_progress.show()
            self.stand_in_banner.setProperty("preparing", True)
            self._follow_model()
        self.stack.video.on_resize = self._view_changed  # the worker scales its pictures to the view
        self._hud_timer = QTimer(self, interval=HUD_REFRESH_MS)
        self._hud_timer.timeout.connect(self._refresh_hud)
        self._hud_timer.start()
        if settings.geometry and not self.quit_after_frames:
            self.restoreGeometry(QByteArray.fromBase64(settings.geometry.encode()))
        else:
            self.resize(1280, 760)
        self.sources.restore_format(options.source)
        self.start_source(options.source, remember=False)
        self.choice.tell_unavailable_choice(options.runtime, options.precision)
        for warning in (settings_warning, pyside_problem):
            if warning:
                self.status.show(warning, error=True)  # also on stderr; the crash warning shown last

    # -- construction ------------------------------------------------------------------------------------

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.sources.open_action)
        file_menu.addMenu(self.sources.recent_menu)
        file_menu.addAction(self.sources.demo_action)
        file_menu.addSeparator()
        file_menu.addAction(self.recording.action)
        file_menu.addAction(self.recording.folder_action)
        file_menu.addAction(self.choice.download_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        bar.addMenu(self.sources.menu)
        for title, actions in (
            ("&Runtime", self.choice.runtime_actions),
            ("&Precision", self.choice.precision_actions),
        ):
            menu = bar.addMenu(title)
            menu.addActions(list(actions.values()))
            menu.aboutToShow.connect(self.choice.update_availability)
        view_menu = bar.addMenu("&View")
        view_menu.addActions(list(self.view.overlay_actions.values()))
        view_menu.addSeparator()
        view_menu.addAction(self.view.smoothing_action)
        view_menu.addAction(self.view.tracking_action)
        view_menu.addSeparator()
        view_menu.addAction(self.hud_action)
        view_menu.addAction(self.expressions_action)
        view_menu.addAction(self.fullscreen_action)
        bar.addMenu(self.stream.menu)
        bar.addMenu(self.help.menu)

    def _build_toolbar(self) -> None:
        bar = self.toolbar = named(QToolBar("Controls", self, movable=False), "controls")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        bar.addAction(self.sources.open_action)
        bar.addAction(self.sources.demo_action)
        bar.addSeparator()
        bar.addAction(self.recording.action)
        record = bar.widgetForAction(self.recording.action)
        record.setObjectName("recordButton")
        assert isinstance(record, QToolButton)
        record.setFixedWidth(widest(record, RECORD_TEXTS))  # the toolbar must not shift
        for title, actions in (("RUNTIME", self.choice.runtime_actions), ("PRECISION", self.choice.precision_actions)):
            bar.addSeparator()
            bar.addWidget(named(QLabel(title), "toolbarLabel"))
            bar.addActions(list(actions.values()))
        bar.addSeparator()
        bar.addAction(self.view.smoothing_action)
        bar.addWidget(self.view.strength_slider)
        bar.addSeparator()
        bar.addAction(self.stream.action)
        self.addToolBar(bar)
        # What does not fit a narrow window goes behind Qt's extension button: make it visible and say so.
        more = bar.findChild(QToolButton, "qt_toolbar_ext_button")
        assert more is not None
        more.setIcon(text_icon("»", QColor("#d7dae0")))
        more.setToolTip("More controls")

    def _build_body(self) -> None:
        body = QWidget(self)
        layout = QHBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        column = QVBoxLayout()
        column.setSpacing(0)
        self.stand_in_banner = named(
            QLabel(STAND_IN_TEXT, alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True), "standInBanner"
        )
        self.stand_in_banner.setToolTip(STAND_IN_TIP)
        self.stand_in_banner.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.stand_in_banner.hide()
        column.addWidget(self.stand_in_banner)
        self.stack = ViewStack(body)
        column.addWidget(self.stack, 1)
        layout.addLayout(column, 1)
        self.hud = HudPanel()
        # Scrolls in a short window instead of setting the window's minimum height.
        self.hud_area = QScrollArea(body, widgetResizable=True)
        self.hud_area.setFrameShape(QFrame.Shape.NoFrame)
        self.hud_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.hud_area.setWidget(self.hud)
        self.hud_area.setFixedWidth(self.hud.width() + self.hud_area.verticalScrollBar().sizeHint().width())
        self.hud_area.setVisible(self.settings.hud)
        layout.addWidget(self.hud_area)
        self.expressions = ExpressionsPanel()
        self.expressions_area = QScrollArea(body, widgetResizable=True)
        self.expressions_area.setFrameShape(QFrame.Shape.NoFrame)
        self.expressions_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.expressions_area.setWidget(self.expressions)
        width = self.expressions.sizeHint().width() + self.expressions_area.verticalScrollBar().sizeHint().width()
        self.expressions_area.setFixedWidth(width)
        self.expressions_area.hide()
        layout.addWidget(self.expressions_area)
        self.setCentralWidget(body)

    # -- source ------------------------------------------------------------------------------------------

    def start_source(self, spec: str, remember: bool = True) -> None:
        """Stop what runs and start `spec` with the current runtime, precision and view options."""
        self._stop_worker()
        spec = looped(spec)
        runtime, precision = self.choice.choice()
        self.options = dataclasses.replace(self.options, source=spec, runtime=runtime, precision=precision)
        self.sources.current = spec
        if remember:
            self.sources.remember(spec)
        self.latest = None
        self.stand_in_banner.setVisible(self._model_future is not None and not self._model_future.done())
        self.status.clear()  # messages belong to the source that caused them
        # No parent: the worker keeps its bridge alive as long as its threads may call it. Signals from a
        # stopped worker's bridge still queued are ignored by checking the sender.
        self._bridge = _Bridge()
        self._bridge.frame.connect(self._on_frame)
        self._bridge.state.connect(self._on_state)
        self._bridge.note.connect(self._on_note)
        view = self.view.options(self.stack.video.display_area())
        self.worker = LiveWorker(self.options, self._bridge, view, model=self._model_future)
        self.worker_changed.emit(self.worker)  # the stream control hands it the targets before it starts
        self.worker.start()

    @staticmethod
    def _make_in_background(make_model: Callable[[], Path]) -> Future[Path]:
        # A daemon thread: closing the window while it runs must not wait for it (what it writes is atomic).
        future: Future[Path] = Future()

        def make() -> None:
            try:
                future.set_result(make_model())
            except BaseException as exc:  # the worker waiting for it reports it
                future.set_exception(exc)

        threading.Thread(target=make, name="model maker", daemon=True).start()
        return future

    def _follow_model(self) -> None:
        """While the model is made: the banner counts the seconds. Once it is there: every source uses it."""
        future = self._model_future
        if future is None or self.model_progress.isHidden():
            return
        if not future.done():
            self.stand_in_banner.setText(
                f"Preparing the stand-in model (once, a few seconds)… {time.monotonic() - self._model_started:.0f} s"
            )
            return
        self.model_progress.hide()
        self.stand_in_banner.setText(STAND_IN_TEXT)
        self.stand_in_banner.setProperty("preparing", False)
        self.stand_in_banner.style().polish(self.stand_in_banner)
        if future.exception() is None:
            log.info("stand-in model ready %.2f s after launch", seconds_since_launch())
            self.options = dataclasses.replace(self.options, model=future.result())
            self._model_future = None
            self.choice.update_availability()
        # A failed one is kept: every source started then says why there is no model.

    def _stop_worker(self) -> None:
        if self.worker is None:
            return
        self.recording.stop()
        if not self.worker.stop():
            log.warning(
                "the %s worker did not stop within a second; it finishes in the background", self.options.source
            )
            # Kept until its threads end, so that it and its bridge (a QObject) are freed here, on the GUI
            # thread, and never by the last reference going away on one of its own threads.
            self._draining.append(self.worker)
        self.worker = None
        self.worker_changed.emit(None)

    # -- parts -------------------------------------------------------------------------------------------

    def switch_session(self, runtime: str, precision: str) -> None:
        if self.worker is None or self.worker.state is WorkerState.FAILED:
            self.start_source(self.options.source, remember=False)
            return
        self.options = dataclasses.replace(self.options, runtime=runtime, precision=precision)
        self.worker.request_switch(runtime, precision)
        self.status.show(f"Switching to {RUNTIMES[runtime]} {precision}…")

    def _sync_choice_to_session(self) -> None:
        """Check the runtime and precision actually running (after a failed switch or a fallback)."""
        worker = self.worker
        if worker is None or worker.pipeline is None or worker.switching:
            return
        info = worker.pipeline.session.info
        self.choice.check_choice(info.runtime, info.precision)
        self.settings.runtime, self.settings.precision = info.runtime, info.precision

    def _view_changed(self) -> None:
        if self.worker is not None:
            self.worker.view = self.view.options(self.stack.video.display_area())

    def _toggle_expressions(self) -> None:
        self.expressions_area.setVisible(self.expressions_action.isChecked())

    def _toggle_hud(self) -> None:
        self.settings.hud = self.hud_action.isChecked()
        self.hud_area.setVisible(self.settings.hud)

    def _toggle_fullscreen(self) -> None:
        full = self.fullscreen_action.isChecked()
        self.menuBar().setVisible(not full)
        self.toolbar.setVisible(not full)
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
        if self._record_toggles and live.processed >= self._record_toggles[0]:
            (self.recording.start if len(self._record_toggles) == 2 else self.recording.stop)()
            self._record_toggles.pop(0)
        if self.quit_after_frames and live.processed >= self.quit_after_frames:
            self._finish_script(0)

    def _on_state(self, state: WorkerState, message: str) -> None:
        if self.worker is None or self.sender() is not self._bridge:
            return
        self.status.show_state(state)
        if state is WorkerState.STARTING and self.latest is None:
            self.stack.show_message(message, "", [])
        elif state is WorkerState.RUNNING:
            self._sync_choice_to_session()
            self.setWindowTitle(f"facemap-gui — {Path(message).name or message}")
        elif state is WorkerState.IDLE:
            self.status.show(message)
            self.recording.stop()
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
        self.stack.show_message(title, detail, [self.sources.open_action, self.sources.demo_action])
        self.status.show(message, error=True)

    def _on_note(self, event: WorkerEvent) -> None:
        if self.sender() is self._bridge:
            self.status.show(event.text, event.error)
            self._sync_choice_to_session()

    def _refresh_hud(self) -> None:
        self._draining = [w for w in self._draining if w.alive]
        self.recording.refresh()
        self.stream.refresh()
        self._follow_model()
        live = self.latest
        if live is None:
            return
        self.stand_in_banner.setVisible(live.stand_in or live.runtime is None)  # a preview: the stand-in is made
        now = time.monotonic()
        figures = DisplayFigures(display_fps=self.display_meter.rate(now), latency_ms=self.latency_ms)
        self.hud.update_figures(
            live, figures, Path(self.options.source).name or self.options.source, self._tracking_text()
        )
        if self.expressions_area.isVisible():
            self.expressions.update_values(live, self.worker.neutral if self.worker is not None else None)

    def _tracking_text(self) -> str:
        pipeline = self.worker.pipeline if self.worker is not None else None
        if pipeline is None or pipeline.tracker is None:
            return "off"
        return f"on · full scan every {pipeline.config.redetect_every}"

    # -- script, close -----------------------------------------------------------------------------

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
                # A str format: the stubs say bytes, but PySide6 6.11 aborts the process on bytes here.
                return image.save(str(part), path.suffix.lstrip(".") or "png")  # type: ignore[call-overload]
        except OSError:
            return False

    def closeEvent(self, event: QCloseEvent) -> None:
        self._hud_timer.stop()
        self.help.stop_diagnostics()
        self._stop_worker()
        for worker in self._draining:  # no worker thread may outlive the window (and run into interpreter exit)
            if not worker.stop(SHUTDOWN_TIMEOUT_S):
                log.error("the %s worker is still running after %g s", worker.options.source, SHUTDOWN_TIMEOUT_S)
        self._draining.clear()
        if self._model_future is not None and not self._model_future.done():
            # Its thread may be inside ONNX Runtime, which aborts the process if interpreter exit stops it there.
            log.info("finishing the stand-in model before quitting (a few seconds)")
            wait([self._model_future])
        if not self.quit_after_frames:
            self.settings.geometry = bytes(self.saveGeometry().toBase64().data()).decode()
            save_settings(self.settings)
        event.accept()
