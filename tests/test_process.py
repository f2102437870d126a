"""`facemap-gui process` end to end: through `main()` in this process, and once in a subprocess as a user runs it
(JSON Lines on the real standard output)."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from facemap_gui.cli import main
from facemap_gui.inference.landmarks.decode import FoldedBasis
from facemap_gui.models.standins import stand_in_basis
from facemap_gui.perframe.crop import preprocess
from facemap_gui.perframe.tracking import REDETECT_EVERY
from tests.conftest import FULL_RANGE, PHOTO, constant_model
from tests.test_decode import reference_decode


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`facemap-gui ARGS` through `main()` in this process: its exit code and what it wrote to sys.stdout and
    sys.stderr (JSON Lines without --output go to file descriptor 1 itself: see `run_subprocess`)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
    result = subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
    if check:
        assert result.returncode == 0, result.stderr
    return result


def run_subprocess(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "facemap_gui.cli", *args], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result


def read_jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_box_mode_on_real_photo_equals_hand_computed_landmarks(tmp_path, tiny_model):
    params = np.random.default_rng(3).normal(0, 0.1, 265).astype(np.float32)
    model = constant_model(tmp_path / "constant.onnx", params)
    box = (150, 120, 389, 371)  # non-square, well inside the 512x600 photo
    out = tmp_path / "out.jsonl"
    run_cli(
        "process",
        str(PHOTO),
        "--model",
        str(model),
        "--basis-dir",
        str(tiny_model.parent),
        "--box",
        ",".join(map(str, box)),
        "--no-expand-box",
        "--output",
        str(out),
    )
    header, frame, summary = read_jsonl(out.read_text())
    basis = {k: v.astype(np.float64) for k, v in stand_in_basis().items()}
    expected = reference_decode(
        params.astype(np.float64), box, basis["meanFace"], basis["shapeBasis"], basis["blendShape"]
    )
    face = frame["faces"][0]
    assert face["box"] == list(box) and face["crop_box"] == list(box)
    np.testing.assert_allclose(np.array(face["landmarks"]), expected, atol=1e-3)
    assert face["pose"]["yaw"] == pytest.approx(params[259] * 90, abs=1e-3)
    # An unmarked model with the stand-in's basis: the landmarks are not real, and the output says so.
    assert header["type"] == "header" and header["model"]["stand_in"] is True and summary["stand_in"] is True
    assert header["input"]["size"] == [512, 600] and header["runtime"]["runtime"] == "cpu"
    assert summary["type"] == "summary" and summary["frames"] == 1 and summary["faces"] == 1
    assert not list(tmp_path.glob(".*.part"))


def test_image_with_detector_finds_the_face_and_labels_stand_in(tiny_model):
    result = run_subprocess("process", str(PHOTO), "--model", str(tiny_model), "--detector", str(FULL_RANGE))
    header, frame, summary = read_jsonl(result.stdout)
    assert header["model"]["stand_in"] is True and summary["stand_in"] is True
    assert header["detector"]["backend"] == "mediapipe" and header["detector"]["path"] == str(FULL_RANGE)
    assert len(frame["faces"]) == 1
    x0, y0, x1, y1 = frame["faces"][0]["box"]
    # where the bundled detector finds the face: about (171, 146, 194, 194) as x, y, w, h
    assert abs(x0 - 171) < 25 and abs(y0 - 146) < 25 and abs((x1 - x0) - 194) < 30 and abs((y1 - y0) - 194) < 30
    points = np.array(frame["faces"][0]["landmarks"])
    assert points.shape == (68, 2)
    # Landmarks are image pixels around the face, not crop coordinates.
    crop = frame["faces"][0]["crop_box"]
    assert (points[:, 0] > crop[0]).all() and (points[:, 0] < crop[2]).all()
    assert (points[:, 1] > crop[1]).all() and (points[:, 1] < crop[3]).all()
    assert set(frame["timings_ms"]) == {"detect", "preprocess", "inference", "decode"}
    assert "STAND-IN" in result.stderr


def test_video_has_every_frame_with_a_face_following_the_pan(pan_video, tiny_model, tmp_path):
    out = tmp_path / "video.jsonl"
    run_cli("process", str(pan_video), "--model", str(tiny_model), "--output", str(out))
    records = read_jsonl(out.read_text())
    frames = [r for r in records if r["type"] == "frame"]
    assert len(frames) == 30
    assert all(len(f["faces"]) == 1 for f in frames)
    assert [f["timestamp_ms"] for f in frames[:3]] == pytest.approx([0.0, 33.333, 66.667], abs=0.01)
    # The demo motion moves the face right over the first second (sin rises from 0): box centres follow it.
    centres = np.array([(f["faces"][0]["box"][0] + f["faces"][0]["box"][2]) / 2 for f in frames])
    assert centres[-1] - centres[0] > 60
    assert records[-1]["frames"] == 30 and records[-1]["frames_with_face"] == 30
    # Tracking: the detector runs on the first frame, then in the background every REDETECT_EVERY frames (or on
    # the frame a face is lost).
    assert records[0]["tracking"] == {
        "enabled": True,
        "redetect_every": REDETECT_EVERY,
        "requested": "",
        "fallback_reason": None,
    }
    assert [f["detector_ran"] for f in frames] == [i == 0 for i in range(30)]
    assert [f["background_detection"] for f in frames] == [i > 0 and i % REDETECT_EVERY == 0 for i in range(30)]


def test_batched_inference_equals_single(tiny_model):
    from facemap_gui.run.pipeline_builder import RunOptions, open_session

    session = open_session(RunOptions(model=tiny_model), "cpu", "float")
    crops = preprocess(
        np.random.default_rng(0).integers(0, 255, (300, 300, 3), np.uint8),
        np.array([[0, 0, 127, 127], [50, 60, 250, 280], [10, 10, 299, 299]]),
    )
    batched = session.run(crops)
    singles = np.concatenate([session.run(c[None]) for c in crops])
    np.testing.assert_allclose(batched, singles, atol=1e-6)
    assert not np.allclose(batched[0], batched[1])


def _one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("facemap-gui: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.stderr


def test_unreadable_image(tmp_path, tiny_model):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)))  # a JPEG's start, then garbage
    _one_line_error(
        run_cli("process", str(bad), "--model", str(tiny_model), check=False), "broken.jpg", "not a readable image"
    )


def test_missing_input(tmp_path, tiny_model):
    _one_line_error(
        run_cli("process", str(tmp_path / "nope.mp4"), "--model", str(tiny_model), check=False),
        "nope.mp4",
        "no such file",
    )


def test_corrupt_model(tmp_path):
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 100)
    _one_line_error(run_cli("process", str(PHOTO), "--model", str(bad), check=False), "corrupt.onnx")


def test_zero_byte_model(tmp_path):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    _one_line_error(run_cli("process", str(PHOTO), "--model", str(empty), check=False), "empty.onnx")


def _output_width_10(model: onnx.ModelProto) -> None:
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 10


def _opset_99(model: onnx.ModelProto) -> None:
    model.opset_import[0].version = 99


@pytest.mark.parametrize(
    ("damage", "name", "message"),
    [
        (_output_width_10, "wrong.onnx", "expected [N, 265]"),
        (_opset_99, "opset99.onnx", "ONNX Runtime cannot load"),
    ],
)
def test_model_with_wrong_output_or_opset(tmp_path, tiny_model, damage, name, message):
    model = onnx.load(tiny_model)
    damage(model)
    onnx.save(model, tmp_path / name)
    _one_line_error(
        run_cli(
            "process", str(PHOTO), "--model", str(tmp_path / name), "--basis-dir", str(tiny_model.parent), check=False
        ),
        name,
        message,
    )


def test_basis_with_wrong_shape(tmp_path, tiny_model):
    for name in ("meanFace", "shapeBasis", "blendShape"):
        (tmp_path / f"{name}.npy").write_bytes((tiny_model.parent / f"{name}.npy").read_bytes())
    np.save(tmp_path / "blendShape.npy", np.zeros((204, 38), np.float32))
    _one_line_error(
        run_cli("process", str(PHOTO), "--model", str(tiny_model), "--basis-dir", str(tmp_path), check=False),
        "blendShape.npy",
        "(204, 39)",
    )


def test_missing_basis(tmp_path, tiny_model):
    _one_line_error(
        run_cli("process", str(PHOTO), "--model", str(tiny_model), "--basis-dir", str(tmp_path), check=False),
        "meanFace.npy",
        "not found",
    )


def test_empty_video(tmp_path, tiny_model):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    _one_line_error(run_cli("process", str(empty), "--model", str(tiny_model), check=False), "empty.mp4")


def test_no_model_installed_says_what_to_run():
    result = run_cli("process", str(PHOTO), check=False)
    _one_line_error(result, "facemap-gui models download", "process --stand-in")


def test_folded_basis_is_what_decode_uses(tiny_model):
    basis = FoldedBasis.load(Path(tiny_model).parent)
    assert basis.matrix.shape == (258, 204) and basis.offset.shape == (204,)
