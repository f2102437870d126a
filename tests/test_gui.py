"""The main window under pytest-qt (offscreen): frames and overlay on screen, HUD, menus that switch live,
settings, failures shown in the window, clean and prompt close, unattended screenshot runs."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QPushButton

from facemap_gui.gui import controls as controls_module
from facemap_gui.gui import window as window_module
from facemap_gui.gui.window import MainWindow
from facemap_gui.live.events import EventKind, WorkerEvent, WorkerState
from facemap_gui.live.picture import scaled_copy
from facemap_gui.live.settings import Settings, load_settings, settings_path
from facemap_gui.models.standins import write_stand_in
from facemap_gui.perframe.tracking import REDETECT_EVERY
from facemap_gui.sinks.overlay import OverlayOptions
from facemap_gui.sources import CameraFormat, CameraInfo
from facemap_gui.sources import camera as camera_module

pytestmark = pytest.mark.usefixtures("fake_sources")  # fakecam: and glitchy: (tests/fakes.py)
WAIT_MS = 20_000


@pytest.fixture(scope="session")
def w8a8_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny stand-in with its w8a8 variant beside it (the float path is returned)."""
    directory = tmp_path_factory.mktemp("tiny_w8a8")
    write_stand_in(directory, arch="tiny", precision="w8a8")
    return directory / "facemap_3dmm.onnx"


def test_the_bridge_passes_on_worker_events_and_nothing_of_qts_own(qtbot):
    """The worker's listener is a QObject: Qt's own events (a property change, a deferred delete) reach its
    `event()` and must neither be taken for worker events nor be swallowed (the object must still go)."""
    bridge = window_module._Bridge()
    notes: list[object] = []
    bridge.note.connect(notes.append)
    bridge.setProperty("seen", True)  # a dynamic property change: a QEvent sent to event()
    deleted: list[bool] = []
    bridge.destroyed.connect(lambda: deleted.append(True))
    bridge.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert notes == [] and deleted == [True]
    other = window_module._Bridge()
    other.note.connect(notes.append)
    event = WorkerEvent(EventKind.RECOVERED, "")
    other.worker_event(event)
    assert notes == [event]


def wait_frames(qtbot, window: MainWindow, condition=lambda live: True) -> None:
    qtbot.waitUntil(lambda: window.latest is not None and condition(window.latest), timeout=WAIT_MS)


def widget_pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()  # the QImage goes away


def test_frames_arrive_with_the_overlay_on_the_face_and_the_hud_updates(qtbot, open_window, pan_video):
    window = open_window(str(pan_video))
    wait_frames(qtbot, window, lambda live: bool(live.result.faces))
    qtbot.waitUntil(lambda: window.hud.display_fps.text() not in ("–", "0.0 fps"), timeout=WAIT_MS)
    view = window.stack.video
    assert window.stack.currentWidget() is view
    window.worker.stop()  # no newer frame may be painted between the two grabs below
    live = window.latest
    # What is painted, against the same frame painted without the overlay, where the landmarks are.
    shown = widget_pixels(view.grab().toImage())
    frame = live.result.frame
    size = (live.picture.shape[1], live.picture.shape[0])
    view.set_picture(scaled_copy(frame.rgb, size), frame.size)
    raw = widget_pixels(view.grab().toImage())
    rect = view.image_rect()
    scale = rect.width() / frame.size[0]
    points = live.result.faces[0].landmarks * scale + [rect.x(), rect.y()]
    cols, rows = np.round(points).astype(int).T
    differs = np.abs(shown[rows, cols].astype(int) - raw[rows, cols]).sum(axis=1) > 60
    assert differs.mean() > 0.8
    assert np.array_equal(shown[:5, :5], raw[:5, :5])  # the letterbox and corners are untouched
    # The HUD shows the figures of the last frame once it refreshes (the display rate is > 0, waited for above)
    qtbot.waitUntil(lambda: window.hud.pipeline_fps.text().endswith(f" · {live.pipeline_ms:.1f} ms"), timeout=WAIT_MS)
    assert float(window.hud.pipeline_fps.text().split()[0]) == pytest.approx(1000.0 / live.pipeline_ms, abs=0.5)
    assert window.hud.runtime.text() == "CPU · float" and window.hud.faces.text() == "1"
    assert window.hud.latency.text().endswith(" ms") and window.hud.stages["inference"].text().endswith(" ms")
    assert window.stand_in_banner.isVisible()  # the tiny model is a stand-in


