"""Calibration: the neutral face recorded over the source's clock, saved per user (atomically) and applied to what
is streamed, not to the files; winks stay apart from blinks, raw and calibrated; `track --calibrate` end to end."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import socket
from pathlib import Path

import numpy as np
import pytest

from facemap_gui.core import store
from facemap_gui.core.errors import FacemapError
from facemap_gui.live.settings import calibration_path, load_calibration, save_calibration
from facemap_gui.perframe import brow_mouth
from facemap_gui.perframe.calibration import CalibrationSink, Calibrator, Neutral
from facemap_gui.perframe.expressions import ARKIT_NAMES, blendshapes
from facemap_gui.perframe.pipeline import FaceResult, FrameResult
from facemap_gui.perframe.signals import face_signals
from facemap_gui.sinks.streaming import Streamer, StreamTarget
from facemap_gui.sources import Frame
from tests.conftest import FULL_RANGE
from tests.test_avatar_apps import parse_ifm
from tests.test_expressions import FACES
from tests.test_process import run_cli
from tests.test_streaming import decode_osf

SIZE = tuple(FACES["neutral"]["size"])


def frame(points, index: int = 0, fps: float = 30.0) -> FrameResult:
    box = tuple(FACES["neutral"]["box"])
    face = FaceResult(box=box, crop_box=box, score=0.9, landmarks=np.asarray(points, float), pose=(0.0, 0.0, 0.0))
    rgb = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    return FrameResult(frame=Frame(index, index * 1000.0 / fps, rgb), faces=[face])


def calibrated_on(points, seconds: float = 1.0) -> Neutral:
    calibrator = Calibrator(seconds)
    for index in range(100):
        neutral = calibrator.add(frame(points, index))
        if neutral is not None:
            return neutral
    raise AssertionError("never finished")


def winking(points, side: str) -> np.ndarray:
    """The face with one eye closed: the upper lid (iBUG 37/38 right, 43/44 left) laid on the lower lid."""
    p = np.array(points, float)
    corner = 42 if side == "left" else 36
    p[corner + 1], p[corner + 2] = p[corner + 5], p[corner + 4]
    return p


def test_the_neutral_face_is_taken_over_the_source_clock_and_reads_zero_afterwards():
    # A user whose resting face reads as a smile (the astronaut's): calibrated on it, it streams as neutral.
    rest = FACES["smile"]["landmarks"]
    calibrator = Calibrator(1.0)
    assert all(calibrator.add(frame(rest, i)) is None for i in range(30))  # 0 .. 0.967 s of the clip
    neutral = calibrator.add(frame(rest, 30))
    assert neutral is not None and neutral.frames == 31
    raw = blendshapes(frame(rest).faces[0])
    assert raw["mouthSmileLeft"] >= 0.8 and neutral.shapes["mouthSmileLeft"] == pytest.approx(raw["mouthSmileLeft"])
    assert all(v == 0.0 for v in neutral.apply_shapes(raw).values())  # every expression reads 0 at rest
    signals = neutral.apply_signals(face_signals(frame(rest).faces[0], SIZE))
    assert signals.mouth_wide == 0.0 and signals.eye_open_left == signals.eye_open_right == 1.0
    # Above the neutral reading the full range is kept: 1 still reads 1, half-way reads half.
    half = (1.0 + neutral.shapes["jawOpen"]) / 2
    assert neutral.apply_shapes({"jawOpen": 1.0, "mouthFunnel": 0.0}) == {"jawOpen": 1.0, "mouthFunnel": 0.0}
    assert neutral.apply_shapes({"jawOpen": half})["jawOpen"] == pytest.approx(0.5)


def test_a_calibration_without_a_face_is_refused_in_one_line():
    calibrator = Calibrator(0.5)
    with pytest.raises(FacemapError, match=r"a face was seen on 0 frame\(s\) of 0.5 s; look at the camera"):
        for index in range(30):
            calibrator.add(FrameResult(frame=frame(FACES["neutral"]["landmarks"], index).frame, faces=[]))
    with pytest.raises(FacemapError, match="expected a positive number of seconds"):
        Calibrator(float("nan"))


@pytest.mark.parametrize("side", ["left", "right"])
def test_a_wink_is_one_eye_raw_and_calibrated_and_only_both_eyes_are_a_blink(side):
    rest = FACES["neutral"]["landmarks"]
    closed, other = ("Left", "Right") if side == "left" else ("Right", "Left")
    neutral = calibrated_on(rest)
    wink = frame(winking(rest, side)).faces[0]
    for shapes in (blendshapes(wink), neutral.apply_shapes(blendshapes(wink))):
        assert shapes[f"eyeBlink{closed}"] == 1.0 and shapes[f"eyeBlink{other}"] <= 0.2
    for signals in (face_signals(wink, SIZE), neutral.apply_signals(face_signals(wink, SIZE))):
        assert getattr(signals, f"eye_open_{side}") == 0.0
        assert getattr(signals, f"eye_open_{'right' if side == 'left' else 'left'}") >= 0.8
        assert not signals.blink  # a wink is not a blink
    both = frame(winking(winking(rest, "left"), "right")).faces[0]
    assert face_signals(both, SIZE).blink and neutral.apply_signals(face_signals(both, SIZE)).blink


def test_the_calibration_is_saved_atomically_and_a_bad_file_is_ignored_with_a_warning():
    neutral = calibrated_on(FACES["smile"]["landmarks"])
    assert load_calibration() == (None, None)
    path = save_calibration(neutral)
    assert path == calibration_path() and path.parent == store.home()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no part file left beside it
    assert load_calibration() == (neutral, None)
    data = json.loads(path.read_text())
    data["shapes"]["jawOpen"] = 7.0
    path.write_text(json.dumps(data))
    loaded, warning = load_calibration()
    assert loaded is None and warning is not None
    assert warning.startswith(f"{path}: calibration unreadable (shapes.jawOpen is 7.0, expected 0 to 1)")
    path.write_text("{")
    assert load_calibration()[0] is None
    # A calibration saved before the brow and mouth features were recorded still loads (their default rest)...
    save_calibration(neutral)
    saved = json.loads(path.read_text())
    path.write_text(json.dumps({key: value for key, value in saved.items() if key != "brow_mouth"}))
    assert load_calibration()[0] == dataclasses.replace(neutral, brow_mouth=None)
    # ...and one whose features are not numbers is refused like any other damage.
    path.write_text(json.dumps({**saved, "brow_mouth": {**saved["brow_mouth"], "eyebrow_quirk_l": "x"}}))
    assert "brow_mouth: expected a finite number" in load_calibration()[1]


def sent_raw_then_calibrated(protocol: str) -> tuple[FrameResult, bytes, bytes]:
    """A resting face that reads as a smile (the astronaut's), and what a streamer sends for it: raw, then
    calibrated on that same face."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(30.0)
    rest = frame(FACES["smile"]["landmarks"])
    neutral = calibrated_on(FACES["smile"]["landmarks"])
    with receiver, Streamer([StreamTarget(protocol, "127.0.0.1", receiver.getsockname()[1])]) as streamer:
        streamer.send(rest)
        raw = receiver.recv(65536)
        streamer.neutral = neutral
        streamer.send(rest)
        return rest, raw, receiver.recv(65536)


def test_openseeface_brow_and_mouth_features_read_zero_on_the_calibrated_neutral_face():
    """The 8 features OpenSeeFace sends from the points are relative to the user's neutral face too: a resting face
    that reads as a smile (the astronaut's) raises the mouth corners raw, and reads 0 once calibrated on it."""
    _, *datagrams = sent_raw_then_calibrated("osf")
    raw, calibrated = (decode_osf(datagram)[0]["features"] for datagram in datagrams)
    assert min(raw["mouth_corner_updown_l"], raw["mouth_corner_updown_r"]) >= 0.2
    assert {name: calibrated[name] for name in brow_mouth.NAMES} == pytest.approx(dict.fromkeys(brow_mouth.NAMES, 0.0))


def test_the_streamer_sends_relative_to_the_neutral_face_and_the_result_keeps_raw_values():
    rest, *datagrams = sent_raw_then_calibrated("ifm")
    (raw, _), (calibrated, _) = (parse_ifm(datagram) for datagram in datagrams)
    assert raw["mouthSmile_L"] >= 80 and len(calibrated) == len(ARKIT_NAMES)
    assert all(value == 0 for value in calibrated.values())
    assert blendshapes(rest.faces[0])["mouthSmileLeft"] >= 0.8  # the frame itself (files, JSON Lines) is raw


def test_track_calibrate_records_saves_and_the_next_run_streams_relative_to_it(tiny_model):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    target = f"ifm://127.0.0.1:{receiver.getsockname()[1]}"
    common = ["--model", str(tiny_model), "--detector", str(FULL_RANGE), "--stream", target]
    try:
        first = run_cli("track", "--source", "demo:40", "--calibrate", "1", *common)
        assert "calibrating: look at the camera with a relaxed, neutral face for 1 s" in first.stderr
        told = re.search(
            r"neutral face calibrated on (\d+) frames and saved to (.+); streaming relative to it", first.stderr
        )
        neutral, warning = load_calibration()
        assert told and told[2] == str(calibration_path()) and neutral is not None and warning is None
        # 1 s at 30 fps: frames 0 to 30, those the pacing skipped on a loaded machine and those without a face aside
        assert int(told[1]) == neutral.frames and 5 <= neutral.frames <= 31
        second = run_cli("track", "--source", "demo:3", *common)
        assert f"streaming to {target}, relative to your calibrated neutral face" in second.stderr
    finally:
        receiver.close()
    bad = run_cli("track", "--source", "demo:3", "--calibrate", "0", *common, check=False)
    assert bad.returncode == 2 and "argument --calibrate: '0': must be above 0.0" in bad.stderr


def test_every_front_end_calibrates_through_the_one_sink():
    """The window's worker and `track --calibrate` each fed their own Calibrator (twin code): now both build a
    CalibrationSink, the only place a Calibrator is made."""
    package = Path(__file__).resolve().parents[1] / "facemap_gui"
    makers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("Calibrator", "CalibrationSink")
    )
    assert makers == ["commands/track.py", "live/worker.py", "perframe/calibration.py"]
    assert "Calibrator(" not in (package / "live/worker.py").read_text() + (package / "commands/track.py").read_text()


def test_the_calibration_sink_tells_done_once_then_passes_frames_and_tells_a_failure():
    told = []
    sink = CalibrationSink(lambda neutral: told.append(("done", neutral)), lambda exc: told.append(("failed", exc)))
    rest = FACES["smile"]["landmarks"]
    sink(frame(rest, 0, fps=25.0))  # not started: nothing recorded
    sink.start(1.0)
    for index in range(1, 40):
        sink(frame(rest, index, fps=25.0))
    assert [kind for kind, _ in told] == ["done"] and told[0][1].shapes == calibrated_on(rest).shapes
    assert told[0][1].frames == 26  # frames 1 to 26 (40 to 1040 ms), not the one before start nor after the end

    def refuse(_neutral):
        raise FacemapError("/x/neutral_face.json: cannot save the calibration (read-only); check the folder")

    for done, frames, message in (
        (refuse, [frame(rest, i) for i in range(40)], "cannot save the calibration"),
        (told.append, [FrameResult(frame=frame(rest, i).frame, faces=[]) for i in range(40)], "a face was seen on 0"),
    ):
        failures = []
        sink = CalibrationSink(done, failures.append)
        sink.start(1.0)
        for result in frames:
            sink(result)
        assert len(failures) == 1 and message in str(failures[0])
