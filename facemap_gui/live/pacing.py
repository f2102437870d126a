"""A file's frames at the file's own clock, read on the thread that processes them.

A camera needs a thread of its own (its reads block until the next frame); a file does not. Reading the next
frame right after the previous one is processed, then waiting until it is due, saves a thread hand-over a frame
and decodes while the caches are warm; a paced loop pays for every wake-up (docs/performance.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

from facemap_gui.core.errors import InputError
from facemap_gui.live.events import Captured
from facemap_gui.sources import Frame, FrameSource

log = logging.getLogger(__name__)

STILL_INTERVAL_S = 1.0  # a folder of images is shown as a slide show
RESTART_AFTER_S = 1.0  # this late (a long stall), the clock restarts instead of rushing or skipping to catch up


def read_failed(source: FrameSource, exc: Exception) -> str:
    """Log a source's unexpected exception with its traceback; the one line to tell the user."""
    log.exception("reading %s failed", source.name)
    return f"Reading {source.name} failed: {type(exc).__name__}: {exc}"


class FilePacer:
    """Hands out the frames of a file source when they are due, as `Mailbox` hands out a camera's: `get`
    waits up to a timeout. A frame more than one frame period late when read is skipped (counted in
    `dropped`), so a slow pipeline stays in real time. Why reading ended early, if it did, goes to
    `on_error`, once."""

    def __init__(self, source: FrameSource, stop: threading.Event, on_error: Callable[[str], None]) -> None:
        self.source = source
        self.dropped = 0
        self.closed = False
        self._stop = stop
        self._on_error = on_error
        self._period_s = 1.0 / source.fps if source.fps else STILL_INTERVAL_S
        self._clock_start: float | None = None
        self._next: tuple[Frame, float] | None = None  # the frame read ahead and when it is due

    def get(self, timeout: float) -> Captured | None:
        """The next frame once it is due, or None after `timeout` (or at the end, or when stopped)."""
        if self._next is None:
            self._next = self._read()
            if self._next is None:
                return None
        frame, due = self._next
        wait = due - time.monotonic()
        if wait > timeout:
            self._stop.wait(timeout)
            return None
        if wait > 0 and self._stop.wait(wait):
            return None
        self._next = None
        return Captured(frame, time.monotonic())

    def frames(self, poll_s: float = 0.25) -> Iterator[Frame]:
        """Each frame when it is due, until the end or the stop (what `FrameLoop.run` takes)."""
        while not self.closed and not self._stop.is_set():
            captured = self.get(poll_s)
            if captured is not None:
                yield captured.frame

    def _read(self) -> tuple[Frame, float] | None:
        while not self.closed:
            try:
                frame = self.source.read()
            except InputError as exc:
                self._end(str(exc))
                return None
            except Exception as exc:  # a bug in a source: reported like the end of the stream, never silent
                self._end(read_failed(self.source, exc))
                return None
            if frame is None:
                self._end("")
                return None
            stream_s = frame.timestamp_ms / 1000.0 if self.source.fps else frame.index * STILL_INTERVAL_S
            now = time.monotonic()
            if self._clock_start is None or now - (self._clock_start + stream_s) > RESTART_AFTER_S:
                self._clock_start = now - stream_s
            due = self._clock_start + stream_s
            if now - due <= self._period_s:
                return frame, due
            self.dropped += 1
        return None

    def close(self) -> None:
        self.source.close()

    def _end(self, error: str) -> None:
        self.closed = True
        if error:
            self._on_error(error)
