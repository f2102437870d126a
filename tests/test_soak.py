"""A short soak (`facemap-gui bench --soak` for seconds): the live worker keeps going through repeated switches
and recordings, and the report notices what goes wrong. The 10-minute figures are in docs/faults.md."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from facemap_gui.live.soak import _Watcher, check_recording, run_soak
from facemap_gui.models.standins import write_stand_in
from facemap_gui.perframe.pipeline import FrameResult
from facemap_gui.run.pipeline_builder import RunOptions
from facemap_gui.sinks.recording import Recorder
from facemap_gui.sources import Frame


def test_short_soak_switches_and_records_with_no_exception(tmp_path):
    model = write_stand_in(tmp_path / "model", arch="tiny", precision="w8a8").with_name("facemap_3dmm.onnx")
    report = run_soak(RunOptions(model=model), minutes=10 / 60, folder=tmp_path, switch_every_s=1.0, record_every_s=2.0)
    assert report.exceptions == [] and report.recording_problems == []
    assert report.plan == ["cpu/float", "cpu/w8a8"]
    # How much happens in the 10 s depends on the machine's speed; that every switch lands and every recording
    # checks out does not. The first switch is requested at 1 s and the first recording starts at 2 s.
    assert report.switches_requested >= 1 and report.switches_done == report.switches_requested
    assert report.switches_failed == 0 and report.passed
    assert report.recordings >= 1 and 0 < report.frames_recorded <= report.frames_processed
    assert 0 < report.frames_shown <= report.frames_processed
    assert report.rss_start_mb > 0 and report.rss_end_mb > 0 and len(report.rss_samples_mb) >= 1
    assert not list(tmp_path.glob("facemap-soak-*"))  # recordings checked, then removed


def test_a_variant_that_cannot_load_fails_the_soak_and_says_why(tmp_path):
    model = write_stand_in(tmp_path / "model", arch="tiny")
    (model.parent / "facemap_3dmm_w8a8.onnx").write_bytes(b"not onnx")
    report = run_soak(RunOptions(model=model), minutes=4 / 60, folder=tmp_path, switch_every_s=1.0, record_every_s=60.0)
    assert report.switches_failed >= 1 and not report.passed
    assert any("facemap_3dmm_w8a8.onnx" in text for text in report.exceptions)
    # The stream went on on the session it had: the worker never failed and frames kept coming.
    assert not any(text.startswith("worker failed") for text in report.exceptions)
    assert report.frames_processed > 0
    assert report.lines()[-1] == "soak: FAILED"


def test_an_error_logged_during_the_soak_is_a_failure_not_a_hang():
    watcher = _Watcher()
    log = logging.getLogger("test_soak.error")
    log.addHandler(watcher)
    logged = threading.Thread(target=log.error, args=("disk full",), daemon=True)
    logged.start()
    logged.join(timeout=60)  # a guard only: the watcher once took logging.Handler's own lock again in emit()
    log.removeHandler(watcher)
    assert not logged.is_alive(), "the watcher deadlocked on an ERROR record"
    assert watcher.exceptions == ["log ERROR: disk full"]


def test_recording_check_notices_a_truncated_video(tmp_path):
    video = tmp_path / "rec.mkv"
    recorder = Recorder(video, fps=30, size=(64, 48), header={"type": "header"})
    rng = np.random.default_rng(0)
    for index in range(60):
        rgb = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        recorder.submit(FrameResult(Frame(index, index * 33.3, rgb), []), rgb, wait=True)
    status = recorder.close()
    assert check_recording(status) is None
    data = video.read_bytes()
    Path(video).write_bytes(data[: len(data) // 2])
    problem = check_recording(status)
    assert problem is not None and problem.startswith("rec.mkv: 60 frames written")
