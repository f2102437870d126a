"""The live engine behind the window, without Qt: latest-frame hand-over, pacing, camera loss, bad frames,
live switching, clean stop. The webcam is a fake registered through the source registry (none exists here)."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from facemap_gui.core.mailbox import Mailbox
from facemap_gui.live import worker as worker_module
from facemap_gui.live.events import EventKind, LiveFrame, ViewOptions, WorkerEvent, WorkerState
from facemap_gui.live.worker import LiveWorker
from facemap_gui.models.standins import write_stand_in
from facemap_gui.perframe.pipeline import FaceResult, FrameResult
from facemap_gui.run.pipeline_builder import RunOptions, open_session
from facemap_gui.sinks.overlay import OverlayOptions, draw_overlay
from facemap_gui.sources import Frame, lower_reader_priority
from facemap_gui.sources.base import READER_NICE
from tests.conftest import PHOTO
from tests.fakes import FakeCamera, ThreadProbe


class Listener:
    def __init__(self) -> None:
        self.notifications = 0
        self.states: list[tuple[WorkerState, str]] = []
        self.events: list[WorkerEvent] = []
        self.messages: list[tuple[str, bool]] = []  # as the window shows them
        self.changed = threading.Condition()

    def frame_ready(self) -> None:
        with self.changed:
            self.notifications += 1
            self.changed.notify_all()

    def state_changed(self, state: WorkerState, message: str) -> None:
        with self.changed:
            self.states.append((state, message))
            self.changed.notify_all()

    def worker_event(self, event: WorkerEvent) -> None:
        with self.changed:
            self.events.append(event)
            self.messages.append((event.text, event.error))
            self.changed.notify_all()

    def wait_for(self, condition, timeout: float = 20.0) -> None:
        with self.changed:
            assert self.changed.wait_for(condition, timeout), (self.states, self.messages)


def wait_until(condition, timeout: float = 20.0) -> None:
    """Poll `condition` until it holds; the timeout only bounds a failure."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.005)


def run_until(worker: LiveWorker, condition, timeout: float = 20.0) -> list[LiveFrame]:
    """Take frames like the window does until `condition(frame)` holds; returns every frame taken."""
    taken: list[LiveFrame] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = worker.take_latest()
        if frame is not None:
            taken.append(frame)
            if condition(frame):
                return taken
        time.sleep(0.005)
    raise AssertionError(f"condition not met; state {worker.state}, {len(taken)} frames")


@pytest.fixture
def start(tiny_model, fake_sources):
    workers: list[LiveWorker] = []

    def start(
        source: str,
        view: ViewOptions | None = None,
        model: Path = tiny_model,
        strict: bool = False,
        precision: str = "float",
    ) -> tuple[LiveWorker, Listener]:
        listener = Listener()
        options = RunOptions(source=source, model=model, strict=strict, precision=precision)
        worker = LiveWorker(options, listener, view)
        workers.append(worker)
        worker.start()
        return worker, listener

    yield start
    for worker in workers:
        worker.stop()


def test_mailbox_keeps_only_the_newest_item_and_counts_the_rest():
    box: Mailbox[int] = Mailbox()
    assert box.get(timeout=0.01) is None
    for i in range(5):
        box.put(i)
    assert box.get() == 4 and box.dropped == 4
    box.put(7)
    box.close()
    assert box.get() == 7  # what was left is still handed over after close
    assert box.get(timeout=5) is None and box.closed


def test_mailbox_get_wakes_when_an_item_arrives():
    box: Mailbox[str] = Mailbox()
    threading.Timer(0.05, box.put, args=("x",)).start()
    assert box.get(timeout=5) == "x"


