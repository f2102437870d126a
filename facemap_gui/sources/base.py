"""The frame-source interface and the registry that maps a source spec (`camera:0`, a path) to a class."""

from __future__ import annotations

import abc
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

READER_NICE = 19  # Linux: a thread reading a file ahead runs on the CPU time the pipeline leaves
THREAD_PRIORITY_LOWEST = -2  # Windows


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured frame: RGB uint8 pixels (H, W, 3), its index and a monotonic timestamp in ms; a still image
    also carries its file's name (`file`, written with its landmarks)."""

    index: int
    timestamp_ms: float
    rgb: np.ndarray
    file: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


class FrameSource(abc.ABC):
    """Yields frames until the source ends. `read()` returns None at the end; errors raise InputError."""

    #: Human-readable name for headers, title bars and error messages.
    name: str = ""
    #: Nominal frames per second (0 when unknown, e.g. still images).
    fps: float = 0.0
    #: True for live sources (cameras) whose frames must not be queued.
    live: bool = False
    #: Still images: no motion from one frame to the next (nothing to track) and no frame rate of their own.
    still: bool = False
    #: Pixel size (width, height) of every frame; None when it differs between frames (a folder of images).
    size: tuple[int, int] | None = None

    @abc.abstractmethod
    def read(self) -> Frame | None: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    @property
    def frame_count(self) -> int | None:
        """Number of frames when known in advance (files), else None."""
        return None

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


SourceFactory = Callable[[str], FrameSource]
_SCHEMES: dict[str, SourceFactory] = {}
_FILE_OPENERS: list[tuple[Callable[[str], bool], SourceFactory]] = []


def register_scheme(scheme: str, factory: SourceFactory) -> None:
    """Register a `scheme:` prefix (`camera`, `demo`, test fakes) with a factory taking the text after it."""
    _SCHEMES[scheme] = factory


def register_file_type(accepts: Callable[[str], bool], factory: SourceFactory) -> None:
    """Register a file opener; the first whose `accepts(path)` is true opens the path."""
    _FILE_OPENERS.append((accepts, factory))


def open_source(spec: str) -> FrameSource:
    """Open `camera:N`, `demo`, any registered `scheme:arg`, or an image/video path."""
    from facemap_gui.core.errors import InputError

    scheme, sep, arg = spec.partition(":")
    if scheme in _SCHEMES and (sep or scheme == spec):
        return _SCHEMES[scheme](arg)
    for accepts, factory in _FILE_OPENERS:
        if accepts(spec):
            return factory(spec)
    raise InputError(f"{spec}: not a camera (camera:N), image or video file that can be opened")


def registered_schemes() -> list[str]:
    return sorted(_SCHEMES)


def lower_reader_priority() -> bool:
    """Let the calling thread, which reads a file ahead of the pipeline, run only on the CPU time the pipeline
    leaves; on Linux the threads it starts from now on inherit this (FFmpeg's decoding threads, started at the
    first decode). A file can always wait; a camera cannot, so this is for files only. On few cores the
    landmark model's threads are then not preempted mid-operator (docs/performance.md). Linux: nice
    READER_NICE; Windows: the lowest normal priority (this thread only);
    elsewhere nothing. True when it took effect."""
    try:
        if sys.platform.startswith("linux"):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), READER_NICE)
            return True
        if sys.platform == "win32":
            import ctypes

            kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
            return bool(kernel32.SetThreadPriority(kernel32.GetCurrentThread(), THREAD_PRIORITY_LOWEST))
    except OSError as exc:  # a sandbox may refuse; reading still works, only at normal priority
        log.debug("could not lower the reading thread's priority: %s", exc)
    return False
