"""The window's life cycle under pytest-qt: the first-run questions, the demo's start-up path, missing displays,
signals, small windows, the Open dialog's folder, and quitting (also mid-recording) without a crash."""

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressDialog, QToolButton

from facemap_gui.commands import demo as demo_command
from facemap_gui.core.errors import ModelError
from facemap_gui.gui import controls as controls_module
from facemap_gui.gui import window as window_module
from facemap_gui.gui.app import display_problem, with_landmark_model
from facemap_gui.gui.hud import HudPanel
from facemap_gui.gui.style import STYLE_SHEET
from facemap_gui.gui.window import MainWindow
from facemap_gui.inference.landmarks.model import inspect_model
from facemap_gui.live.settings import Settings, load_settings
from facemap_gui.run.pipeline_builder import RunOptions, stand_in_model
from tests.conftest import PHOTO
from tests.test_gui import wait_frames

WAIT_MS = 20_000


class StartUpWatcher:
    """Looks at the top-level windows every few milliseconds while the app starts: answers the download question
    (stand-in, optionally "don't ask again"), notes busy dialogs, and closes the main window once it paints
    tracked frames."""

    def __init__(self, dont_ask_again: bool = False) -> None:
        self.dont_ask_again = dont_ask_again
        self.asked: list[str] = []
        self.busy: set[str] = set()
        self.window: MainWindow | None = None
        self.timer = QTimer(interval=20, timeout=self._look)
        self.timer.start()

    def _look(self) -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            self.asked.append(box.text())
            box.checkBox().setChecked(self.dont_ask_again)
            next(b for b in box.buttons() if b.text() == "Continue with the stand-in").click()
        self.busy |= {
            w.labelText() for w in QApplication.topLevelWidgets() if isinstance(w, QProgressDialog) and w.isVisible()
        }
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, MainWindow) and widget.latest is not None and widget.latest.runtime is not None:
                self.window = widget
                self.timer.stop()
                widget.close()


def test_first_run_without_a_model_offers_the_download_until_told_not_to_ask(qtbot):
    settings = Settings()
    watcher = StartUpWatcher(dont_ask_again=True)
    options, make_model = with_landmark_model(RunOptions(source="demo"), settings, interactive=True)
    watcher.timer.stop()
    assert len(watcher.asked) == 1 and "not installed" in watcher.asked[0]
    assert make_model is stand_in_model and options.model is None  # the window makes it, in the background
    assert watcher.busy == set()
    assert settings.ask_download is False
    watcher = StartUpWatcher()
    again = with_landmark_model(RunOptions(source="demo"), settings, interactive=True)
    watcher.timer.stop()
    assert watcher.asked == [] and again[1] is stand_in_model  # not asked again
    named = RunOptions(source="demo", model=Path("/some/model.onnx"))
    assert with_landmark_model(named, Settings(), interactive=True) == (named, None)  # a model given: no question


def test_the_demo_window_starts_like_gui_without_a_busy_dialog_and_loops(qtbot):
    """`facemap-gui demo`: no download question and no busy dialog (the stand-in is made while the clip plays),
    then the clip for ever (as `gui --source demo` and the Demo button)."""
    watcher = StartUpWatcher()
    assert demo_command.run(demo_command_args()) == 0
    assert watcher.asked == [] and watcher.busy == set()
    assert watcher.window is not None and watcher.window.options.source == "demo:0"
    assert watcher.window.latest.stand_in and inspect_model(watcher.window.options.model).stand_in


@pytest.mark.parametrize("source", ["demo", str(PHOTO)])
def test_the_first_picture_is_shown_before_the_stand_in_model_is_ready(qtbot, tiny_model, app_style, source):
    """The source plays without landmarks while the model is made, the banner and the status bar say so; once it
    is there, tracking starts on it (an image that ended meanwhile is processed then)."""
    ready = threading.Event()

    def make_model() -> Path:
        assert ready.wait(WAIT_MS / 1000)
        return tiny_model

    window = MainWindow(RunOptions(source=source), Settings(), make_model=make_model)
    qtbot.addWidget(window)
    window.show()
    wait_frames(qtbot, window)
    qtbot.waitUntil(lambda: window.hud.source.text() != "–", timeout=WAIT_MS)  # the HUD has followed
    assert window.latest.runtime is None and window.latest.result.faces == [] and not window.latest.stand_in
    assert window.stack.currentWidget() is window.stack.video
    assert window.stand_in_banner.isVisible() and "Preparing the stand-in model" in window.stand_in_banner.text()
    assert window.model_progress.isVisible() and window.hud.runtime.text() == "model not ready"
    ready.set()
    wait_frames(qtbot, window, lambda live: live.runtime is not None and bool(live.result.faces))
    qtbot.waitUntil(lambda: not window.model_progress.isVisible(), timeout=WAIT_MS)
    assert window.stand_in_banner.isVisible() and window.stand_in_banner.text().startswith("STAND-IN MODEL")
    assert window.options.model == tiny_model and window.latest.stand_in
    window.close()


