"""A real window on a real X server (Xvfb, xcb platform), run as a user runs it: `facemap-gui gui ...
--screenshot`, in a process that imports cv2 (which points QT_QPA_PLATFORM_PLUGIN_PATH at its own Qt
plugins) and mediapipe."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import cv2
import pytest

pytestmark = pytest.mark.xvfb


@pytest.fixture(scope="module")
def x_display() -> Iterator[str]:
    xvfb = shutil.which("Xvfb")
    assert xvfb, "Xvfb is needed for this test: apt-get install xvfb (CI does, in .ci/run)"
    # -displayfd: Xvfb picks a free display number and writes it to the pipe once it accepts connections.
    server = subprocess.Popen(
        [xvfb, "-displayfd", "1", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        number = server.stdout.readline().strip()
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_real_window_runs_frames_and_saves_a_screenshot(x_display, tiny_model, pan_video, tmp_path):
    """`facemap-gui gui --source VIDEO --quit-after-frames N --screenshot PNG` on xcb, checking afterwards in the
    same process that Qt ran on xcb with cv2 and mediapipe loaded."""
    shot = tmp_path / "window.png"
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env["DISPLAY"] = x_display
    run_cli_then_check = (
        "import sys\n"
        "from facemap_gui.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "from PySide6.QtGui import QGuiApplication\n"
        "print('platform', QGuiApplication.platformName(), 'cv2' in sys.modules, 'mediapipe' in sys.modules)\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            run_cli_then_check,
            "gui",
            "--source",
            str(pan_video),
            "--model",
            str(tiny_model),
            "--quit-after-frames",
            "10",
            "--screenshot",
            str(shot),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "platform xcb True True" in result.stdout
    assert "Traceback" not in result.stderr
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[1] >= 800 and image.shape[0] >= 500
    # Not a blank window: the video, the HUD and the menus make for many distinct colours.
    assert len(set(map(tuple, image.reshape(-1, 3)[::37]))) > 200


SMALL_WINDOW = """
import sys
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from facemap_gui.gui.style import apply_style
from facemap_gui.gui.window import MINIMUM_SIZE, MainWindow
from facemap_gui.live.settings import Settings
from facemap_gui.pipeline_builder import RunOptions

app = QApplication([])
apply_style(app)
window = MainWindow(RunOptions(source="demo", model=Path(sys.argv[1])), Settings())
window.show()
window.resize(*MINIMUM_SIZE)

def look():
    if window.latest is not None and window.latest.processed > 20 and window.hud.pipeline_fps.text() != "–":
        window.grab().save(sys.argv[2])
        print("size", window.width(), window.height(), "banner", window.stand_in_banner.height())
        window.close()
    else:
        QTimer.singleShot(100, look)

QTimer.singleShot(100, look)
app.exec()
"""


def test_the_window_at_its_minimum_size_on_a_real_x_server(x_display, tiny_model, tmp_path):
    """A screenshot of the smallest window (look at it after layout changes: --basetemp keeps it): the banner in two
    lines, HUD figures whole or ending in an ellipsis, dots that leave the face visible."""
    shot = tmp_path / "small.png"
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env["DISPLAY"] = x_display
    result = subprocess.run(
        [sys.executable, "-c", SMALL_WINDOW, str(tiny_model), str(shot)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "size 640 420" in result.stdout
    image = cv2.imread(str(shot))
    assert image.shape[:2] == (420, 640)
