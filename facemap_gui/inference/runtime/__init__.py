"""ONNX Runtime sessions: QNN HTP (NPU) / QNN GPU / CPU, precision, placement proof, EPContext cache, fallback."""

from facemap_gui.inference.runtime.base import PRECISIONS, Runtime, RuntimeInfo, RuntimeSettings
from facemap_gui.inference.runtime.registry import (
    RUNTIME_NAMES,
    RUNTIMES,
    available_runtimes,
    fall_back,
    log_fallback,
    open_landmark_session,
    open_on_runtime,
)
from facemap_gui.inference.runtime.session import LandmarkSession

__all__ = [
    "PRECISIONS",
    "RUNTIMES",
    "RUNTIME_NAMES",
    "LandmarkSession",
    "Runtime",
    "RuntimeInfo",
    "RuntimeSettings",
    "available_runtimes",
    "fall_back",
    "log_fallback",
    "open_landmark_session",
    "open_on_runtime",
]