def test_a_video_plays_at_its_own_pace_and_every_frame_is_shown_or_counted(start, pan_video):
    worker, listener = start(str(pan_video))
    frames = run_until(worker, lambda f: f.result.frame.index == 29)
    listener.wait_for(lambda: listener.states[-1][0] is WorkerState.IDLE)
    first, last = frames[0], frames[-1]
    # Never released ahead of its stream time: a slower machine only widens the gap, a file read as fast as it
    # decodes (30 frames in a few ms) narrows it far below the stream's.
    stream_gap_s = (last.result.frame.timestamp_ms - first.result.frame.timestamp_ms) / 1000.0
    assert len(frames) > 1 and stream_gap_s > 0.03  # two frames taken, at least one frame interval apart
    assert last.captured_at - first.captured_at >= stream_gap_s - 0.002
    # Each frame was processed, or replaced by a newer one before inference was free (a busy machine).
    assert last.processed + last.dropped == 30
    assert listener.states[-1][1].endswith(f"({last.processed} frames)")
    assert [s for s, _ in listener.states[:2]] == [WorkerState.STARTING, WorkerState.RUNNING]
    assert last.stand_in and last.runtime.runtime == "cpu" and last.result.frame.index == 29
    assert set(last.stage_ms) >= {"detect", "preprocess", "inference", "decode", "overlay"}
    assert last.detector_calls > 0 and last.pipeline_ms > 0


def test_the_window_is_told_once_per_newest_frame_never_a_backlog(start):
    worker, listener = start("fakecam:0")
    listener.wait_for(lambda: listener.notifications == 1)
    reads = FakeCamera.reads
    wait_until(lambda: FakeCamera.reads >= reads + 20)  # frames arrive, nobody takes them
    assert listener.notifications == 1
    taken = run_until(worker, lambda f: True)
    listener.wait_for(lambda: listener.notifications == 2)
    assert taken[-1].processed > 1


def test_the_overlay_is_drawn_on_a_copy_where_the_landmarks_are(start, pan_video):
    worker, _ = start(str(pan_video), ViewOptions(overlay=OverlayOptions(boxes=False, axes=False)))
    live = run_until(worker, lambda f: bool(f.result.faces))[-1]
    points = np.round(live.result.faces[0].landmarks).astype(int)
    raw = live.result.frame.rgb
    picture = live.picture
    assert picture.shape == raw.shape  # no display area: the frame's own size
    changed = np.any(picture[points[:, 1], points[:, 0]] != raw[points[:, 1], points[:, 0]], axis=1)
    assert changed.mean() > 0.9
    # Far from the face (top-left corner) nothing is drawn.
    assert np.array_equal(picture[:20, :20], raw[:20, :20])


def test_the_picture_is_scaled_to_the_display_area_with_the_overlay_drawn_at_that_size(start, pan_video):
    view = ViewOptions(overlay=OverlayOptions(boxes=False, axes=False), display_area=(320, 400))
    worker, _ = start(str(pan_video), view)
    live = run_until(worker, lambda f: bool(f.result.faces))[-1]
    width, height = live.result.frame.size
    scale = 320 / width
    assert live.picture.shape == (round(height * scale), 320, 3)  # as large as fits, the aspect kept
    plain = cv2.resize(live.result.frame.rgb, (320, round(height * scale)), interpolation=cv2.INTER_LINEAR)
    points = np.round(live.result.faces[0].landmarks * scale).astype(int)
    differs = np.abs(live.picture[points[:, 1], points[:, 0]].astype(int) - plain[points[:, 1], points[:, 0]])
    assert (differs.sum(axis=1) > 60).mean() > 0.8
    assert np.array_equal(live.picture[:10, :10], plain[:10, :10])
    worker.view = dataclasses.replace(view, display_area=(640, 800))  # the window was resized
    bigger = run_until(worker, lambda f: f.picture.shape[1] == 640)[-1]
    assert bigger.picture.shape[0] == round(height * 640 / width)


def test_overlay_options_redraw_the_last_frame_after_the_source_ended(start, tiny_model):
    worker, listener = start(str(PHOTO))
    first = run_until(worker, lambda f: bool(f.result.faces))[-1]
    listener.wait_for(lambda: listener.states[-1][0] is WorkerState.IDLE)
    worker.view = ViewOptions(overlay=OverlayOptions(boxes=False, points=False, contours=False, axes=False))
    redrawn = run_until(worker, lambda f: True, timeout=5)[-1]
    assert redrawn.result is first.result
    raw = first.result.frame.rgb
    # Only the stand-in label is left: far fewer pixels differ from the raw frame than with the full overlay.
    assert 0 < np.count_nonzero(redrawn.picture != raw) < np.count_nonzero(first.picture != raw) / 2