def test_a_stand_in_that_cannot_be_made_is_told_in_the_window(qtbot):
    def make_model() -> Path:
        raise ModelError("/nowhere/stand-in: cannot write the stand-in model (disk full)")

    window = MainWindow(RunOptions(source="demo"), Settings(), make_model=make_model)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: "disk full" in window.status.text.text(), timeout=WAIT_MS)
    assert window.stack.currentWidget() is window.stack.message and "disk full" in window.stack.message.detail.text()
    qtbot.waitUntil(lambda: not window.model_progress.isVisible(), timeout=WAIT_MS)
    window.close()


def demo_command_args() -> argparse.Namespace:
    return argparse.Namespace(headless=False, frames=300)


def test_gui_source_demo_loops_like_the_demo_button(qtbot, open_window):
    window = open_window("demo")
    wait_frames(qtbot, window)
    assert window.options.source == "demo:0" and window.worker.source.frame_count is None


@pytest.mark.parametrize(
    "env, problem",
    [
        ({}, "no display"),
        ({"QT_QPA_PLATFORM": "offscreen"}, None),
        ({"WAYLAND_DISPLAY": "wayland-0", "QT_QPA_PLATFORM": "wayland"}, None),
    ],
)
def test_a_missing_display_is_a_one_line_error_before_qt_starts(monkeypatch, env, problem):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    found = display_problem()
    assert found is None if problem is None else problem in found


