"""Face detectors behind one interface (MediaPipe Tasks BlazeFace, ...)."""

from facemap_gui.detection.base import DETECTORS, Detection, FaceDetector, clamp_box, register_detector
from facemap_gui.detection.mediapipe_blazeface import MediaPipeFaceDetector

register_detector("mediapipe", MediaPipeFaceDetector)

__all__ = ["DETECTORS", "Detection", "FaceDetector", "MediaPipeFaceDetector", "clamp_box", "register_detector"]
