"""The crop of each frame for the landmark model: a face box grown about its centre, then cut out and scaled to
the model's input (128x128 RGB in [0, 1], NCHW), as Qualcomm's reference does."""

from __future__ import annotations

import math

import cv2
import numpy as np

from facemap_gui.inference.landmarks.decode import INPUT_SIZE


def expand_box(box: tuple[int, int, int, int], size: tuple[int, int], factor: float = 1.2) -> tuple[int, int, int, int]:
    """Grow an inclusive box about its centre by `factor` (1.2 = 10% each side), clamped to the image."""
    x0, y0, x1, y1 = box
    w, h = size
    half_w = (x1 - x0 + 1) * factor / 2
    half_h = (y1 - y0 + 1) * factor / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (
        max(0, math.floor(cx - half_w + 0.5)),
        max(0, math.floor(cy - half_h + 0.5)),
        min(w - 1, math.floor(cx + half_w - 0.5)),
        min(h - 1, math.floor(cy + half_h - 0.5)),
    )


def preprocess(rgb: np.ndarray, crop_boxes: np.ndarray) -> np.ndarray:
    """Crop each inclusive box, resize to 128x128 (bilinear), RGB / 255 → float32 (N, 3, 128, 128)."""
    batch = np.empty((len(crop_boxes), INPUT_SIZE, INPUT_SIZE, 3), dtype=np.float32)
    for i, (x0, y0, x1, y1) in enumerate(crop_boxes):
        crop = rgb[y0 : y1 + 1, x0 : x1 + 1]
        batch[i] = cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    batch *= 1.0 / 255.0
    return batch.transpose(0, 3, 1, 2)
