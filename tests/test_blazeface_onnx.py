"""The ONNX Runtime BlazeFace detector: its own converter and MediaPipe's decoding re-done in numpy, checked
against the MediaPipe detector on the real photo and a real clip, and piece by piece on synthetic outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facemap_gui.core import store
from facemap_gui.core.errors import ModelError, RuntimeUnavailable
from facemap_gui.inference.runtime import RuntimeSettings
from facemap_gui.perframe.detection import MediaPipeFaceDetector, OnnxBlazeFaceDetector
from facemap_gui.perframe.detection.base import box_iou
from facemap_gui.perframe.detection.blazeface_onnx import (
    ANCHOR_SPECS,
    decode_boxes,
    letterbox,
    ssd_anchors,
    to_image_box,
    weighted_nms,
)
from facemap_gui.perframe.detection.tflite_to_onnx import converted_path
from facemap_gui.run.pipeline_builder import RunOptions, open_detector
from facemap_gui.sources import open_source
from tests.conftest import PHOTO, write_video

RANGES = ("short", "full")


@pytest.fixture(scope="module", params=RANGES)
def detectors(request):
    """The two backends on one bundled model: (range, ONNX detector, MediaPipe detector)."""
    path = store.bundled_detector_path(request.param)
    onnx_detector = OnnxBlazeFaceDetector(path)
    mediapipe = MediaPipeFaceDetector(path, video=True)
    yield request.param, onnx_detector, mediapipe
    mediapipe.close()


def test_photo_boxes_match_mediapipe(detectors):
    _, onnx_detector, mediapipe = detectors
    with open_source(str(PHOTO)) as source:
        frame = source.read()
    ours, theirs = onnx_detector.detect(frame), mediapipe.detect(frame)
    assert len(ours) == len(theirs) == 1
    assert box_iou(ours[0].box, theirs[0].box) >= 0.9
    assert ours[0].score == pytest.approx(theirs[0].score, abs=0.01)
    assert set(onnx_detector.info.nodes_by_ep) == {"CPUExecutionProvider"}


@pytest.fixture(scope="module")
def close_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 frames panning a 448x480 window over the real photo: a face close to the camera, which the
    short-range model finds (in the 640x360 pan clip the face is too small for it)."""
    with open_source(str(PHOTO)) as source:
        photo = source.read().rgb
    frames = [np.ascontiguousarray(photo[8 * i : 8 * i + 480, 5 * i : 5 * i + 448]) for i in range(12)]
    return write_video(tmp_path_factory.mktemp("close") / "close.mp4", frames)


def test_clip_boxes_match_mediapipe_on_every_frame(detectors, request):
    kind, onnx_detector, mediapipe = detectors
    clip = request.getfixturevalue("pan_video" if kind == "full" else "close_video")
    frames = found = 0
    with open_source(str(clip)) as source:
        while (frame := source.read()) is not None:
            ours, theirs = onnx_detector.detect(frame), mediapipe.detect(frame)
            assert len(ours) == len(theirs), f"frame {frame.index}: {ours} vs {theirs}"
            for a, b in zip(ours, theirs, strict=True):
                assert box_iou(a.box, b.box) >= 0.9, f"frame {frame.index}: {a} vs {b}"
            frames += 1
            found += bool(ours)
    assert found == frames == (30 if kind == "full" else 12)


def test_anchors_follow_mediapipe_layout():
    short = ssd_anchors(ANCHOR_SPECS[128])
    assert short.shape == (896, 2)
    # Stride 8: 16x16 cells, 2 anchors each; then the three stride-16 layers share 8x8 cells, 6 anchors each.
    np.testing.assert_allclose(short[0], short[1])
    np.testing.assert_allclose(short[:3], [[1 / 32, 1 / 32], [1 / 32, 1 / 32], [3 / 32, 1 / 32]])
    np.testing.assert_allclose(short[512:519], [[1 / 16, 1 / 16]] * 6 + [[3 / 16, 1 / 16]])
    full = ssd_anchors(ANCHOR_SPECS[192])
    assert full.shape == (2304, 2)
    np.testing.assert_allclose(
        full[[0, 1, 48, 2303]], [[1 / 96, 1 / 96], [3 / 96, 1 / 96], [1 / 96, 3 / 96], [95 / 96, 95 / 96]], atol=1e-6
    )


def test_decoder_on_synthetic_outputs():
    anchors = ssd_anchors(ANCHOR_SPECS[128])
    raw_boxes = np.zeros((896, 16), np.float32)
    raw_scores = np.full(896, -10.0, np.float32)  # sigmoid ≈ 0: below any threshold
    # Anchor 0 at (1/32, 1/32): a 32x16-pixel box shifted by (+4, +8) pixels, logit 2 (score 0.881).
    raw_boxes[0, :4] = [4, 8, 32, 16]
    raw_scores[0] = 2.0
    # Anchor 2 sits 8 px right of anchor 0: the same box 4 px further right, logit 0 (score 0.5, just kept).
    raw_boxes[2, :4] = [0, 8, 32, 16]
    raw_scores[2] = 0.0
    # A box far away (anchor 895, the last cell) keeps its own detection.
    raw_boxes[895, :4] = [0, 0, 16, 16]
    raw_scores[895] = 1.0
    # A negative width is dropped, however good its score.
    raw_boxes[100, :4] = [0, 0, -5, 10]
    raw_scores[100] = 50.0
    # A clipped logit gives a score of 1, not an overflow.
    raw_scores[101] = 1e6
    raw_boxes[101, :4] = [0, 0, 8, 8]

    boxes, scores = decode_boxes(raw_boxes, raw_scores, anchors, 128.0, min_score=0.5)
    assert len(boxes) == 4  # anchors 0, 2, 101 and 895, in anchor order (anchor 100 dropped)
    first = np.array([4 + 4 - 16, 4 + 8 - 8, 4 + 4 + 16, 4 + 8 + 8]) / 128  # centre (8, 12) px, 32x16
    np.testing.assert_allclose(boxes[0], first, atol=1e-6)
    np.testing.assert_allclose(boxes[1], first + np.array([4, 0, 4, 0]) / 128, atol=1e-6)
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    np.testing.assert_allclose(scores, [sigmoid(2.0), 0.5, 1.0, sigmoid(1.0)])

    merged = weighted_nms(boxes, scores)
    assert [round(score, 3) for _, score in merged] == [1.0, 0.881, 0.731]
    weight_0, weight_2 = 1 / (1 + np.exp(-2.0)), 0.5
    expected = (weight_0 * boxes[0] + weight_2 * boxes[1]) / (weight_0 + weight_2)
    np.testing.assert_allclose(merged[1][0], expected, atol=1e-6)
    np.testing.assert_allclose(
        merged[2][0], [(120 - 8) / 128, (120 - 8) / 128, (120 + 8) / 128, (120 + 8) / 128], atol=1e-6
    )


