"""Reading ahead on a thread of its own: order, errors, stopping early, priority, decoding threads."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from facemap_gui.core.errors import InputError
from facemap_gui.sources.base import READER_NICE
from facemap_gui.sources.files import VideoSource
from facemap_gui.sources.readahead import READ_AHEAD, ReadAhead
from tests.conftest import write_video


def test_items_arrive_in_order_and_a_read_error_is_raised_by_the_consumer_after_them():
    def produce():
        yield from range(10)
        raise InputError("clip.mp4: cannot decode video (broken)")

    got = []
    with ReadAhead(produce) as reader, pytest.raises(InputError, match=r"clip\.mp4: cannot decode"):
        got.extend(reader)
    assert got == list(range(10))


def test_closing_early_stops_the_reader_and_closes_its_producer_on_the_reader_thread():
    state = {"made": 0, "closed_on": None}

    def produce():
        try:
            while True:
                state["made"] += 1
                yield state["made"]
        finally:
            state["closed_on"] = threading.current_thread().name

    reader = ReadAhead(produce, name="reader-under-test")
    first = next(iter(reader))
    reader.close()
    assert first == 1 and state["closed_on"] == "reader-under-test"
    assert state["made"] <= 1 + READ_AHEAD + 1  # it read ahead a few items, not the endless source


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_the_reader_runs_at_the_lowest_priority_and_the_consumer_keeps_its_own():
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def produce():
        yield os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    with ReadAhead(produce) as reader:
        assert list(reader) == [READER_NICE]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own


def _ffmpeg_threads() -> set[str]:
    """This process's threads that FFmpeg started (it names them "av:<codec>:<role>")."""
    tasks = {tid: Path(f"/proc/self/task/{tid}/comm") for tid in os.listdir("/proc/self/task")}
    return {tid for tid, comm in tasks.items() if comm.exists() and comm.read_text().startswith("av:")}


def _threads_started_by_decoding(path) -> int:
    before = _ffmpeg_threads()
    with VideoSource(path) as source:
        frame = source.read()
        started = len(_ffmpeg_threads() - before)
    assert frame is not None and frame.rgb.shape[1::-1] == source.size
    return started


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads in /proc/self/task (Linux)")
def test_videos_up_to_1080p_decode_on_the_reading_thread_alone_larger_ones_on_ffmpeg_threads(tmp_path):
    small = write_video(tmp_path / "720p.mp4", [np.full((720, 1280, 3), i * 40, np.uint8) for i in range(3)])
    large = write_video(tmp_path / "1152p.mp4", [np.full((1152, 2048, 3), i * 40, np.uint8) for i in range(3)])
    assert _threads_started_by_decoding(small) == 0
    # FFmpeg's automatic count is one thread a core plus one, so even a 1-core machine gets more than none.
    assert _threads_started_by_decoding(large) >= 1
