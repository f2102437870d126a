"""`facemap-gui bench`: the figures it reports are there and consistent (no timing is asserted)."""

from __future__ import annotations

import itertools
import json

import av
import pytest

from facemap_gui.bench.clip import bench_clip, decoded_frames
from facemap_gui.cli import main
from facemap_gui.sources.readahead import ReadAhead
from tests.conftest import PHOTO


def bench(tmp_path, *args: str) -> dict:
    out = tmp_path / "bench.json"
    assert main(["bench", *args, "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_bench_reports_stages_recall_detector_calls_and_the_baseline_ratio(tmp_path, pan_video, tiny_model, capsys):
    report = bench(tmp_path, str(pan_video), "--model", str(tiny_model), "--frames", "20", "--redetect-every", "8")
    (run,) = report["runs"]
    assert run["frames"] == 20 and run["frames_with_face"] == 20 and run["recall"] == 1.0
    # Frame 0 on its path, 8 and 16 in the background (merged on 10 and 18); tracked in between, the check never
    # failing.
    assert (run["detector_calls"], run["background_detections"]) == (3, 2)
    assert (run["tracked_faces"], run["lost_tracks"]) == (17, 0)
    assert run["stand_in"] is True and run["session_ms"] > 0 and run["peak_rss_mb"] > 0
    stages = run["stages_ms"]
    assert [stages[s]["count"] for s in ("detect", "detect (background)", "track")] == [1, 2, 19]
    for stage in ("video decode", "preprocess", "inference", "decode 265 params", "smoothing", "draw", "overhead"):
        assert stages[stage]["count"] == 20 and 0 <= stages[stage]["median"] <= stages[stage]["p95"]
    (baseline,) = report["baseline"]
    assert baseline["frames"] == 20 and baseline["frames_with_face"] == 20
    summary = report["summary"]["cpu/float"]
    assert summary["ratio"] == pytest.approx(run["fps"] / baseline["fps"], abs=0.01)
    assert set(run["decode_alone_us_per_face"]) == {"1", "4"} and min(run["decode_alone_us_per_face"].values()) > 0
    printed = capsys.readouterr().out
    assert "STAND-IN" in printed and "straight-line script" in printed
    assert "decoding the 265 parameters alone, warm caches: " in printed


def test_without_input_renders_the_720p_clip_once(tmp_path, tiny_model):
    first = bench(tmp_path, "--model", str(tiny_model), "--frames", "6", "--no-baseline", "--no-tracking")
    clip = bench_clip("far", 6)
    assert first["input"] == str(clip)
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (1280, 720)
        assert sum(1 for _ in container.decode(stream)) == 6
    made = clip.stat().st_mtime_ns
    second = bench(tmp_path, "--model", str(tiny_model), "--frames", "6", "--no-baseline", "--no-tracking")
    assert clip.stat().st_mtime_ns == made
    assert first["runs"][0]["detector_calls"] == second["runs"][0]["detector_calls"] == 6  # no tracking
    assert first["baseline"] == []


def test_all_runs_each_precision_present_and_says_why_others_are_skipped(tmp_path, pan_video, tiny_w8a8, capsys):
    report = bench(tmp_path, str(pan_video), "--model", str(tiny_w8a8), "--frames", "5", "--all", "--no-baseline")
    assert [run["label"] for run in report["runs"]] == ["cpu/float", "cpu/w8a8"]
    assert report["runs"][1]["runtime"].startswith("CPU w8a8")
    assert "npu/float: skipped" in capsys.readouterr().out


def test_record_adds_the_recorder_hand_over(tmp_path, pan_video, tiny_model):
    video = tmp_path / "bench.mkv"
    report = bench(
        tmp_path, str(pan_video), "--model", str(tiny_model), "--frames", "10", "--no-baseline", "--record", str(video)
    )
    (run,) = report["runs"]
    assert run["recording"]["frames"] == 10 and run["recording"]["dropped"] == 0
    assert run["stages_ms"]["draw and record"]["count"] == 10
    encode = run["recording"]["encode_ms"]
    assert encode["count"] == 10 and 0 < encode["median"] <= encode["p95"]
    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 10


def test_decoded_frames_loop_the_clip_with_increasing_indices_and_timestamps(pan_video):
    assert len(list(decoded_frames(pan_video, limit=70))) == 30  # the clip has 30 frames
    with ReadAhead(lambda: decoded_frames(pan_video, limit=70, until=float("inf"))) as reader:
        frames = [decoded.frame for decoded in reader]
    assert [f.index for f in frames] == list(range(70))
    stamps = [f.timestamp_ms for f in frames]
    assert all(b > a for a, b in itertools.pairwise(stamps))
    assert (frames[30].rgb == frames[0].rgb).all()


def test_an_image_is_refused_in_one_line(capsys):
    assert main(["bench", str(PHOTO), "--no-baseline"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bench needs a video file" in err and str(PHOTO) in err
