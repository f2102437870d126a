"""Where the app's files live: the data and cache directories (platformdirs, or FACEMAP_GUI_HOME), model paths."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

from facemap_gui.core.errors import FacemapError, ModelError

APP_NAME = "facemap-gui"
BUNDLED_DETECTORS = {
    "short": "face_detection_short_range.tflite",
    "full": "face_detection_full_range_sparse.tflite",
}


def _override() -> Path | None:
    """FACEMAP_GUI_HOME, checked: it must be a folder, or a place one can be made."""
    value = os.environ.get("FACEMAP_GUI_HOME")
    if not value:
        return None
    path = Path(value)
    existing = next((p for p in (path, *path.parents) if p.exists()), path)
    if not existing.is_dir():
        raise FacemapError(
            f"FACEMAP_GUI_HOME={value}: {existing} is not a folder; point FACEMAP_GUI_HOME at a "
            "folder you can write to, or unset it"
        )
    return path


def home() -> Path:
    """The data directory: FACEMAP_GUI_HOME when set, else the platform's user data dir."""
    override = _override()
    return override if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    override = _override()
    return override / "cache" if override else Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


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


# Bumped when the stand-in changes, so an older one is not picked up (2: fitted last layer; 3: with its w8a8 variant).
STAND_IN_GENERATION = 3


def stand_in_dir(arch: str = "full") -> Path:
    return home() / "stand-in" / f"v{STAND_IN_GENERATION}" / arch


def bundled_detector_path(kind: str) -> Path:
    """The BlazeFace models ship inside the package (Apache-2.0, < 1 MB), so detection works offline."""
    return Path(__file__).resolve().parents[1] / "data" / BUNDLED_DETECTORS[kind]


def require_landmark_model(precision: str) -> Path:
    path = landmark_model_path(precision)
    if not path.is_file():
        raise ModelError(
            f"{path}: the facemap_3dmm {precision} model is not installed; run "
            f"`facemap-gui models download facemap_3dmm-{precision} basis` (offline: "
            "`facemap-gui models install FILE.zip`, `facemap-gui models list` names the files to fetch), "
            "or try a generated stand-in: `facemap-gui demo`, `facemap-gui process --stand-in ...`"
        )
    return path