def test_no_display_exits_with_one_line_on_stderr(tiny_model):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run(
        [sys.executable, "-m", "facemap_gui.cli", "gui", "--model", str(tiny_model)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("facemap-gui: error: no display") and len(result.stderr.splitlines()) == 1


def test_sigterm_closes_the_window_the_normal_way(tiny_model):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    app = subprocess.Popen(
        [sys.executable, "-m", "facemap_gui.cli", "-v", "gui", "--source", "demo", "--model", str(tiny_model)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in app.stderr:  # said once the window is shown and its signal handlers are in place
        if "window open" in line:
            break
    app.send_signal(signal.SIGTERM)
    _, stderr = app.communicate(timeout=30)
    assert app.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr and "Unexpected error" not in stderr
    assert load_settings()[0].geometry  # closeEvent ran: the settings, window geometry included, were saved


@pytest.fixture
def app_style(qapp):
    """The app's own style sheet (sizes depend on it), for this test only."""
    qapp.setStyleSheet(STYLE_SHEET)
    yield
    qapp.setStyleSheet("")


def test_the_layout_holds_at_800_by_500(qtbot, open_window, pan_video, tmp_path, app_style):
    window = open_window(str(pan_video), Settings(output_folder=str(tmp_path)))
    window.resize(800, 500)
    wait_frames(qtbot, window)
    assert (window.width(), window.height()) == (800, 500)  # nothing forces the window bigger
    assert window.hud_area.isVisible()
    assert window.hud.height() >= window.hud.minimumSizeHint().height()  # every HUD row there, scrolled if need be
    more = window.toolbar.findChild(QToolButton, "qt_toolbar_ext_button")
    w8a8 = window.toolbar.widgetForAction(window.choice.precision_actions["w8a8"])
    assert more.isVisible() and not w8a8.isVisible()  # what does not fit is behind the » button
    assert more.toolTip() == "More controls"
    record = window.toolbar.widgetForAction(window.recording.action)
    before = (record.width(), window.toolbar.widgetForAction(window.choice.runtime_actions["cpu"]).x())
    window.recording.action.trigger()
    assert window.recording.action.text() == "Stop &recording"
    assert (record.width(), window.toolbar.widgetForAction(window.choice.runtime_actions["cpu"]).x()) == before
    window.recording.action.trigger()
    window.resize(1400, 800)
    qtbot.waitUntil(lambda: w8a8.isVisible() and not more.isVisible(), timeout=WAIT_MS)  # all fits again


def test_at_the_minimum_size_the_banner_keeps_to_two_lines_and_hud_values_end_in_an_ellipsis(
    qtbot, open_window, app_style
):
    window = open_window("demo")
    window.resize(400, 300)
    assert (window.width(), window.height()) == window_module.MINIMUM_SIZE  # no smaller than that
    wait_frames(qtbot, window, lambda live: live.runtime is not None)
    qtbot.waitUntil(lambda: window.hud.pipeline_fps.text() != "–" and window.stand_in_banner.isVisible())
    banner = window.stand_in_banner
    assert banner.contentsRect().height() < 3 * banner.fontMetrics().lineSpacing()
    hud = window.hud
    hud.pipeline_fps.setText("1500 fps · 0.7 ms")  # the widest figures a fast machine shows
    hud.source.setText("a very long file name of a recording made yesterday.mp4")
    assert hud.pipeline_fps.shown_text() == hud.pipeline_fps.text()
    for name, label in hud._rows:
        shown = label.shown_text()
        assert shown == label.text() or (shown.endswith("…") and label.text().startswith(shown[:-1])), name
    assert hud.source.shown_text().endswith("…")


def test_a_hud_refresh_repaints_the_values_without_laying_out_the_panel_again(qtbot, app_style):
    """Four times a second every figure changes: a relayout of the whole panel each time cost 2.3 ms of the GUI
    thread instead of 0.5-0.9 (docs/performance.md)."""
    hud = HudPanel()
    qtbot.addWidget(hud)
    hud.show()
    qtbot.waitExposed(hud)
    QApplication.processEvents()  # the first layout, done
    requests: list[QEvent.Type] = []

    class Requests(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.LayoutRequest:
                requests.append(event.type())
            return False

    watcher = Requests()
    hud.installEventFilter(watcher)
    sizes = [value.size() for _name, value in hud._rows]
    for width, (_name, value) in enumerate(hud._rows):
        value.setText("8" * (width % 12 + 1) + " ms")
    QApplication.processEvents()
    assert requests == []
    assert [value.size() for _name, value in hud._rows] == sizes
    assert hud.pipeline_fps.shown_text() == "88 ms"  # the new text is what is painted


def test_the_open_dialog_starts_in_the_last_folder_else_videos_else_home(
    open_window, tmp_path, monkeypatch, fake_sources
):
    videos = tmp_path / "Videos"
    monkeypatch.setattr(controls_module.platformdirs, "user_videos_dir", lambda: str(videos))
    window = open_window("fakecam:0")
    assert window.sources.open_folder() == Path.home()  # no Videos folder here
    videos.mkdir()
    assert window.sources.open_folder() == videos
    (tmp_path / "clips").mkdir()
    window.settings.add_recent(str(tmp_path / "clips" / "a.mp4"))
    assert window.sources.open_folder() == tmp_path / "clips"


def test_starting_and_quitting_with_a_recording_running_leaves_no_thread_behind(qtbot, open_window, tmp_path):
    for round_ in range(8):
        window = open_window("demo:0", Settings(output_folder=str(tmp_path / f"r{round_}")))
        wait_frames(qtbot, window)
        window.recording.action.trigger()
        recorder, worker = window.worker.recorder, window.worker
        qtbot.waitUntil(lambda r=recorder: r.status.frames_written >= 1, timeout=WAIT_MS)
        window.close()
        assert not worker.alive
        status = recorder.status
        assert not status.running and status.error is None and status.frames_written >= 1
        assert len(status.landmarks_path.read_text().splitlines()) == status.frames_written + 2  # summary written


QUIT_WHILE_RECORDING = """
import sys
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from facemap_gui.core.errors import ModelError
from facemap_gui.run.pipeline_builder import RunOptions, stand_in_model
from tests.conftest import PHOTO
from facemap_gui.gui.app import run_gui
from facemap_gui.live.settings import Settings
from facemap_gui.gui.window import MainWindow

def record_then_quit():
    window = next((w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)), None)
    if window is None or window.latest is None:
        QTimer.singleShot(20, record_then_quit)
    elif window.worker.recorder is None:
        window.recording.action.trigger()
        QTimer.singleShot(20, record_then_quit)
    elif window.worker.recorder.status.frames_written:
        window.close()
    else:
        QTimer.singleShot(20, record_then_quit)

for _ in range(int(sys.argv[2])):
    QTimer.singleShot(0, record_then_quit)
    assert run_gui(RunOptions(source="demo:0", model=Path(sys.argv[1])),
                   loaded_settings=(Settings(output_folder=sys.argv[3]), None)) == 0
print("all closed")
"""


def test_quitting_the_app_while_recording_exits_cleanly_every_time(tiny_model, tmp_path):
    """The process ends right after the last window closed mid-recording: nothing may be left to be freed on
    the wrong thread during interpreter exit (a crash there is `Fatal Python error`, exit code -6 or -11)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    for _ in range(3):
        result = subprocess.run(
            [sys.executable, "-c", QUIT_WHILE_RECORDING, str(tiny_model), "4", str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0 and result.stdout == "all closed\n", result.stderr
        assert "Fatal" not in result.stderr and "Traceback" not in result.stderr
    assert len(list(tmp_path.glob("*.jsonl"))) == 12
