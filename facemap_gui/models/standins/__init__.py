"""Stand-in facemap_3dmm models and 3DMM basis files, generated here because the real ones cannot be.

They have the real model's I/O (`image` float [N, 3, 128, 128] in [0, 1] → `parameters_3dmm` [N, 265]);
`full` also has its architecture. Everything written is marked as a stand-in: in the ONNX metadata and in
`manifest.json`, and front ends label anything produced from it. `replica` lays them out as Qualcomm's
release zips and self-test files.
"""

from facemap_gui.models.standins.basis import stand_in_basis
from facemap_gui.models.standins.builder import MANIFEST_FILE, MODEL_FILE, STAND_IN_NOTE, W8A8_FILE, write_stand_in

__all__ = ["MANIFEST_FILE", "MODEL_FILE", "STAND_IN_NOTE", "W8A8_FILE", "stand_in_basis", "write_stand_in"]
