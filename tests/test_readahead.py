"""Reading ahead on a thread of its own: order, errors, stopping early, priority."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from facemap_gui.errors import InputError
from facemap_gui.sources.base import READER_NICE
from facemap_gui.sources.readahead import READ_AHEAD, ReadAhead


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
