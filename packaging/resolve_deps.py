#!/usr/bin/env python3
"""Resolve facemap-gui's full dependency set, from wheels only, for the platforms users install it on.

    python packaging/resolve_deps.py [--platform win_arm64 ...] [--python 3.11 ...] [--extras package]

For each target platform and CPython version it runs `pip install --dry-run --only-binary=:all: --platform TAG
--python-version X.Y --target DIR --ignore-installed --report - .` and prints every distribution pip would
install with the wheel it picked. It exits 1 when a target does not resolve, or when the set breaks a rule the
app depends on (exactly one OpenCV distribution; the QNN execution provider present where it reaches an NPU,
win_arm64, and elsewhere only in the `simulator` extra; no PySide6 known to crash on that Python).

pip evaluates environment markers (`sys_platform == 'win32'`, ...) against the interpreter running it, not
the --platform given (pypa/pip#10050), so a plain cross-resolve from Linux would pick Linux-only and skip
Windows-only dependencies. Each pip run here is a child process whose marker environment is set to the
target's first; the report pip writes includes that environment, and it is checked.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PYTHON_VERSIONS = ("3.11", "3.12")
# Wheels from this PySide6-Essentials on, on CPython before 3.12, drop a reference to None on every Qt call
# returning nothing: the window dies with "none_dealloc" after minutes (3.12 made None immortal).
PYSIDE_NONE_LEAK = ((6, 12), (3, 12))
OPENCV_DISTRIBUTIONS = {
    "opencv-python",
    "opencv-contrib-python",
    "opencv-python-headless",
    "opencv-contrib-python-headless",
}


@dataclass(frozen=True)
class Target:
    tags: tuple[str, ...]  # wheel platform tags pip may pick, most specific first
    markers: dict[str, str]  # PEP 508 marker values of a machine of this kind
    pythons: tuple[str, ...] = PYTHON_VERSIONS  # CPython versions supported there (docs/install.md)
    npu: bool = False  # onnxruntime-qnn reaches hardware here; elsewhere it is the `simulator` extra


def _windows(machine: str) -> dict[str, str]:
    return {
        "os_name": "nt",
        "sys_platform": "win32",
        "platform_system": "Windows",
        "platform_machine": machine,
        "platform_release": "11",
        "platform_version": "10.0.26100",
    }


TARGETS = {
    # CPython 3.12 only: PyYAML, for one, has no win_arm64 wheel for 3.11.
    "win_arm64": Target(("win_arm64",), _windows("ARM64"), ("3.12",), npu=True),
    "win_amd64": Target(("win_amd64",), _windows("AMD64")),
    # pip expands only the legacy manylinux2014/2010 aliases itself, so list every glibc from 2.35 down.
    "manylinux_2_35_x86_64": Target(
        (*(f"manylinux_2_{minor}_x86_64" for minor in range(35, 16, -1)), "manylinux2014_x86_64"),
        {
            "os_name": "posix",
            "sys_platform": "linux",
            "platform_system": "Linux",
            "platform_machine": "x86_64",
            "platform_release": "6.8.0",
            "platform_version": "#1 SMP",
        },
    ),
}


def marker_environment(target: Target, python: str) -> dict[str, str]:
    return {
        **target.markers,
        "python_version": python,
        "python_full_version": f"{python}.10",
        "implementation_name": "cpython",
        "implementation_version": f"{python}.10",
        "platform_python_implementation": "CPython",
    }


def run_pip_as(target_name: str, python: str, pip_args: list[str]) -> int:
    """Child process: pip with the target's marker environment (set before pip's modules are imported)."""
    from pip._vendor.packaging import markers

    environment = marker_environment(TARGETS[target_name], python)
    markers.default_environment = lambda: dict(environment)
    from pip._internal.cli.main import main as pip_main

    return pip_main(pip_args)


@dataclass(frozen=True)
class Resolution:
    target: str
    python: str
    installs: list[tuple[str, str, str]]  # (name, version, wheel file name)
    problems: list[str]


def resolve(target_name: str, python: str, extras: str) -> Resolution:
    target = TARGETS[target_name]
    requirement = f"{PROJECT}[{extras}]" if extras else str(PROJECT)
    with tempfile.TemporaryDirectory() as scratch:
        pip_args = [
            "install",
            "--dry-run",
            "--only-binary=:all:",
            "--python-version",
            python,
            *(arg for tag in target.tags for arg in ("--platform", tag)),
            "--target",
            scratch,
            "--ignore-installed",
            "--report",
            "-",
            "--quiet",
            "--disable-pip-version-check",
            requirement,
        ]
        result = subprocess.run(
            [sys.executable, __file__, "--pip-as", target_name, python, "--", *pip_args],
            capture_output=True,
            text=True,
            timeout=600,
        )
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
        return Resolution(target_name, python, [], errors or [result.stderr.strip()[-2000:]])
    report = json.loads(result.stdout)
    installs = [
        (item["metadata"]["name"], item["metadata"]["version"], item["download_info"]["url"].rsplit("/", 1)[-1])
        for item in report["install"]
        if item["metadata"]["name"] != "facemap-gui"
    ]
    return Resolution(
        target_name,
        python,
        sorted(installs, key=lambda i: i[0].lower()),
        check(
            report["environment"],
            target,
            python,
            {canonical(name): version for name, version, _ in installs},
            simulator="simulator" in extras.split(","),
        ),
    )


def canonical(name: str) -> str:
    """PEP 503 name: "PySide6_Essentials" -> "pyside6-essentials"."""
    return re.sub(r"[-_.]+", "-", name).lower()


def release(version: str) -> tuple[int, ...]:
    """(6, 12) of "6.12.0"; enough of PEP 440 for the comparisons made here."""
    return tuple(int(part) for part in version.split(".")[:2] if part.isdigit())


def check(
    environment: dict[str, str], target: Target, python: str, versions: dict[str, str], simulator: bool = False
) -> list[str]:
    """What is wrong with a resolved set: `versions` maps each lower-cased distribution name to its version."""
    expected = {**target.markers, "python_version": python}
    problems = [
        f"pip evaluated markers for {environment.get(key)!r}, not {value!r} ({key})"
        for key, value in expected.items()
        if environment.get(key) != value
    ]
    names = set(versions)
    opencv = sorted(names & OPENCV_DISTRIBUTIONS)
    if opencv != ["opencv-contrib-python"]:
        problems.append(f"expected exactly one OpenCV, opencv-contrib-python (mediapipe's); got {opencv}")
    if target.npu and "onnxruntime-qnn" not in names:
        problems.append("onnxruntime-qnn (the NPU runtime) is missing")
    if not target.npu and not simulator and "onnxruntime-qnn" in names:
        problems.append("onnxruntime-qnn (only the x86 HTP simulator here) belongs in the `simulator` extra")
    if "pyside6" in names:
        problems.append("the PySide6 meta-package pulls Addons/WebEngine; depend on PySide6-Essentials")
    pyside = versions.get("pyside6-essentials")
    bad_pyside, fixed_python = PYSIDE_NONE_LEAK
    if pyside and release(pyside) >= bad_pyside and release(python) < fixed_python:
        problems.append(
            f"PySide6-Essentials {pyside} on CPython {python} drops a reference to None on every Qt call "
            "returning nothing (the window dies with none_dealloc); keep it below 6.12 there"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--pip-as"]:
        return run_pip_as(argv[1], argv[2], argv[4:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--platform", action="append", choices=sorted(TARGETS), help="target to resolve (repeatable; default: all)"
    )
    parser.add_argument(
        "--python",
        action="append",
        choices=PYTHON_VERSIONS,
        help="CPython version (repeatable; default: those supported on the target)",
    )
    parser.add_argument("--extras", default="", help="optional dependency groups too, e.g. `package`")
    args = parser.parse_args(argv)
    failed = []
    for target_name in args.platform or list(TARGETS):
        for python in args.python or TARGETS[target_name].pythons:
            resolution = resolve(target_name, python, args.extras)
            status = "FAILED" if resolution.problems else f"{len(resolution.installs)} packages, all wheels"
            print(f"{target_name} (CPython {python}): {status}", flush=True)
            for name, version, wheel in resolution.installs:
                print(f"  {name:<26} {version:<18} {wheel}")
            for problem in resolution.problems:
                print(f"  problem: {problem}")
            if resolution.problems:
                failed.append(f"{target_name}/cp{python.replace('.', '')}")
    print(f"resolved: {'FAILED for ' + ', '.join(failed) if failed else 'all targets'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
