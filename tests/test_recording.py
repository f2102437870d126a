"""Recording: annotated video + landmark files, through the Recorder API and `process --record`, read back with PyAV."""

from __future__ import annotations

import csv
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import av
import numpy as np
import pytest

from facemap_gui.core.errors import FacemapError
from facemap_gui.perframe.pipeline import FaceResult, FrameResult
from facemap_gui.sinks.output import frame_record
from facemap_gui.sinks.overlay import draw_overlay
from facemap_gui.sinks.recording import CSV_COLUMNS, Recorder, default_recording_path
from facemap_gui.sinks.recording.landmarks import csv_rows
from facemap_gui.sinks.recording.video import VideoWriter
from facemap_gui.sources import Frame
from facemap_gui.sources.demo import DemoSource
from tests.conftest import PHOTO, constant_model
from tests.test_process import read_jsonl, run_cli

SIZE = (320, 240)
HEADER = {"type": "header", "model": {"stand_in": True}}


@dataclass
class Decoded:
    frames: list[np.ndarray]  # RGB
    pts_ms: list[float]
    keyframe_ms: list[float]
    size: tuple[int, int]
    codec: str


def decode(path: Path, crashed: bool = False) -> Decoded:
    """Every frame of a video; of a `crashed` one, the frames before the first undecodable packet (the part of a
    cluster or fragment that was being written at the kill), as a player or our VideoSource shows them."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames, pts, keys = [], [], []
        for packet in container.demux(stream):
            if packet.pts is not None and packet.is_keyframe:
                keys.append(float(packet.pts * packet.time_base * 1000))
            try:
                decoded = packet.decode()
            except av.InvalidDataError:
                if not crashed:
                    raise
                break
            for frame in decoded:
                frames.append(frame.to_ndarray(format="rgb24"))
                pts.append(float(frame.pts * frame.time_base * 1000))
        return Decoded(
            frames, pts, keys, (stream.codec_context.width, stream.codec_context.height), stream.codec_context.name
        )


def photo_frames(count: int, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    source = DemoSource("", photo=PHOTO, size=size)
    return [source.read().rgb for _ in range(count)]


def ring_face(size: tuple[int, int]) -> FaceResult:
    """68 points on a circle in the middle of the frame: where the overlay must show up in the video."""
    angles = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    cx, cy, radius = size[0] / 2, size[1] / 2, size[1] / 4
    landmarks = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], axis=1)
    box = (int(cx - radius), int(cy - radius), int(cx + radius), int(cy + radius))
    return FaceResult(box=box, crop_box=box, score=0.9, landmarks=landmarks, pose=(10.0, -5.0, 2.0))


def overlay_contrast(recorded: np.ndarray, plain: np.ndarray, landmarks: np.ndarray) -> tuple[float, float]:
    """Mean |recorded - plain| at the landmark pixels, and the median over the whole frame."""
    h, w = plain.shape[:2]
    points = np.round(landmarks).astype(int)
    points = points[(points[:, 0] >= 0) & (points[:, 0] < w) & (points[:, 1] >= 0) & (points[:, 1] < h)]
    assert len(points) > 10
    diff = np.abs(recorded[:h, :w].astype(int) - plain.astype(int)).mean(axis=2)
    return float(diff[points[:, 1], points[:, 0]].mean()), float(np.median(diff))


@pytest.mark.parametrize(
    ("suffix", "codecs", "codec"),
    [
        (".mkv", ("libx264", "mpeg4"), "h264"),
        (".mp4", ("libx264", "mpeg4"), "h264"),
        (".mkv", ("no-such-encoder", "mpeg4"), "mpeg4"),
    ],
)
def test_recorder_writes_annotated_frames_at_source_timestamps(tmp_path, suffix, codecs, codec, caplog):
    plain = photo_frames(40)
    # A camera clock that does not start at 0, 25 fps, with a gap where frames 10-14 were lost upstream.
    timestamps = [5000.0 + 40.0 * i for i in range(45) if not 10 <= i < 15]
    face = ring_face(SIZE)
    path = tmp_path / f"take{suffix}"
    with caplog.at_level(logging.WARNING):
        recorder = Recorder(path, fps=25, size=SIZE, header=HEADER, csv=True, codecs=codecs)
    for index, (rgb, ts) in enumerate(zip(plain, timestamps, strict=True)):
        result = FrameResult(frame=Frame(index, ts, rgb), faces=[face], timings_ms={"detect": 1.0})
        assert recorder.submit(result, draw_overlay(rgb.copy(), result, stand_in=True), wait=True)
    status = recorder.close()

    assert status.frames_written == 40 and status.frames_dropped == 0 and status.error is None
    assert not status.running and status.codec == codecs[-1 if codec == "mpeg4" else 0]
    assert ("no-such-encoder" in caplog.text) == (codec == "mpeg4")
    video = decode(path)
    assert video.size == SIZE and video.codec == codec and len(video.frames) == 40
    np.testing.assert_allclose(video.pts_ms, [t - 5000.0 for t in timestamps], atol=1.0)
    # A keyframe at least every second of media time: what a kill can lose.
    assert video.keyframe_ms[0] == 0 and np.diff([*video.keyframe_ms, video.pts_ms[-1]]).max() <= 1000 + 40
    for recorded, original in zip(video.frames[::10], plain[::10], strict=True):
        at_points, overall = overlay_contrast(recorded, original, face.landmarks)
        assert at_points > 60 and overall < 8, (at_points, overall)

    header, *frames, summary = read_jsonl(path.with_suffix(".jsonl").read_text())
    assert header["recording"] == {"video": path.name, "codec": status.codec, "size": list(SIZE), "fps": 25}
    # The landmarks count from the first recorded frame, as the video's time does.
    assert [f["timestamp_ms"] for f in frames] == [t - 5000.0 for t in timestamps]
    assert [f["frame"] for f in frames] == list(range(40))
    np.testing.assert_allclose(frames[0]["faces"][0]["landmarks"], face.landmarks, atol=1e-3)
    assert summary["type"] == "summary" and summary["frames"] == 40 and summary["frames_dropped"] == 0
    assert summary["stand_in"] is True
    # The writer's own time a frame sits beside the pipeline's stages, and in the status.
    assert summary["timings_ms"]["detect"] == {
        "mean": 1.0,
        "median": pytest.approx(1.0, rel=0.001),
        "p95": pytest.approx(1.0, rel=0.001),
        "count": 40,
    }
    assert summary["timings_ms"]["encode"]["count"] == 40 and summary["timings_ms"]["encode"]["median"] > 0
    assert status.encode_ms == summary["timings_ms"]["encode"]
    with path.with_suffix(".csv").open(newline="") as stream:
        columns, *rows = list(csv.reader(stream))
    assert tuple(columns) == CSV_COLUMNS and len(columns) == 8 + 136 + 3 + 10 + 52 + 1 and len(rows) == 40
    assert {row[-1] for row in rows} == {"1"}  # HEADER's model is a stand-in: every row says so
    with av.open(str(path)) as container:  # and the video file itself, not only its burned-in label
        tags = {name.lower(): value for name, value in container.metadata.items()}  # Matroska writes COMMENT
        assert "STAND-IN" in tags["comment"]
    row = dict(zip(columns, rows[0], strict=True))
    assert float(row["x_17"]) == pytest.approx(face.landmarks[17, 0], abs=1e-3)
    assert float(row["y_17"]) == pytest.approx(face.landmarks[17, 1], abs=1e-3)
    assert [int(row[k]) for k in ("box_x0", "box_y0", "box_x1", "box_y1")] == list(face.box)
    assert float(row["yaw"]) == 10.0 and float(row["timestamp_ms"]) == 0.0
    assert status.bytes_written == sum(p.stat().st_size for p in tmp_path.iterdir())
    assert recorder.close() == status  # idempotent


def test_a_full_queue_drops_and_counts_without_blocking(tmp_path, monkeypatch):
    rgb = photo_frames(1, (1280, 720))[0]
    encoding, finish_encoding = threading.Event(), threading.Event()
    write = VideoWriter.write

    def slow_write(self: VideoWriter, *args: object) -> None:
        encoding.set()
        # Busy until the test has submitted the rest; should a submit block instead, the wait ends and the
        # counts below come out wrong rather than the test hanging.
        finish_encoding.wait(timeout=60)
        write(self, *args)

    monkeypatch.setattr(VideoWriter, "write", slow_write)
    recorder = Recorder(tmp_path / "busy.mkv", fps=30, size=(1280, 720), header=HEADER, queue_size=2)
    assert recorder.submit(FrameResult(Frame(0, 0.0, rgb), []), rgb)
    assert encoding.wait(timeout=60)  # frame 0 is being encoded: the 2-slot queue is empty
    accepted = [recorder.submit(FrameResult(Frame(i, i * 33.3, rgb), []), rgb) for i in range(1, 60)]
    finish_encoding.set()
    status = recorder.close()
    assert accepted == [True, True] + [False] * 57
    assert status.frames_dropped == 57 and status.frames_written == 3 == len(decode(tmp_path / "busy.mkv").frames)
    *_, summary = read_jsonl((tmp_path / "busy.jsonl").read_text())
    assert summary["frames"] == status.frames_written and summary["frames_dropped"] == status.frames_dropped
    assert not recorder.submit(FrameResult(Frame(60, 2000.0, rgb), []), rgb)  # closed: refused, not counted
    assert recorder.status.frames_dropped == status.frames_dropped


def test_existing_files_are_never_overwritten(tmp_path):
    video = tmp_path / "take.mkv"
    video.write_bytes(b"precious")
    with pytest.raises(FacemapError, match=r"take\.mkv: already exists"):
        Recorder(video, fps=30, size=SIZE, header=HEADER)
    assert video.read_bytes() == b"precious"
    sidecar = tmp_path / "other.csv"
    sidecar.write_text("precious")
    with pytest.raises(FacemapError, match=r"other\.csv: already exists"):
        Recorder(tmp_path / "other.mp4", fps=30, size=SIZE, header=HEADER, csv=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.csv", "take.mkv"]  # nothing half-created


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="/sys is Linux's folder that nobody, root included, can write")
def test_unwritable_folders_are_refused_with_the_fix(tmp_path):
    with pytest.raises(FacemapError, match=r"^/sys/take.mkv: cannot create \(Permission denied\); choose another"):
        Recorder(Path("/sys/take.mkv"), fps=30, size=SIZE, header=HEADER)
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("")
    with pytest.raises(FacemapError, match=r"file.txt: is a file, not a folder; choose a folder to record in"):
        Recorder(not_a_folder / "take.mkv", fps=30, size=SIZE, header=HEADER)
    with pytest.raises(FacemapError, match=r"file.txt/sub: cannot create the folder \(Not a directory\)"):
        Recorder(not_a_folder / "sub" / "take.mkv", fps=30, size=SIZE, header=HEADER)
    with pytest.raises(FacemapError, match=r"take.avi: cannot record to .avi; use .mkv or .mp4"):
        Recorder(tmp_path / "take.avi", fps=30, size=SIZE, header=HEADER)
    with pytest.raises(FacemapError, match="no video encoder works"):
        Recorder(tmp_path / "take.mkv", fps=30, size=SIZE, header=HEADER, codecs=("no-such-encoder",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_a_writer_failure_stops_the_recording_and_keeps_what_was_written(tmp_path):
    rgb = photo_frames(1)[0]
    recorder = Recorder(tmp_path / "cam.mkv", fps=30, size=SIZE, header=HEADER)
    for i in range(45):
        assert recorder.submit(FrameResult(Frame(i, i * 33.3, rgb), []), rgb, wait=True)
    wider = np.zeros((240, 400, 3), np.uint8)  # the camera was swapped for one with another resolution
    recorder.submit(FrameResult(Frame(45, 1500.0, wider), []), wider, wait=True)
    deadline = time.monotonic() + 10
    while recorder.status.running and time.monotonic() < deadline:
        time.sleep(0.01)
    status = recorder.status
    assert not status.running and status.frames_written == 45
    assert status.error == (
        "recording stopped after 45 frames: "
        + str(tmp_path / "cam.mkv")
        + ": the source changed size from 320x240 to 400x240; start a new recording"
    )
    assert not recorder.submit(FrameResult(Frame(46, 1533.0, rgb), []), rgb)
    assert recorder.close().error == status.error
    # Frames up to the last finished cluster decode; the landmark file has every written frame, no summary.
    assert len(decode(tmp_path / "cam.mkv").frames) >= 30
    lines = read_jsonl((tmp_path / "cam.jsonl").read_text())
    assert [r["type"] for r in lines] == ["header"] + ["frame"] * 45


def test_odd_sizes_are_padded_by_one_pixel(tmp_path):
    rgb = photo_frames(1, (321, 241))[0]
    recorder = Recorder(tmp_path / "odd.mp4", fps=30, size=(321, 241), header=HEADER)
    for i in range(3):
        recorder.submit(FrameResult(Frame(i, i * 33.3, rgb), []), rgb, wait=True)
    assert recorder.close().frames_written == 3
    video = decode(tmp_path / "odd.mp4")
    assert video.size == (322, 242) and len(video.frames) == 3
    assert np.abs(video.frames[0][:241, :321].astype(int) - rgb).mean() < 6


def test_default_recording_path_is_timestamped_and_new(tmp_path):
    now = datetime(2026, 11, 25, 14, 3, 7)
    first = default_recording_path(tmp_path, now=now)
    assert first == tmp_path / "facemap-2026-11-25_14-03-07.mkv"
    first.write_bytes(b"")
    second = default_recording_path(tmp_path, now=now)
    assert second == tmp_path / "facemap-2026-11-25_14-03-07-2.mkv"
    second.with_suffix(".jsonl").write_text("")  # a leftover landmark file blocks the name too
    assert default_recording_path(tmp_path, now=now) == tmp_path / "facemap-2026-11-25_14-03-07-3.mkv"
    assert default_recording_path(tmp_path, ".mp4", now) == tmp_path / "facemap-2026-11-25_14-03-07.mp4"


# --- the command line -------------------------------------------------------------------------------------------


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "facemap_gui.cli", *args]


def test_process_record_writes_video_jsonl_and_csv(tmp_path, pan_video, tiny_model):
    out, video = tmp_path / "out.jsonl", tmp_path / "rec.mkv"
    result = subprocess.run(
        cli(
            "process", str(pan_video), "--model", str(tiny_model), "--output", str(out), "--record", str(video), "--csv"
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    *frames, summary = read_jsonl(out.read_text())[1:]
    encode = summary["recording"].pop("encode_ms")
    assert summary["recording"] == {"video": str(video), "codec": "libx264", "frames": 30, "dropped": 0, "error": None}
    assert encode["count"] == 30 and 0 < encode["median"] <= encode["p95"]
    recorded = read_jsonl(video.with_suffix(".jsonl").read_text())
    assert (
        recorded[0]["recording"]["video"] == "rec.mkv"
        and recorded[0]["model"] == read_jsonl(out.read_text())[0]["model"]
    )
    assert recorded[1:-1] == frames  # the same schema and the same numbers as --output
    assert recorded[-1]["frames"] == 30 and recorded[-1]["frames_dropped"] == 0

    decoded, plain = decode(video), decode(pan_video)
    assert decoded.size == (640, 360) and len(decoded.frames) == 30
    np.testing.assert_allclose(decoded.pts_ms, [f["timestamp_ms"] for f in frames], atol=1.0)
    for i in (0, 15, 29):
        at_points, overall = overlay_contrast(
            decoded.frames[i], plain.frames[i], np.array(frames[i]["faces"][0]["landmarks"])
        )
        assert at_points > 60 and overall < 8, (i, at_points, overall)
    # The stand-in label, bottom left (overlay.py draws it at y = height - 16 * height / 720).
    label = np.abs(decoded.frames[0][336:356, 6:200].astype(int) - plain.frames[0][336:356, 6:200]).max(axis=2)
    assert (label > 80).sum() > 100

    with video.with_suffix(".csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 30 and [int(r["frame"]) for r in rows] == list(range(30))
    assert float(rows[7]["y_30"]) == frames[7]["faces"][0]["landmarks"][30][1]
    assert float(rows[7]["roll"]) == frames[7]["faces"][0]["pose"]["roll"]


@pytest.mark.parametrize("stand_in_basis", [True, False])
def test_every_output_follows_the_sessions_provenance(tmp_path, pan_video, tiny_model, real_basis, stand_in_basis):
    """An unmarked model with the stand-in's basis is a stand-in (with a real basis, real): the JSON Lines header
    and summary, the recording's header, CSV column and video comment all say what ModelInfo says."""
    model = constant_model(tmp_path / "model.onnx", np.zeros(265))
    basis = tiny_model.parent if stand_in_basis else real_basis
    out, video = tmp_path / "out.jsonl", tmp_path / "rec.mkv"
    box = "200,100,440,300"
    run_cli("process", str(pan_video), "--model", str(model), "--basis-dir", str(basis), "--box", box,
            "--output", str(out), "--record", str(video), "--csv")  # fmt: skip
    header, *_, summary = read_jsonl(out.read_text())
    recorded = read_jsonl(video.with_suffix(".jsonl").read_text())
    assert header["model"]["stand_in"] is summary["stand_in"] is stand_in_basis
    assert recorded[0]["model"]["stand_in"] is recorded[-1]["stand_in"] is stand_in_basis
    with video.with_suffix(".csv").open(newline="") as stream:
        assert {row["stand_in"] for row in csv.DictReader(stream)} == {str(int(stand_in_basis))}
    with av.open(str(video)) as container:
        comment = {name.lower(): value for name, value in container.metadata.items()}["comment"]
    assert ("STAND-IN" in comment) is stand_in_basis


