"""CPU time (user + system) per frame: what decides how much of the laptop the app takes and its battery cost
once the model itself runs on the NPU.

`bench --cpu` runs the app's two paths in child processes, as a user would: `process` (headless) and the
window (`gui --quit-after-frames`, offscreen when there is no display), and beside them `plain_show.py`, a plain
decode-and-show loop: what showing the video costs on this machine before any tracking. Each runs WARM_FRAMES
frames and WARM_FRAMES + N frames, and the difference divided by N is the figure: start-up, model loading and
the first frames cancel out. Within bench's own run `ThreadCpu` splits the CPU time by thread, which is by stage: video
decoding, the pipeline's thread, the background detector, and the native pools (ONNX Runtime, MediaPipe).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import psutil

from facemap_gui.core.errors import FacemapError
from facemap_gui.run.pipeline_builder import RunOptions

WARM_FRAMES = 60
NATIVE = "native threads (ONNX Runtime, MediaPipe)"
PLAIN_LOOP = "plain decode-and-show loop (reference: no tracking)"


class ThreadCpu:
    """CPU seconds per thread of this process, grouped by Python thread name. `sample()` keeps each thread's
    latest figure, so a thread that ends between samples keeps what it had used by the last one."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._seen: dict[int, tuple[str, float]] = {}

    def sample(self) -> None:
        names = {t.native_id: t.name for t in threading.enumerate()}
        for thread in self._process.threads():
            name = names.get(thread.id) or self._seen.get(thread.id, (NATIVE,))[0]
            self._seen[thread.id] = (name, thread.user_time + thread.system_time)

    def by_name(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for name, seconds in self._seen.values():
            totals[name] = totals.get(name, 0.0) + seconds
        return totals


def per_frame_ms(before: dict[str, float], after: dict[str, float], frames: int) -> dict[str, float]:
    """Milliseconds a frame per name between two `ThreadCpu.by_name()` readings, largest first."""
    spent = {name: (seconds - before.get(name, 0.0)) * 1000.0 / max(frames, 1) for name, seconds in after.items()}
    return dict(sorted(((n, ms) for n, ms in spent.items() if ms > 0.005), key=lambda item: -item[1]))


def child_cpu_s(command: list[str], env: dict[str, str]) -> float:
    """User + system CPU seconds of one child process run to its end (its own threads, not its children)."""
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors, env=env)
        _pid, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            lines = errors.read().decode(errors="replace").strip().splitlines()
            what = " ".join(Path(part).name for part in command[1:5])
            raise FacemapError(f"{what}: exit {child.returncode}{': ' + lines[-1] if lines else ''}")
    return usage.ru_utime + usage.ru_stime


def _model_args(options: RunOptions) -> list[str]:
    args = [
        "--runtime",
        options.runtime,
        "--precision",
        options.precision,
        "--detector-backend",
        options.detector_backend,
    ]
    if options.tracking is not None:  # the same requests as given, no more
        args.append("--tracking" if options.tracking else "--no-tracking")
    if options.detector_range is not None:
        args += ["--detector-range", options.detector_range]
    for flag, path in (
        ("--model", options.model),
        ("--basis-dir", options.basis_dir),
        ("--detector", options.detector),
    ):
        if path is not None:
            args += [flag, str(path)]
    return args + (["--allow-simulator"] if options.allow_simulator else [])


def path_commands(clip: Path, options: RunOptions, offscreen: bool) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Each path's command line, to be completed with its frame count, and the environment to run it in."""
    app = [sys.executable, "-m", "facemap_gui.cli"]
    env = dict(os.environ)
    window_env = env | {"QT_QPA_PLATFORM": "offscreen"} if offscreen else env
    return {
        "headless (process)": (
            [*app, "process", str(clip), "--output", os.devnull, *_model_args(options), "--frames"],
            env,
        ),
        "window (gui)" + (", offscreen" if offscreen else ""): (
            [*app, "gui", "--source", str(clip), *_model_args(options), "--quit-after-frames"],
            window_env,
        ),
        PLAIN_LOOP: (
            [sys.executable, str(Path(__file__).with_name("plain_show.py")), str(clip), "--frames"],
            window_env,
        ),
    }


def measure_paths(
    clip: Path, options: RunOptions, frames: int, repeat: int, offscreen: bool
) -> dict[str, dict[str, float]]:
    """Per path, the median and the range over `repeat` pairs of runs of CPU ms a frame (`offscreen`: the
    window on Qt's offscreen platform, where there is no display)."""
    if not hasattr(os, "wait4"):
        raise FacemapError("--cpu: reading a child process's CPU time needs os.wait4 (Linux, macOS)")
    figures = {}
    for path, (command, env) in path_commands(clip, options, offscreen).items():
        values = [
            (child_cpu_s([*command, str(WARM_FRAMES + frames)], env) - child_cpu_s([*command, str(WARM_FRAMES)], env))
            * 1000.0
            / frames
            for _ in range(repeat)
        ]
        figures[path] = {
            "median": round(statistics.median(values), 2),
            "low": round(min(values), 2),
            "high": round(max(values), 2),
            "runs": repeat,
        }
    return figures
