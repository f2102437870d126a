"""A built-in demo clip: a real portrait (matplotlib's public-domain sample photo) panned and zoomed in 720p.

It lets the app, the benchmark and the tests run without a webcam or any downloaded video.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from facemap_gui.core.errors import InputError
from facemap_gui.sources.base import Frame, FrameSource
from facemap_gui.sources.files import read_image_rgb

DEMO_SIZE = (1280, 720)
DEMO_FPS = 30.0
DEMO_FRAMES = 300
BACKGROUND = (40, 42, 48)
DEMO_LOOP = "demo:0"  # the clip looped for ever, as every window shows it (`demo`, Demo button, `--source demo`)


def looped(spec: str) -> str:
    """`demo` as a live run plays it (the window, `track`): looped for ever; any other source as given."""
    return DEMO_LOOP if spec == "demo" else spec


def demo_photo_path() -> Path:
    import matplotlib  # ~0.1 s to import, for one data path: only when the demo runs

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def pan_zoom_transform(t: float, photo_size: tuple[int, int], canvas: tuple[int, int]) -> np.ndarray:
    """2x3 affine placing the photo at phase t in [0, 1): the face (~194 px in the photo) ends up 80-135 px."""
    w, h = photo_size
    cw, ch = canvas
    scale = (0.55 + 0.15 * math.sin(2 * math.pi * t)) * ch / 720
    cx = cw / 2 + 0.27 * cw * math.sin(2 * math.pi * t)
    cy = ch / 2 + 0.17 * ch * math.sin(4 * math.pi * t + 0.5)
    return np.array([[scale, 0, cx - scale * w / 2], [0, scale, cy - scale * h / 2]], dtype=np.float64)


def render_pan_zoom(photo: np.ndarray, t: float, canvas: tuple[int, int] = DEMO_SIZE) -> np.ndarray:
    matrix = pan_zoom_transform(t, (photo.shape[1], photo.shape[0]), canvas)
    return cv2.warpAffine(
        photo, matrix, canvas, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=BACKGROUND
    )


class DemoSource(FrameSource):
    """`demo` (300 frames, 10 s at 30 fps), `demo:N` for N frames, `demo:0` to loop for ever."""

    def __init__(self, arg: str = "", photo: Path | None = None, size: tuple[int, int] = DEMO_SIZE) -> None:
        try:
            self.frames = int(arg) if arg else DEMO_FRAMES
        except ValueError:
            raise InputError(f"demo:{arg}: frame count must be a number, e.g. demo:300") from None
        self.name = "demo" if not arg else f"demo:{arg}"
        self.fps = DEMO_FPS
        self.size = self._canvas = size
        self._photo = read_image_rgb(photo or demo_photo_path())
        self._index = 0

    @property
    def frame_count(self) -> int | None:
        return self.frames or None

    def read(self) -> Frame | None:
        if self.frames and self._index >= self.frames:
            return None
        index, self._index = self._index, self._index + 1
        t = (index % 300) / 300
        return Frame(
            index=index, timestamp_ms=index * 1000.0 / self.fps, rgb=render_pan_zoom(self._photo, t, self._canvas)
        )