def test_unavailable_runtimes_and_precisions_are_greyed_with_the_reason(open_window):
    window = open_window("fakecam:0")
    window.choice.update_availability()  # what opening the menu does
    for runtime in ("npu", "gpu"):
        button = window.toolbar.widgetForAction(window.choice.runtime_actions[runtime])
        assert button.property("unavailable") and window.choice.runtime_actions[runtime].toolTip()
    assert "--allow-simulator" in window.choice.runtime_actions["npu"].toolTip()
    assert window.choice.runtime_actions["cpu"].isChecked()
    assert not window.toolbar.widgetForAction(window.choice.runtime_actions["cpu"]).property("unavailable")
    assert "facemap_3dmm_w8a8.onnx" in window.choice.precision_actions["w8a8"].toolTip()


def test_choosing_something_unavailable_says_why_and_keeps_what_runs(qtbot, open_window):
    window = open_window("fakecam:0")
    wait_frames(qtbot, window)
    worker = window.worker
    window.choice.runtime_actions["npu"].trigger()  # Ctrl+1, or a click on the greyed button
    assert window.status.text.text().startswith("NPU is not available: ") and window.status.text.property("error")
    assert "--allow-simulator" in window.status.text.text()
    assert window.choice.runtime_actions["cpu"].isChecked() and window.worker is worker and not worker.switching
    window.choice.precision_actions["w8a8"].trigger()  # Ctrl+8: the stand-in named on the command line has no w8a8
    assert window.status.text.text().startswith("w8a8 is not available: ") and window.status.fix_button.isHidden()
    assert window.choice.precision_actions["float"].isChecked()


def test_a_missing_w8a8_model_offers_the_download_as_the_fix(qtbot, open_window):
    window = open_window("fakecam:0", model=None)  # nothing installed: the worker fails for want of a model
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.stack.message, timeout=WAIT_MS)
    window.choice.precision_actions["w8a8"].trigger()
    assert window.status.text.text().startswith("w8a8 is not available: ")
    assert (
        window.status.fix_button.isVisible()
        and window.status.fix_button.defaultAction() is window.choice.download_action
    )
    window.sources.demo_action.trigger()  # a new source: the old message and its fix go
    assert window.status.text.text() == "" and window.status.fix_button.isHidden()


def test_a_runtime_asked_for_at_start_that_cannot_run_is_told(qtbot, open_window, caplog):
    window = open_window("fakecam:0", runtime="npu")  # `gui --runtime npu` without an NPU
    wait_frames(qtbot, window)
    text = window.status.text.text()
    assert text.startswith("NPU is not available, using CPU: ") and window.status.text.property("error")
    assert any(r.levelname == "WARNING" and r.getMessage() == text for r in caplog.records)  # on stderr too
    assert window.latest.runtime.runtime == "cpu"


def test_a_message_belongs_to_the_source_that_caused_it(qtbot, open_window):
    window = open_window("camera:7")
    qtbot.waitUntil(lambda: window.worker.state is WorkerState.FAILED, timeout=WAIT_MS)
    window.recording.action.trigger()
    assert window.status.text.text().startswith("Cannot record: camera:7")
    window.sources.demo_action.trigger()
    assert window.status.text.text() == ""
    wait_frames(qtbot, window)
    assert "camera:7" not in window.status.text.text()


def test_switching_precision_and_runtime_from_the_menus_while_frames_flow(qtbot, open_window, w8a8_model):
    window = open_window("fakecam:0", model=w8a8_model, allow_simulator=True)
    wait_frames(qtbot, window)
    assert window.choice.precision_actions["w8a8"].isEnabled() and window.choice.runtime_actions["npu"].isEnabled()
    window.choice.precision_actions["w8a8"].trigger()
    seen_before = window.latest.processed
    wait_frames(qtbot, window, lambda live: live.runtime.precision == "w8a8")
    assert window.latest.processed > seen_before  # the stream went on
    qtbot.waitUntil(lambda: window.hud.runtime.text() == "CPU · w8a8", timeout=WAIT_MS)
    window.choice.runtime_actions["npu"].trigger()  # the HTP simulator stands in for the NPU here
    wait_frames(qtbot, window, lambda live: live.runtime.runtime == "npu")
    qtbot.waitUntil(lambda: window.hud.runtime.text() == "NPU · w8a8", timeout=WAIT_MS)
    assert "QNN" in window.hud.nodes.text()
    window.choice.runtime_actions["cpu"].trigger()
    wait_frames(qtbot, window, lambda live: live.runtime.runtime == "cpu")
    assert window.worker.state is WorkerState.RUNNING
    assert window.settings.runtime == "cpu" and window.settings.precision == "w8a8"


