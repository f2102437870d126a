"""Webcams through OpenCV (`camera:N`), and discovery of the cameras present."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2

from facemap_gui.errors import InputError
from facemap_gui.sources.base import Frame, FrameSource

log = logging.getLogger(__name__)


def _backend() -> int:
    # DirectShow opens in well under a second on Windows; the MSMF default can take several.
    return cv2.CAP_DSHOW if sys.platform == "win32" else cv2.CAP_ANY


MAX_INDEX = 63  # OpenCV crashes (SIGSEGV) on a negative index and raises on a huge one


def parse_index(arg: str) -> int:
    """The N of `camera:N`, checked before OpenCV sees it."""
    text = arg.strip() or "0"
    if not (text.isascii() and text.isdigit() and int(text) <= MAX_INDEX):
        raise InputError(f"camera:{arg[:40]}: camera index must be a whole number from 0 to {MAX_INDEX}, e.g. camera:0")
    return int(text)


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


@dataclass(frozen=True)
class CameraInfo:
    index: int
    name: str

    @property
    def spec(self) -> str:
        return f"camera:{self.index}"


class CameraSource(FrameSource):
    """A webcam. Timestamps are the monotonic clock at capture, as a camera gives no stream clock here."""

    live = True

    def __init__(self, arg: str, width: int = 1280, height: int = 720) -> None:
        self.index = parse_index(arg)
        self.name = f"camera:{self.index}"
        with quiet_opencv():  # a missing camera is our one line, not OpenCV's dozen warnings
            self._cap = cv2.VideoCapture(self.index, _backend())
            opened = self._cap.isOpened()
        if not opened:
            raise InputError(f"{self.name}: cannot open the camera (not connected, or in use by another app)")
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 30.0)
        self.size = (int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self._index = 0

    def read(self) -> Frame | None:
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            raise InputError(f"{self.name}: camera stopped delivering frames (unplugged or in use?)")
        index, self._index = self._index, self._index + 1
        return Frame(index=index, timestamp_ms=time.monotonic() * 1000.0, rgb=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    def close(self) -> None:
        self._cap.release()


def list_cameras(max_index: int = 4) -> list[CameraInfo]:
    """Cameras present, with names where the OS gives them (Linux sysfs); probed by opening otherwise."""
    sysfs = Path("/sys/class/video4linux")
    if sys.platform.startswith("linux"):
        found = []
        for node in sorted(sysfs.glob("video*")) if sysfs.is_dir() else []:
            name_file = node / "name"
            name = name_file.read_text().strip() if name_file.is_file() else node.name
            index = int(node.name.removeprefix("video"))
            # Each USB camera exposes a metadata node too; only index 0 of each device captures frames.
            if (node / "index").is_file() and (node / "index").read_text().strip() != "0":
                continue
            found.append(CameraInfo(index, name))
        return found
    cameras = []
    for index in range(max_index):
        with quiet_opencv():
            cap = cv2.VideoCapture(index, _backend())
        if cap.isOpened():
            cameras.append(CameraInfo(index, f"Camera {index}"))
        cap.release()
    return cameras