def test_a_slow_consumer_drops_stale_frames_instead_of_queueing_them(start, monkeypatch):
    monkeypatch.setattr(FakeCamera, "interval_s", 0.0)  # a camera far faster than the pipeline
    worker, _ = start("fakecam:0")
    frames = run_until(worker, lambda f: f.processed >= 15)
    assert frames[-1].dropped > 0  # the camera outpaces the pipeline here; stale frames were skipped
    # What is shown skips ahead to the newest frame: never a backlog of old frames worked through in turn.
    indexes = [f.result.frame.index for f in frames]
    assert any(later - earlier > 1 for earlier, later in itertools.pairwise(indexes))


def test_a_camera_that_disappears_is_reported_and_retried(start, monkeypatch):
    monkeypatch.setattr(worker_module, "CAMERA_RETRY_S", 0.05)
    monkeypatch.setattr(FakeCamera, "unplug_after", 5)
    monkeypatch.setattr(FakeCamera, "unplugged_opens", 2)
    monkeypatch.setattr(FakeCamera, "opened", 0)
    worker, listener = start("fakecam:0")
    listener.wait_for(lambda: any("is back" in text for text, _ in listener.messages))
    lost = [text for text, error in listener.messages if error]
    assert "stopped delivering frames" in lost[0] and "retrying" in lost[0]
    before = worker.take_latest()
    run_until(worker, lambda f: before is not None and f.processed > before.processed + 3)
    assert FakeCamera.opened == 2  # the frames after that came from the reopened camera
    assert worker.state is WorkerState.RUNNING


def test_an_exception_on_a_frame_is_reported_and_the_stream_goes_on(start):
    worker, listener = start("glitchy:0")
    frames = run_until(worker, lambda f: f.result.frame.index > 12)
    failed = [text for text, error in listener.messages if error]
    assert failed and all(text.startswith("Frame ") and " failed: " in text for text in failed)
    assert all(int(text.split()[1]) % 4 == 3 for text in failed)  # exactly the malformed ones
    assert any("recovered" in text for text, error in listener.messages if not error)
    assert all(f.result.frame.index % 4 != 3 for f in frames) and worker.state is WorkerState.RUNNING


def test_switching_precision_while_frames_flow(start, tmp_path, monkeypatch):
    model = write_stand_in(tmp_path, arch="tiny", precision="w8a8").with_name("facemap_3dmm.onnx")
    worker, listener = start("fakecam:0", model=model)
    run_until(worker, lambda f: f.runtime.precision == "float")

    building, release = threading.Event(), threading.Event()

    def held_open_session(*args):  # a session build held open, as a slow NPU compile, until the test lets it go
        building.set()
        assert release.wait(20)
        return open_session(*args)

    monkeypatch.setattr("facemap_gui.live.worker.open_session", held_open_session)
    worker.request_switch("cpu", "w8a8")
    assert building.wait(20)
    first = run_until(worker, lambda f: True)[-1]
    during = run_until(worker, lambda f: f.processed >= first.processed + 3)  # frames keep coming during the build
    assert worker.switching and {f.runtime.precision for f in [first, *during]} == {"float"}
    release.set()
    run_until(worker, lambda f: f.runtime.precision == "w8a8")
    assert any(
        e.kind is EventKind.SWITCHED and e.text.startswith("Now running on CPU w8a8") and not e.error
        for e in listener.events
    )
    worker.request_switch("cpu", "float")
    run_until(worker, lambda f: f.runtime.precision == "float")


def test_a_switch_that_falls_back_says_why(start):
    worker, listener = start("fakecam:0")  # the tiny stand-in has no w8a8 variant beside it
    run_until(worker, lambda f: f.processed > 2)
    worker.request_switch("cpu", "w8a8")
    listener.wait_for(lambda: any(error for _, error in listener.messages))
    event = next(e for e in listener.events if e.error)
    assert event.kind is EventKind.FALLBACK and "facemap_3dmm_w8a8.onnx" in event.detail
    assert event.text.startswith("Running on CPU float instead of cpu/w8a8")


def test_a_fallback_at_start_is_told_too(start):
    worker, listener = start("fakecam:0", precision="w8a8")  # no w8a8 variant beside the tiny stand-in
    run_until(worker, lambda f: f.runtime.precision == "float")
    listener.wait_for(lambda: any(error for _, error in listener.messages))
    assert next(text for text, error in listener.messages if error).startswith(
        "Running on CPU float instead of cpu/w8a8"
    )