def test_process_refuses_an_existing_recording_and_leaves_no_output(tmp_path, pan_video, tiny_model):
    video = tmp_path / "rec.mp4"
    video.write_bytes(b"precious")
    result = subprocess.run(
        cli(
            "process",
            str(pan_video),
            "--model",
            str(tiny_model),
            "--output",
            str(tmp_path / "out.jsonl"),
            "--record",
            str(video),
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"facemap-gui: error: {video}: already exists; choose another name (recordings never overwrite)"
    )
    assert video.read_bytes() == b"precious" and sorted(p.name for p in tmp_path.iterdir()) == ["rec.mp4"]


def _limit_file_size(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG, like a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


def test_a_write_error_mid_recording_stops_it_and_processing_goes_on(tmp_path, tiny_model):
    out, video = tmp_path / "out.jsonl", tmp_path / "rec.mkv"
    # 3 s of 720p demo; the first second of video is ~0.5 MB, so the file limit is hit in the second cluster.
    result = subprocess.run(
        cli(
            "process",
            "demo:90",
            "--model",
            str(tiny_model),
            "--box",
            "500,200,780,520",
            "--output",
            str(out),
            "--record",
            str(video),
        ),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: _limit_file_size(800_000),
    )
    assert result.returncode == 1, result.stderr
    records = read_jsonl(out.read_text())
    assert [r["type"] for r in records].count("frame") == 90  # the run itself went on to the end
    recording = records[-1]["recording"]
    written = recording["frames"]
    assert 30 <= written < 90 and recording["error"] == (
        f"recording stopped after {written} frames: {video}: cannot write (File too large); "
        "free disk space or write to another folder (frames before this are saved)"
    )
    assert f"WARNING: {recording['error']}" in result.stderr and "Traceback" not in result.stderr
    lines = read_jsonl(video.with_suffix(".jsonl").read_text())
    assert [r["type"] for r in lines] == ["header"] + ["frame"] * written
    decoded = decode(video, crashed=True)
    assert 30 <= len(decoded.frames) <= written
    np.testing.assert_allclose(
        decoded.pts_ms, [r["timestamp_ms"] for r in lines[1 : len(decoded.frames) + 1]], atol=1.0
    )


def _record_demo_until(tmp_path: Path, tiny_model: Path, video: Path, frames: int) -> subprocess.Popen[str]:
    """Start `process demo:0 --record VIDEO` (endless) and return once its landmark file has `frames` frames."""
    sidecar = video.with_suffix(".jsonl")
    proc = subprocess.Popen(
        cli(
            "process",
            "demo:0",
            "--model",
            str(tiny_model),
            "--box",
            "500,200,780,520",
            "--output",
            str(tmp_path / "out.jsonl"),
            "--record",
            str(video),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if sidecar.exists() and sidecar.read_text().count('"type":"frame"') >= frames:
            return proc
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"recording did not reach {frames} frames: {proc.communicate()[1]}")


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_kill_9_leaves_a_playable_video_and_whole_landmark_lines(tmp_path, tiny_model, suffix):
    video = tmp_path / f"crash{suffix}"
    proc = _record_demo_until(tmp_path, tiny_model, video, frames=60)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    lines = video.with_suffix(".jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is complete JSON
    captured = sum(r["type"] == "frame" for r in records)
    decoded = decode(video, crashed=True)
    # Lost at most the open cluster/fragment: one second, 30 frames at the demo's 30 fps (x264 has no delay).
    assert captured - 31 <= len(decoded.frames) <= captured, (captured, len(decoded.frames))
    assert decoded.size == (1280, 720)
    np.testing.assert_allclose(
        decoded.pts_ms, [r["timestamp_ms"] for r in records[1 : len(decoded.frames) + 1]], atol=1.0
    )


def test_sigterm_finishes_the_recording_properly(tmp_path, tiny_model):
    video = tmp_path / "stopped.mkv"
    proc = _record_demo_until(tmp_path, tiny_model, video, frames=20)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    *frames, summary = read_jsonl(video.with_suffix(".jsonl").read_text())[1:]
    assert summary["type"] == "summary" and summary["frames"] == len(frames) >= 20
    assert len(decode(video).frames) == len(frames)  # the queue was drained and the encoder flushed
    out = read_jsonl((tmp_path / "out.jsonl").read_text())[-1]
    assert out["interrupted"] is True and out["recording"]["frames"] == len(frames)
    assert out["recording"]["dropped"] == 0
    assert os.path.getsize(video) > 0


def test_files_and_overlay_name_each_face_by_its_track_id():
    face = ring_face(SIZE)
    blank = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)

    def result(*ids: int) -> FrameResult:
        faces = [
            replace(face, box=(b := (10 + 150 * n, 40, 130 + 150 * n, 160)), crop_box=b, track_id=i)
            for n, i in enumerate(ids)
        ]
        return FrameResult(frame=Frame(0, 0.0, blank), faces=faces)

    record = frame_record(result(4, 7))
    assert [f["id"] for f in record["faces"]] == [4, 7] and next(iter(record["faces"][0])) == "id"
    assert [row[CSV_COLUMNS.index("face")] for row in csv_rows(record, stand_in=False)] == [4, 7]

    def drawn(*ids: int) -> np.ndarray:
        return draw_overlay(blank.copy(), result(*ids))

    assert not np.array_equal(drawn(4, 7), drawn(4, 8))  # two faces: each box labelled with its id
    assert np.array_equal(drawn(4), drawn(5))  # one face: no label
