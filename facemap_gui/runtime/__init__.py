"""ONNX Runtime sessions: QNN HTP (NPU) / QNN GPU / CPU, precision, placement proof, fallback."""

from facemap_gui.runtime.base import RuntimeInfo
from facemap_gui.runtime.session import LandmarkSession, open_cpu_session

__all__ = ["LandmarkSession", "RuntimeInfo", "open_cpu_session"]
