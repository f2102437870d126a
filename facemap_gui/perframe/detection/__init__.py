"""Face detectors behind one interface: BlazeFace through MediaPipe Tasks, or through ONNX Runtime (NPU-capable)."""

from facemap_gui.perframe.detection.base import DETECTORS, Detection, FaceDetector, clamp_box, register_detector
from facemap_gui.perframe.detection.blazeface_onnx import OnnxBlazeFaceDetector
from facemap_gui.perframe.detection.mediapipe_blazeface import MediaPipeFaceDetector

register_detector("mediapipe", MediaPipeFaceDetector)
register_detector("onnx", OnnxBlazeFaceDetector)

__all__ = [
    "DETECTORS",
    "Detection",
    "FaceDetector",
    "MediaPipeFaceDetector",
    "OnnxBlazeFaceDetector",
    "clamp_box",
    "register_detector",
]
