"""The PyInstaller one-folder build (packaging/facemap-gui.spec) runs from its folder without the venv: `doctor`,
the NPU path through the bundled QNN libraries, and a real window under Xvfb. Built once (~40 s on 2 cores)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import PHOTO
from tests.test_process import read_jsonl

SPEC = Path(__file__).resolve().parents[1] / "packaging" / "facemap-gui.spec"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.fail(
            "the bundle tests need PyInstaller: pip install -e '.[test,package]' (or leave them out with -m 'not slow')"
        )
    work = tmp_path_factory.mktemp("pyinstaller")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--log-level",
            "WARN",
            "--distpath",
            str(work / "dist"),
            "--workpath",
            str(work / "build"),
            str(SPEC),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    return work / "dist" / "facemap-gui"


@pytest.fixture(scope="module")
def xvfb_display() -> Iterator[str]:
    """A private Xvfb server; its display number comes back through -displayfd, so no number is guessed."""
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        display = f":{pipe.readline().strip()}"
    yield display
    server.terminate()
    server.wait(10)


def run_bundled(
    bundle: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    # No PYTHONPATH and a neutral working directory: only what the folder holds may be used.
    clean = {k: v for k, v in (env or os.environ).items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(
        [str(bundle / "facemap-gui"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean,
        cwd=cwd or bundle.parent,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_doctor_from_the_built_folder_finds_every_package_and_the_qnn_plugin(bundle):
    report = json.loads(run_bundled(bundle, "doctor", "--json").stdout)
    assert all(report["packages"].values()), report["packages"]  # versions need the bundled metadata
    assert "QNNExecutionProvider" in {device["ep"] for device in report["ep_devices"]}
    assert report["runtimes"]["cpu"]["available"] is True
    bundled = [f["path"] for m in report["models"] if m["kind"] == "detector" and m["installed"] for f in m["files"]]
    assert len(bundled) == 2 and all(path.startswith(str(bundle)) for path in bundled)


def test_npu_path_runs_every_node_on_the_bundled_qnn_htp(bundle, tiny_model):
    # On x86 the bundled libQnnHtp is the HTP simulator; --strict fails if any node left QNN.
    result = run_bundled(
        bundle,
        "process",
        str(PHOTO),
        "--model",
        str(tiny_model),
        "--box",
        "150,120,389,371",
        "--runtime",
        "npu",
        "--allow-simulator",
        "--strict",
    )
    header, frame, _ = read_jsonl(result.stdout)
    assert header["runtime"]["runtime"] == "npu"
    assert set(header["runtime"]["nodes_by_ep"]) == {"QNNExecutionProvider"}
    assert len(frame["faces"]) == 1


def test_window_from_the_built_folder_processes_a_video_and_saves_a_screenshot(
    bundle, tiny_model, pan_video, xvfb_display, tmp_path
):
    env = {**os.environ, "DISPLAY": xvfb_display, "QT_QPA_PLATFORM": "xcb"}
    shot = tmp_path / "window.png"
    run_bundled(
        bundle,
        "gui",
        "--source",
        str(pan_video),
        "--model",
        str(tiny_model),
        "--quit-after-frames",
        "10",
        "--screenshot",
        str(shot),
        env=env,
    )
    image = cv2.imread(str(shot))
    assert image.shape[1] >= 640 and image.shape[0] >= 360
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 500  # a rendered video frame, not a blank window
