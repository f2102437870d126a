"""Webcams (`camera:N` or `camera:NAME`): the backend (Qt Multimedia or OpenCV), the camera and its format.

Qt Multimedia (sources/qt_camera.py) names cameras and lists their formats, and on Windows reads them through
Media Foundation in their native format; OpenCV (DirectShow on Windows) opens them by index only. `auto` takes Qt
where PySide6's QtMultimedia loads and OpenCV otherwise. The backend and the format are process-wide settings
(`configure`), so a camera reopened after an unplug comes back the same way.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from facemap_gui.core.choices import DEFAULT_CAMERA_SIZE, MIN_CAMERA_FPS
from facemap_gui.core.errors import InputError, reason
from facemap_gui.sources.base import Frame, FrameSource

log = logging.getLogger(__name__)

MAX_INDEX = 63  # OpenCV crashes (SIGSEGV) on a negative index and raises on a huge one
# Tie-break between formats of the same size and rate: uncompressed ones convert to RGB in one cheap step,
# MJPEG needs a JPEG decode a frame first.
PIXEL_FORMAT_ORDER = ("NV12", "YUYV", "YUV420P", "UYVY", "NV21", "YV12", "BGRA8888", "RGBA8888", "Jpeg")


@dataclass(frozen=True)
class CameraFormat:
    """One capture format a camera offers: size, frame-rate range and pixel format (Qt's name, e.g. NV12)."""

    width: int
    height: int
    min_fps: float
    max_fps: float
    pixel_format: str

    def __str__(self) -> str:
        rate = f"{self.max_fps:g}" if self.min_fps >= self.max_fps else f"{self.min_fps:g}-{self.max_fps:g}"
        return f"{self.width}x{self.height}@{rate} {self.pixel_format}"

    @property
    def wanted(self) -> tuple[int, int, float]:
        """This size at this format's highest rate, as `--camera-format` asks for it (WxH@FPS)."""
        return self.width, self.height, self.max_fps


@dataclass(frozen=True)
class CameraInfo:
    index: int
    name: str
    id: str = ""
    formats: tuple[CameraFormat, ...] = field(default=(), compare=False)

    @property
    def spec(self) -> str:
        return f"camera:{self.index}"

    @property
    def key(self) -> str:
        """What the window remembers the camera's format by: its id, stable across replugs, else its name."""
        return self.id or self.name


@dataclass(frozen=True)
class CameraSettings:
    backend: str = "auto"  # auto | qt | opencv
    #: (width, height, fps or None) from --camera-format; None: the default choice (choose_format).
    format: tuple[int, int, float | None] | None = None


_settings = CameraSettings()


def configure(backend: str = "auto", camera_format: tuple[int, int, float | None] | None = None) -> None:
    """Set the backend and format every camera opened from now on uses (--camera-backend, --camera-format)."""
    global _settings
    _settings = CameraSettings(backend, camera_format)


def chosen_format() -> tuple[int, int, float | None] | None:
    """The format set by `configure` or `use_format`; None: the default choice."""
    return _settings.format


def use_format(camera_format: tuple[int, int, float | None] | None) -> None:
    """Set the format cameras opened from now on use, keeping the backend (the window's camera format menu)."""
    configure(_settings.backend, camera_format)


@functools.cache
def qt_unavailable() -> str | None:
    """Why Qt Multimedia cannot capture here, or None when it can."""
    try:
        importlib.import_module("facemap_gui.sources.qt_camera")
    except ImportError as exc:  # PySide6-Addons missing, or its libraries (libpulse on Linux)
        return f"{reason(exc)}; install PySide6-Addons: pip install 'facemap-gui[qtcamera]'"
    return None


def choose_backend(wanted: str | None = None) -> tuple[str, str]:
    """The backend cameras use ("qt" or "opencv") and why, for `-v` and `doctor`."""
    wanted = wanted or _settings.backend
    if wanted == "opencv":
        return "opencv", "chosen with --camera-backend opencv"
    problem = qt_unavailable()
    if wanted == "qt":
        if problem:
            raise InputError(f"--camera-backend qt: Qt Multimedia cannot be used here ({problem})")
        return "qt", "chosen with --camera-backend qt"
    if problem:
        return "opencv", f"auto: Qt Multimedia cannot be used here ({problem})"
    return "qt", "auto: Qt Multimedia is available (names, formats, the platform's native capture)"


def choose_format(
    formats: Sequence[CameraFormat], wanted: tuple[int, int, float | None] | None, camera: str
) -> CameraFormat | None:
    """The format to capture in: with `wanted` (W, H, FPS or None) one of that size reaching that rate, else a
    one-line error listing what the camera offers; by default the largest at or below DEFAULT_CAMERA_SIZE with
    at least MIN_CAMERA_FPS (the model needs 128x128 crops, not 4K), else the largest at or below that size,
    else the smallest. None when the camera lists no formats (its own default)."""
    if not formats:
        return None

    def preference(f: CameraFormat) -> tuple[float, ...]:
        order = PIXEL_FORMAT_ORDER.index(f.pixel_format) if f.pixel_format in PIXEL_FORMAT_ORDER else 99
        return (f.width * f.height, f.max_fps, -order)

    if wanted is not None:
        width, height, fps = wanted
        matching = [
            f for f in formats if (f.width, f.height) == (width, height) and (fps is None or f.max_fps >= fps - 0.01)
        ]
        if not matching:
            shown = f"{width}x{height}" + (f"@{fps:g}" if fps else "")
            offered = ", ".join(sorted({str(f) for f in formats}))
            raise InputError(f"{camera}: --camera-format {shown} is not offered; the camera offers {offered}")
        return max(matching, key=preference)
    max_w, max_h = DEFAULT_CAMERA_SIZE
    small = [f for f in formats if f.width <= max_w and f.height <= max_h]
    fast = [f for f in small if f.max_fps >= MIN_CAMERA_FPS - 0.01]
    if fast or small:
        return max(fast or small, key=preference)
    return min(formats, key=lambda f: (f.width * f.height, -f.max_fps))


def list_cameras(backend: str | None = None) -> list[CameraInfo]:
    """The cameras present: through Qt with names, ids and formats; through OpenCV with names where the OS
    gives them (Linux sysfs) and probed by opening otherwise."""
    if choose_backend(backend)[0] == "qt":
        from facemap_gui.sources import qt_camera

        return qt_camera.list_cameras()
    return _opencv_cameras()


def _index(arg: str) -> int | None:
    """The N of `camera:N` (empty: 0), checked before a backend sees it; None when `arg` is a name."""
    text = arg.strip() or "0"
    if not (text.isascii() and text.isdigit()):
        return None
    if int(text) > MAX_INDEX:
        raise InputError(f"camera:{arg[:40]}: camera index must be a whole number from 0 to {MAX_INDEX}, e.g. camera:0")
    return int(text)


def select_camera(arg: str, cameras: list[CameraInfo], backend: str) -> CameraInfo:
    """The camera `camera:ARG` names: its index in the list (`camera:0`, the default), or its name or id."""
    index = _index(arg)
    wanted = arg.strip().casefold()
    for camera in cameras:
        if camera.index == index if index is not None else wanted in (camera.name.casefold(), camera.id.casefold()):
            return camera
    listed = "; ".join(f"{c.spec} {c.name!r}" for c in cameras) or f"none found through {backend}"
    raise InputError(f"camera:{arg[:60]}: no such camera (cameras: {listed}); list them with `facemap-gui cameras`")


def open_camera(arg: str) -> FrameSource:
    """The `camera:` scheme: open the camera `arg` names through the configured backend."""
    backend, why = choose_backend()
    if backend == "qt":
        from facemap_gui.sources import qt_camera

        camera = select_camera(arg, qt_camera.list_cameras(), "Qt Multimedia")
        chosen = choose_format(camera.formats, _settings.format, camera.name)
        log.info("%s: %r through Qt Multimedia (%s), format %s", camera.spec, camera.name, why, chosen or "default")
        return qt_camera.QtCameraSource(camera, chosen)
    index = _opencv_index(arg)
    log.info("camera:%d through OpenCV (%s)", index, why)
    return OpenCVCameraSource(index, _settings.format)


def _opencv_index(arg: str) -> int:
    index = _index(arg)
    # By name only where the OS names cameras for OpenCV (Linux sysfs); OpenCV itself cannot (opencv #4269).
    return index if index is not None else select_camera(arg, _opencv_cameras(), "OpenCV").index


def _opencv_backend() -> int:
    # DirectShow opens in well under a second on Windows; the MSMF default can take several.
    return cv2.CAP_DSHOW if sys.platform == "win32" else cv2.CAP_ANY


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


class OpenCVCameraSource(FrameSource):
    """A webcam through OpenCV. Timestamps are the monotonic clock at capture: OpenCV gives no stream clock."""

    live = True

    def __init__(self, index: int, wanted: tuple[int, int, float | None] | None = None) -> None:
        self.index = index
        self.name = f"camera:{index}"
        with quiet_opencv():  # a missing camera is our one line, not OpenCV's dozen warnings
            self._cap = cv2.VideoCapture(index, _opencv_backend())
            opened = self._cap.isOpened()
        if not opened:
            raise InputError(f"{self.name}: cannot open the camera (not connected, or in use by another app)")
        width, height, fps = wanted or (*DEFAULT_CAMERA_SIZE, None)
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            self._cap.set(cv2.CAP_PROP_FPS, fps)
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


def _opencv_cameras(max_index: int = 4) -> list[CameraInfo]:
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
            cap = cv2.VideoCapture(index, _opencv_backend())
        if cap.isOpened():
            cameras.append(CameraInfo(index, f"Camera {index}"))
        cap.release()
    return cameras
