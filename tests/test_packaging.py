"""Installability: the app's dependencies resolve from wheels alone for Windows on Snapdragon (win_arm64)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "packaging" / "resolve_deps.py"


def load_script():
    spec = importlib.util.spec_from_file_location("resolve_deps", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def pypi_reachable() -> bool:
    try:
        urllib.request.urlopen(urllib.request.Request("https://pypi.org/simple/pip/", method="HEAD"), timeout=5)
    except OSError:
        return False
    return True


def test_win_arm64_resolves_from_wheels_with_one_opencv_and_the_qnn_runtime():
    if not pypi_reachable():
        pytest.skip(
            "PyPI is not reachable from here: run `python packaging/resolve_deps.py --platform win_arm64` "
            "on a machine with internet access (CI does when the network allows)"
        )
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--platform", "win_arm64"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    wheels = {
        line.split()[0].lower(): line.split()[2]
        for line in result.stdout.splitlines()
        if line.startswith("  ") and not line.strip().startswith("problem:")
    }
    assert wheels["onnxruntime-qnn"].endswith("win_arm64.whl")
    assert wheels["opencv-contrib-python"].endswith("win_arm64.whl")
    assert wheels["pyside6_essentials"].endswith("win_arm64.whl")
    assert not {"opencv-python", "opencv-python-headless", "pyside6"} & set(wheels)
    # Windows-only dependencies (humanfriendly → pyreadline3) prove markers were evaluated for the target.
    assert "pyreadline3" in wheels
    assert result.stdout.splitlines()[-1] == "resolved: all targets"


def test_checks_catch_a_second_opencv_a_missing_qnn_runtime_and_wrong_markers():
    script = load_script()
    target = script.TARGETS["win_arm64"]
    good = {"opencv-contrib-python", "onnxruntime-qnn", "pyside6-essentials"}
    assert script.check(script.marker_environment(target), target, good) == []
    problems = script.check(
        {**script.marker_environment(target), "platform_machine": "x86_64"},
        target,
        {"opencv-python", "opencv-contrib-python", "pyside6"},
    )
    assert len(problems) == 4
    assert "platform_machine" in problems[0] and "OpenCV" in problems[1]
    assert "onnxruntime-qnn" in problems[2] and "PySide6-Essentials" in problems[3]
