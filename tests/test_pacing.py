"""FilePacer: a file's frames when they are due, on a fake clock (no sleeps): late frames skipped and counted,
the clock restarted after a long stall, the end and read errors told."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from facemap_gui.core.errors import InputError
from facemap_gui.live import pacing
from facemap_gui.live.pacing import FilePacer
from facemap_gui.sources import Frame, FrameSource


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


class ClockStop(threading.Event):
    """A stop event whose waits pass on the fake clock instead of in real time."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        self.clock.now += timeout or 0.0
        return self.is_set()


class TenFps(FrameSource):
    """`frames` frames 100 ms apart; raises `error` at frame `fail_at`."""

    fps = 10.0
    name = "ten.mp4"

    def __init__(self, frames: int = 8, fail_at: int | None = None) -> None:
        self.frames, self.fail_at, self.index = frames, fail_at, 0

    def read(self) -> Frame | None:
        if self.index == self.fail_at:
            raise InputError("ten.mp4: cannot decode frame 3")
        if self.index >= self.frames:
            return None
        self.index += 1
        return Frame(self.index - 1, (self.index - 1) * 100.0, np.zeros((2, 2, 3), np.uint8))


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(pacing, "time", clock)
    return clock


def taken(pacer: FilePacer, timeout: float = 1.0) -> int | None:
    captured = pacer.get(timeout)
    return None if captured is None else captured.frame.index


def test_frames_come_when_due_and_a_frame_read_too_late_is_skipped(clock):
    stop = ClockStop(clock)
    pacer = FilePacer(TenFps(), stop, print)
    assert taken(pacer) == 0 and stop.waits == []  # the first frame is due at once
    assert taken(pacer) == 1 and stop.waits == [pytest.approx(0.1)]  # waited until it was due
    clock.now += 0.35  # the pipeline took 3.5 frame periods on frame 1
    assert taken(pacer) == 4  # frames 2 and 3 were more than a period late: skipped, not queued
    assert pacer.dropped == 2
    assert taken(pacer, timeout=0.05) is None  # frame 5 is due in 0.1 s: not yet
    assert taken(pacer) == 5 and pacer.dropped == 2


def test_after_a_long_stall_the_clock_restarts_instead_of_skipping_to_catch_up(clock):
    pacer = FilePacer(TenFps(), ClockStop(clock), print)
    assert taken(pacer) == 0
    clock.now += 5.0  # e.g. a runtime switch that took seconds
    assert [taken(pacer) for _ in range(3)] == [1, 2, 3]
    assert pacer.dropped == 0


def test_the_end_and_a_read_error_close_it_with_the_reason(clock):
    errors: list[str] = []
    ended = FilePacer(TenFps(frames=2), ClockStop(clock), errors.append)
    assert [taken(ended) for _ in range(3)] == [0, 1, None]
    assert ended.closed and errors == []
    failing = FilePacer(TenFps(fail_at=3), ClockStop(clock), errors.append)
    assert [taken(failing) for _ in range(4)] == [0, 1, 2, None]
    assert failing.closed and errors == ["ten.mp4: cannot decode frame 3"]
    assert taken(failing) is None and len(errors) == 1  # told once


def test_a_stop_ends_the_wait_for_the_next_frame(clock):
    stop = ClockStop(clock)
    pacer = FilePacer(TenFps(), stop, print)
    assert taken(pacer) == 0
    stop.set()
    assert taken(pacer) is None and not pacer.closed  # stopped, not ended: the frame stays unread


def test_frames_iterates_at_the_file_clock_until_the_end_or_the_stop(clock):
    stop = ClockStop(clock)
    pacer = FilePacer(TenFps(frames=4), stop, print)
    start = clock.now
    due = [(frame.index, round(clock.now - start, 6)) for frame in pacer.frames()]
    assert due == [(0, 0.0), (1, 0.1), (2, 0.2), (3, 0.3)] and pacer.closed  # `track` streams a file this way
    stopped = FilePacer(TenFps(), stop, print)
    frames = stopped.frames()
    assert next(frames).index == 0
    stop.set()
    assert list(frames) == [] and not stopped.closed
