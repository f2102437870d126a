"""The picture the window paints: the frame scaled to the view once, on the worker's thread, with the overlay
drawn at that size, in Qt's Format_RGB32 byte order (B, G, R, X), so painting it is a copy. Drawing on the
scaled frame needs no copy of the full frame, and the GUI thread neither scales nor converts."""

from __future__ import annotations

import cv2
import numpy as np


def fitted_size(frame_size: tuple[int, int], area: tuple[int, int] | None) -> tuple[int, int]:
    """The largest (width, height) with the frame's aspect that fits in `area` (None: the frame's own size)."""
    if area is None:
        return frame_size
    scale = min(area[0] / frame_size[0], area[1] / frame_size[1])
    return max(1, round(frame_size[0] * scale)), max(1, round(frame_size[1] * scale))


def scaled_copy(rgb: np.ndarray, size: tuple[int, int], into: np.ndarray | None = None) -> np.ndarray:
    """The frame at `size` (width, height) in a new RGB array, or in `into` when it has that shape, to draw on."""
    shape = (size[1], size[0], 3)
    out = into if into is not None and into.shape == shape else np.empty(shape, np.uint8)
    if (rgb.shape[1], rgb.shape[0]) == size:
        out[...] = rgb
        return out
    return cv2.resize(rgb, size, dst=out, interpolation=cv2.INTER_LINEAR)


def as_picture(rgb: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) → (H, W, 4) in Format_RGB32's byte order."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA)
