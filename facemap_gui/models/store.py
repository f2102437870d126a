"""Where models live: the user data directory (platformdirs, or FACEMAP_GUI_HOME) and bundled detectors."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

from facemap_gui.errors import ModelError

APP_NAME = "facemap-gui"
PRECISIONS = ("float", "w8a8")
BUNDLED_DETECTORS = {
    "short": "face_detection_short_range.tflite",
    "full": "face_detection_full_range_sparse.tflite",
}


def home() -> Path:
    """The data directory: FACEMAP_GUI_HOME when set, else the platform's user data dir."""
    override = os.environ.get("FACEMAP_GUI_HOME")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    override = os.environ.get("FACEMAP_GUI_HOME")
    return Path(override) / "cache" if override else Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def models_dir() -> Path:
    """`<home>/models`; a packaged app (PyInstaller) with a `models` folder beside its executable uses that
    folder instead, so a one-folder build can ship with its models (FACEMAP_GUI_HOME still wins)."""
    beside_executable = Path(sys.executable).resolve().parent / "models"
    if getattr(sys, "frozen", False) and not os.environ.get("FACEMAP_GUI_HOME") and beside_executable.is_dir():
        return beside_executable
    return home() / "models"


def landmark_model_path(precision: str = "float") -> Path:
    return models_dir() / "facemap_3dmm" / precision / "facemap_3dmm.onnx"


def basis_dir() -> Path:
    return models_dir() / "basis"


STAND_IN_GENERATION = 2  # bumped when the stand-in changes, so an older one is not picked up (2: fitted last layer)


def stand_in_dir(arch: str = "full") -> Path:
    return home() / "stand-in" / f"v{STAND_IN_GENERATION}" / arch


def bundled_detector_path(kind: str) -> Path:
    """The BlazeFace models ship inside the package (Apache-2.0, < 1 MB), so detection works offline."""
    return Path(__file__).resolve().parent.parent / "data" / BUNDLED_DETECTORS[kind]


def require_landmark_model(precision: str) -> Path:
    path = landmark_model_path(precision)
    if not path.is_file():
        raise ModelError(f"{path}: the facemap_3dmm {precision} model is not installed; run "
                         f"`facemap-gui models download facemap_3dmm-{precision} basis` (offline: "
                         "`facemap-gui models install FILE.zip`, `facemap-gui models list` names the files to fetch), "
                         "or try a generated stand-in: `facemap-gui demo`, `facemap-gui process --stand-in ...`")
    return path
