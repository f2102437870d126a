"""The picture the window paints: the frame scaled to the view once, on the worker's thread, with the overlay
drawn at that size. Drawing on the scaled frame needs no copy of the full frame, and the GUI thread neither
scales nor converts: Qt paints RGB888 unscaled onto its 32-bit backing store in one pass (less memory read than
copying a 32-bit picture)."""

from __future__ import annotations

import cv2
import numpy as np


def fitted_size(frame_size: tuple[int, int], area: tuple[int, int] | None) -> tuple[int, int]:
    """The largest (width, height) with the frame's aspect that fits in `area` (None: the frame's own size)."""
    if area is None:
        return frame_size
    scale = min(area[0] / frame_size[0], area[1] / frame_size[1])
    return max(1, round(frame_size[0] * scale)), max(1, round(frame_size[1] * scale))


def scaled_copy(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A new RGB array of `size` (width, height) holding the frame, to draw on."""
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb.copy()
    return cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