def test_letterbox_and_projection_back_to_pixels():
    white = np.full((100, 200, 3), 255, np.uint8)  # wide: bands of border above and below
    tensor = letterbox(white, 128)
    assert tensor.shape == (1, 3, 128, 128) and tensor.dtype == np.float32
    np.testing.assert_allclose(tensor[0, :, :31], -1.0)  # zero border → -1
    np.testing.assert_allclose(tensor[0, :, 33:95], 1.0)  # white → +1
    np.testing.assert_allclose(tensor[0, :, 97:], -1.0)
    # The image occupies y in [0.25, 0.75] of the square input; that box is the whole image.
    assert to_image_box(np.array([0.0, 0.25, 1.0, 0.75]), (200, 100)) == (0, 0, 199, 99)
    assert to_image_box(np.array([0.25, 0.5, 0.5, 0.625]), (200, 100)) == (50, 50, 99, 74)
    assert to_image_box(np.array([-0.1, 0.0, 0.2, 1.1]), (200, 100)) == (0, 0, 59, 99)


@pytest.mark.parametrize("content", [b"", b"not a flatbuffer at all" * 10, "truncated"])
def test_corrupt_tflite_is_one_line_model_error(tmp_path, content):
    real = store.bundled_detector_path("short").read_bytes()
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(real[: len(real) // 3] if content == "truncated" else content)
    with pytest.raises(ModelError) as error:
        OnnxBlazeFaceDetector(bad)
    message = str(error.value)
    assert message.startswith(str(bad)) and "\n" not in message and "BlazeFace" in message
    assert not list(store.cache_dir().rglob("*.onnx"))  # nothing half-written left in the cache


def test_conversion_is_cached_by_content(tmp_path):
    first = converted_path(store.bundled_detector_path("short"))
    stamp = first.stat().st_mtime_ns
    copy = tmp_path / "copy.tflite"
    copy.write_bytes(store.bundled_detector_path("short").read_bytes())
    assert converted_path(store.bundled_detector_path("short")) == first and first.stat().st_mtime_ns == stamp
    assert converted_path(copy).name.split("-")[-2] == first.name.split("-")[-2]  # same content hash


def test_unwritable_cache_is_one_line_model_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEMAP_GUI_HOME", str(tmp_path))
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    with pytest.raises(ModelError, match=r"cache/detectors: cannot write the converted detector \(Not a direct"):
        OnnxBlazeFaceDetector(store.bundled_detector_path("short"))


def test_unavailable_npu_falls_back_to_cpu_with_reason_and_strict_refuses():
    path = store.bundled_detector_path("short")
    detector = OnnxBlazeFaceDetector(path, runtime="npu", settings=RuntimeSettings(allow_simulator=False))
    assert detector.info.runtime == "cpu" and detector.info.requested == "npu/float"
    assert "NPU unavailable" in detector.info.fallback_reason
    with pytest.raises(RuntimeUnavailable, match="face detector on --runtime npu"):
        OnnxBlazeFaceDetector(path, runtime="npu", settings=RuntimeSettings(strict=True))


def test_run_options_select_the_backend():
    onnx_detector = open_detector(RunOptions(detector_backend="onnx", detector_range="short"))
    assert isinstance(onnx_detector, OnnxBlazeFaceDetector) and onnx_detector.input_size == 128
    assert isinstance(open_detector(RunOptions(detector_range="full"), video=False), MediaPipeFaceDetector)


@pytest.mark.simulator
@pytest.mark.slow
def test_process_with_onnx_detector_on_the_htp_simulator(tiny_model):
    """The whole pipeline on the NPU path, in its own process (QNN options leak between sessions of one process).
    --strict makes any detector or landmark node placed off the HTP an error, so success proves the placement."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "facemap_gui.cli",
            "process",
            str(PHOTO),
            "--model",
            str(tiny_model),
            "--runtime",
            "npu",
            "--allow-simulator",
            "--strict",
            "--detector-backend",
            "onnx",
            "--detector-range",
            "short",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    header, frame = (json.loads(line) for line in result.stdout.splitlines()[:2])
    assert set(header["runtime"]["nodes_by_ep"]) == {"QNNExecutionProvider"}
    with open_source(str(PHOTO)) as source:
        cpu = OnnxBlazeFaceDetector(store.bundled_detector_path("short")).detect(source.read())
    assert len(frame["faces"]) == 1 and box_iou(tuple(frame["faces"][0]["box"]), cpu[0].box) >= 0.9
