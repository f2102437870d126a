"""The window on the installed release replicas: switching float <-> w8a8 (uint8 I/O) while frames flow, with
the model's I/O in the HUD's runtime tooltip."""

from __future__ import annotations

from facemap_gui.cli import main
from facemap_gui.gui.window import MainWindow
from facemap_gui.live.settings import Settings
from facemap_gui.run.pipeline_builder import RunOptions
from tests.test_gui import WAIT_MS, wait_frames


def test_the_window_switches_between_the_installed_precisions_while_it_runs(qtbot, releases, basis_files, fake_sources):
    for path in [*basis_files, releases["float"], releases["w8a8"]]:
        assert main(["models", "install", str(path)]) == 0
    window = MainWindow(RunOptions(source="fakecam:0"), Settings())
    qtbot.addWidget(window)
    window.show()
    try:
        wait_frames(qtbot, window)
        assert window.latest.runtime.io == "input float32, output float32"
        for precision, io in (("w8a8", "input uint8 (scale 0.00392157, zero point 0)"), ("float", "input float32")):
            seen = window.latest.processed
            window.choice.precision_actions[precision].trigger()
            wait_frames(
                qtbot, window, lambda live, p=precision, s=seen: live.runtime.precision == p and live.processed > s
            )
            qtbot.waitUntil(lambda p=precision: window.hud.runtime.text() == f"CPU · {p}", timeout=WAIT_MS)
            assert io in window.hud.runtime.toolTip()
            assert window.latest.result.faces  # the fake camera's face is still found and tracked
    finally:
        window.close()
