"""Faults a user meets, through the public interfaces: the app keeps running, or exits with one clear line,
and nothing already saved is lost. docs/faults.md lists each fault, what the user sees and the test here
(or elsewhere) that covers it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from facemap_gui import store
from facemap_gui.cli import build_parser, main
from facemap_gui.errors import FacemapError, InputError, ModelError
from facemap_gui.landmarks.decode import load_npy, npy_with_stand_in_mark
from facemap_gui.live.settings import Settings, load_settings, settings_path
from facemap_gui.models.catalogue import ENTRIES, MIRROR_ENV
from facemap_gui.models.download import Downloader, DownloadError
from facemap_gui.models.install import install_path
from facemap_gui.models.records import record_path, trust_path
from facemap_gui.models.status import status
from facemap_gui.pipeline_builder import RunOptions, build_pipeline, open_session
from facemap_gui.recording.video import VIDEO_CODECS, choose_codec
from facemap_gui.runtime.cache import cache_root
from facemap_gui.runtime.switcher import SessionSwitcher
from facemap_gui.sources import Frame, FrameSource, open_source, register_scheme
from facemap_gui.sources.demo import DemoSource
from tests.conftest import PHOTO, constant_model, write_video
from tests.test_models import file_server
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
    '{"version": 1, "smoothing_strength": 1e300}',  # finite, but the window's slider overflowed and it never started
    "[]",
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
@pytest.mark.slow
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


# -- reliability, round two: each class of issue 17 --------------------------------------------------------


def cli_main(capsys, *argv: str) -> tuple[int, str]:
    """`facemap-gui ARGV` in-process; returns the exit code and stderr (usage errors exit through argparse)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def assert_one_line(code: int, err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert all(fragment in lines[0] for fragment in fragments), err


def test_a_failed_run_leaves_the_old_output_and_keeps_the_partial_beside_it(tmp_path, tiny_model):
    out = tmp_path / "results.jsonl"
    out.write_text('{"type":"summary","frames":99}\n')
    args = build_parser().parse_args(["process", "unplugged:0", "--model", str(tiny_model), "--output", str(out)])
    with pytest.raises(InputError, match="camera stopped delivering frames"):
        args.run(args)
    assert out.read_text() == '{"type":"summary","frames":99}\n'
    partial = read_jsonl((tmp_path / "results.jsonl.partial").read_text())
    assert [r["type"] for r in partial] == ["header"] + ["frame"] * UnpluggedCamera.FRAMES
    assert not list(tmp_path.glob(".*.part"))


@pytest.mark.parametrize("clash", ["input", "input-symlink", "record", "record-landmarks", "record-csv", "model"])
def test_an_output_that_is_an_input_or_another_output_is_refused_before_anything_runs(tmp_path, tiny_model,
                                                                                      capsys, clash):
    photo = tmp_path / "face.jpg"
    photo.write_bytes(PHOTO.read_bytes())
    video = tmp_path / "take.mkv"
    (tmp_path / "link.jpg").symlink_to(photo)
    output = {"input": photo, "input-symlink": tmp_path / "link.jpg", "record": video,
              "record-landmarks": tmp_path / "take.jsonl", "record-csv": tmp_path / "take.csv",
              "model": tiny_model}[clash]
    before = {p: p.read_bytes() for p in (photo, tiny_model)}
    code, err = cli_main(capsys, "process", str(photo), "--model", str(tiny_model), "--record", str(video),
                         "--csv", "-o", str(output))
    assert_one_line(code, err, f"--output {output}: is also", "choose another --output")
    assert {p: p.read_bytes() for p in before} == before
    assert not video.exists() and not (tmp_path / "take.jsonl").exists()


def test_outputs_that_are_not_regular_files_are_written_through(tmp_path, tiny_model, capsys):
    target = tmp_path / "real.jsonl"
    target.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    for output in (link, fifo, Path(os.devnull)):
        assert main(["process", str(PHOTO), "--model", str(tiny_model), "-o", str(output)]) == 0
    reader.join(60)
    assert link.is_symlink() and read_jsonl(target.read_text())[-1]["type"] == "summary"
    assert fifo.is_fifo() and read_jsonl(received[0])[-1]["type"] == "summary"
    assert Path(os.devnull).is_char_device()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.jsonl", "pipe", "real.jsonl"]


@contextlib.contextmanager
def endless_server() -> Iterator[str]:
    """An HTTP server that answers every request with a body that never ends (a broken or hostile mirror)."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
                with contextlib.suppress(OSError):
                    while not done.is_set():
                        conn.sendall(bytes(65536))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/blob.bin"
    finally:
        done.set()
        listener.close()
        thread.join(30)


@pytest.mark.parametrize("size", [229_714, None])
def test_a_download_that_never_ends_stops_at_the_expected_size(tmp_path, monkeypatch, size):
    monkeypatch.setattr("facemap_gui.models.download.MAX_UNKNOWN_BYTES", 3_000_000)
    limit = size or 3_000_000
    with endless_server() as url, pytest.raises(DownloadError, match=f"more than the {limit} bytes"):
        Downloader(timeout_s=5, attempts=1).fetch(url, tmp_path / "blob.bin", size=size)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its part


def test_a_download_is_refused_when_the_disk_has_no_room_for_it(tmp_path, monkeypatch):
    monkeypatch.setattr("facemap_gui.models.download.shutil.disk_usage",
                        lambda _path: shutil._ntuple_diskusage(10**9, 10**9 - 10**6, 10**6))
    with file_server() as server:
        server.files["blob.bin"] = bytes(5000)
        with pytest.raises(DownloadError, match=r"only 1.0 MB free, the download needs 5.0 kB"):
            Downloader(timeout_s=5, attempts=1).fetch(f"{server.url}/blob.bin", tmp_path / "blob.bin", size=5000)
    assert list(tmp_path.iterdir()) == []


def test_a_stand_in_basis_without_its_manifest_is_still_a_stand_in_and_never_trusted(tmp_path, tiny_model):
    backup = tmp_path / "backup"
    backup.mkdir()
    for name in ("meanFace.npy", "shapeBasis.npy", "blendShape.npy"):  # copied out of the folder, no manifest
        (backup / name).write_bytes((tiny_model.parent / name).read_bytes())
    (installed,) = install_path(backup)
    assert installed.entry.name == "basis" and installed.stand_in
    assert not trust_path().exists()
    assert status(ENTRIES["basis"]).stand_in


@pytest.mark.parametrize("records", ["{garbage", "[1, 2]", '{"facemap_3dmm-float": 5}'])
def test_damaged_install_records_stop_an_install_before_anything_is_replaced(tmp_path, records, capsys):
    first = constant_model(tmp_path / "first.onnx", np.zeros(265))
    second = constant_model(tmp_path / "second.onnx", np.ones(265))
    assert main(["models", "install", str(first)]) == 0
    record_path().write_text(records)
    code, err = cli_main(capsys, "models", "install", str(second))
    assert_one_line(code, err, "installed.json: damaged", "delete it and install the models again")
    assert store.landmark_model_path("float").read_bytes() == first.read_bytes()


def explode(_arg: str) -> FrameSource:
    raise RuntimeError("boom: a case nobody foresaw")


register_scheme("explode", explode)


def test_an_unexpected_exception_is_one_line_and_its_traceback_comes_with_vv(capsys):
    code, err = cli_main(capsys, "process", "explode:0")
    assert_one_line(code, err, "unexpected RuntimeError: boom: a case nobody foresaw", "-vv")
    code, err = cli_main(capsys, "-vv", "process", "explode:0")
    assert code == 2 and "Traceback" in err and 'raise RuntimeError("boom' in err


def test_a_reader_that_goes_away_ends_the_run_quietly(tiny_model):
    process = cli_process("process", "demo:0", "--model", str(tiny_model))  # endless, to stdout
    assert json.loads(process.stdout.readline())["type"] == "header"
    process.stdout.close()  # as `| head -1` does
    stderr = process.stderr.read()
    assert process.wait(60) == 128 + signal.SIGPIPE
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


def test_closed_stdout_is_one_line(tiny_model):
    result = subprocess.run([sys.executable, "-m", "facemap_gui.cli", "process", str(PHOTO), "--model",
                             str(tiny_model)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.close(1), timeout=300)
    _one_line_error(result, "standard output is closed", "--output FILE")


def test_a_model_that_computes_nan_gives_failed_faces_never_nan_in_the_json(tmp_path, tiny_model):
    params = np.zeros(265)
    params[10] = np.nan
    model = constant_model(tmp_path / "nan.onnx", params)
    out = tmp_path / "out.jsonl"
    args = build_parser().parse_args(["process", str(PHOTO), "--model", str(model), "--basis-dir",
                                      str(tiny_model.parent), "--box", "150,120,389,371", "-o", str(out)])
    assert args.run(args) == 0
    _, frame, summary = (json.loads(line, parse_constant=pytest.fail) for line in out.read_text().splitlines())
    assert frame["faces"] == [] and frame["failed_faces"] == 1
    assert summary["faces"] == 0 and summary["failed_faces"] == 1


@pytest.mark.parametrize(("box", "message"), [
    ("5000,5000,6000,6000", "outside the 512x600 image"),
    ("0,0,99999999,9", "from 0 to 100000"),
])
def test_boxes_outside_the_image_or_absurd_are_one_line(tmp_path, tiny_model, capsys, box, message):
    model = constant_model(tmp_path / "constant.onnx", np.zeros(265))  # not a stand-in: stderr has one line
    code, err = cli_main(capsys, "process", str(PHOTO), "--model", str(model), "--basis-dir",
                         str(tiny_model.parent), f"--box={box}", "--no-expand-box")
    assert_one_line(code, err, "--box", message)


def test_a_box_reaching_past_the_image_is_clamped(tmp_path, tiny_model, capsys):
    assert main(["process", str(PHOTO), "--model", str(tiny_model), "--box", "400,500,5000,5000",
                 "--no-expand-box", "-o", str(tmp_path / "o.jsonl")]) == 0
    (face,) = read_jsonl((tmp_path / "o.jsonl").read_text())[1]["faces"]
    assert face["crop_box"] == [400, 500, 511, 599]


def test_a_data_folder_that_is_a_file_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "home").write_text("not a folder")
    monkeypatch.setenv("FACEMAP_GUI_HOME", str(tmp_path / "home" / "sub"))
    code, err = cli_main(capsys, "models", "list")
    assert_one_line(code, err, "FACEMAP_GUI_HOME=", "is not a folder")


@pytest.mark.parametrize("mirror", ["https://[::1", "http://localhost:99999", "https://", "https://a b"])
def test_a_malformed_mirror_is_one_line_naming_it(monkeypatch, capsys, mirror):
    monkeypatch.setenv(MIRROR_ENV, mirror)
    code, err = cli_main(capsys, "models", "download", "blazeface-short", "--force")
    assert_one_line(code, err, "not a valid URL", f"{MIRROR_ENV}={mirror}")


@pytest.mark.parametrize("spec", ["camera:-1", "camera:99999999999999", "camera:x", "camera:²"])
def test_camera_specs_are_checked_before_opencv_sees_them(capsys, spec):
    code, err = cli_main(capsys, "process", spec)  # camera:-1 crashed OpenCV with SIGSEGV
    assert_one_line(code, err, f"{spec}: camera index must be a whole number from 0 to 63")


def test_a_missing_camera_is_one_line_without_opencv_warnings(capfd):
    assert main(["process", "camera:0"]) == 2
    lines = capfd.readouterr().err.strip().splitlines()
    assert lines == ["facemap-gui: error: camera:0: cannot open the camera (not connected, or in use by another "
                     "app)"]


def test_fifos_and_devices_are_refused_as_inputs_and_skipped_in_folders(tmp_path, tiny_model, capsys):
    os.mkfifo(tmp_path / "pipe.mp4")
    code, err = cli_main(capsys, "process", str(tmp_path / "pipe.mp4"))
    assert_one_line(code, err, "pipe.mp4: a named pipe (FIFO), not an image or video file")
    code, err = cli_main(capsys, "process", "/dev/zero")
    assert_one_line(code, err, "/dev/zero: a device, not an image or video file")
    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(PHOTO.read_bytes())
    os.mkfifo(folder / "b.jpg")  # reading it would block for ever
    out = tmp_path / "out.jsonl"
    assert main(["process", str(folder), "--model", str(tiny_model), "-o", str(out)]) == 0
    assert read_jsonl(out.read_text())[-1]["frames"] == 1
    assert "b.jpg: skipped, a named pipe (FIFO)" in capsys.readouterr().err


def test_ctrl_c_during_start_up_is_exit_130_without_a_traceback():
    # -X importtime reports each import as it completes: the signal lands while the commands are importing.
    process = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "facemap_gui.cli", "process", "demo:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        if line.rstrip().endswith("facemap_gui.commands.common"):
            break
    process.send_signal(signal.SIGINT)
    stderr = process.stderr.read()
    assert process.wait(60) == 130
    assert "facemap-gui: interrupted" in stderr and "Traceback" not in stderr, stderr


def test_two_quick_signals_keep_the_summary_and_exit_130(tmp_path, tiny_model):
    out = tmp_path / "out.jsonl"
    process = cli_process("process", "demo:0", "--model", str(tiny_model), "--output", str(out))
    wait_for_lines(out.with_name(f".{out.name}.{process.pid}.part"), 5, process)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    records = read_jsonl(out.read_text())
    assert records[-1]["type"] == "summary" and records[-1]["interrupted"] is True


def test_messages_say_what_is_wrong(tmp_path, monkeypatch, capsys):
    data = npy_with_stand_in_mark(np.zeros(204, np.float32))
    (tmp_path / "meanFace.npy").write_bytes(data[:20] + b"garbage" + data[27:])
    with pytest.raises(ModelError, match=r"not a readable \.npy file \(damaged header"):
        load_npy(tmp_path / "meanFace.npy", (204,))
    with pytest.raises(FacemapError, match="no video encoder here takes 20000x20000 frames"):
        choose_codec(VIDEO_CODECS, (20000, 20000), 30.0)
    with file_server() as server:
        name = "face_detection_short_range.tflite"
        server.files[name] = b"x"
        server.plan[name] = [f"redirect:/{name}"] * 50  # urllib's redirect-loop error spans three lines
        monkeypatch.setenv(MIRROR_ENV, server.url)
        code, err = cli_main(capsys, "models", "download", "blazeface-short", "--force")
    assert_one_line(code, err, "infinite loop")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose header promises width x height pixels (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(1000)))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [10_500, 30_000])  # above this app's limit; also above Pillow's own
def test_an_image_promising_more_pixels_than_memory_holds_is_refused_before_decoding(tmp_path, capsys, side):
    (tmp_path / "bomb.png").write_bytes(png_header_only(side, side))
    code, err = cli_main(capsys, "process", str(tmp_path / "bomb.png"))
    assert_one_line(code, err, "bomb.png: the image claims more than 100 megapixels", "scale it down")


def odd_zip(kind: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("meanFace.npy", bytes(range(256)) * 40)
    data = bytearray(buffer.getvalue())
    if kind == "encrypted":  # the flag in the local and the central header
        data[6] |= 1
        data[data.find(b"PK\x01\x02") + 8] |= 1
    else:  # garbage inside the deflate stream
        data[60:200] = bytes(range(140))
    return bytes(data)


@pytest.mark.parametrize("kind", ["encrypted", "corrupt-data"])
def test_zips_python_cannot_read_in_other_ways_are_one_line(tmp_path, capsys, kind):
    (tmp_path / "models.zip").write_bytes(odd_zip(kind))
    code, err = cli_main(capsys, "models", "install", str(tmp_path / "models.zip"))
    assert_one_line(code, err, "models.zip: damaged or unsupported zip", "download it again")
