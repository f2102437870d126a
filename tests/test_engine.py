"""One frame loop for every front end (facemap_gui/run/engine.py): what every sink gets, and the record format they
share (rounding, still images, recordings counting from their first frame)."""

from __future__ import annotations

import ast
import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from facemap_gui.core.errors import FacemapError
from facemap_gui.perframe import expressions, signals
from facemap_gui.perframe.calibration import Calibrator
from facemap_gui.perframe.pipeline import FaceResult, FrameResult
from facemap_gui.run.engine import FrameLoop, Sink
from facemap_gui.sinks.output import JsonlWriter, frame_record
from facemap_gui.sinks.recording import STILL_FPS, recording_format
from facemap_gui.sinks.streaming import Streamer, StreamTarget
from facemap_gui.sinks.streaming.osf import OSF_FROM_IBUG
from facemap_gui.sources import Frame, open_source
from tests.conftest import PHOTO
from tests.test_expressions import FACES
from tests.test_process import run_cli
from tests.test_streaming import decode_osf, receiver  # noqa: F401 - the UDP receiver fixture

PACKAGE = Path(__file__).resolve().parents[1] / "facemap_gui"


def test_the_pipeline_runs_in_one_place():
    """Every front end (window, process, batch, track, demo, bench) runs frames through engine.FrameLoop."""
    callers = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "process"
                and "pipeline" in ast.unparse(node.func.value)
            ):
                callers.append(str(path.relative_to(PACKAGE)))
    assert callers == ["run/engine.py"]


def test_every_sink_gets_the_same_result_so_streams_match_the_file(tmp_path, tiny_model, receiver):  # noqa: F811
    """`process --stream --smoothing`: the packets carry the smoothed landmarks the JSON Lines hold (it used to
    stream unsmoothed results whatever the window and `track` did)."""
    port = receiver.getsockname()[1]
    out = tmp_path / "out.jsonl"
    run_cli(
        "process",
        "demo:12",
        "--model",
        str(tiny_model),
        "--smoothing",
        "0.8",
        "--stream",
        f"osf://127.0.0.1:{port}",
        "-o",
        str(out),
    )
    frames = [r for r in map(json.loads, out.read_text().splitlines()) if r["type"] == "frame" and r["faces"]]
    packets = [decode_osf(receiver.recv(65536)) for _ in range(len(frames))]
    for record, [face] in zip(frames[-3:], packets[-3:], strict=True):
        landmarks = np.array(record["faces"][0]["landmarks"])[list(OSF_FROM_IBUG)]
        np.testing.assert_allclose(face["points"][: len(OSF_FROM_IBUG)], landmarks, atol=2e-3)
    raw = tmp_path / "raw.jsonl"
    run_cli("process", "demo:12", "--model", str(tiny_model), "-o", str(raw))
    unsmoothed = [r for r in map(json.loads, raw.read_text().splitlines()) if r["type"] == "frame" and r["faces"]]
    assert unsmoothed[-1]["faces"][0]["landmarks"] != frames[-1]["faces"][0]["landmarks"]


def test_numbers_are_written_with_three_decimals(tmp_path, tiny_model):
    out = tmp_path / "out.jsonl"
    run_cli("process", str(PHOTO), "--model", str(tiny_model), "-o", str(out))
    frame = next(r for r in map(json.loads, out.read_text().splitlines()) if r["type"] == "frame")
    values = [v for point in frame["faces"][0]["landmarks"] for v in point] + list(frame["faces"][0]["pose"].values())
    assert all(len(repr(v).partition(".")[2]) <= 3 for v in values), values[:4]  # not 166.09100341796875


def test_a_folder_of_images_names_each_file_and_its_size_only_when_there_is_one(tmp_path, tiny_model):
    folder = tmp_path / "stills"
    folder.mkdir()
    shutil.copy(PHOTO, folder / "a.png")
    photo = cv2.imread(str(PHOTO))
    cv2.imwrite(str(folder / "b.png"), cv2.resize(photo, (photo.shape[1] // 2, photo.shape[0] // 2)))
    out = tmp_path / "out.jsonl"
    run_cli("process", str(folder), "--model", str(tiny_model), "-o", str(out))
    header, *frames, _ = map(json.loads, out.read_text().splitlines())
    assert header["input"]["size"] is None  # the images differ; the header no longer gives the first one's
    assert [f["file"] for f in frames] == ["a.png", "b.png"]
    with open_source(str(folder)) as source, pytest.raises(FacemapError, match="the images differ in size"):
        recording_format(source)
    (folder / "b.png").unlink()
    shutil.copy(PHOTO, folder / "c.png")
    with open_source(str(folder)) as source:
        assert source.still and recording_format(source) == (STILL_FPS, (photo.shape[1], photo.shape[0]))


def test_still_images_record_at_one_frame_a_second(tmp_path, tiny_model):
    """`process --record`, batch and the window's worker all take the rate from recording_format (the worker
    used 30 for stills)."""
    run_cli("process", str(PHOTO), "--model", str(tiny_model), "--record", str(tmp_path / "still.mkv"))
    header = json.loads((tmp_path / "still.jsonl").read_text().splitlines()[0])
    assert header["recording"]["fps"] == STILL_FPS == 1.0
    with open_source("demo:1") as moving:
        assert not moving.still and recording_format(moving)[0] == moving.fps


class TwoFaces:
    """A pipeline that finds the same two faces (track ids 0 and 1) on every frame."""

    def process(self, frame):
        faces = [
            FaceResult(
                box=tuple(FACES[name]["box"]),
                crop_box=tuple(FACES[name]["box"]),
                score=0.9,
                landmarks=np.asarray(FACES[name]["landmarks"], float),
                pose=(5.0, -3.0, 1.0),
                track_id=track_id,
            )
            for track_id, name in enumerate(("smile", "neutral"))
        ]
        return FrameResult(frame=frame, faces=faces)


def test_signals_and_expressions_are_computed_once_a_face_a_frame_whatever_reads_them(monkeypatch, tmp_path, receiver):  # noqa: F811
    """The JSON Lines, an OpenSeeFace and an iFacialMocap stream and the calibration all read each face's signals
    and expressions; they are computed once (each sink computed its own, the streamer's OpenSeeFace twice)."""
    calls = Counter()
    for name, original in (("face_signals", signals.face_signals), ("blendshapes", expressions.blendshapes)):

        def counting(*args, _name=name, _original=original):
            calls[_name] += 1
            return _original(*args)

        for module in [m for key, m in sys.modules.items() if key.startswith("facemap_gui")]:
            if getattr(module, name, None) is original:  # wherever it was imported, on any code
                monkeypatch.setattr(module, name, counting)
    port = receiver.getsockname()[1]
    out = tmp_path / "out.jsonl"
    with out.open("wb") as file, Streamer([StreamTarget(p, "127.0.0.1", port) for p in ("osf", "ifm")]) as streamer:
        writer = JsonlWriter(file, out)
        sinks = [
            Sink("jsonl", lambda result: writer.write(frame_record(result))),
            Sink("stream", streamer.send),
            Sink("calibrate", Calibrator(60.0).add),
        ]
        FrameLoop(TwoFaces(), sinks).run(Frame(i, i * 33.0, np.zeros((480, 640, 3), np.uint8)) for i in range(4))
    assert calls == {"face_signals": 4 * 2, "blendshapes": 4 * 2}
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [len(line["faces"]) for line in lines] == [2] * 4 and lines[0]["faces"][0]["blendshapes"]["mouthSmileLeft"]
