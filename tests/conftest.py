"""Shared fixtures: stand-in models the tests generate, the real photo (matplotlib's sample) and the bundled
detectors, videos, windows opened on them. Everything comes from the repository or installed packages."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import av
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from facemap_gui.core import store
from facemap_gui.core.native import captured_native_output
from facemap_gui.models.standins import write_stand_in
from facemap_gui.models.standins.replica import write_release
from facemap_gui.sources.demo import DemoSource, demo_photo_path

PHOTO = demo_photo_path()
SHORT_RANGE = store.bundled_detector_path("short")
FULL_RANGE = store.bundled_detector_path("full")
GOLDEN = Path(__file__).resolve().parent / "data"  # Qualcomm's reference decoder outputs: data/README.md


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets an empty data directory, so nothing depends on what a developer installed."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("FACEMAP_GUI_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_stand_in(tmp_path_factory.mktemp("tiny"), arch="tiny")


@pytest.fixture(scope="session")
def full_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_stand_in(tmp_path_factory.mktemp("full"), arch="full")


@pytest.fixture(scope="session")
def tiny_w8a8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny stand-in's w8a8 variant (QDQ, calibrated on demo-photo face crops), with the float model beside it."""
    return write_stand_in(tmp_path_factory.mktemp("tiny_w8a8"), arch="tiny", precision="w8a8")


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The float and w8a8 replica release zips, laid out as Qualcomm publishes them."""
    directory = tmp_path_factory.mktemp("releases")
    return {precision: write_release(directory, precision) for precision in ("float", "w8a8")}


@pytest.fixture(scope="session")
def basis_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The stand-in basis files (meanFace, shapeBasis, blendShape), as a user places them beside a release."""
    directory = tmp_path_factory.mktemp("basis")
    write_stand_in(directory, arch="tiny")
    return [directory / f"{name}.npy" for name in ("meanFace", "shapeBasis", "blendShape")]


@pytest.fixture(scope="session")
def real_basis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A basis folder with no stand-in mark (the stand-in's numbers, saved as the real download would be)."""
    from facemap_gui.models.standins import stand_in_basis

    directory = tmp_path_factory.mktemp("real_basis")
    for name, array in stand_in_basis().items():
        np.save(directory / f"{name}.npy", array)
    return directory


@pytest.fixture
def fake_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake sources of tests/fakes.py (`fakecam:`, `glitchy:`, `threadprobe:`, `unplugged:`, `explode:`),
    registered for this test only."""
    from facemap_gui.sources import base
    from tests.fakes import FAKE_SOURCES

    for scheme, factory in FAKE_SOURCES.items():
        monkeypatch.setitem(base._SCHEMES, scheme, factory)


@pytest.fixture
def open_window(qtbot, tiny_model):
    """Opens MainWindows on the tiny stand-in (CPU unless asked) and closes them after the test."""
    from facemap_gui.gui.window import MainWindow  # Qt only for the tests that open a window
    from facemap_gui.live.settings import Settings
    from facemap_gui.run.pipeline_builder import RunOptions

    windows: list[MainWindow] = []

    def open_window(source: str, settings: Settings | None = None, **kwargs: object) -> MainWindow:
        options = RunOptions(
            source=source,
            model=kwargs.pop("model", tiny_model),
            allow_simulator=bool(kwargs.pop("allow_simulator", False)),
            runtime=str(kwargs.pop("runtime", "cpu")),
            precision=str(kwargs.pop("precision", "float")),
            strict=bool(kwargs.pop("strict", False)),
        )
        window = MainWindow(options, settings or Settings(), **kwargs)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield open_window
    for window in windows:
        window.close()


def constant_model(path: Path, params: np.ndarray, batch: str | int = "batch") -> Path:
    """An ONNX model with the real I/O whose output is `params` for every crop: mean(image) * 0 + params."""
    nodes = [
        helper.make_node("ReduceMean", ["image", "axes"], ["mean"], keepdims=0),
        helper.make_node("Unsqueeze", ["mean", "one"], ["column"]),
        helper.make_node("Mul", ["column", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "params"], ["parameters_3dmm"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
        numpy_helper.from_array(np.zeros((1, 1), np.float32), "zero"),
        numpy_helper.from_array(np.asarray(params, np.float32).reshape(1, 265), "params"),
    ]
    graph = helper.make_graph(
        nodes,
        "constant",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, 128, 128])],
        [helper.make_tensor_value_info("parameters_3dmm", TensorProto.FLOAT, [batch, 265])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def write_video(
    path: Path, frames: list[np.ndarray], fps: int = 30, codec: str = "libx264", rotation: float = 0
) -> Path:
    """`frames` encoded; `rotation` (degrees counter-clockwise) goes into the stream's display matrix, as a phone
    writes it for a video held upright (-90) while its sensor stores the picture sideways."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="session")
def pan_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 frames (1 s) of the demo pan/zoom over the real photo, 640x360."""
    source = DemoSource("", photo=PHOTO, size=(640, 360))
    frames = [source.read().rgb for _ in range(30)]
    return write_video(tmp_path_factory.mktemp("video") / "pan.mp4", frames)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    """A window's detector set-up thread may still be capturing LiteRT's chatter (native.py) when a test body
    returns; pytest then points fd 2 back at the terminal between phases, and the chatter would land there.
    So the phase ends once no capture is active (a bounded wait; the thread finishes its set-up meanwhile)."""
    from facemap_gui.core import native

    try:
        return (yield)
    finally:
        deadline = time.monotonic() + 10
        while native._redirects and time.monotonic() < deadline:
            time.sleep(0.01)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Every MediaPipe detector must be closed by whoever opened it: one left to the interpreter's final garbage
    collection hangs the exit (its __del__ waits on a dispatcher thread that is gone). Close leftovers, then fail."""
    from mediapipe.tasks.python.vision import FaceDetector

    gc.collect()
    left_open = [o for o in gc.get_objects() if isinstance(o, FaceDetector) and o._handle]
    with captured_native_output():  # closing prints LiteRT lines, as in MediaPipeFaceDetector.close
        for detector in left_open:
            detector.close()
    if left_open:
        session.config.get_terminal_writer().line(
            f"{len(left_open)} MediaPipe detector(s) left open by the tests", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