def test_overlay_toggles_and_shortcuts_reach_the_worker(qtbot, open_window):
    window = open_window("fakecam:0")
    wait_frames(qtbot, window)
    window.view.overlay_actions["boxes"].trigger()
    window.view.smoothing_action.trigger()
    assert window.worker.view.overlay == OverlayOptions(boxes=False)
    assert window.worker.view.smoothing is False and not window.view.strength_slider.isEnabled()
    window.view.strength_slider.setValue(80)
    assert window.worker.view.smoothing_strength == pytest.approx(0.8)
    shortcuts = {a.shortcut().toString() for a in window.actions() if not a.shortcut().isEmpty()}
    assert {
        "Ctrl+1",
        "Ctrl+2",
        "Ctrl+3",
        "Ctrl+F",
        "Ctrl+8",
        "Ctrl+R",
        "Ctrl+O",
        "B",
        "P",
        "C",
        "A",
        "S",
        "T",
        "F11",
    } <= shortcuts


def test_tracking_is_switched_off_and_on_from_the_menu_while_frames_flow(qtbot, open_window):
    window = open_window("fakecam:0")
    worker = window.worker
    wait_frames(qtbot, window, lambda live: bool(live.result.faces) and not live.result.detector_ran)
    qtbot.waitUntil(lambda: window.hud.tracking.text() == f"on · full scan every {REDETECT_EVERY}", timeout=WAIT_MS)

    def frames_from_now(count: int) -> tuple[int, int]:
        """(frames, detector runs) over the next `count` frames processed (the two counters are read while the
        worker runs, so either may be one frame ahead of the other)."""
        processed, calls = worker._processed, worker._detector_calls
        qtbot.waitUntil(lambda: worker._processed >= processed + count, timeout=WAIT_MS)
        return worker._processed - processed, worker._detector_calls - calls

    window.view.tracking_action.trigger()
    assert worker.view.tracking is False and window.settings.tracking is False
    frames_from_now(1)  # the frame in flight when the menu was used
    frames, calls = frames_from_now(8)
    assert calls >= frames - 1  # the detector on every frame
    qtbot.waitUntil(lambda: window.hud.tracking.text() == "off", timeout=WAIT_MS)
    window.view.tracking_action.trigger()
    frames_from_now(2)
    frames, calls = frames_from_now(8)
    assert calls <= 2 and frames >= 8  # tracked again: at most one periodic full scan in 8 frames


def test_settings_round_trip_through_the_window(qtbot, open_window, pan_video):
    window = open_window(str(pan_video))
    wait_frames(qtbot, window)
    window.view.overlay_actions["axes"].trigger()
    window.view.strength_slider.setValue(70)
    window.hud_action.trigger()
    window.view.tracking_action.trigger()
    window.start_source(str(pan_video))  # as File > Open does: remembered as the source and a recent file
    window.resize(700, 500)  # inside the offscreen platform's 800x600 screen
    qtbot.waitUntil(lambda: window.width() == 700)
    window.close()
    assert settings_path().is_file()
    settings, warning = load_settings()
    assert warning is None
    assert settings.overlay == OverlayOptions(axes=False) and settings.smoothing_strength == 0.7
    assert settings.hud is False and settings.tracking is False and settings.source == str(pan_video)
    assert settings.recent_files == [str(pan_video.resolve())]
    again = open_window(settings.source, settings)
    assert not again.view.overlay_actions["axes"].isChecked() and again.view.strength_slider.value() == 70
    assert not again.hud.isVisibleTo(again) and again.width() == 700
    assert not again.view.tracking_action.isChecked() and again.worker.view.tracking is False
    assert [a.text() for a in again.sources.recent_menu.actions()] == [pan_video.name]


def test_a_corrupt_settings_file_gives_defaults_and_a_warning_in_the_window(open_window):
    settings_path().write_text("{ this is not json")
    settings, warning = load_settings()
    window = open_window("fakecam:0", settings, settings_warning=warning)
    assert settings == Settings()
    assert "using defaults" in window.status.text.text() and window.status.text.property("error")


def test_a_pyside6_losing_references_to_none_is_told_at_start_up(open_window, monkeypatch, caplog):
    """The window's own measurement injected as PySide6 6.12.0 on CPython 3.11 reads: status bar and stderr."""
    from facemap_gui.gui import qt_health

    assert open_window("fakecam:0").status.text.text() == ""
    monkeypatch.setattr(qt_health, "none_references_lost_per_call", lambda: 1.0)
    text = open_window("fakecam:0").status.text.text()
    assert text.startswith("PySide6-Essentials ") and "(1.00 a call)" in text
    assert any(r.levelname == "WARNING" and r.getMessage() == text for r in caplog.records)


