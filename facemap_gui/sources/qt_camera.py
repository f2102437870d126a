"""Cameras through Qt Multimedia (PySide6-Addons): QMediaDevices names them and lists their formats; a QCamera in a
QMediaCaptureSession feeds a QVideoSink whose frames reach a QThread of the source's own, off the window's thread.

The one module outside gui/ that imports Qt (the import-linter contract in pyproject.toml allows exactly this):
headless commands capture through it as well, with a QCoreApplication when no application exists yet.
Frames are handed over "latest wins" (a one-slot Mailbox) with their capture time, and converted to RGB once,
only when taken: the planes of NV12, YUYV, I420 ... through OpenCV (0.7-2.3 ms a 720p frame, 3-6x cheaper
than QVideoFrame.toImage); other formats (MJPEG, RGB) through toImage.
"""

# ruff: noqa: E402 - Qt Multimedia's logging is filtered before it loads (below)
from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

import cv2
import numpy as np
from PySide6.QtCore import QCoreApplication, QLoggingCategory, QObject, Qt, QThread, Slot

# Qt Multimedia logs every optional library it does not find (PipeWire, VA-API) as it loads, and its FFmpeg
# version; what matters reaches us through the camera's error signal.
QLoggingCategory.setFilterRules("qt.multimedia.*=false")

from PySide6.QtGui import QImage
from PySide6.QtMultimedia import (
    QCamera,
    QCameraDevice,
    QCameraFormat,
    QMediaCaptureSession,
    QMediaDevices,
    QVideoFrame,
    QVideoFrameFormat,
    QVideoSink,
)

from facemap_gui.core.errors import InputError
from facemap_gui.core.mailbox import Mailbox
from facemap_gui.sources.base import Frame, FrameSource
from facemap_gui.sources.camera import CameraFormat, CameraInfo

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 10.0  # Media Foundation can take seconds to start a camera
STALL_TIMEOUT_S = 3.0  # no frame for this long: the camera is gone (it never rests below 1 fps)
STOP_TIMEOUT_MS = 3000

#: build(sink, lost) runs on the capture thread: it starts a producer (QCamera, QMediaPlayer) feeding `sink`
#: and returns it first, then the objects to keep alive with it; `lost(reason)` says the producer stopped
#: for good (unplugged, an error).
Producer = Callable[[QVideoSink, Callable[[str], None]], tuple]


def camera_format(qformat: QCameraFormat) -> CameraFormat:
    size = qformat.resolution()
    return CameraFormat(
        size.width(),
        size.height(),
        round(qformat.minFrameRate(), 2),
        round(qformat.maxFrameRate(), 2),
        qformat.pixelFormat().name.removeprefix("Format_"),
    )


def list_cameras() -> list[CameraInfo]:
    """QMediaDevices' cameras in its order (the index of `camera:N`)."""
    _ensure_application()
    return [
        CameraInfo(index, device.description(), _device_id(device), tuple(map(camera_format, device.videoFormats())))
        for index, device in enumerate(QMediaDevices.videoInputs())
    ]


def _device_id(device: QCameraDevice) -> str:
    return bytes(device.id().data()).decode(errors="replace")


@functools.cache
def _conversions() -> tuple[dict, dict, dict]:
    """OpenCV's conversion to RGB of each YUV layout Qt delivers: two planes, packed, three planes."""
    pf = QVideoFrameFormat.PixelFormat
    return (
        {pf.Format_NV12: cv2.COLOR_YUV2RGB_NV12, pf.Format_NV21: cv2.COLOR_YUV2RGB_NV21},
        {pf.Format_YUYV: cv2.COLOR_YUV2RGB_YUYV, pf.Format_UYVY: cv2.COLOR_YUV2RGB_UYVY},
        {pf.Format_YUV420P: cv2.COLOR_YUV2RGB_I420, pf.Format_YV12: cv2.COLOR_YUV2RGB_YV12},
    )


