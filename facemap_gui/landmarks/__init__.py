"""facemap_3dmm landmarks: crop and preprocess, run the model, decode to 68 points and head pose."""

from facemap_gui.landmarks.decode import FoldedBasis, decode, expand_box, preprocess
from facemap_gui.landmarks.model import ModelInfo, inspect_model

__all__ = ["FoldedBasis", "ModelInfo", "decode", "expand_box", "inspect_model", "preprocess"]
