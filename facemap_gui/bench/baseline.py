"""The straight-line script (`straight_line.py` beside this module) on the bench clip, in its own process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from facemap_gui.core import store
from facemap_gui.core.errors import FacemapError
from facemap_gui.run.pipeline_builder import RunOptions

# Shipped as a .py file in wheels and checkouts; a PyInstaller build has no Python to run it with, nor the file.
BASELINE_SCRIPT = Path(__file__).resolve().with_name("straight_line.py")


def baseline_available() -> bool:
    return BASELINE_SCRIPT.is_file() and not getattr(sys, "frozen", False)


def run_baseline(clip: Path, options: RunOptions, frames: int) -> dict[str, Any]:
    """The straight-line script on the same clip, in its own process (its own warm-up and memory)."""
    model = options.model_path("float")
    command = [
        sys.executable,
        str(BASELINE_SCRIPT),
        str(clip),
        "--model",
        str(model),
        "--basis-dir",
        str(options.basis_path(model)),
        "--detector",
        str(store.bundled_detector_path("full")),
        "--frames",
        str(frames),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        error = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise FacemapError(f"{BASELINE_SCRIPT}: the straight-line script failed ({error})")
    return json.loads(lines[-1])
