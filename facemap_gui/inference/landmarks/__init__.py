"""facemap_3dmm landmarks: the model's I/O and release metadata, and decoding to 68 points and head pose."""

from facemap_gui.inference.landmarks.decode import FoldedBasis, decode
from facemap_gui.inference.landmarks.model import ModelInfo, inspect_model

__all__ = ["FoldedBasis", "ModelInfo", "decode", "inspect_model"]
