"""Faults a user meets, through the public interfaces: the app keeps running, or exits with one clear line,
and nothing already saved is lost. docs/faults.md lists each fault, what the user sees and the test here
(or elsewhere) that covers it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from facemap_gui.cli import build_parser
from facemap_gui.config import RunOptions, build_pipeline, open_session
from facemap_gui.errors import InputError
from facemap_gui.gui.settings import Settings, load_settings, settings_path
from facemap_gui.runtime.cache import cache_root
from facemap_gui.runtime.switcher import SessionSwitcher
from facemap_gui.sources import Frame, FrameSource, open_source, register_scheme
from facemap_gui.sources.demo import DemoSource
from tests.conftest import PHOTO, constant_model, write_video
from tests.test_process import _one_line_error, read_jsonl, run_cli
from tests.test_recording import _record_demo_until, decode
from tests.test_runtime_simulator import landmarks, process_on_npu


def cli_process(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "facemap_gui.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_lines(path: Path, count: int, process: subprocess.Popen[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if path.is_file() and path.read_text().count("\n") >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {count} lines")


def demo_frames(count: int, size: tuple[int, int] = (320, 180)) -> list:
    source = DemoSource("", photo=PHOTO, size=size)
    return [source.read().rgb for _ in range(count)]


# -- input ------------------------------------------------------------------------------------------------


def test_video_truncated_mid_stream_keeps_the_frames_that_decoded_and_warns(tmp_path, tiny_model):
    video = write_video(tmp_path / "clip.mkv", demo_frames(30))
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])  # as a copy or a recording cut off half way
    out = tmp_path / "out.jsonl"
    result = run_cli("process", str(video), "--model", str(tiny_model), "--output", str(out))
    records = read_jsonl(out.read_text())
    frames = [r for r in records if r["type"] == "frame"]
    assert 0 < len(frames) < 30
    assert records[-1]["type"] == "summary" and records[-1]["frames"] == len(frames)
    assert "clip.mkv" in result.stderr and "looks truncated" in result.stderr
    assert f"kept the {len(frames)} frames" in result.stderr


def test_complete_video_gives_no_truncation_warning(tmp_path, tiny_model):
    video = write_video(tmp_path / "clip.mkv", demo_frames(10))
    result = run_cli("process", str(video), "--model", str(tiny_model), "--output", str(tmp_path / "o.jsonl"))
    assert "truncated" not in result.stderr


@pytest.mark.parametrize(("name", "content", "message"), [
    # FFmpeg would happily render a .txt as a video of its text.
    ("notes.txt", b"shopping list\n" * 50, "a text file, not a video or an image"),
    ("report.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 8, "not a readable video"),
])
def test_non_image_file_as_input_is_one_line(tmp_path, tiny_model, name, content, message):
    (tmp_path / name).write_bytes(content)
    _one_line_error(run_cli("process", str(tmp_path / name), "--model", str(tiny_model), check=False), name,
                    message)


class UnpluggedCamera(FrameSource):
    """A webcam that delivers `FRAMES` frames and is then pulled out, failing as CameraSource does."""

    FRAMES = 8
    live = True
    fps = 30.0

    def __init__(self, arg: str) -> None:
        self.name = f"unplugged:{arg}"
        self._demo = DemoSource("", photo=PHOTO, size=(320, 180))
        self.size = self._demo.size

    def read(self) -> Frame | None:
        frame = self._demo.read()
        if frame.index >= self.FRAMES:
            raise InputError(f"{self.name}: camera stopped delivering frames (unplugged or in use?)")
        return Frame(frame.index, time.monotonic() * 1000.0, frame.rgb)


register_scheme("unplugged", UnpluggedCamera)


def test_camera_unplugged_during_process_record_keeps_what_was_captured(tmp_path, tiny_model):
    """Headless, a vanished camera ends the run with its one-line error (the window retries instead, see
    test_gui_worker.py); every frame captured before is in the JSON Lines and in a finished recording."""
    out, video = tmp_path / "out.jsonl", tmp_path / "cam.mkv"
    args = build_parser().parse_args(["process", "unplugged:0", "--model", str(tiny_model), "--output", str(out),
                                      "--record", str(video)])
    with pytest.raises(InputError, match=r"^unplugged:0: camera stopped delivering frames"):
        args.run(args)
    records = read_jsonl(out.read_text())  # every line complete
    assert [r["type"] for r in records] == ["header"] + ["frame"] * UnpluggedCamera.FRAMES
    landmarks = read_jsonl(video.with_suffix(".jsonl").read_text())
    assert landmarks[-1]["type"] == "summary" and landmarks[-1]["frames"] == UnpluggedCamera.FRAMES
    assert len(decode(video).frames) == UnpluggedCamera.FRAMES  # encoder flushed, container finished


# -- output ------------------------------------------------------------------------------------------------


def test_unwritable_output_folder_is_one_line_and_writes_nothing(tmp_path, tiny_model):
    # A regular file where the folder should be: refused even for root, unlike a read-only folder.
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    model = constant_model(tmp_path / "constant.onnx", np.zeros(265))  # not a stand-in: stderr has one line
    result = run_cli("process", str(PHOTO), "--model", str(model), "--basis-dir", str(tiny_model.parent),
                     "--output", str(blocker / "out.jsonl"), check=False)
    _one_line_error(result, "results/out.jsonl", "cannot write the output", "choose another folder")
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("after_frames", [5, 9, 14])
def test_signal_during_process_leaves_a_complete_jsonl(tmp_path, tiny_model, signum, after_frames):
    # Several moments per signal: an interrupt that abandoned MediaPipe's call mid-frame crashed the process
    # (SIGSEGV) in about one run in ten, not every time.
    out = tmp_path / "out.jsonl"
    process = cli_process("process", "demo:0", "--model", str(tiny_model), "--output", str(out))
    wait_for_lines(out.with_name(f".{out.name}.{process.pid}.part"), after_frames + 1, process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not list(tmp_path.glob(".*.part"))
    text = out.read_text()
    assert text.endswith("\n")
    records = [json.loads(line) for line in text.splitlines()]  # every line complete
    frames = [r for r in records if r["type"] == "frame"]
    assert records[0]["type"] == "header" and len(frames) >= after_frames
    assert records[-1] == {**records[-1], "type": "summary", "interrupted": True, "frames": len(frames)}


def test_ctrl_c_during_process_record_finishes_the_recording(tmp_path, tiny_model):
    # SIGTERM: test_recording.py::test_sigterm_finishes_the_recording_properly; Ctrl+C takes the same path.
    video = tmp_path / "stopped.mp4"
    process = _record_demo_until(tmp_path, tiny_model, video, frames=15)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    *frames, summary = read_jsonl(video.with_suffix(".jsonl").read_text())[1:]
    assert summary["type"] == "summary" and summary["frames"] == len(frames) >= 15
    assert len(decode(video).frames) == len(frames)
    assert read_jsonl((tmp_path / "out.jsonl").read_text())[-1]["interrupted"] is True


@pytest.mark.parametrize("content", [
    '{"version": 1, "smoothing_strength": NaN}',  # Python's json reads NaN/Infinity: the slider could not show it
    '{"version": 1, "smoothing_strength": 1e400}',
    "[" * 100_000,  # nested past Python's recursion limit
])
def test_settings_garbage_that_parses_still_gives_defaults_and_a_warning(content):
    # Unparsable and wrongly typed files: tests/test_gui_settings.py.
    settings_path().write_text(content)
    settings, warning = load_settings()
    assert settings == Settings()
    assert str(settings_path()) in warning and "using defaults" in warning


# -- runtime switching ---------------------------------------------------------------------------------------


def test_switch_requested_while_a_switch_is_in_progress(tmp_path, tiny_model):
    """Frames keep flowing on the old session while builds run; the newest request wins, the one in between
    is never built, and a failed request leaves the running session alone."""
    (tmp_path / f"{tiny_model.stem}_w8a8.onnx").write_bytes(tiny_model.read_bytes())
    model = tmp_path / tiny_model.name
    model.write_bytes(tiny_model.read_bytes())
    options = RunOptions(model=model, basis_dir=tiny_model.parent, box=(150, 120, 389, 371))
    pipeline = build_pipeline(options)
    first_build_may_finish = threading.Event()
    built: list[str] = []

    def gated_open(runtime: str, precision: str):
        built.append(precision)
        if len(built) == 1:
            first_build_may_finish.wait(30)
        return open_session(options, runtime, precision)

    switcher = SessionSwitcher(gated_open)
    original = pipeline.session
    with open_source(str(PHOTO)) as source:
        frame = source.read()
    switcher.request("cpu", "w8a8")
    while not built:
        time.sleep(0.01)
    switcher.request("cpu", "float")  # superseded before it starts
    switcher.request("cpu", "w8a8")
    for _ in range(20):  # the worker loop: a frame, then a look for a finished switch
        pipeline.process(frame)
        assert switcher.poll() is None and pipeline.session is original
    first_build_may_finish.set()
    switcher.wait(30)
    outcome = switcher.poll()
    assert outcome is not None and outcome.error is None
    assert outcome.session.info.precision == "w8a8" and outcome.session.model.path.name.endswith("_w8a8.onnx")
    assert built == ["w8a8", "w8a8"]  # the float request in between was dropped, not built
    assert switcher.poll() is None and not switcher.busy
    pipeline.session = outcome.session
    assert len(pipeline.process(frame).faces) == 1

    (tmp_path / f"{tiny_model.stem}_w8a8.onnx").write_bytes(b"garbage")
    switcher.request("cpu", "w8a8")
    switcher.wait(30)
    failed = switcher.poll()
    assert failed.session is None and "_w8a8.onnx" in failed.error and "\n" not in failed.error
    assert len(pipeline.process(frame).faces) == 1  # still running on the session it had


# -- compiled-model (EPContext) cache --------------------------------------------------------------------------


@pytest.mark.simulator
def test_bit_flips_in_a_compiled_model_are_caught_and_it_is_rebuilt(tiny_model):
    """QNN loads a context binary with flipped bits and computes garbage with it; the cache must notice.
    (Garbage or truncated entries: test_runtime_simulator.py::test_compiled_model_cache_..._rebuilt.)"""
    first, _, _ = process_on_npu(tiny_model, "--allow-simulator")
    (entry,) = cache_root().glob("*.onnx")
    data = bytearray(entry.read_bytes())
    for i in range(int(len(data) * 0.85), int(len(data) * 0.85) + 400, 3):  # inside the weights: still loads
        data[i] ^= 0x5A
    entry.write_bytes(bytes(data))
    second, stderr, code = process_on_npu(tiny_model, "--allow-simulator")
    assert code == 0 and second[0]["runtime"]["cache"] == "rebuilt"
    assert "sha256 mismatch" in stderr and entry.name in stderr
    np.testing.assert_array_equal(landmarks(second), landmarks(first))
    third, _, _ = process_on_npu(tiny_model, "--allow-simulator")
    assert third[0]["runtime"]["cache"] == "loaded"