def to_rgb(frame: QVideoFrame) -> np.ndarray:
    """A QVideoFrame's pixels as RGB uint8 (H, W, 3), converted once."""
    two_plane, packed, three_plane = _conversions()
    width, height, kind = frame.width(), frame.height(), frame.pixelFormat()
    even = width % 2 == 0 and height % 2 == 0
    if even and (kind in two_plane or kind in packed or kind in three_plane):
        if not frame.map(QVideoFrame.MapMode.ReadOnly):
            raise InputError("cannot read a camera frame (mapping it failed)")
        try:

            def plane(i: int, rows: int, row_bytes: int) -> np.ndarray:
                stride = frame.bytesPerLine(i)
                return np.frombuffer(frame.bits(i), np.uint8, count=stride * rows).reshape(rows, stride)[:, :row_bytes]

            if kind in two_plane:
                uv = plane(1, height // 2, width).reshape(height // 2, width // 2, 2)
                return cv2.cvtColorTwoPlane(plane(0, height, width), uv, two_plane[kind])
            if kind in packed:
                return cv2.cvtColor(plane(0, height, 2 * width).reshape(height, width, 2), packed[kind])
            chroma = [plane(i, height // 2, width // 2).reshape(-1) for i in (1, 2)]
            i420 = np.concatenate([plane(0, height, width).reshape(-1), *chroma]).reshape(height * 3 // 2, width)
            return cv2.cvtColor(i420, three_plane[kind])
        finally:
            frame.unmap()
    image = frame.toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * image.height())
    return rows.reshape(image.height(), image.bytesPerLine())[:, : 3 * image.width()].reshape(
        image.height(), image.width(), 3
    )


class _Feed:
    """What the sink's frames go through on the capture thread: it only stamps them and hands them over."""

    def __init__(self) -> None:
        self.mailbox: Mailbox[tuple[QVideoFrame, float]] = Mailbox()
        self.lost_reason = ""
        self._anchor: tuple[float, int] | None = None  # (monotonic ms, the frame's start time in µs)

    def on_frame(self, frame: QVideoFrame) -> None:
        if not frame.isValid():
            return
        now = time.monotonic() * 1000.0
        start = frame.startTime()  # the camera's clock in µs, -1 when it has none
        if start < 0:
            stamp = now
        else:
            if self._anchor is None:
                self._anchor = (now, start)
            stamp = self._anchor[0] + (start - self._anchor[1]) / 1000.0
        self.mailbox.put((QVideoFrame(frame), stamp))  # a reference to the frame's buffer, no copy

    def lost(self, why: str) -> None:
        if not self.lost_reason:
            self.lost_reason = why
        self.mailbox.close()


def _ensure_application() -> None:
    """Qt Multimedia needs an application object (without one, listing warns of a missing event dispatcher):
    the window's, or a QCoreApplication for the headless commands, never run (the capture threads run their
    own event loops)."""
    global _application
    if QCoreApplication.instance() is None:
        _application = QCoreApplication(["facemap-gui"])


_application: QCoreApplication | None = None


class _Receiver(QObject):
    """Lives on the capture thread: the sink's frames reach it through that thread's event loop (a queued
    connection), so Qt's delivering threads never wait for Python's GIL (one held there while a player or
    camera stops deadlocked the two)."""

    def __init__(self, feed: _Feed) -> None:
        super().__init__()
        self._feed = feed

    @Slot(QVideoFrame)
    def on_frame(self, frame: QVideoFrame) -> None:
        self._feed.on_frame(frame)


class _CaptureThread(QThread):
    """Runs the producer and the event loop that receives its frames."""

    def __init__(self, build: Producer, feed: _Feed) -> None:
        super().__init__()
        self._build, self._feed = build, feed

    def run(self) -> None:
        sink, receiver = QVideoSink(), _Receiver(self._feed)
        sink.videoFrameChanged.connect(receiver.on_frame, Qt.ConnectionType.QueuedConnection)
        try:
            kept = self._build(sink, self._feed.lost)
        except InputError as exc:
            self._feed.lost(str(exc))
            return
        self.exec()
        kept[0].stop()


class QtVideoSource(FrameSource):
    """Frames a Qt producer (a camera; in the tests a QMediaPlayer) delivers into a QVideoSink."""

    live = True

    def __init__(self, name: str, build: Producer, fps: float = 30.0) -> None:
        _ensure_application()
        self.name = name
        self.fps = fps
        self._feed = _Feed()
        self._thread = _CaptureThread(build, self._feed)
        self._thread.start()
        self._index = 0
        self._first: Frame | None = self._take(OPEN_TIMEOUT_S, "did not start delivering frames")
        self.size = self._first.size if self._first is not None else None

    def _take(self, timeout: float, silence: str) -> Frame:
        item = self._feed.mailbox.get(timeout)
        if item is None:
            self.close()
            raise InputError(f"{self.name}: {self._feed.lost_reason or silence} (unplugged or in use?)")
        frame, stamp = item
        rgb = to_rgb(frame)
        index, self._index = self._index, self._index + 1
        return Frame(index=index, timestamp_ms=stamp, rgb=rgb)

    def read(self) -> Frame | None:
        first, self._first = self._first, None
        return first or self._take(STALL_TIMEOUT_S, "camera stopped delivering frames")

    def close(self) -> None:
        if self._thread.isRunning():
            self._thread.quit()
            if not self._thread.wait(STOP_TIMEOUT_MS):
                log.warning("%s: the capture thread did not stop within %d ms", self.name, STOP_TIMEOUT_MS)


class QtCameraSource(QtVideoSource):
    """A camera through Qt Multimedia, in `chosen` format (None: the camera's own default)."""

    def __init__(self, camera: CameraInfo, chosen: CameraFormat | None) -> None:
        self.camera, self.chosen = camera, chosen
        super().__init__(f"{camera.spec} ({camera.name})", self._start, chosen.max_fps if chosen else 30.0)

    def _start(self, sink: QVideoSink, lost: Callable[[str], None]) -> tuple:
        devices = QMediaDevices()
        device = next((d for d in devices.videoInputs() if _device_id(d) == self.camera.id), None)
        if device is None:
            raise InputError("camera disconnected")
        camera = QCamera(device)
        if self.chosen is not None:
            qformat = next(f for f in device.videoFormats() if camera_format(f) == self.chosen)
            camera.setCameraFormat(qformat)
        session = QMediaCaptureSession()
        session.setCamera(camera)
        session.setVideoSink(sink)
        camera.errorOccurred.connect(lambda _error, text: lost(text or "camera error"))

        def check_present() -> None:
            if all(_device_id(d) != self.camera.id for d in devices.videoInputs()):
                lost("camera disconnected")

        devices.videoInputsChanged.connect(check_present)
        camera.start()
        return camera, session, devices