def test_no_camera_says_so_in_the_window_and_offers_a_file_or_the_demo(qtbot, open_window):
    window = open_window("camera:7")
    # Waits for what the window shows: the worker's own state changes on its thread before the window hears of it.
    qtbot.waitUntil(
        lambda: (
            window.stack.currentWidget() is window.stack.message
            and window.stack.message.title.text() == "No camera found"
        ),
        timeout=WAIT_MS,
    )
    assert window.worker.state is WorkerState.FAILED
    assert "camera:7" in window.stack.message.detail.text()
    buttons = {b.text(): b for b in window.stack.message.findChildren(QPushButton)}
    assert set(buttons) == {"Open video or image…", "Demo clip"}
    buttons["Demo clip"].click()
    wait_frames(qtbot, window)
    assert window.options.source == "demo:0" and window.stack.currentWidget() is window.stack.video


def test_a_frame_that_fails_is_reported_and_the_stream_goes_on(qtbot, open_window):
    window = open_window("glitchy:0")  # every fourth frame is malformed
    shown: list[tuple[str, bool]] = []
    original = window.status.show
    window.status.show = lambda text, error=False: (shown.append((text, error)), original(text, error))
    wait_frames(qtbot, window, lambda live: live.result.frame.index > 12)
    assert any(error and text.startswith("Frame ") and " failed: " in text for text, error in shown)
    assert any(text.startswith("Processing recovered") for text, _ in shown)
    assert window.worker.state is WorkerState.RUNNING


def test_closing_stops_everything(qtbot, open_window):
    window = open_window("fakecam:0")
    wait_frames(qtbot, window)
    worker = window.worker
    window.close()  # waits for a worker still finishing up to SHUTDOWN_TIMEOUT_S: that only bounds a failure
    assert worker.state is WorkerState.STOPPING and not worker.alive


def test_unattended_run_saves_a_screenshot_and_closes(qtbot, open_window, pan_video, tmp_path):
    shot = tmp_path / "shot.png"
    window = open_window(str(pan_video), quit_after_frames=5, screenshot=shot)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert window.exit_code == 0 and window.latest.processed >= 5
    image = QImage(str(shot))
    assert image.width() == window.width() and image.height() == window.height()
    assert not settings_path().exists()  # an unattended run leaves the user's settings alone


