"""facemap-gui: live facial landmarks (Qualcomm facemap_3dmm) on the Snapdragon NPU, with a Qt-free core."""

__version__ = "0.1.0"