def test_a_failed_switch_keeps_the_stream_on_the_old_session(start):
    worker, listener = start("fakecam:0", strict=True)  # strict: no fallback to float
    run_until(worker, lambda f: f.processed > 2)
    worker.request_switch("cpu", "w8a8")
    listener.wait_for(lambda: any(e.kind is EventKind.SWITCH_FAILED for e in listener.events))
    before = worker.take_latest() or run_until(worker, lambda f: True)[-1]
    after = run_until(worker, lambda f: f.processed > before.processed + 2)[-1]
    assert after.runtime.precision == "float"


def test_a_source_that_cannot_open_fails_with_its_name(start, tmp_path):
    missing = tmp_path / "missing.mp4"
    _, listener = start(str(missing))
    listener.wait_for(lambda: listener.states[-1][0] is WorkerState.FAILED)
    assert str(missing) in listener.states[-1][1]


def test_stop_ends_both_threads_while_running(start):
    worker, _ = start("fakecam:0")
    run_until(worker, lambda f: f.processed > 2)
    assert worker.stop(timeout=20)  # the timeout only bounds a failure; closing the mailbox wakes the inference
    assert worker.state is WorkerState.STOPPING and not worker.alive


LINUX_ONLY = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="per-thread nice values are Linux's (Windows: SetThreadPriority, this thread)",
)


def test_a_file_that_fails_to_read_is_told_once_with_its_name_and_not_reopened(start, monkeypatch):
    monkeypatch.setattr(ThreadProbe, "live", False)
    monkeypatch.setattr(ThreadProbe, "seen", [])
    monkeypatch.setattr(FakeCamera, "unplug_after", 3)
    opened = FakeCamera.opened
    worker, listener = start("threadprobe:0")
    listener.wait_for(lambda: listener.states[-1][0] is WorkerState.IDLE)
    errors = [(e.detail, e.subject) for e in listener.events if e.kind is EventKind.SOURCE_ERROR]
    assert errors == [("fakecam:0: camera stopped delivering frames (unplugged or in use?)", "fakecam:0")]
    assert FakeCamera.opened == opened + 1 and worker.state is WorkerState.IDLE


@pytest.mark.parametrize("live", [False, True])
def test_a_file_is_read_on_the_inference_thread_a_camera_on_its_own(start, monkeypatch, live):
    monkeypatch.setattr(ThreadProbe, "live", live)
    monkeypatch.setattr(ThreadProbe, "seen", [])
    worker, _ = start("threadprobe:0")
    run_until(worker, lambda f: f.processed >= 3)
    assert set(ThreadProbe.seen) == {"capture" if live else "inference"}


@LINUX_ONLY
def test_threads_started_by_a_lowered_reader_inherit_its_priority():
    seen = {}

    def child() -> None:
        seen["child"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def reader() -> None:
        seen["lowered"] = lower_reader_priority()  # FFmpeg starts its decoding threads after this, at first decode
        thread = threading.Thread(target=child)
        thread.start()
        thread.join()

    thread = threading.Thread(target=reader)
    thread.start()
    thread.join()
    assert seen == {"lowered": True, "child": READER_NICE}


def test_landmark_points_scale_with_the_picture():
    """A picture twice as tall gets dots about twice as wide: in a small window they do not cover the face.
    (Anti-aliasing gives the smallest dots a footprint of their own, hence the lower bound there.)"""
    frame = Frame(0, 0.0, np.zeros((1440, 1920, 3), np.uint8))
    landmarks = np.stack(np.meshgrid(np.arange(8) * 200 + 100.0, np.arange(9) * 150 + 50.0), -1).reshape(-1, 2)
    face = FaceResult((0, 0, 1919, 1439), (0, 0, 1919, 1439), 1.0, landmarks[:68], (0.0, 0.0, 0.0))
    result = FrameResult(frame, [face])
    points_only = OverlayOptions(boxes=False, contours=False, axes=False)

    def dot_width(h: int) -> float:
        picture = np.zeros((h, h * 4 // 3, 3), np.uint8)
        draw_overlay(picture, result, points_only, scale=h / 1440)
        return math.sqrt(picture[..., 0].sum() / 255 / 68)  # of the anti-aliased coverage of one dot

    assert dot_width(960) / dot_width(480) > 1.8
    assert dot_width(480) / dot_width(240) > 1.3
