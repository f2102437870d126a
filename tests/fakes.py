"""Fake frame sources the tests open by name (`fakecam:0`, ...): a webcam that can be unplugged, a clip with
malformed frames, a probe of the reading thread, a camera that is pulled out, a source that raises. Nothing is
registered on import: a test asks for the `fake_sources` fixture (conftest.py), which registers them for that
test only."""

from __future__ import annotations

import threading
import time
from typing import ClassVar

from facemap_gui.core.errors import InputError
from facemap_gui.sources import Frame, FrameSource
from facemap_gui.sources.demo import DemoSource, demo_photo_path

PHOTO = demo_photo_path()


class FakeCamera(FrameSource):
    """A live source like a webcam (200 fps, or as fast as it can render with `interval_s` 0); it can be told
    to 'unplug'."""

    live = True
    fps = 200.0
    interval_s = 0.005
    unplug_after: int | None = None  # the frame at which the camera disappears
    unplugged_opens = 0  # how many attempts to reopen it fail before it is back
    refuse_opens = 0
    opened = 0
    reads = 0  # frames delivered by all fake cameras

    def __init__(self, arg: str) -> None:
        if FakeCamera.refuse_opens:
            FakeCamera.refuse_opens -= 1
            raise InputError("fakecam:0: cannot open the camera")
        FakeCamera.opened += 1
        self.name = f"fakecam:{arg}"
        self.size = (640, 360)
        self._demo = DemoSource("0", photo=PHOTO, size=self.size)
        self._index = 0

    def read(self) -> Frame | None:
        if FakeCamera.unplug_after is not None and self._index >= FakeCamera.unplug_after:
            FakeCamera.unplug_after, FakeCamera.refuse_opens = None, FakeCamera.unplugged_opens
            raise InputError(f"{self.name}: camera stopped delivering frames (unplugged or in use?)")
        time.sleep(self.interval_s)  # the camera's own frame interval
        frame = self._demo.read()
        self._index += 1
        FakeCamera.reads += 1
        return Frame(frame.index, time.monotonic() * 1000.0, frame.rgb)


class GlitchySource(FakeCamera):
    """A 10 fps clip in which every fourth frame is malformed (grey, no colour axis)."""

    live = False
    fps = 10.0

    def read(self) -> Frame | None:
        frame = self._demo.read()
        rgb = frame.rgb[:, :, 0] if frame.index % 4 == 3 else frame.rgb
        return Frame(frame.index, frame.index * 100.0, rgb)


class ThreadProbe(FakeCamera):
    """Records the name of the thread reading it (a camera, or with `live` False a file)."""

    seen: ClassVar[list[str]] = []

    def read(self) -> Frame | None:
        ThreadProbe.seen.append(threading.current_thread().name)
        return super().read()


class UnpluggedCamera(FrameSource):
    """A webcam that delivers `FRAMES` frames and is then pulled out, failing as CameraSource does."""

    FRAMES = 8
    live = True
    fps = 30.0

    def __init__(self, arg: str) -> None:
        self.name = f"unplugged:{arg}"
        self._demo = DemoSource("", photo=PHOTO, size=(320, 180))
        self.size = self._demo.size

    def read(self) -> Frame | None:
        frame = self._demo.read()
        if frame.index >= self.FRAMES:
            raise InputError(f"{self.name}: camera stopped delivering frames (unplugged or in use?)")
        return Frame(frame.index, time.monotonic() * 1000.0, frame.rgb)


def explode(_arg: str) -> FrameSource:
    raise RuntimeError("boom: a case nobody foresaw")


FAKE_SOURCES = {
    "fakecam": FakeCamera,
    "glitchy": GlitchySource,
    "threadprobe": ThreadProbe,
    "unplugged": UnpluggedCamera,
    "explode": explode,
}