def test_recording_from_the_window_shows_progress_and_writes_the_files(qtbot, open_window, pan_video, tmp_path):
    settings = Settings(output_folder=str(tmp_path / "recordings"))
    window = open_window(str(pan_video), settings)
    wait_frames(qtbot, window)
    window.recording.action.trigger()
    assert window.recording.action.isChecked() and "Recording to" in window.status.text.text()
    recorder = window.worker.recorder
    qtbot.waitUntil(lambda: recorder.status.frames_written >= 5, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "MB" in window.recording.label.text(), timeout=WAIT_MS)
    assert window.recording.label.isVisible() and window.recording.label.text().startswith("● REC 00:0")
    assert window.recording.label.text().endswith("0 dropped")
    window.recording.action.trigger()  # Ctrl+R again: stop
    assert not window.recording.action.isChecked() and not window.recording.label.isVisible()
    status = recorder.status
    assert window.status.text.text().startswith(f"Saved {status.frames_written} frames to {status.video_path}")
    with av.open(str(status.video_path)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == status.frames_written and (frames[0].width, frames[0].height) == (640, 360)
    lines = status.landmarks_path.read_text().splitlines()
    assert len(lines) == status.frames_written + 2  # header, one line a frame, summary


def test_recording_into_an_unwritable_place_says_why_and_the_stream_goes_on(qtbot, open_window, pan_video, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    window = open_window(str(pan_video), Settings(output_folder=str(blocker)))
    wait_frames(qtbot, window)
    window.recording.action.trigger()
    assert not window.recording.action.isChecked()
    assert window.status.text.text().startswith("Cannot record:") and str(blocker) in window.status.text.text()
    seen = window.latest.processed
    wait_frames(qtbot, window, lambda live: live.processed > seen)


WEBCAM = CameraInfo(
    0,
    "Integrated Webcam",
    "usb-0001",
    tuple(
        CameraFormat(w, h, 5.0, fps, pixels)
        for w, h, fps, pixels in [
            (1920, 1080, 30, "Jpeg"),
            (1280, 720, 30, "NV12"),
            (1280, 720, 30, "Jpeg"),
            (640, 480, 15, "YUYV"),
        ]
    ),
)


def menu_texts(menu) -> list[str]:
    return [a.text() for a in menu.actions()]


def test_the_source_menu_lists_cameras_by_name_with_their_formats(qtbot, open_window, monkeypatch):
    # No webcam exists here: the camera list is the one thing faked, as the OS would report it.
    monkeypatch.setattr(controls_module, "list_cameras", lambda: [WEBCAM])
    monkeypatch.setattr(camera_module, "_settings", camera_module.CameraSettings())  # restored after the test
    window = open_window("fakecam:0")
    window.sources.menu.aboutToShow.emit()
    texts = menu_texts(window.sources.menu)
    assert texts[:2] == ["Integrated Webcam", "Integrated Webcam format"]
    assert {"&Open video or image…", "&Demo clip", "&Refresh camera list"} <= set(texts)
    formats = window.sources.menu.actions()[1].menu()
    assert menu_texts(formats) == [
        "Automatic (best ≤1280x720 ≥30 fps)",
        "1920x1080 @ 30 fps",
        "1280x720 @ 30 fps",
        "640x480 @ 15 fps",
    ]
    assert [a.isChecked() for a in formats.actions()] == [True, False, False, False]
    formats.actions()[3].trigger()
    assert window.options.source == "camera:Integrated Webcam" and window.settings.source == "camera:Integrated Webcam"
    assert window.settings.camera_formats == {"usb-0001": "640x480@15"}
    assert camera_module._settings.format == (640, 480, 15.0)  # what opening the camera chooses by
    # The next time the camera is picked, by name alone, it opens in the format remembered for it.
    camera_module.use_format(None)
    window.sources.menu.aboutToShow.emit()
    assert [a.isChecked() for a in window.sources.menu.actions()[1].menu().actions()] == [False, False, False, True]
    window.sources.menu.actions()[0].trigger()
    assert camera_module._settings.format == (640, 480, 15.0)
    window.sources.menu.actions()[1].menu().actions()[0].trigger()  # Automatic: forgotten
    assert window.settings.camera_formats == {} and camera_module._settings.format is None


def test_the_camera_list_follows_cameras_plugged_in_and_out(qtbot, open_window, monkeypatch):
    cameras = [WEBCAM]
    monkeypatch.setattr(controls_module, "list_cameras", lambda: list(cameras))
    window = open_window("fakecam:0")
    window.sources.menu.aboutToShow.emit()
    assert "USB Camera" not in menu_texts(window.sources.menu)
    cameras.append(CameraInfo(1, "USB Camera", "usb-0002"))
    window.sources._devices.videoInputsChanged.emit()  # as Qt Multimedia tells of a camera plugged in
    texts = menu_texts(window.sources.menu)
    assert texts[:2] == ["Integrated Webcam", "Integrated Webcam format"] and texts[2] == "USB Camera"
    cameras.clear()
    window.sources._devices.videoInputsChanged.emit()
    assert menu_texts(window.sources.menu)[0] == "No camera found"


def test_at_launch_a_camera_opens_in_its_remembered_format_unless_one_is_asked_for(open_window, monkeypatch):
    monkeypatch.setattr(controls_module, "list_cameras", lambda: [WEBCAM])
    monkeypatch.setattr(camera_module, "_settings", camera_module.CameraSettings())
    remembered = Settings(camera_formats={"usb-0001": "640x480@15"})
    open_window("camera:integrated webcam", remembered)
    assert camera_module.chosen_format() == (640, 480, 15.0)
    camera_module.configure("auto", (1280, 720, 30.0))  # --camera-format 1280x720@30 on the command line
    open_window("camera:Integrated Webcam", remembered)
    assert camera_module.chosen_format() == (1280, 720, 30.0)


def test_two_cameras_of_one_name_are_told_apart_by_id(qtbot, open_window, monkeypatch):
    twin = CameraInfo(1, "Integrated Webcam", "usb-0002")
    monkeypatch.setattr(controls_module, "list_cameras", lambda: [WEBCAM, twin])
    monkeypatch.setattr(camera_module, "_settings", camera_module.CameraSettings())
    window = open_window("fakecam:0")
    window.sources.menu.aboutToShow.emit()
    assert menu_texts(window.sources.menu)[2] == "Integrated Webcam"
    window.sources.menu.actions()[2].trigger()
    assert window.options.source == "camera:usb-0002"
