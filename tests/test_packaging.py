"""Installability: the app's dependencies resolve from wheels alone for Windows on Snapdragon (win_arm64), and no
supported Python gets a PySide6 known to crash on it."""

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


def resolve(platform: str, python: str) -> dict[str, tuple[str, str]]:
    """{distribution: (version, wheel)} as `resolve_deps.py` resolves them; skips when PyPI is not reachable."""
    if not pypi_reachable():
        pytest.skip(
            f"PyPI is not reachable from here: run `python packaging/resolve_deps.py --platform {platform} "
            f"--python {python}` on a machine with internet access (CI does when the network allows)"
        )
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--platform", platform, "--python", python],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "resolved: all targets"
    return {
        line.split()[0].lower(): (line.split()[1], line.split()[2])
        for line in result.stdout.splitlines()
        if line.startswith("  ") and not line.strip().startswith("problem:")
    }


def test_win_arm64_resolves_from_wheels_with_one_opencv_and_the_qnn_runtime():
    wheels = {name: wheel for name, (_, wheel) in resolve("win_arm64", "3.12").items()}
    assert wheels["onnxruntime-qnn"].endswith("win_arm64.whl")
    assert wheels["opencv-contrib-python"].endswith("win_arm64.whl")
    assert wheels["pyside6_essentials"].endswith("win_arm64.whl")
    assert not {"opencv-python", "opencv-python-headless", "pyside6"} & set(wheels)
    # Windows-only dependencies (humanfriendly → pyreadline3) prove markers were evaluated for the target.
    assert "pyreadline3" in wheels


def test_cpython_3_11_gets_a_pyside6_below_6_12():
    version, wheel = resolve("manylinux_2_35_x86_64", "3.11")["pyside6_essentials"]
    assert load_script().release(version) < (6, 12) and wheel.endswith("x86_64.whl")


def test_checks_catch_a_second_opencv_a_missing_qnn_runtime_and_wrong_markers():
    script = load_script()
    target = script.TARGETS["win_arm64"]
    good = {"opencv-contrib-python": "4.11.0.86", "onnxruntime-qnn": "2.7.0", "pyside6-essentials": "6.11.3"}
    assert script.check(script.marker_environment(target, "3.12"), target, "3.12", good) == []
    problems = script.check(
        {**script.marker_environment(target, "3.12"), "platform_machine": "x86_64"},
        target,
        "3.12",
        {"opencv-python": "4.11.0.86", "opencv-contrib-python": "4.11.0.86", "pyside6": "6.11.3"},
    )
    assert len(problems) == 4
    assert "platform_machine" in problems[0] and "OpenCV" in problems[1]
    assert "onnxruntime-qnn" in problems[2] and "PySide6-Essentials" in problems[3]
    # Elsewhere onnxruntime-qnn is only the x86 simulator: in the `simulator` extra, not installed by default.
    linux = script.TARGETS["manylinux_2_35_x86_64"]
    linux_env = script.marker_environment(linux, "3.12")
    assert script.check(linux_env, linux, "3.12", good) == [
        "onnxruntime-qnn (only the x86 HTP simulator here) belongs in the `simulator` extra"
    ]
    assert script.check(linux_env, linux, "3.12", good, simulator=True) == []
    # Markers evaluated for another Python than the one resolved for are caught too.
    problems = script.check(script.marker_environment(target, "3.12"), target, "3.11", good)
    assert problems == ["pip evaluated markers for '3.12', not '3.11' (python_version)"]


@pytest.mark.parametrize(
    ("pyside", "python", "bad"),
    [("6.12.0", "3.11", True), ("6.13.1", "3.11", True), ("6.11.3", "3.11", False), ("6.12.0", "3.12", False)],
)
def test_check_flags_a_pyside6_that_drops_references_to_none_on_that_python(pyside, python, bad):
    script = load_script()
    target = script.TARGETS["manylinux_2_35_x86_64"]
    versions = {"opencv-contrib-python": "4.11.0.86", "pyside6-essentials": pyside}
    problems = script.check(script.marker_environment(target, python), target, python, versions)
    assert problems == (
        [
            f"PySide6-Essentials {pyside} on CPython {python} drops a reference to None on every Qt call returning "
            "nothing (the window dies with none_dealloc); keep it below 6.12 there"
        ]
        if bad
        else []
    )


def test_the_demos_w8a8_stand_in_is_made_with_the_plain_installs_packages(tmp_path):
    """`pip install .` brings no sympy (here it comes with the simulator extra's onnxruntime-qnn); the README's first
    command builds the w8a8 stand-in all the same. Run where sympy cannot be imported."""
    script = (
        "import sys; sys.modules['sympy'] = None\n"  # `import sympy` raises ImportError, as without the package
        "from pathlib import Path\n"
        "from facemap_gui.models.standins import write_stand_in\n"
        "model = write_stand_in(Path(sys.argv[1]), arch='tiny', precision='w8a8')\n"
        "print(model.name, model.stat().st_size > 0)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["facemap_3dmm_w8a8.onnx", "True"]
